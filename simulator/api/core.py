"""Optimove core API (function style): `/current/{category}/{Function}` and
`/{Category}/{Function}`, names matched case-insensitively (the middleware rewrites every
spelling to the canonical path below), query parameter names too (wire-contract §2).

Success is exactly 200 and write calls return an empty body: the PyPI client treats any
other 2xx as failure (optimove-api-facts §5).
"""

from __future__ import annotations

from bisect import bisect_left
from functools import lru_cache
from inspect import getdoc
from operator import itemgetter
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ConfigDict, Field, StringConstraints, with_config
from starlette.responses import Response
from typing_extensions import TypedDict

from simulator.api import encode
from simulator.api.deps import CallerDep, RuntimeDep, call
from simulator.api.routing import WireRoute
from simulator.domain.approvals import approve_customers
from simulator.domain.errors import DomainError, invalid
from simulator.services import campaigns, tenants
from simulator.services.campaigns import CustomerPage
from simulator.specs import CampaignId, HttpUrl, Id
from simulator.wire import WireItems, WireModel

router = APIRouter(tags=["core"], route_class=WireRoute)
MAX_PAGE = 10_000

# (category, function) in lower case → canonical path. Aliases map to the same path.
CORE_FUNCTIONS: dict[tuple[str, str], str] = {}


def _canonical(category: str, function: str, *aliases: str) -> str:
    path = f"/current/{category}/{function}"
    for name in (function, *aliases):
        CORE_FUNCTIONS[(category.lower(), name.lower())] = path
    return path


STRING_ERROR = {"content": {"application/json": {"schema": {"type": "string"}}}}
CORE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "Invalid input; the body is a JSON string naming the field",
        **STRING_ERROR,
    },
    401: {"description": "Missing or unknown key", **STRING_ERROR},
    403: {
        "description": "Role lacks the right (a JSON string), or an expired token: the "
        "plain-text body `Authorization-Token Expired`",
        "content": {
            **STRING_ERROR["content"],
            "text/plain": {"schema": {"type": "string", "enum": ["Authorization-Token Expired"]}},
        },
    },
}


class CoreModel(WireModel):
    model_config = ConfigDict(extra="ignore")


class LoginRequest(CoreModel):
    Username: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    Password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class RegisterEventListenerRequest(CoreModel):
    EventTypeID: Annotated[int, Field(ge=0, le=1000)]
    ListenerURL: HttpUrl
    ChannelID: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None


class UnregisterEventListenerRequest(CoreModel):
    EventTypeID: Annotated[int, Field(ge=0, le=1000)]
    ChannelID: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None


@with_config(ConfigDict(strict=True, extra="ignore"))  # CoreModel's, for an item of a list
class PromoUpdate(TypedDict):
    CustomerID: Id
    Status: bool


class UpdateCustomerPromotionStatusRequest(CoreModel):
    TimeStamp: Annotated[str, StringConstraints(max_length=64)] | None = None
    CampaignID: CampaignId
    PromosUpdated: Annotated[list[PromoUpdate], WireItems(max_length=10_000)]


class PromotionCode(CoreModel):
    PromoCode: Id
    PromotionName: Annotated[str, StringConstraints(max_length=1024)] = ""


class PromotionCodeRef(CoreModel):
    PromoCode: Id


def _query(request: Request) -> dict[str, str]:
    """Query parameters by lower-cased name; `$top`/`$skip` also as `top`/`skip`."""
    return {k.lower().lstrip("$"): v for k, v in request.query_params.multi_items()}


def _int_param(
    query: dict[str, str], name: str, default: int | None, low: int, high: int = 2**63 - 1
) -> int:
    raw = query.get(name.lower().lstrip("$"))
    if raw is None or raw == "":
        if default is None:
            raise invalid(name, f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"{name} must be an integer") from None
    if value < low:
        raise invalid(name, f"{name} must be at least {low}")
    if value > high:  # also keeps values inside SQLite's 64-bit integers
        raise invalid(name, f"{name} must be at most {high}")
    return value


LOGIN = _canonical("general", "login")
LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The token (a GUID), as a JSON string", **STRING_ERROR},
    **CORE_ERRORS,
}
LOGIN_DOC = """Legacy login: the token for the `Authorization-Token` header (no key needed).

The token is a GUID; it expires 20 minutes after its last use, and a call with an expired
token is 403 with the plain-text body `Authorization-Token Expired`. Log in again only
then: a login while the user holds an unexpired token, or a second login by the same user
within one second, is 429 with `Retry-After` (unless the simulator runs with
`SIM_LOGIN_LIMITS=false`)."""


@router.post(LOGIN, operation_id="login", responses=LOGIN_RESPONSES, description=LOGIN_DOC)
async def login(rt: RuntimeDep, body: LoginRequest) -> Response:
    token = await call(rt, tenants.login, body.Username, body.Password)
    return encode.json_response(token)


