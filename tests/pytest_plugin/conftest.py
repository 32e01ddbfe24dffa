"""pytester for the plugin's tests only: they run small integrator suites under the
plugin in subprocesses (each starts its own simulator)."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.import_plugin("pytester")
