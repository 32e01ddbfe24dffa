"""`--contract-url`, and the garbage collector told about the schemathesis cases."""

from __future__ import annotations

import gc

import pytest

from tests.contracts import support


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--contract-url",
        default=None,
        help="run the schemathesis contract tests against the simulator at this URL "
        "(same as OPTISIM_CONTRACT_URL; give tests/contracts/... as the path)",
    )


def pytest_configure(config: pytest.Config) -> None:
    url = config.getoption("--contract-url")
    if url:  # read by test_schemathesis when it is imported, after this hook
        support.URL = url.rstrip("/")


def pytest_collection_finish(session: pytest.Session) -> None:
    """The coverage phase builds all its cases while collecting (thousands of objects that
    live for the whole session). Freezing them keeps every later collection from scanning
    them again; it takes about a tenth off the suite's time."""
    if any(item.path.name == "test_schemathesis.py" for item in session.items):
        gc.collect()
        gc.freeze()
