"""The wallet and the journal: one suite, run against the memory and SQLite versions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reference_client.platform import (
    Approved,
    MemoryJournal,
    MemoryWallet,
    SqliteJournal,
    SqliteWallet,
)


@pytest.fixture(params=["memory", "sqlite"])
def wallet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryWallet()
        return
    found = SqliteWallet(tmp_path / "client.sqlite")
    yield found
    found.close()


@pytest.fixture(params=["memory", "sqlite"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryJournal()
        return
    found = SqliteJournal(tmp_path / "client.sqlite")
    yield found
    found.close()


class TestWallet:
    def test_crediting_twice_with_the_same_key_credits_once(self, wallet: Any) -> None:
        assert wallet.credit_bonus("C1", 500, "EUR", "AL-1") is True
        assert wallet.credit_bonus("C1", 500, "EUR", "AL-1") is True
        assert wallet.activated("AL-1")
        assert [(a.customer_id, a.amount, a.currency) for a in wallet.activations()] == [
            ("C1", 500, "EUR")
        ]

    def test_free_spins_are_keyed_too(self, wallet: Any) -> None:
        assert wallet.add_free_spins("C1", 25, "AL-S") is True
        assert wallet.add_free_spins("C1", 25, "AL-S") is True
        assert [(a.kind, a.amount) for a in wallet.activations()] == [("free_spins", 25)]

    def test_a_closed_account_is_refused_and_nothing_is_recorded(self, wallet: Any) -> None:
        wallet.close_account("C2")
        assert wallet.credit_bonus("C2", 500, "EUR", "AL-2") is False
        assert not wallet.activated("AL-2")
        assert wallet.activations() == []

    def test_a_key_belongs_to_one_customer(self, wallet: Any) -> None:
        wallet.credit_bonus("C1", 500, "EUR", "AL-1")
        with pytest.raises(ValueError, match="belongs to"):
            wallet.credit_bonus("C9", 500, "EUR", "AL-1")

    def test_a_balance_is_seeded_once_and_bonuses_do_not_change_it(self, wallet: Any) -> None:
        assert wallet.balance("C1") == 0
        wallet.seed_balances({"C1": 1200})
        wallet.seed_balances({"C1": 99})  # the platform already knows: ignored
        wallet.credit_bonus("C1", 500, "EUR", "AL-1")
        assert wallet.balance("C1") == 1200


def test_sqlite_wallet_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "wallet.sqlite"
    first = SqliteWallet(path)
    first.seed_balances({"C1": 700})
    first.credit_bonus("C1", 500, "EUR", "AL-1")
    first.close()

    again = SqliteWallet(path)
    try:
        assert again.activated("AL-1")
        assert again.credit_bonus("C1", 500, "EUR", "AL-1") is True  # restart: no-op
        assert len(again.activations()) == 1
        assert again.balance("C1") == 700
    finally:
        again.close()


class TestJournal:
    def test_a_webhook_id_is_accepted_once(self, journal: Any) -> None:
        assert journal.accept("msg_1", "scheduled", b"{}") is True
        assert journal.accept("msg_1", "scheduled", b"{}") is False
        journal.done("msg_1")
        assert journal.accept("msg_1", "scheduled", b"{}") is False

    def test_accepted_webhooks_stay_pending_until_done(self, journal: Any) -> None:
        journal.accept("msg_1", "scheduled", b'{"EventTypeID": 5}')
        journal.accept("msg_2", "triggered", b'{"eventId": "EV"}')
        journal.done("msg_1")
        assert [(p.webhook_id, p.kind, p.body) for p in journal.pending()] == [
            ("msg_2", "triggered", b'{"eventId": "EV"}')
        ]

    def test_approvals_and_redemptions_are_remembered(self, journal: Any) -> None:
        journal.mark_approved(48213, [Approved("C1", "PR-W", ("AL-1",))])
        journal.mark_approved(48213, [Approved("C1", "PR-W", ("AL-1",))])  # idempotent
        journal.mark_approved(48213, [Approved("C2", "PR-W", ("AL-2",))])
        assert journal.approved(48213) == {"C1", "C2"}
        assert journal.was_approved(48213, "C2") and not journal.was_approved(7001, "C2")
        journal.mark_redeemed(["AL-1"])
        assert journal.unredeemed() == [(48213, "PR-W", "AL-2")]

    def test_cancellation_is_remembered(self, journal: Any) -> None:
        assert not journal.cancelled(48213)
        journal.mark_cancelled(48213)
        assert journal.cancelled(48213)


def test_sqlite_journal_and_wallet_share_one_file_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "client.sqlite"
    wallet, journal = SqliteWallet(path), SqliteJournal(path)
    journal.accept("msg_1", "scheduled", b'{"EventTypeID": 5, "CampaignID": 1}')
    journal.mark_approved(1, [Approved("C1", "PR-W", ("AL-1",))])
    wallet.credit_bonus("C1", 500, "EUR", "AL-1")
    wallet.close()
    journal.close()

    wallet, journal = SqliteWallet(path), SqliteJournal(path)
    try:
        assert [p.webhook_id for p in journal.pending()] == ["msg_1"]
        assert journal.accept("msg_1", "scheduled", b"{}") is False
        assert journal.approved(1) == {"C1"}
        assert wallet.activated("AL-1")
    finally:
        wallet.close()
        journal.close()
