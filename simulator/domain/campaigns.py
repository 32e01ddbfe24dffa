"""Campaign lifecycle: execute (freeze the list, notify), clear at the deadline, cancel,
and triggered events.

Real API (optimove-api-facts §2.4): an EventTypeID 5 campaign is processed and held until
`ClearanceRequiredBy` (default 30 minutes later), then sent only to the customers approved
by then, on each of its channels: one EventTypeID 13 webhook per channel (wire-contract §6,
rev 2; optimove-api-facts "Added in turn 2"). EventTypeID 4 announces a cancelled campaign.
Triggered campaigns send one CE v2 webhook per customer event, shaped like the documented
v1 gateway payload.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from simulator.domain import ledger
from simulator.domain.errors import DomainError
from simulator.domain.models import Campaign, CampaignStatus, OutboxEvent, TriggeredEvent
from simulator.domain.periods import core_time, iso_time
from simulator.domain.state import Ids, LedgerState


@dataclass(frozen=True, slots=True)
class ProcessedList:
    """A campaign's frozen list of population indices: a slice `[start, stop)`, or an
    explicit sorted `indices` array when the target group filters on attributes.

    Four bytes per customer at most, and nothing at all for a plain slice, so a campaign of
    1,000,000 customers costs no memory until customers are touched.
    """

    start: int = 0
    stop: int = 0
    indices: array[int] | None = None

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else self.stop - self.start

    def index_at(self, position: int) -> int:
        return self.indices[position] if self.indices is not None else self.start + position

    def contains(self, index: int) -> bool:
        if self.indices is None:
            return self.start <= index < self.stop
        pos = bisect_left(self.indices, index)
        return pos < len(self.indices) and self.indices[pos] == index

    def contains_all(self, indices: list[int]) -> bool:
        """Whether every index is in the list (a slice's answer from the batch's bounds)."""
        if self.indices is None:
            return not indices or (self.start <= min(indices) and max(indices) < self.stop)
        return all(map(self.contains, indices))


def execute(
    campaign: Campaign, *, tenant_id: int, now: datetime, ids: Ids
) -> tuple[Campaign, OutboxEvent]:
    """Process a scheduled campaign: it goes on hold until `now + clearance window`, and the
    EventTypeID 5 webhook tells the integrator to fetch, validate and approve by then."""
    if campaign.type != "scheduled":
        raise DomainError("invalid_transition", f"campaign {campaign.id} is triggered")
    if campaign.status is not CampaignStatus.SCHEDULED:
        raise DomainError(
            "invalid_transition", f"campaign {campaign.id} is {campaign.status}, not scheduled"
        )
    crb = now + timedelta(seconds=campaign.clearance_window_s)
    executed = replace(
        campaign, status=CampaignStatus.EXECUTED, executed_at=now, clearance_required_by=crb
    )
    body = scheduled_body(campaign.id, now=now, clearance_required_by=crb, tenant_id=tenant_id)
    return executed, OutboxEvent(ids.next("msg"), "scheduled", campaign.id, body, now)


@dataclass(frozen=True, slots=True)
class Cleared:
    """What clearing a campaign did: the campaign as cleared, how many customers it was sent
    to, how many reservations were released, and its EventTypeID 13 webhooks."""

    campaign: Campaign
    sent: int
    released: int
    events: tuple[OutboxEvent, ...]


def clear(
    state: LedgerState, campaign: Campaign, *, now: datetime, tenant_id: int, ids: Ids
) -> Cleared:
    """At `ClearanceRequiredBy`: the campaign is sent to the approved customers, every
    reservation still open for it is released, and one EventTypeID 13 webhook is written per
    channel of the campaign (none for a campaign without channels), in channel order."""
    if campaign.status is not CampaignStatus.EXECUTED:
        raise DomainError(
            "invalid_transition", f"campaign {campaign.id} is {campaign.status}, not executed"
        )
    released = _release_open(state, campaign)
    sent = state.committed_count(campaign.id)
    events = tuple(
        OutboxEvent(
            ids.next("msg"),
            "channel",
            campaign.id,
            channel_body(campaign.id, channel, now=now, tenant_id=tenant_id),
            now,
        )
        for channel in campaign.channels
    )
    cleared = replace(campaign, status=CampaignStatus.CLEARED, finished_at=now)
    return Cleared(cleared, sent, released, events)


def cancel(
    state: LedgerState, campaign: Campaign, *, now: datetime, ids: Ids
) -> tuple[Campaign, int, OutboxEvent | None]:
    """Cancel a campaign: open reservations are released and, for a campaign that had been
    processed, an EventTypeID 4 webhook is written. Returns (campaign, released, event)."""
    if campaign.status in (CampaignStatus.CLEARED, CampaignStatus.CANCELLED):
        raise DomainError(
            "invalid_transition", f"campaign {campaign.id} is {campaign.status} already"
        )
    released = _release_open(state, campaign)
    event = None
    if campaign.status is CampaignStatus.EXECUTED:
        body = cancelled_body(campaign.id, now=now)
        event = OutboxEvent(ids.next("msg"), "cancelled", campaign.id, body, now)
    return replace(campaign, status=CampaignStatus.CANCELLED, finished_at=now), released, event


def _release_open(state: LedgerState, campaign: Campaign) -> int:
    released = 0
    tallies = ledger.Tallies(state)
    for allocation in list(state.open_allocations(campaign.id)):
        ledger.release(state, tallies[allocation.promotion_id], allocation)
        released += 1
    tallies.save()
    return released


def emit_event(
    campaign: Campaign,
    *,
    customer_id: str,
    context: Mapping[str, Any],
    now: datetime,
    ids: Ids,
) -> tuple[TriggeredEvent, OutboxEvent]:
    """One customer event of a triggered campaign and its CE v2 webhook (wire-contract §6)."""
    if campaign.type != "triggered":
        raise DomainError("invalid_transition", f"campaign {campaign.id} is not triggered")
    if campaign.status is not CampaignStatus.ACTIVE:
        raise DomainError("invalid_transition", f"campaign {campaign.id} is {campaign.status}")
    event = TriggeredEvent(ids.next("EV"), campaign.id, customer_id, dict(context), now)
    body = triggered_body(campaign, event)
    return event, OutboxEvent(ids.next("msg"), "triggered", campaign.id, body, now)


# -- webhook bodies (wire-contract §6) ------------------------------------------------------
# One builder per webhook kind, used by the services and by `optisim contract listener`, so
# the listener check sends exactly the bodies the simulator sends.
def scheduled_body(
    campaign_id: int, *, now: datetime, clearance_required_by: datetime, tenant_id: int
) -> dict[str, Any]:
    """EventTypeID 5: the campaign was processed; core times (`YYYY-MM-DD HH:MM:SS`).
    `TenantID` is the tenant's integer id, as in Optimove's published examples."""
    return {
        "EventTypeID": 5,
        "TimeStamp": core_time(now),
        "CampaignID": campaign_id,
        "ClearanceRequiredBy": core_time(clearance_required_by),
        "TenantID": tenant_id,
    }


def channel_body(
    campaign_id: int, channel_id: int, *, now: datetime, tenant_id: int
) -> dict[str, Any]:
    """EventTypeID 13: the campaign was sent on channel `channel_id`. Shape assumed
    (wire-contract §6 rev 2): `ChannelID` appears in channel-scoped events
    (optimove-api-facts §2.4), `TenantID` as in the type 5 webhook."""
    return {
        "EventTypeID": 13,
        "TimeStamp": core_time(now),
        "CampaignID": campaign_id,
        "ChannelID": channel_id,
        "TenantID": tenant_id,
    }


def cancelled_body(campaign_id: int, *, now: datetime) -> dict[str, Any]:
    """EventTypeID 4: a processed campaign was cancelled."""
    return {"EventTypeID": 4, "TimeStamp": core_time(now), "CampaignID": campaign_id}


def triggered_body(campaign: Campaign, event: TriggeredEvent) -> dict[str, Any]:
    """The CE v2 webhook of one customer event, shaped like the documented v1 gateway
    payload; `eventTime` is ISO 8601 with `Z`."""
    return {
        "eventId": event.id,
        "eventTime": iso_time(event.at),
        "user": {"user_id": event.customer_id, "is_visitor": False},
        "campaign": {
            "id": campaign.id,
            "series_id": campaign.series_id,
            "action": {
                "id": campaign.action_id,
                "name": campaign.action_name,
                "promo_codes": [campaign.promo_code],
                "channels": list(campaign.channels),
            },
        },
        "context": dict(event.context),
    }


def next_duty_at(campaign: Campaign) -> datetime | None:
    """When the clock next owes a campaign something: its execution, or (executed) its
    clearance deadline; None when it owes nothing more."""
    if campaign.status is CampaignStatus.SCHEDULED and campaign.execute_at is not None:
        return campaign.execute_at
    if campaign.status is CampaignStatus.EXECUTED:
        return campaign.clearance_required_by
    return None


def due(campaign: Campaign, now: datetime) -> str | None:
    """What the clock owes a campaign now: 'execute', 'clear', or nothing."""
    if campaign.status is CampaignStatus.SCHEDULED and campaign.execute_at is not None:
        return "execute" if now >= campaign.execute_at else None
    crb = campaign.clearance_required_by
    if campaign.status is CampaignStatus.EXECUTED and crb is not None and now >= crb:
        return "clear"
    return None
