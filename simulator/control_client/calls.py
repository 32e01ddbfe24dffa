"""One builder per control operation: what to send and how to read the answer.

`ControlClient` (sync) and `AsyncControlClient` run the same builders, so the two never
disagree about a path, a parameter or a model. Each builder is named as the route's
`operation_id` (one name per operation) and validates its body with the request model the
route itself reads (`simulator.control_models`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter, ValidationError

from simulator.control_client.errors import InvalidInput, invalid_input
from simulator.control_models import (
    AdvanceRequest,
    Attempt,
    Campaign,
    CampaignReport,
    CeWebhook,
    CeWebhookUrl,
    Clock,
    ClockRequest,
    Coverage,
    CreatedTenant,
    CreateTenantRequest,
    Delivery,
    DeliveryDetail,
    DeliveryStatus,
    DeliverySummary,
    EmitEventsRequest,
    EmittedEvents,
    EventCustomer,
    Faults,
    FaultsRequest,
    Health,
    Journal,
    JournalRequest,
    JournalSwitch,
    OutboxEvent,
    PopulationCustomer,
    PutCustomerRequest,
    ResendFailedRequest,
    Resent,
    RotatedSecret,
    RotateSecretRequest,
    Tenant,
    Verification,
    VerifyRequest,
    WebhookConfig,
    WebhookConfigRequest,
)
from simulator.domain.models import WebhookKind
from simulator.faults import FaultRule
from simulator.specs import CampaignCreate, Scenario

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
ScenarioInput = Scenario | Mapping[str, Any]
FaultInput = FaultRule | Mapping[str, Any]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP request to the control API and the reader of its answer (the decoded JSON,
    None for an empty body)."""

    method: str
    path: str
    read: Callable[[Any], T]
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    content_type: str | None = None
    authenticated: bool = True
    text: bool = False  # the answer is text (read gets the body as a str), not JSON


def _model(cls: type[M]) -> Callable[[Any], M]:
    return cls.model_validate


def _nothing(_: Any) -> None:
    return None


def _list_of(cls: type[M], key: str | None = None) -> Callable[[Any], list[M]]:
    adapter = TypeAdapter(list[cls])  # type: ignore[valid-type]

    def read(data: Any) -> list[M]:
        found: list[M] = adapter.validate_python(data[key] if key is not None else data)
        return found

    return read


def _body(cls: type[BaseModel], method: str, path: str, **fields: Any) -> Any:
    """The JSON body of a request model built from `fields` (None ones left out, so the
    server's defaults apply); a value the model refuses raises `InvalidInput` unsent."""
    try:
        model = cls.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise invalid_input(exc, method, path) from exc
    return model.model_dump(mode="json", exclude_unset=True)


def _params(**params: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = str(value).lower() if isinstance(value, bool) else value
    return out


def _scenario(scenario: ScenarioInput) -> dict[str, Any]:
    if isinstance(scenario, Scenario):
        return scenario.model_dump(mode="json", exclude_none=True)
    return dict(scenario)


def _segment(value: str | int) -> str:
    return quote(str(value), safe="")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, None: 1.0}


