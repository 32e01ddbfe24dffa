"""The reference integrator for the Advanced Control Flow (knows the simulator only
through the wire contract; it never imports `simulator`).

Usage:

    config = ClientConfig(optimove_url="http://127.0.0.1:8900", api_key="...")
    async with Integrator(config) as integrator:
        app = create_listener_app(integrator)   # serve it with uvicorn
        await integrator.register_listeners("http://127.0.0.1:8901")
"""

from reference_client.config import ClientConfig
from reference_client.http import ApiError, ApiTransportError, OptimoveApi, PromotionsApi
from reference_client.integrator import Integrator
from reference_client.listener import create_listener_app
from reference_client.platform.journal import Journal, MemoryJournal, SqliteJournal
from reference_client.platform.wallet import MemoryWallet, SqliteWallet, Wallet
from reference_client.redemption import Redemptions
from reference_client.scrubbing import (
    ScrubContext,
    blocked_countries,
    default_rules,
    min_balance,
    self_excluded,
)
from reference_client.summary import CampaignSummary, TierTotal

__all__ = [
    "ApiError",
    "ApiTransportError",
    "CampaignSummary",
    "ClientConfig",
    "Integrator",
    "Journal",
    "MemoryJournal",
    "MemoryWallet",
    "OptimoveApi",
    "PromotionsApi",
    "Redemptions",
    "ScrubContext",
    "SqliteJournal",
    "SqliteWallet",
    "TierTotal",
    "Wallet",
    "blocked_countries",
    "create_listener_app",
    "default_rules",
    "min_balance",
    "self_excluded",
]
