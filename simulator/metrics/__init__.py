"""`GET /_sim/metrics`: the simulator's Prometheus metrics (see `collectors`)."""