def parse_duration(value: float | timedelta | str) -> float:
    """A duration in seconds: a number, a timedelta, or text such as `90`, `90s`, `5m`,
    `2h`, `1.5d`, `250ms`; `ValueError` for anything else."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found is None:
            raise ValueError(f"{value!r} is not a duration (e.g. 30, 90s, 5m, 2h, 1d)")
        return float(found.group(1)) * _UNIT_S[found.group(2)]
    return float(value)


# -- health and tenants ----------------------------------------------------------------
def health() -> Call[Health]:
    """`GET /_sim/health`: liveness (no key needed): status, version, store."""
    return Call("GET", "/_sim/health", _model(Health), authenticated=False)


def _text(body: Any) -> str:
    return str(body)


def get_metrics() -> Call[str]:
    """`GET /_sim/metrics`: the server process's Prometheus metrics, as text (no key
    needed; simulators that serve metrics only)."""
    return Call("GET", "/_sim/metrics", _text, authenticated=False, text=True)


def create_tenant(
    *,
    name: str | None = None,
    scenario: ScenarioInput | None = None,
    builtin: Literal["demo", "large"] | None = None,
) -> Call[CreatedTenant]:
    """`POST /_sim/tenants`: a new isolated tenant with fresh keys and the scenario's world
    (an inline `scenario`, a `builtin` one, or an empty world); its keys by role."""
    path = "/_sim/tenants"
    body = _body(
        CreateTenantRequest,
        "POST",
        path,
        name=name,
        scenario=_scenario(scenario) if scenario is not None else None,
        builtin=builtin,
    )
    return Call("POST", path, _model(CreatedTenant), json=body)


def delete_tenant(tenant_id: str) -> Call[None]:
    """`DELETE /_sim/tenants/{tenantId}`: the tenant and everything of it go (keys, world,
    campaigns, deliveries, journal, faults). Only the tenant's own admin key may delete it
    (another tenant's id is `NotFound`, `unknown_tenant`)."""
    return Call("DELETE", f"/_sim/tenants/{_segment(tenant_id)}", _nothing)


def get_tenant() -> Call[Tenant]:
    """`GET /_sim/tenant`: the key's tenant: clock, population, registered listeners."""
    return Call("GET", "/_sim/tenant", _model(Tenant))


def load_scenario(
    scenario: ScenarioInput | str | bytes | None = None,
    *,
    builtin: Literal["demo", "large"] | None = None,
) -> Call[Tenant]:
    """`POST /_sim/scenario`: replace the tenant's world with a scenario (a `Scenario`, a
    mapping in its JSON form, or YAML/JSON text) or a `builtin` one."""
    path = "/_sim/scenario"
    params = _params(builtin=builtin)
    if scenario is None:
        return Call("POST", path, _model(Tenant), params=params)
    if isinstance(scenario, str | bytes):
        content = scenario.encode() if isinstance(scenario, str) else scenario
        return Call(
            "POST",
            path,
            _model(Tenant),
            params=params,
            content=content,
            content_type="application/yaml",
        )
    return Call("POST", path, _model(Tenant), params=params, json=_scenario(scenario))


def reset_tenant() -> Call[Tenant]:
    """`POST /_sim/reset`: the tenant back to its scenario (state, journal and deliveries)."""
    return Call("POST", "/_sim/reset", _model(Tenant))


def point_triggered_webhook(url: str) -> Call[CeWebhook]:
    """`PUT /_sim/ce-webhook`: point the CE v2 registration at `url`, keeping its id and
    signing secret (404 without a registration)."""
    path = "/_sim/ce-webhook"
    body = _body(CeWebhookUrl, "PUT", path, url=url)
    return Call("PUT", path, _model(CeWebhook), json=body)


# -- clock -----------------------------------------------------------------------------
def get_clock() -> Call[Clock]:
    """`GET /_sim/clock`: the tenant's simulator clock."""
    return Call("GET", "/_sim/clock", _model(Clock))


def set_clock(
    mode: Literal["realtime", "manual"], now: datetime | str | None = None
) -> Call[Clock]:
    """`PUT /_sim/clock`: switch the clock's mode and optionally jump to `now` (with a time
    zone); due executions and clearances run (`ran` counts them)."""
    path = "/_sim/clock"
    return Call(
        "PUT", path, _model(Clock), json=_body(ClockRequest, "PUT", path, mode=mode, now=now)
    )


def advance_clock(seconds: float | timedelta | str) -> Call[Clock]:
    """`POST /_sim/clock/advance`: move a manual clock forward (seconds, a timedelta, or
    text such as `2h`); due work runs."""
    path = "/_sim/clock/advance"
    try:
        duration = parse_duration(seconds)
    except ValueError as exc:
        raise InvalidInput(
            400,
            "invalid_request",
            f"seconds: {exc}",
            {"field": "seconds", "checkedBy": "client"},
            method="POST",
            path=path,
        ) from exc
    body = _body(AdvanceRequest, "POST", path, seconds=duration)
    return Call("POST", path, _model(Clock), json=body)


# -- campaigns -------------------------------------------------------------------------
def list_campaigns() -> Call[list[Campaign]]:
    """`GET /_sim/campaigns`: the tenant's campaigns."""
    return Call("GET", "/_sim/campaigns", _list_of(Campaign))


def create_campaign(campaign: CampaignCreate | Mapping[str, Any]) -> Call[Campaign]:
    """`POST /_sim/campaigns`: a scheduled or triggered campaign (`CampaignCreate`)."""
    path = "/_sim/campaigns"
    if isinstance(campaign, CampaignCreate):
        body = campaign.model_dump(mode="json", exclude_none=True)
    else:
        body = _body(CampaignCreate, "POST", path, **campaign)
    return Call("POST", path, _model(Campaign), json=body)


def get_campaign(campaign_id: int) -> Call[Campaign]:
    """`GET /_sim/campaigns/{id}`: the campaign, its state and its processed list's size."""
    return Call("GET", f"/_sim/campaigns/{campaign_id}", _model(Campaign))


def execute_campaign(campaign_id: int) -> Call[Campaign]:
    """`POST /_sim/campaigns/{id}/execute`: run a scheduled campaign now (its processed
    list is built and the scheduled webhook goes out)."""
    return Call("POST", f"/_sim/campaigns/{campaign_id}/execute", _model(Campaign))


def cancel_campaign(campaign_id: int) -> Call[Campaign]:
    """`POST /_sim/campaigns/{id}/cancel`: cancel a campaign (the cancelled webhook)."""
    return Call("POST", f"/_sim/campaigns/{campaign_id}/cancel", _model(Campaign))


def clear_campaign(campaign_id: int) -> Call[Campaign]:
    """`POST /_sim/campaigns/{id}/clear`: clear an executed campaign now."""
    return Call("POST", f"/_sim/campaigns/{campaign_id}/clear", _model(Campaign))


def emit_events(
    campaign_id: int,
    *,
    count: int | None = None,
    customers: Sequence[str | EventCustomer | Mapping[str, Any]] | None = None,
    context: Mapping[str, Any] | None = None,
    rate: float | None = None,
) -> Call[EmittedEvents]:
    """`POST /_sim/campaigns/{id}/events`: emit triggered events, for `count` generated
    customers or for the given `customers` (ids, or `{customerId, context}`); `context` is
    added to every event's context; `rate` paces their webhooks (events/s)."""
    path = f"/_sim/campaigns/{campaign_id}/events"
    listed = (
        None
        if customers is None
        else [
            {"customerId": c}
            if isinstance(c, str)
            else c.model_dump(mode="json")
            if isinstance(c, EventCustomer)
            else dict(c)
            for c in customers
        ]
    )
    body = _body(
        EmitEventsRequest,
        "POST",
        path,
        count=count,
        customers=listed,
        context=dict(context) if context is not None else None,
        rate=rate,
    )
    return Call("POST", path, _model(EmittedEvents), json=body)


def get_campaign_report(campaign_id: int) -> Call[CampaignReport]:
    """`GET /_sim/campaigns/{id}/report`: the campaign's audit and protocol violations."""
    return Call("GET", f"/_sim/campaigns/{campaign_id}/report", _model(CampaignReport))


# -- customers -------------------------------------------------------------------------
def get_customer(customer_id: str) -> Call[PopulationCustomer]:
    """`GET /_sim/customers/{id}`: a customer's attributes (computed, chosen, or both)."""
    return Call("GET", f"/_sim/customers/{_segment(customer_id)}", _model(PopulationCustomer))


def put_customer(customer_id: str, attributes: Mapping[str, Any]) -> Call[PopulationCustomer]:
    """`PUT /_sim/customers/{id}`: choose a customer's attributes (a new explicit customer,
    or chosen attributes laid over a computed one)."""
    path = f"/_sim/customers/{_segment(customer_id)}"
    body = _body(PutCustomerRequest, "PUT", path, attributes=dict(attributes))
    return Call("PUT", path, _model(PopulationCustomer), json=body)


# -- journal and outbox ----------------------------------------------------------------
def get_journal(
    *, after: int = 0, limit: int = 100, path: str | None = None, status: int | None = None
) -> Call[Journal]:
    """`GET /_sim/journal`: the tenant's recent requests, oldest first (after `seq`
    `after`; `path`: a case-insensitive substring; `status`: an exact status)."""
    params = _params(after=after, limit=limit, path=path, status=status)
    return Call("GET", "/_sim/journal", _model(Journal), params=params)


def set_journal(enabled: bool) -> Call[JournalSwitch]:
    """`PUT /_sim/journal`: switch the journal on or off for the whole server process."""
    path = "/_sim/journal"
    body = _body(JournalRequest, "PUT", path, enabled=enabled)
    return Call("PUT", path, _model(JournalSwitch), json=body)


def clear_journal() -> Call[None]:
    """`DELETE /_sim/journal`: forget the tenant's journal entries."""
    return Call("DELETE", "/_sim/journal", _nothing)


def list_outbox(
    *, after: int = 0, limit: int = 100, kind: WebhookKind | None = None
) -> Call[list[OutboxEvent]]:
    """`GET /_sim/outbox`: webhook events written so far, in `seq` order."""
    params = _params(after=after, limit=limit, kind=kind)
    return Call("GET", "/_sim/outbox", _list_of(OutboxEvent, "events"), params=params)


# -- deliveries ------------------------------------------------------------------------
def list_deliveries(
    *,
    status: DeliveryStatus | None = None,
    kind: WebhookKind | None = None,
    campaign_id: int | None = None,
    after: int = 0,
    limit: int = 100,
) -> Call[list[Delivery]]:
    """`GET /_sim/deliveries`: webhook deliveries in outbox order with their state (page
    with `after`, a `seq`)."""
    params = _params(status=status, kind=kind, campaignId=campaign_id, after=after, limit=limit)
    return Call("GET", "/_sim/deliveries", _list_of(Delivery, "deliveries"), params=params)


def summarize_deliveries(
    *, campaign_id: int | None = None, kind: WebhookKind | None = None
) -> Call[DeliverySummary]:
    """`GET /_sim/deliveries/summary`: counts by status, retries, lag percentiles, rate."""
    params = _params(campaignId=campaign_id, kind=kind)
    return Call("GET", "/_sim/deliveries/summary", _model(DeliverySummary), params=params)


def get_delivery(event_id: str) -> Call[DeliveryDetail]:
    """`GET /_sim/deliveries/{webhook-id}`: one delivery, its body and all its attempts."""
    return Call("GET", f"/_sim/deliveries/{_segment(event_id)}", _model(DeliveryDetail))


def list_attempts(
    *,
    event_id: str | None = None,
    failed_only: bool = False,
    after: float = 0,
    limit: int = 100,
) -> Call[list[Attempt]]:
    """`GET /_sim/attempts`: delivery attempts (URL, number, status, latency, error, fault);
    `after` is a unix time."""
    params = _params(eventId=event_id, failedOnly=failed_only, after=after, limit=limit)
    return Call("GET", "/_sim/attempts", _list_of(Attempt, "attempts"), params=params)


def resend_delivery(event_id: str) -> Call[Resent]:
    """`POST /_sim/deliveries/{webhook-id}/resend`: send an event again now (same id)."""
    return Call("POST", f"/_sim/deliveries/{_segment(event_id)}/resend", _model(Resent))


def resend_failed(since: float = 0) -> Call[Resent]:
    """`POST /_sim/deliveries/resend-failed`: re-send every failed event created since
    `since` (unix seconds)."""
    path = "/_sim/deliveries/resend-failed"
    body = _body(ResendFailedRequest, "POST", path, since=since)
    return Call("POST", path, _model(Resent), json=body)


# -- webhooks --------------------------------------------------------------------------
def get_webhook_config() -> Call[WebhookConfig]:
    """`GET /_sim/webhooks/config`: retry delays, time scale, timeout, concurrency."""
    return Call("GET", "/_sim/webhooks/config", _model(WebhookConfig))


def set_webhook_config(
    *,
    retry_delays: Sequence[float] | None = None,
    time_scale: float | None = None,
    timeout_seconds: float | None = None,
    concurrency: int | None = None,
) -> Call[WebhookConfig]:
    """`PUT /_sim/webhooks/config`: change the delivery settings given (others are kept)."""
    path = "/_sim/webhooks/config"
    body = _body(
        WebhookConfigRequest,
        "PUT",
        path,
        retryDelays=list(retry_delays) if retry_delays is not None else None,
        timeScale=time_scale,
        timeoutSeconds=timeout_seconds,
        concurrency=concurrency,
    )
    return Call("PUT", path, _model(WebhookConfig), json=body)


def rotate_webhook_secret(
    secret: str | None = None, *, overlap_seconds: float | None = None
) -> Call[RotatedSecret]:
    """`POST /_sim/webhooks/secret/rotate`: switch to a new secret (`secret`, or a fresh
    one); during `overlap_seconds` (server default 3600) webhooks carry both signatures."""
    path = "/_sim/webhooks/secret/rotate"
    body = _body(RotateSecretRequest, "POST", path, secret=secret, overlapSeconds=overlap_seconds)
    return Call("POST", path, _model(RotatedSecret), json=body)


def verify_webhook(body: str | bytes, headers: Mapping[str, str]) -> Call[Verification]:
    """`POST /_sim/webhooks/verify`: whether a webhook you received verifies, and if not,
    why (give the raw body and the headers exactly as received)."""
    path = "/_sim/webhooks/verify"
    text = body.decode() if isinstance(body, bytes) else body
    json = _body(VerifyRequest, "POST", path, body=text, headers=dict(headers))
    return Call("POST", path, _model(Verification), json=json)


# -- faults ----------------------------------------------------------------------------
def get_faults() -> Call[Faults]:
    """`GET /_sim/faults`: the tenant's fault rules and their seed."""
    return Call("GET", "/_sim/faults", _model(Faults))


def set_faults(rules: Sequence[FaultInput], *, seed: int | None = None) -> Call[Faults]:
    """`PUT /_sim/faults`: replace the tenant's fault rules (seeded: the same seed and
    requests give the same faults)."""
    path = "/_sim/faults"
    listed = [
        r.model_dump(mode="json", exclude_none=True) if isinstance(r, FaultRule) else dict(r)
        for r in rules
    ]
    body = _body(FaultsRequest, "PUT", path, rules=listed, seed=seed)
    return Call("PUT", path, _model(Faults), json=body)


def clear_faults() -> Call[None]:
    """`DELETE /_sim/faults`: remove the tenant's fault rules."""
    return Call("DELETE", "/_sim/faults", _nothing)


# -- coverage --------------------------------------------------------------------------
def get_coverage(campaign_id: int | None = None) -> Call[Coverage]:
    """`GET /_sim/coverage`: which business rules the tenant's traffic exercised (one
    campaign's with `campaign_id`), how often, with an example journal entry."""
    params = _params(campaignId=campaign_id)
    return Call("GET", "/_sim/coverage", _model(Coverage), params=params)


def clear_coverage() -> Call[None]:
    """`DELETE /_sim/coverage`: forget what the tenant's traffic covered so far."""
    return Call("DELETE", "/_sim/coverage", _nothing)
