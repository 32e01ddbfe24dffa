"""`optisim load`: run a locust scenario of `loadtests/` headless against the simulator and
an integrator (both started here unless their URLs are given), write locust's reports,
print a summary and judge the run against thresholds.

Locust runs as a separate process: importing it monkey-patches the standard library
(gevent), which this process, its subprocesses and the test suite must not inherit. The
reference client runs as a process too (`reference-client run`): this package never
imports it (an import-linter contract says so).
"""
