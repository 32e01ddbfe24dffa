"""Load and performance tooling (benchmarks, not tests): `python -m loadtests.bench_core`."""
