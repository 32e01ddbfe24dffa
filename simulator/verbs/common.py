"""What every verb shares: where the simulator is (`--url`, `--key`), how to answer
(`--json` or rich tables), and one line with exit status 2 when a call fails.

Exit status of every verb: 0 done; 1 the answer is a finding (`report` lists protocol
violations, `wait` timed out); 2 the call failed (refused, unknown, unreachable) or the
command line was wrong (click's own usage errors are 2 too).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simulator.control_client import ControlClient, ControlError

DEFAULT_URL = "http://127.0.0.1:8900"  # `optisim serve`'s default
DEFAULT_KEY = "demo-admin-key"  # the demo world's admin key
F = TypeVar("F", bound=Callable[..., Any])

# Numbers are never cut: a pipe or a CI log gets 200 columns (rich's default there is 80),
# a terminal its own width with number columns kept whole.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)


def option(*decls: str, **attrs: Any) -> Callable[[F], F]:
    """`click.option` whose help names its environment variable (`envvar`, else the
    command's automatic one: OPTISIM_<GROUP>_<COMMAND>_<OPTION>)."""
    attrs.setdefault("show_envvar", True)
    return click.option(*decls, **attrs)


def group_settings(name: str) -> dict[str, Any]:
    """context_settings of a verb group or command: automatic OPTISIM_… env vars."""
    return {"auto_envvar_prefix": f"OPTISIM_{name.upper()}", "show_default": True}


@dataclass
class Target:
    """Where a verb sends its calls and how it answers."""

    url: str
    key: str
    as_json: bool

    @contextmanager
    def client(self) -> Iterator[ControlClient]:
        with ControlClient(self.url, self.key) as sim:
            yield sim


def target_options(command: F) -> F:
    """`--url`, `--key` and `--json`; the command receives `target: Target`."""

    @option(
        "--url",
        envvar="OPTISIM_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="the simulator's base URL",
    )
    @option(
        "--key",
        envvar="OPTISIM_ADMIN_KEY",
        default=DEFAULT_KEY,
        show_default=True,
        help="the tenant's admin X-API-KEY",
    )
    @option(
        "--json",
        "as_json",
        envvar="OPTISIM_JSON",
        is_flag=True,
        default=False,
        help="print the answer as JSON (parsable; errors too, as the simulator's envelope)",
    )
    @functools.wraps(command)
    def wrapper(url: str, key: str, as_json: bool, **kwargs: Any) -> Any:
        target = Target(url.rstrip("/"), key, as_json)
        try:
            return command(target=target, **kwargs)
        except ControlError as error:
            fail(target, error)

    return wrapper  # type: ignore[return-value]


def fail(target: Target, error: ControlError) -> None:
    """One line naming the cause (the envelope as JSON with --json); exit status 2."""
    if target.as_json:
        print(json.dumps({"error": error.envelope}))
    else:
        where = f"{error.method} {error.path}: " if error.path else ""
        err.print(f"[red]error[/red] {where}{escape(error.error)}: {escape(error.message)}")
    sys.exit(2)


def jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    print(json.dumps(jsonable(value), indent=2))


def table(
    title: str | None, columns: list[str], rows: list[list[Any]], *, numbers: bool = True
) -> Table:
    """A rich table; `numbers`: every column but the first is right-aligned."""
    t = Table(title=title)
    for i, column in enumerate(columns):
        right = numbers and i > 0
        t.add_column(column, justify="right" if right else "left", overflow="fold", no_wrap=right)
    for row in rows:
        t.add_row(*(fmt(cell) for cell in row))
    return t


def fmt(value: Any) -> str:
    """A cell: counts with thousands separators (ids are passed as str), None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value) or "-"
    return escape(str(value))


def fields(model: BaseModel, title: str | None = None) -> Table:
    """A model as a two-column table of its fields."""
    data = model.model_dump(mode="json")
    rows = [
        [k, str(v) if k.lower().endswith("id") and v is not None else v] for k, v in data.items()
    ]
    return table(title, ["field", "value"], rows, numbers=False)
