"""The rule catalogue is complete: every code the code can refuse with is in it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from simulator import faults
from simulator.domain import rules
from simulator.domain.approvals import APPROVAL_REASONS
from simulator.domain.redemptions import REDEMPTION_REASONS
from simulator.domain.validation import REASONS

ROOT = Path(rules.__file__).resolve().parents[1]


def _calls(name: str, *, under: Path = ROOT) -> list[tuple[str, str]]:
    """(file, first string argument) of every call of `name` in the simulator's code."""
    found = []
    for path in sorted(under.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            first = node.args[0]
            if called == name and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((path.name, first.value))
    return found


def test_every_domain_error_code_raised_anywhere_is_catalogued() -> None:
    codes = _calls("DomainError")
    assert len(codes) > 30  # the walk finds them
    missing = []
    for where, code in codes:
        try:
            rules.refusal(code)
        except KeyError:
            missing.append(f"{where}: {code}")
    assert missing == []


def test_every_per_customer_reason_is_one_of_the_catalogued_reasons() -> None:
    refused = {code for _, code in _calls("refuse", under=ROOT / "domain")}
    assert refused == set(REASONS)
    assert {f"validate.{r}" for r in REASONS} <= set(rules.CATALOGUE)


def test_approval_and_redemption_reasons_are_catalogued() -> None:
    assert {f"approve.{r}" for r in APPROVAL_REASONS} <= set(rules.CATALOGUE)
    assert {f"redeem.{r}" for r in REDEMPTION_REASONS} <= set(rules.CATALOGUE)
    tree = ast.parse((ROOT / "domain" / "approvals.py").read_text())
    item = next(n for n in ast.walk(tree) if getattr(n, "name", "") == "_item_reason")
    returned = {
        n.value.value
        for n in ast.walk(item)
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Constant) and n.value.value
    }
    assert returned == set(APPROVAL_REASONS)
    tree = ast.parse((ROOT / "domain" / "redemptions.py").read_text())
    assigned = {
        n.value.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign)
        and isinstance(n.value, ast.Constant)
        and isinstance(n.value.value, str)
        and any(getattr(t, "id", "") == "reason" for t in n.targets)
    }
    assert assigned == set(REDEMPTION_REASONS)


def test_every_fault_kind_is_catalogued() -> None:
    assert set(get_args(faults.ApiAction)) == set(rules.API_FAULTS)
    assert set(get_args(faults.WebhookAction)) == set(rules.WEBHOOK_FAULTS)


def test_an_uncatalogued_rule_is_refused_by_name() -> None:
    try:
        rules.rule_id("validate.moon_phase")
    except KeyError as exc:
        assert "moon_phase" in str(exc)
    else:
        raise AssertionError("an uncatalogued rule was accepted")
