"""`optisim contract listener`: check an integrator's webhook listener against the
listener contract (contracts/listener.json), and with `--with-simulator` the integrator's
reaction to a scheduled campaign and triggered events, judged from the simulator's audit.

Modules: `probes` (webhooks sent straight to the listener), `flow` (drive a simulator),
`findings` (judge what the simulator saw), `admin` (its control API), `output` (table,
JUnit XML, JSON), `runner` (the whole check), `command` (the click command).
"""