LOGIN_PARAMS = [
    {
        "name": name,
        "in": "query",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
        "description": f"Matched in any case (`{name}`, `{name.upper()}`, `{name.title()}`)",
    }
    for name in ("username", "password")
]


@router.get(
    LOGIN,
    operation_id="login_by_get",
    responses=LOGIN_RESPONSES,
    description=LOGIN_DOC.replace("Legacy login:", "Legacy login by GET (v1.6-era clients):"),
    openapi_extra={"parameters": LOGIN_PARAMS},
)
async def login_by_get(rt: RuntimeDep, request: Request) -> Response:
    # A v1.6-era production client logs in with `GET general/login?username=&password=`
    # (optimove-api-facts, "Added in turn 2"); query names match in any case (§2).
    query = _query(request)
    username, password = (_text_param(query, name) for name in ("Username", "Password"))
    token = await call(rt, tenants.login, username, password)
    return encode.json_response(token)


def _text_param(query: dict[str, str], name: str, max_length: int = 128) -> str:
    value = query.get(name.lower(), "")
    if not value:
        raise invalid(name, f"{name} is required")
    if len(value) > max_length:
        raise invalid(name, f"{name} must be at most {max_length} characters")
    return value


@router.get(
    _canonical("general", "GetLastDataUpdate"),
    operation_id="get_last_data_update",
    responses=CORE_ERRORS,
)
async def get_last_data_update(rt: RuntimeDep, caller: CallerDep) -> Response:
    """The date of the last data update: today on the tenant's simulator clock."""
    _, now = await call(rt, tenants.get_tenant, caller.tenant_id)
    # isoformat, not strftime("%Y"): a clock set to year 30 is "0030-…", as the contract's
    # date pattern says (strftime does not pad years below 1000 on glibc).
    return encode.json_response({"Date": now.date().isoformat()})


@router.post(
    _canonical("general", "RegisterEventListener"),
    operation_id="register_event_listener",
    responses=CORE_ERRORS,
    description=getdoc(tenants.register_event_listener),
)
async def register_event_listener(
    rt: RuntimeDep, caller: CallerDep, body: RegisterEventListenerRequest
) -> Response:
    await call(
        rt,
        tenants.register_event_listener,
        caller.tenant_id,
        body.EventTypeID,
        body.ListenerURL,
        body.ChannelID,
    )
    return Response(status_code=200)


@router.post(
    _canonical("general", "UnregisterEventListener"),
    operation_id="unregister_event_listener",
    responses={**CORE_ERRORS, 404: {"description": "Not registered", **STRING_ERROR}},
)
async def unregister_event_listener(
    rt: RuntimeDep, caller: CallerDep, body: UnregisterEventListenerRequest
) -> Response:
    await call(
        rt, tenants.unregister_event_listener, caller.tenant_id, body.EventTypeID, body.ChannelID
    )
    return Response(status_code=200)


@router.get(
    _canonical("general", "GetRegisteredEventListeners"),
    operation_id="get_registered_event_listeners",
    responses=CORE_ERRORS,
)
async def get_registered_event_listeners(rt: RuntimeDep, caller: CallerDep) -> Response:
    listeners = await call(rt, tenants.get_registered_event_listeners, caller.tenant_id)
    return encode.json_response(listeners)


PAGE_PARAMS = [
    {
        "name": "CampaignID",
        "in": "query",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    },
    {
        "name": "$top",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    },
    {
        "name": "$skip",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
    },
    {
        "name": "CustomerAttributes",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Attribute names joined with `;`",
    },
    {
        "name": "CustomerAttributesDelimiter",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Accepted, no effect: attributes come back as a list",
    },
]


@router.get(
    _canonical("customers", "GetProcessedCampaignCustomers", "GetCampaignCustomers"),
    operation_id="get_processed_campaign_customers",
    responses={**CORE_ERRORS, 404: {"description": "Unknown or not executed", **STRING_ERROR}},
    openapi_extra={"parameters": PAGE_PARAMS},
)
async def get_processed_campaign_customers(
    rt: RuntimeDep, caller: CallerDep, request: Request
) -> Response:
    """A page of a campaign's frozen processed list, in a stable order. Page with
    `$top` (default and max 10,000) and `$skip`; a shorter page is the last."""
    query = _query(request)
    campaign_id = _int_param(query, "CampaignID", None, 1, 2**31 - 1)
    top = _int_param(query, "$top", MAX_PAGE, 1)
    if top > MAX_PAGE:
        raise invalid("$top", f"$top must be at most {MAX_PAGE}")
    skip = _int_param(query, "$skip", 0, 0)
    names = [raw for raw in query.get("customerattributes", "").split(";") if raw.strip()]
    try:
        page = await call(
            rt,
            campaigns.get_processed_campaign_customers,
            caller.tenant_id,
            campaign_id,
            top=top,
            skip=skip,
            attributes=tuple(names),
        )
    except DomainError as error:
        if error.code == "campaign_not_executed":  # the contract answers 404 here
            raise DomainError("unknown_campaign", error.message) from None
        raise
    return Response(encode_page(page), 200, media_type="application/json")


