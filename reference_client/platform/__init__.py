"""The integrator's own side: the wallet where rewards land, and the journal of webhooks
received and work done (dedupe and resume)."""

from reference_client.platform.journal import (
    Approved,
    Journal,
    MemoryJournal,
    PendingWebhook,
    SqliteJournal,
)
from reference_client.platform.wallet import Activation, MemoryWallet, SqliteWallet, Wallet

__all__ = [
    "Activation",
    "Approved",
    "Journal",
    "MemoryJournal",
    "MemoryWallet",
    "PendingWebhook",
    "SqliteJournal",
    "SqliteWallet",
    "Wallet",
]
