"""The optisim pytest plugin (registered as `optisim` by the `pytest11` entry point).

Fixtures `optisim_server` (session: a simulator's base URL) and `optisim` (a fresh tenant
per test, deleted after it), the marker `@pytest.mark.optisim(scenario=, clock=, faults=)`
and, for a failed test, report sections with the tenant's journal tail, deliveries and
audit. See `plugin.py`. Importing the plugin costs nothing until a fixture is used.
"""