def encode_page(page: CustomerPage) -> bytes:
    """The page as JSON bytes: rows of generated customers formatted directly, since
    their ids and codes are known safe strings, so 10,000 rows cost a few milliseconds.
    Explicit customers (indices from `population.size` on, always after the generated
    ones: a processed list is in index order) have ids of any text: orjson writes them."""
    pop, processed = page.population, page.processed
    action = page.campaign.action_id
    code = orjson.dumps(page.campaign.promo_code).decode()
    prefix, width = pop.id_prefix, pop.id_width
    if page.attributes:
        rows = []
        for pos in range(page.start, page.stop):
            index = processed.index_at(pos)
            attrs = pop.customer(index)
            rows.append(
                {
                    "CustomerID": pop.customer_id(index),
                    "ActionID": action,
                    "PromoCode": page.campaign.promo_code,
                    "CustomerAttributes": [_text(attrs.get(name)) for name in page.attributes],
                }
            )
        encoded: bytes = orjson.dumps(rows)
        return encoded
    row = f'{{"CustomerID":"{prefix}%0{width}d","ActionID":{action},"PromoCode":{code}}}'
    if processed.indices is None:
        indices: Any = range(processed.start + page.start, processed.start + page.stop)
    else:
        indices = processed.indices[page.start : page.stop]
    split = bisect_left(indices, pop.size)  # generated customers come first
    if split == len(indices):
        # One `%` over the whole page: a row template repeated n times, filled with n ints.
        return _page_template(row, len(indices)) % tuple(indices)
    generated = indices[:split]
    tail = orjson.dumps(
        [
            {
                "CustomerID": pop.customer_id(i),
                "ActionID": action,
                "PromoCode": page.campaign.promo_code,
            }
            for i in indices[split:]
        ]
    )
    if not generated:
        return tail
    head = _page_template(row, len(generated)) % tuple(generated)
    return head[:-1] + b"," + tail[1:]


def _text(value: Any) -> str:
    """An attribute as CustomerAttributes carries it: text; a missing one is empty."""
    return "" if value is None else str(value)


@lru_cache(maxsize=16)
def _page_template(row: str, n: int) -> bytes:
    return ("[" + ",".join([row] * n) + "]").encode()


@router.post(
    _canonical("integrations", "UpdateCustomerPromotionStatus"),
    operation_id="update_customer_promotion_status",
    responses={
        **CORE_ERRORS,
        404: {"description": "Unknown campaign", **STRING_ERROR},
        409: {
            "description": "Items refused (`details.rejected`) or clearance closed; "
            "the error envelope"
        },
    },
    description=getdoc(approve_customers),
)
async def update_customer_promotion_status(
    rt: RuntimeDep, caller: CallerDep, body: UpdateCustomerPromotionStatusRequest
) -> Response:
    items = list(map(_ITEM, body.PromosUpdated))
    await call(
        rt, campaigns.update_customer_promotion_status, caller.tenant_id, body.CampaignID, items
    )
    return Response(status_code=200)


_ITEM = itemgetter("CustomerID", "Status")  # an item as (customer id, status), in C


@router.post(
    _canonical("integrations", "AddPromotions"),
    operation_id="add_promotions",
    responses=CORE_ERRORS,
)
async def add_promotions(
    rt: RuntimeDep,
    caller: CallerDep,
    body: Annotated[list[PromotionCode], Field(min_length=1, max_length=100)],
) -> Response:
    """Add or replace promo codes and their names (≤ 100 per call)."""
    await call(
        rt, tenants.add_promotions, caller.tenant_id, [(p.PromoCode, p.PromotionName) for p in body]
    )
    return Response(status_code=200)


@router.get(
    _canonical("integrations", "GetPromotions"),
    operation_id="get_promotions",
    responses=CORE_ERRORS,
)
async def get_promotions(rt: RuntimeDep, caller: CallerDep) -> Response:
    found = await call(rt, tenants.get_promotions, caller.tenant_id)
    return encode.json_response([{"PromoCode": c, "PromotionName": n} for c, n in found])


@router.post(
    _canonical("integrations", "DeletePromotions"),
    operation_id="delete_promotions",
    responses=CORE_ERRORS,
)
async def delete_promotions(
    rt: RuntimeDep,
    caller: CallerDep,
    body: Annotated[list[PromotionCodeRef], Field(min_length=1, max_length=100)],
) -> Response:
    """Delete promo codes (≤ 100 per call); unknown codes are ignored."""
    await call(rt, tenants.delete_promotions, caller.tenant_id, [p.PromoCode for p in body])
    return Response(status_code=200)
