"""The contract documents: the simulator's OpenAPI schema split into one OpenAPI 3.1 document
per surface, plus the integrator's webhook listener (wire-contract §6).

`python -m simulator.contracts [OUT_DIR]` regenerates `contracts/`; the files are stable
(sorted keys, indent 2, trailing newline), so a drift test can compare them byte for byte.

The split documents are FastAPI's schema plus documentation the routes cannot express
(`_document`): validation errors are 400 (never 422), the error bodies of each surface,
the empty 200 bodies of core write calls, the shapes of responses encoded straight to
bytes, 413/429, routes without auth, request rules the model validators check (where JSON
Schema can state them), regex patterns that mean the same in every dialect, examples, and
links between operations that chain. `contracts/README.md` describes the files.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from simulator import __version__
from simulator.app import create_app
from simulator.faults import ApiAction, WebhookAction
from simulator.population import ATTRIBUTE_TYPES
from simulator.settings import SimSettings
from simulator.specs import HTTP_URL_PATTERN, MAX_DEPTH

JSON = dict[str, Any]
SERVERS = [{"url": "http://127.0.0.1:8900"}]
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "contracts"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
REGENERATE = "python -m simulator.contracts"


@dataclass(frozen=True, slots=True)
class Surface:
    name: str  # file name without `.json`
    prefix: str  # every path of the surface starts with it
    title: str
    tag: str
    description: str


# Body keys bind in any case (simulator/wire.py), which JSON Schema cannot state: the
# schemas show the documented spelling, and each surface's description says the rest.
ANY_CASE = (
    " Request body keys match case-insensitively, as the real service's model binding "
    "does (`{keys}`); an object naming a field twice in different cases is a 400 naming "
    "the field. Responses{webhooks} use the spelling shown."
)

SURFACES: tuple[Surface, ...] = (
    Surface(
        "optimove-core",
        "/current/",
        "Optimove core API (function style)",
        "core",
        "The legacy function-style API (wire-contract §2). Each function is served at "
        "`/current/{category}/{Function}` and also at `/{Category}/{Function}`; category, "
        "function and query parameter names match case-insensitively, and paging accepts "
        "`$top`/`$skip` and `top`/`skip`. Success is exactly 200 and write calls answer an "
        "empty body. Errors 400, 401, 403, 404, 405 and 413 carry a JSON **string** body (a "
        'human message such as `"CampaignID is required"`); 409 and 429 carry the error '
        "envelope. An unknown function, or a known one called with the wrong method, "
        'answers 405 `"Method Not Allowed"`.'
        + ANY_CASE.format(keys="CustomerId` = `CustomerID", webhooks=" and webhooks"),
    ),
    Surface(
        "ce-v2",
        "/conditional-execution/v2/",
        "Optimove conditional execution v2 (triggered campaigns)",
        "conditional-execution",
        "Registration of the one CE v2 webhook per tenant, and approval of triggered "
        "events (wire-contract §3). Every error carries the error envelope. The webhook "
        "the simulator sends to the registered URL is described in `listener.json`."
        + ANY_CASE.format(keys="CustomerID` = `customerId", webhooks=" and webhooks"),
    ),
    Surface(
        "promotions",
        "/v1/",
        "Optimove Promotions API",
        "promotions",
        "validateCustomers, redemptions and the promotion lifecycle with its usage "
        "(wire-contract §4, §8). Amounts are integers in minor units; times are ISO 8601 "
        "with `Z`. Every error carries the error envelope."
        + ANY_CASE.format(keys="CampaignData` = `campaignData", webhooks=""),
    ),
    Surface(
        "control",
        "/_sim/",
        "optisim control API",
        "control",
        "The simulator's own API (wire-contract §7), admin keys only (except `health` and "
        "`metrics`): tenants, scenarios, reset, the clock, campaign execution, cancel and "
        "clearance, triggered events, the audit report, the request journal, the outbox, webhook "
        "deliveries and resends, and fault rules. Every error carries the error envelope."
        + ANY_CASE.format(keys="CustomerId` = `customerId", webhooks="")
        + " A scenario document (a `Scenario`, in any form) is the exception: its keys are "
        "spelled exactly as shown.",
    ),
)

# -- documentation the routes do not carry ------------------------------------------------
CORE_TEXT = {"$ref": "#/components/schemas/CoreErrorText"}
ENVELOPE = {"$ref": "#/components/schemas/ErrorResponse"}
SHARED_SCHEMAS: JSON = {
    "CoreErrorText": {
        "type": "string",
        "description": "A core API error: a JSON string with a human message.",
    },
}
CORE_SCHEMAS: JSON = {
    "LastDataUpdate": {
        "type": "object",
        "required": ["Date"],
        "properties": {"Date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}},
    },
    "EventListener": {
        "type": "object",
        "required": ["EventTypeID", "ListenerURL", "ChannelID"],
        "properties": {
            "EventTypeID": {"type": "integer"},
            "ListenerURL": {"type": "string"},
            "ChannelID": {"type": ["integer", "null"]},
        },
    },
    "ProcessedCustomer": {
        "type": "object",
        "required": ["CustomerID", "ActionID", "PromoCode"],
        "properties": {
            "CustomerID": {"type": "string"},
            "ActionID": {"type": "integer"},
            "PromoCode": {"type": "string"},
            "CustomerAttributes": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Values of the attributes asked for, in the order asked",
            },
        },
    },
    "LegacyPromotion": {
        "type": "object",
        "required": ["PromoCode", "PromotionName"],
        "properties": {"PromoCode": {"type": "string"}, "PromotionName": {"type": "string"}},
    },
}
ISO_TIME = {"type": "string", "description": "ISO 8601 with `Z`"}
NULLABLE_TIME = {"type": ["string", "null"], "description": "ISO 8601 with `Z`"}
NUMERIC_TENANT_ID = {
    "type": "integer",
    "minimum": 1,
    "description": "The tenant's integer id, sent as `TenantID` in webhooks",
}
CONTROL_SCHEMAS: JSON = {
    "Health": {
        "type": "object",
        "required": ["status", "version", "store"],
        "properties": {
            "status": {"const": "ok"},
            "version": {"type": "string"},
            "store": {"type": "string"},
        },
    },
    "CreatedTenant": {
        "type": "object",
        "required": ["tenantId", "numericId", "name", "keys"],
        "properties": {
            "tenantId": {"type": "string"},
            "numericId": NUMERIC_TENANT_ID,
            "name": {"type": "string"},
            "keys": {
                "type": "object",
                "description": "API keys by role",
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "Clock": {
        "type": "object",
        "required": ["mode", "now"],
        "properties": {
            "mode": {"enum": ["realtime", "manual"]},
            "now": ISO_TIME,
            "ran": {"type": "integer", "description": "Executions and clearances it ran"},
        },
    },
    "Tenant": {
        "type": "object",
        "required": [
            "id",
            "numericId",
            "name",
            "clock",
            "population",
            "listeners",
            "ceWebhook",
            "signed",
        ],
        "properties": {
            "id": {"type": "string"},
            "numericId": NUMERIC_TENANT_ID,
            "name": {"type": "string"},
            "clock": {"$ref": "#/components/schemas/Clock"},
            "population": {
                "type": "object",
                "required": ["seed", "size", "idPrefix", "idWidth"],
                "properties": {
                    "seed": {"type": "integer"},
                    "size": {"type": "integer"},
                    "idPrefix": {"type": "string"},
                    "idWidth": {"type": "integer"},
                },
            },
            "listeners": {
                "type": "object",
                "description": "Listener URLs by `EventTypeID` or `EventTypeID:ChannelID`",
                "additionalProperties": {"type": "string"},
            },
            "ceWebhook": {
                "anyOf": [
                    {"$ref": "#/components/schemas/TriggeredWebhookResponse"},
                    {"type": "null"},
                ]
            },
            "signed": {"type": "boolean"},
        },
    },
    "Campaign": {
        "type": "object",
        "required": [
            "id",
            "type",
            "status",
            "promoCode",
            "actionId",
            "actionName",
            "createdAt",
            "executeAt",
            "executedAt",
            "clearanceRequiredBy",
            "finishedAt",
            "clearanceWindowMinutes",
            "seriesId",
            "trigger",
            "channels",
            "targetGroup",
        ],
        "properties": {
            "id": {"type": "integer"},
            "type": {"enum": ["scheduled", "triggered"]},
            "status": {"enum": ["scheduled", "executed", "cleared", "cancelled", "active"]},
            "promoCode": {"type": "string"},
            "actionId": {"type": "integer"},
            "actionName": {"type": "string"},
            "createdAt": ISO_TIME,
            "executeAt": NULLABLE_TIME,
            "executedAt": NULLABLE_TIME,
            "clearanceRequiredBy": NULLABLE_TIME,
            "finishedAt": NULLABLE_TIME,
            "clearanceWindowMinutes": {"type": "number"},
            "seriesId": {"type": ["integer", "null"]},
            "trigger": {"type": ["string", "null"]},
            "channels": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "ChannelIDs: one EventTypeID 13 webhook each at clearance",
            },
            "targetGroup": {
                "anyOf": [
                    {
                        "type": "object",
                        "required": ["size", "offset", "where"],
                        "properties": {
                            "size": {"type": "integer"},
                            "offset": {"type": "integer"},
                            "where": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                    {"type": "null"},
                ]
            },
            "processedCustomers": {
                "type": "integer",
                "description": "Size of the processed list (`get_campaign` only)",
            },
        },
    },
    "EmittedEvents": {
        "type": "object",
        "required": ["campaignId", "count", "eventIds"],
        "properties": {
            "campaignId": {"type": "integer"},
            "count": {"type": "integer"},
            "eventIds": {"type": "array", "items": {"type": "string"}},
        },
    },
    "CampaignReport": {
        "type": "object",
        "required": [
            "campaign",
            "targeted",
            "fetched",
            "validated",
            "approved",
            "released",
            "duplicatesRefused",
            "redeemed",
            "violations",
            "violationCount",
        ],
        "properties": {
            "campaign": {"$ref": "#/components/schemas/Campaign"},
            "targeted": {"type": "integer"},
            "fetchCalls": {"type": "integer"},
            "fetched": {"type": "integer"},
            "validated": {"type": "integer"},
            "invalid": {"type": "object", "additionalProperties": {"type": "integer"}},
            "approved": {"type": "integer"},
            "released": {"type": "integer"},
            "approvalsRefused": {"type": "object", "additionalProperties": {"type": "integer"}},
            "duplicatesRefused": {"type": "integer"},
            "redeemed": {"type": "integer"},
            "redemptionsRefused": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
            },
            "eventsEmitted": {"type": "integer"},
            "sent": {"type": "integer"},
            "violations": {"type": "object", "additionalProperties": {"type": "integer"}},
            "violationCount": {"type": "integer"},
            "violationExamples": {"type": "array", "items": {"type": "object"}},
        },
    },
    "PopulationCustomer": {
        "type": "object",
        "required": ["customerId", "index", "attributes"],
        "properties": {
            "customerId": {"type": "string"},
            "index": {"type": "integer"},
            "attributes": {"type": "object"},
        },
    },
}


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: JSON, description: str) -> JSON:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


EMPTY_OK: JSON = {"description": "Done; the body is empty (success is exactly 200)"}
# 2xx answers the routes document as "any JSON": their real shape.
TOKEN: JSON = _json(
    {
        "type": "string",
        "format": "uuid",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    },
    "The token for `Authorization-Token`: a GUID, as a JSON string",
)
SUCCESS: dict[str, tuple[str, JSON]] = {
    "login": ("200", TOKEN),
    "login_by_get": ("200", TOKEN),
    "get_last_data_update": ("200", _json(_ref("LastDataUpdate"), "Today on the tenant clock")),
    "register_event_listener": ("200", EMPTY_OK),
    "unregister_event_listener": ("200", EMPTY_OK),
    "get_registered_event_listeners": (
        "200",
        _json({"type": "array", "items": _ref("EventListener")}, "The registered listeners"),
    ),
    "get_processed_campaign_customers": (
        "200",
        _json(
            {"type": "array", "items": _ref("ProcessedCustomer")},
            "A page of the processed list, in a stable order; a shorter page is the last",
        ),
    ),
    "update_customer_promotion_status": ("200", EMPTY_OK),
    "add_promotions": ("200", EMPTY_OK),
    "get_promotions": (
        "200",
        _json({"type": "array", "items": _ref("LegacyPromotion")}, "The promo codes"),
    ),
    "delete_promotions": ("200", EMPTY_OK),
    "health": ("200", _json(_ref("Health"), "The simulator is up")),
    "get_metrics": (
        "200",
        {
            "description": "Prometheus text format 0.0.4 (simulator/metrics)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    ),
    "create_tenant": ("201", _json(_ref("CreatedTenant"), "The new tenant and its keys")),
    "get_tenant": ("200", _json(_ref("Tenant"), "The caller's tenant")),
    "load_scenario": ("200", _json(_ref("Tenant"), "The tenant with the scenario loaded")),
    "reset_tenant": ("200", _json(_ref("Tenant"), "The tenant, back to its scenario")),
    "point_triggered_webhook": (
        "200",
        _json(_ref("TriggeredWebhookResponse"), "The registration, at its new URL"),
    ),
    "get_clock": ("200", _json(_ref("Clock"), "The tenant clock")),
    "set_clock": ("200", _json(_ref("Clock"), "The clock and the due work it ran")),
    "advance_clock": ("200", _json(_ref("Clock"), "The clock and the due work it ran")),
    "list_campaigns": (
        "200",
        _json({"type": "array", "items": _ref("Campaign")}, "The tenant's campaigns"),
    ),
    "create_campaign": ("201", _json(_ref("Campaign"), "The new campaign")),
    "get_campaign": ("200", _json(_ref("Campaign"), "The campaign")),
    "execute_campaign": ("200", _json(_ref("Campaign"), "The executed campaign")),
    "cancel_campaign": ("200", _json(_ref("Campaign"), "The cancelled campaign")),
    "clear_campaign": ("200", _json(_ref("Campaign"), "The cleared campaign")),
    "emit_events": ("201", _json(_ref("EmittedEvents"), "The emitted events")),
    "get_campaign_report": ("200", _json(_ref("CampaignReport"), "The campaign's audit")),
    "get_customer": ("200", _json(_ref("PopulationCustomer"), "The customer")),
}


def _attribute_names() -> JSON:
    """`CustomerAttributes`: known names (any case, spaces around them ignored) joined with
    `;`; empty segments are skipped."""
    from simulator.population import ATTRIBUTES

    def any_case(name: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in name)

    name = "(?: *(?:" + "|".join(any_case(n) for n in sorted(ATTRIBUTES)) + ") *)?"
    return {"type": "string", "pattern": rf"^{name}(?:;{name})*$"}


# Constraints the routes check but do not declare: operationId → parameter → schema.
PARAMETER_SCHEMAS: dict[str, dict[str, JSON]] = {
    "get_processed_campaign_customers": {"CustomerAttributes": _attribute_names()},
}
HTTP_URL: JSON = {
    "type": "string",
    "maxLength": 1024,
    "pattern": HTTP_URL_PATTERN,
    "description": "An http(s) URL with an ASCII host (no IPv6 literal), or one "
    "percent-encoded whole (`http%3A%2F%2Fhost%3A9000%2Fhook`)",
}


NOT_NULL: JSON = {"not": {"type": "null"}}
API_ACTIONS = get_args(ApiAction)
WEBHOOK_ACTIONS = get_args(WebhookAction)
REWARD_FIELDS = (("amount", ["amount"]), ("units", ["units"]), ("percent", ["percent", "of"]))


# Free-form JSON (sessions, event contexts, condition values): what `specs.plain_json` lets
# through. The nesting limit is in words: generators never nest that deep.
FREE_JSON: JSON = {
    "description": "Any JSON value whose numbers survive a round trip: integers within "
    f"64 bits, finite numbers, nested at most {MAX_DEPTH} levels (else 400).",
    "anyOf": [
        {"type": ["string", "boolean", "null"]},
        {"type": "number", "not": {"type": "integer"}},
        {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
        {"type": "array", "items": _ref("FreeJson")},
        {"type": "object", "additionalProperties": _ref("FreeJson")},
    ],
}


REWARD_TYPES_OF_KIND = {"units": ("units",), "amount": ("amount", "percent")}


def _by_reward_kind(schemas: JSON, name: str) -> None:
    """Every tier's reward fits the promotion's `rewardKind` (domain/promotions.check_tiers):
    `units` for a units promotion, `amount` or `percent` for an amount one. Stated as a
    `oneOf` of one complete schema per kind (`UnitsPromotionCreate`, its tiers `UnitsTier`,
    their rewards `UnitsReward`, …) rather than an `if`/`then` reaching into the tiers: a
    schema-based generator (schemathesis) cannot merge that into the tiers' `$ref`s, and so
    could draw no tier at all; plain alternatives it draws directly."""
    base = schemas[name]
    variants = []
    for kind, types in REWARD_TYPES_OF_KIND.items():
        prefix = kind.capitalize()
        reward = copy.deepcopy(schemas["RewardSpecModel"])
        reward["properties"]["type"]["enum"] = list(types)
        reward["title"] = f"{prefix}Reward"
        schemas[f"{prefix}Reward"] = reward
        tier = copy.deepcopy(schemas["TierSpec"])
        tier["properties"]["reward"] = _ref(f"{prefix}Reward")
        tier["title"] = f"{prefix}Tier"
        schemas[f"{prefix}Tier"] = tier
        variant = copy.deepcopy(base)
        variant.pop("description", None)
        variant["title"] = f"{prefix}{name}"
        variant["properties"]["rewardKind"] = {"const": kind, "title": "Rewardkind"}
        variant["properties"]["tiers"]["items"] = _ref(f"{prefix}Tier")
        variant["properties"]["tiers"]["description"] = (
            f"Ordered, ids unique (else 400); every reward is {' or '.join(types)}"
        )
        schemas[f"{prefix}{name}"] = variant
        variants.append(_ref(f"{prefix}{name}"))
    schemas[name] = {
        "title": base["title"],
        "description": f"{base.get('description', '')} Every tier's reward fits `rewardKind`: "
        "`units` for units, `amount` or `percent` for amount.".strip(),
        "oneOf": variants,
    }


def _when(prop: str, value: Any, then: JSON) -> JSON:
    """`if prop == value then …` (a rule between fields, checked by the model validators)."""
    matches = {"enum": value} if isinstance(value, list) else {"const": value}
    return {"if": {"properties": {prop: matches}, "required": [prop]}, "then": then}


# `\s` as pydantic-core's Rust regex reads it (Unicode White_Space); JSON Schema patterns
# are ECMA-262, where `\s` lacks U+0085 and has U+FEFF, so the documents spell it out.
WHITE_SPACE = (
    "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)


def portable_pattern(pattern: str) -> str:
    """`pattern` with `\\s` spelled out, so it means the same to the server and to every
    JSON Schema validator or generator."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append(pair if pair != "\\s" else WHITE_SPACE if in_class else f"[{WHITE_SPACE}]")
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def _portable_patterns(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                node[key] = portable_pattern(value)
            else:
                _portable_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _portable_patterns(value)


def _refine(schemas: JSON) -> None:
    """Request rules the models check in validators (or the services check) that JSON
    Schema can express. Rules it cannot express (unique tier ids, a scenario's campaigns
    naming its own promo codes) are in the descriptions."""

    def extend(name: str, *rules: JSON, **properties: JSON) -> None:
        schema = schemas[name]
        for prop, patch in properties.items():
            schema["properties"][prop].update(copy.deepcopy(patch))
        if rules:
            schema["allOf"] = [*schema.get("allOf", []), *copy.deepcopy(list(rules))]

    extend(
        "RegisterEventListenerRequest",
        _when("EventTypeID", 5, {"properties": {"ChannelID": {"type": "null"}}}),
        EventTypeID={
            "enum": [1, 2, 3, 4, 5, 11, 13],
            "description": "EventTypeID 5 takes no `ChannelID` (a general listener)",
        },
        ListenerURL=HTTP_URL,
    )
    extend("TriggeredWebhookRequest", url=HTTP_URL)
    extend("CeWebhookUrl", url=HTTP_URL)
    extend(
        "ConditionSpec", _when("op", ["in", "not_in"], {"properties": {"value": {"type": "array"}}})
    )
    extend(
        "RewardSpecModel",
        *(
            _when("type", kind, {"required": needed, "properties": dict.fromkeys(needed, NOT_NULL)})
            for kind, needed in REWARD_FIELDS
        ),
    )
    for name in ("PromotionCreate", "ScenarioPromotion"):
        _by_reward_kind(schemas, name)
    extend(
        "TargetGroupSpec",
        where={
            "items": {
                "allOf": [
                    _ref("ConditionSpec"),
                    {"properties": {"field": {"pattern": r"^attributes\."}}},
                ]
            }
        },
    )
    schemas["TargetGroupSpec"]["oneOf"] = [
        {
            "required": ["size"],
            "properties": {"size": {"type": "integer"}, "ids": {"type": "null"}},
        },
        {
            "required": ["ids"],
            "properties": {
                "ids": {"type": "array", "uniqueItems": True},
                "size": {"type": "null"},
                "offset": {"const": 0},
                "where": {"maxItems": 0},
            },
        },
    ]
    attributes = schemas["PutCustomerRequest"]["properties"]["attributes"]
    attributes["additionalProperties"] = False
    attributes["patternProperties"].update(
        {
            "^" + "".join(f"[{c.upper()}{c.lower()}]" for c in name) + "$": {
                "type": {str: "string", int: "integer", bool: "boolean"}[kind]
            }
            for name, kind in ATTRIBUTE_TYPES.items()
        }
    )
    extend(
        "CampaignCreate",
        _when(
            "type",
            "scheduled",
            {"required": ["targetGroup"], "properties": {"targetGroup": _ref("TargetGroupSpec")}},
        ),
        _when("type", "triggered", {"properties": {"targetGroup": {"type": "null"}}}),
    )
    schemas["FreeJson"] = copy.deepcopy(FREE_JSON)
    free_object = {"type": "object", "additionalProperties": _ref("FreeJson")}
    extend("ConditionSpec", value=_ref("FreeJson"))
    extend("ValidateContext", session=free_object)
    extend("EventCustomer", context=free_object)
    extend("EmitEventsRequest", context=free_object)
    extend(
        "FaultRule",
        _when("target", "api", {"properties": {"action": {"enum": list(API_ACTIONS)}}}),
        _when("target", "webhook", {"properties": {"action": {"enum": list(WEBHOOK_ACTIONS)}}}),
        {
            "anyOf": [
                {"required": ["probability"], "properties": {"probability": {"type": "number"}}},
                {"required": ["nth"], "properties": {"nth": {"type": "integer"}}},
            ]
        },
    )
    schemas["FaultRule"]["description"] += (
        " API actions apply to target `api`, webhook actions to `webhook`; give "
        "`probability` or `nth`."
    )
    extend(
        "EventCustomer",
        customerId={"description": "A customer of the tenant's population (else 400)"},
    )
    schemas["EmitEventsRequest"]["oneOf"] = [
        {"required": ["customers"], "properties": {"customers": {"type": "array"}}},
        {"required": ["count"], "properties": {"count": {"type": "integer"}}},
    ]
    schemas["EmitEventsRequest"]["description"] = "Either `customers` or `count`"
    schemas["CreateTenantRequest"]["not"] = {
        "required": ["scenario", "builtin"],
        "properties": {"scenario": {"type": "object"}, "builtin": {"type": "string"}},
    }
    schemas["CreateTenantRequest"]["description"] = "`scenario` or `builtin`, not both"
    schemas["Scenario"]["description"] += (
        " Every campaign's `promoCode` is a promocode of one of the scenario's promotions, "
        "campaign ids are unique, and tier ids are unique within a promotion."
    )


LOGINS = frozenset({"login", "login_by_get"})
NO_AUTH = LOGINS | {"health", "get_metrics"}  # metrics: open, like a Prometheus target
STRING_STATUSES = ("400", "401", "403", "404", "405", "413")
ERROR_TEXT = {
    "400": "Invalid input; the message names the field",
    "401": "Missing or unknown key",
    "403": "The key's role lacks the right, or `Authorization-Token Expired`",
    "404": "Unknown object",
    "405": "Wrong method for this function (or an unknown function)",
    "409": "A business rule refused the call; the error envelope",
    "413": "Request body over the limit (10 MB by default)",
    "429": "Rate limited (only when rate limiting is on, or by an injected fault)",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


LOGIN_429 = (
    'A login too soon (wire-contract §2, "Login limits"): the user holds an unexpired token '
    "(`Retry-After`: seconds until it expires), or logged in less than a second ago "
    "(`Retry-After: 1`). Off when the simulator runs with `SIM_LOGIN_LIMITS=false`."
)
EXPIRED_TEXT = {
    "type": "string",
    "enum": ["Authorization-Token Expired"],
    "description": "An expired `Authorization-Token`: plain text, no JSON quotes",
}
ALLOW = {
    "Allow": {
        "description": "Every method this path serves (empty for an unknown core function)",
        "required": True,
        "schema": {"type": "string"},
    }
}


def operation_ref(document: str, path: str, method: str) -> str:
    """A link's `operationRef` to an operation of another contract document."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return f"{document}#/paths/{pointer}/{method}"


# Examples from the demo scenario (`simulator/scenarios/demo.yaml`): operationId →
# (parameter examples, request body example).
PROMOTION = {"promotionId": "PR-WELCOME"}
SCHEDULED = {"campaignId": 48213}
EXAMPLES: dict[str, tuple[JSON, Any]] = {
    "login": ({}, {"Username": "demo", "Password": "demo"}),
    "login_by_get": ({"username": "demo", "password": "demo"}, None),
    "register_event_listener": (
        {},
        {"EventTypeID": 5, "ListenerURL": "http://127.0.0.1:9000/optimove/scheduled"},
    ),
    "unregister_event_listener": ({}, {"EventTypeID": 5}),
    "get_processed_campaign_customers": (
        {"CampaignID": 48213, "$top": 100, "$skip": 0, "CustomerAttributes": "Country;VIPLevel"},
        None,
    ),
    "update_customer_promotion_status": (
        {},
        {
            "TimeStamp": "2026-11-27 10:00:00",
            "CampaignID": 48213,
            "PromosUpdated": [{"CustomerID": "C0000001", "Status": True}],
        },
    ),
    "add_promotions": ({}, [{"PromoCode": "WELCOME50", "PromotionName": "Welcome back"}]),
    "delete_promotions": ({}, [{"PromoCode": "WELCOME50"}]),
    "register_triggered_webhook": (
        {},
        {
            "url": "http://127.0.0.1:9000/optimove/triggered",
            "secret": "whsec_b3B0aXNpbS1kZW1vLXNlY3JldC0wMDAx",
        },
    ),
    "approve_triggered_event": (
        {},
        {
            "campaignId": 7001,
            "customerId": "C0000042",
            "eventId": "EV_0123456789abcdef",
            "approved": True,
        },
    ),
    "validate_customers": (
        {"promocodeId": "WELCOME50", "dryRun": False},
        {
            "campaignData": {"campaignId": 48213, "campaignType": "scheduled", "actionId": 17},
            "contexts": [
                {"customerId": "C0000001", "eventId": None, "session": {"depositAmount": 12000}}
            ],
        },
    ),
    "report_redemptions": (
        PROMOTION,
        {"redemptions": [{"allocationId": "AL_0123456789abcdef", "amount": 5000}]},
    ),
    "create_promotion": (
        {},
        {
            "id": "PR-SPRING",
            "name": "Spring free spins",
            "promocodes": ["SPRING10"],
            "rewardKind": "units",
            "budget": 10000,
            "audienceCap": 500,
            "tiers": [
                {
                    "id": "T-DE",
                    "name": "Germany",
                    "when": [{"field": "attributes.Country", "op": "eq", "value": "DE"}],
                    "reward": {"type": "units", "units": 10},
                }
            ],
        },
    ),
    "get_promotion": (PROMOTION, None),
    "activate_promotion": (PROMOTION, None),
    "deactivate_promotion": (PROMOTION, None),
    "archive_promotion": (PROMOTION, None),
    "set_promotion_tiers": (
        PROMOTION,
        {
            "tiers": [
                {
                    "id": "T-ALL",
                    "name": "Everyone",
                    "reward": {"type": "amount", "amount": 500, "currency": "EUR"},
                }
            ]
        },
    ),
    "create_campaign": (
        {},
        {
            "id": 48300,
            "type": "scheduled",
            "promoCode": "WELCOME50",
            "actionId": 17,
            "targetGroup": {"size": 100},
        },
    ),
    "get_campaign": (SCHEDULED, None),
    "execute_campaign": (SCHEDULED, None),
    "cancel_campaign": (SCHEDULED, None),
    "clear_campaign": (SCHEDULED, None),
    "get_campaign_report": (SCHEDULED, None),
    "emit_events": ({"campaignId": 7001}, {"count": 3, "context": {"depositAmount": 12000}}),
    "advance_clock": ({}, {"seconds": 1800}),
    "set_clock": ({}, {"mode": "manual", "now": "2026-11-27T09:00:00Z"}),
    "get_customer": ({"customerId": "C0000001"}, None),
}

LINKS: dict[str, dict[str, JSON]] = {
    "validate_customers": {
        "UpdateCustomerPromotionStatus": {
            "operationRef": operation_ref(
                "optimove-core.json", "/current/integrations/UpdateCustomerPromotionStatus", "post"
            ),
            "description": "Approve the first validated customer of a scheduled campaign "
            "(commits the allocation reserved by validation)",
            "requestBody": {
                "CampaignID": "$request.body#/campaignData/campaignId",
                "PromosUpdated": [
                    {"CustomerID": "$response.body#/contexts/0/customerId", "Status": True}
                ],
            },
        },
        "ApproveTriggeredEvent": {
            "operationRef": operation_ref(
                "ce-v2.json", "/conditional-execution/v2/triggered/approval", "post"
            ),
            "description": "Approve the first validated event of a triggered campaign",
            "requestBody": {
                "campaignId": "$request.body#/campaignData/campaignId",
                "customerId": "$response.body#/contexts/0/customerId",
                "eventId": "$response.body#/contexts/0/eventId",
                "approved": True,
            },
        },
        "ReportRedemption": {
            "operationId": "report_redemptions",
            "description": "Report the redemption of the first allocation (by `allocationId`)",
            "parameters": {"path.promotionId": "$response.body#/promotionId"},
            "requestBody": {
                "redemptions": [
                    {"allocationId": "$response.body#/contexts/0/effects/0/allocationId"}
                ]
            },
        },
    },
    "create_promotion": {
        "GetPromotion": {
            "operationId": "get_promotion",
            "parameters": {"path.promotionId": "$response.body#/id"},
        },
        "ActivatePromotion": {
            "operationId": "activate_promotion",
            "parameters": {"path.promotionId": "$response.body#/id"},
        },
    },
    "create_campaign": {
        "ExecuteCampaign": {
            "operationId": "execute_campaign",
            "parameters": {"path.campaignId": "$response.body#/id"},
        },
        "GetCampaign": {
            "operationId": "get_campaign",
            "parameters": {"path.campaignId": "$response.body#/id"},
        },
    },
    "execute_campaign": {
        "GetProcessedCampaignCustomers": {
            "operationRef": operation_ref(
                "optimove-core.json", "/current/customers/GetProcessedCampaignCustomers", "get"
            ),
            "description": "Fetch the processed list of the executed campaign",
            "parameters": {"query.CampaignID": "$response.body#/id"},
        },
    },
}


# -- building -------------------------------------------------------------------------------
def full_schema() -> JSON:
    """The app's OpenAPI schema with the documentation the routes cannot carry."""
    app = create_app(SimSettings(webhooks=False))
    schema = copy.deepcopy(app.openapi())
    _document(schema)
    return schema


def operations(schema: JSON) -> Iterator[tuple[str, str, JSON]]:
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def surface_of(path: str) -> Surface:
    found = [s for s in SURFACES if path.startswith(s.prefix)]
    if len(found) != 1:
        raise ValueError(f"{path} belongs to {len(found)} surfaces, not exactly one")
    return found[0]


def _document(schema: JSON) -> None:
    schemas = schema["components"]["schemas"]
    schemas.update(copy.deepcopy({**SHARED_SCHEMAS, **CORE_SCHEMAS, **CONTROL_SCHEMAS}))
    _refine(schemas)
    _portable_patterns(schema)
    for path, _, op in operations(schema):
        core = surface_of(path).name == "optimove-core"
        op_id = op["operationId"]
        responses: JSON = op["responses"]
        # RequestValidationError is answered 400 by the error handler, never 422.
        responses.pop("422", None)
        if op_id in SUCCESS:
            status, response = SUCCESS[op_id]
            responses[status] = copy.deepcopy(response)
        if op_id in NO_AUTH:
            op["security"] = []
            responses.pop("403", None)
            if "401" in responses:
                responses["401"]["description"] = "Bad credentials"
        else:
            _add_error(responses, "401", core)
            _add_error(responses, "403", core)
            _add_error(responses, "429", core)
        if "requestBody" in op:
            _add_error(responses, "400", core)
            _add_error(responses, "413", core)
        if op_id in LOGINS:
            responses["429"] = {"description": LOGIN_429}
        if core and op_id not in LOGINS:
            _add_error(responses, "405", core)
        for status, response in responses.items():
            if status[0] in "45":
                _error_body(response, status, core)
        for parameter in op.get("parameters", []):
            patch = PARAMETER_SCHEMAS.get(op_id, {}).get(parameter["name"])
            if patch is not None:
                parameter["schema"] = copy.deepcopy(patch)
        if op_id == "load_scenario":  # `?builtin=` needs no body; an empty body is `{}`
            op["requestBody"]["required"] = False
            # The YAML form is the same document (OpenAPI schemas describe parsed content).
            op["requestBody"]["content"]["application/yaml"]["schema"] = _ref("Scenario")
            op["requestBody"]["description"] = (
                "The scenario (JSON, or YAML as `application/yaml`); not together with "
                "`builtin` (400: OpenAPI cannot relate a query parameter to the body). An "
                "empty body is the empty scenario."
            )
        if op_id in EXAMPLES:
            _add_examples(op, *EXAMPLES[op_id])
        if op_id in LINKS:
            ok = next(s for s in responses if s.startswith("2"))
            responses[ok]["links"] = copy.deepcopy(LINKS[op_id])


def _add_examples(op: JSON, parameters: JSON, body: Any) -> None:
    for parameter in op.get("parameters", []):
        if parameter["name"] in parameters:
            parameter["example"] = parameters[parameter["name"]]
    if body is not None:
        op["requestBody"]["content"]["application/json"]["example"] = copy.deepcopy(body)


def _add_error(responses: JSON, status: str, core: bool) -> None:
    responses.setdefault(status, {"description": ERROR_TEXT[status]})


def _error_body(response: JSON, status: str, core: bool) -> None:
    """Core 400/401/403/404/405/413 carry a JSON string, everything else the envelope; a
    core 403 may also be the plain-text expiry; 405 lists the path's methods in `Allow`."""
    schema = CORE_TEXT if core and status in STRING_STATUSES else ENVELOPE
    response["content"] = {"application/json": {"schema": copy.deepcopy(schema)}}
    if core and status == "403":
        response["content"]["text/plain"] = {"schema": copy.deepcopy(EXPIRED_TEXT)}
    if status == "429":
        response["headers"] = copy.deepcopy(RETRY_AFTER)
    if status == "405":
        response["headers"] = copy.deepcopy(ALLOW)


def split(schema: JSON) -> dict[str, JSON]:
    """One OpenAPI document per surface, each with only the components it references."""
    documents: dict[str, JSON] = {}
    for surface in SURFACES:
        paths = {p: item for p, item in schema["paths"].items() if surface_of(p) is surface}
        doc: JSON = {
            "openapi": schema["openapi"],
            "info": {
                "title": f"optisim: {surface.title}",
                "version": schema["info"]["version"],
                "description": surface.description,
            },
            "servers": copy.deepcopy(SERVERS),
            "security": copy.deepcopy(schema["security"]),
            "tags": [{"name": surface.tag, "description": surface.title}],
            "paths": copy.deepcopy(paths),
        }
        wanted = _referenced_schemas(paths, schema["components"]["schemas"])
        doc["components"] = {
            "schemas": {n: copy.deepcopy(schema["components"]["schemas"][n]) for n in wanted},
            "securitySchemes": copy.deepcopy(schema["components"]["securitySchemes"]),
        }
        documents[surface.name] = doc
    return documents


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _referenced_schemas(root: Any, schemas: JSON) -> list[str]:
    """Names of the component schemas `root` references, transitively."""
    prefix = "#/components/schemas/"
    seen: set[str] = set()
    todo = [r for r in _refs(root) if r.startswith(prefix)]
    while todo:
        name = todo.pop()[len(prefix) :]
        if name in seen:
            continue
        if name not in schemas:
            raise KeyError(f"dangling reference to component schema {name!r}")
        seen.add(name)
        todo.extend(r for r in _refs(schemas[name]) if r.startswith(prefix))
    return sorted(seen)


# -- the listener ---------------------------------------------------------------------------
WEBHOOK_TENANT_ID = {
    "type": "integer",
    "description": "The tenant's integer id (`numericId` in the control API), as in "
    "Optimove's published webhook examples",
}
CORE_TIME = {
    "type": "string",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
    "description": "`YYYY-MM-DD HH:MM:SS` in UTC, on the simulator clock",
}
WEBHOOK_HEADERS: list[JSON] = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The message id: stable across retries and re-sends, the dedupe key",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "Unix seconds, always wall-clock time (even on a virtual simulator "
        "clock); reject a timestamp more than 5 minutes from your own clock",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": False,
        "description": '`v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{raw '
        'body}")>`, where the key is the base64-decoded secret after its `whsec_` prefix. '
        "Several space-separated signatures during a secret rotation (accept if any "
        "verifies). Absent when neither the tenant nor the CE v2 registration has a secret.",
        "schema": {"type": "string", "pattern": r"^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$"},
    },
    {
        "name": "traceparent",
        "in": "header",
        # optisim sends it on every attempt, but Optimove's webhooks are not documented to
        # carry it: a listener must not require it, and a recorded real webhook without
        # it (optisim proxy) is no contract violation.
        "required": False,
        "description": "An optisim addition (Optimove does not document it: do not require "
        "it). W3C Trace Context (version 00, sampled): one trace per event, the same "
        "trace id on every attempt and re-send of a `webhook-id`, a new parent (span) id per "
        "attempt. Pass it on (same trace id, your own span id) with your calls about the "
        "event: the simulator's journal records a request's valid `traceparent`.",
        "schema": {"type": "string", "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-01$"},
    },
]
LISTENER_RESPONSES: JSON = {
    "2XX": {"description": "Delivered: any 2xx status, the body is ignored"},
    "default": {
        "description": "Not delivered: any other status, a dropped connection or a timeout "
        "(10 s by default) is retried on the retry schedule (default delays "
        "`[1, 5, 30, 120, 600]` seconds), with the same `webhook-id`"
    },
}
LISTENER_SCHEMAS: JSON = {
    "ScheduledCampaignEvent": {
        "type": "object",
        "description": "A scheduled campaign was executed (processed): fetch its customers "
        "(GetProcessedCampaignCustomers), validate and approve them before "
        "`ClearanceRequiredBy`. Unknown fields may be added: ignore them.",
        "required": ["EventTypeID", "TimeStamp", "CampaignID", "ClearanceRequiredBy"],
        "properties": {
            "EventTypeID": {"const": 5},
            "TimeStamp": CORE_TIME,
            "CampaignID": {"type": "integer"},
            "ClearanceRequiredBy": CORE_TIME,
            "TenantID": WEBHOOK_TENANT_ID,
        },
    },
    "ChannelExecutedEvent": {
        "type": "object",
        "description": "A scheduled campaign was sent, at `ClearanceRequiredBy`, to its "
        "approved customers on the channel `ChannelID` (one event per channel of the "
        "campaign). Informational: nothing to do. Shape assumed (wire-contract §6). Unknown "
        "fields may be added: ignore them.",
        "required": ["EventTypeID", "TimeStamp", "CampaignID", "ChannelID", "TenantID"],
        "properties": {
            "EventTypeID": {"const": 13},
            "TimeStamp": CORE_TIME,
            "CampaignID": {"type": "integer"},
            "ChannelID": {"type": "integer"},
            "TenantID": WEBHOOK_TENANT_ID,
        },
    },
    "CampaignCancelledEvent": {
        "type": "object",
        "description": "A processed campaign was cancelled: its reservations are released.",
        "required": ["EventTypeID", "TimeStamp", "CampaignID"],
        "properties": {
            "EventTypeID": {"const": 4},
            "TimeStamp": CORE_TIME,
            "CampaignID": {"type": "integer"},
        },
    },
    "TriggeredEvent": {
        "type": "object",
        "description": "One customer event of a triggered campaign (CE v2): validate with "
        "the `eventId` and pass `context` as the validate context's `session`, then approve "
        "or decline it with /conditional-execution/v2/triggered/approval.",
        "required": ["eventId", "eventTime", "user", "campaign", "context"],
        "properties": {
            "eventId": {"type": "string"},
            "eventTime": {"type": "string", "description": "ISO 8601 with `Z`, simulator clock"},
            "user": {
                "type": "object",
                "required": ["user_id", "is_visitor"],
                "properties": {
                    "user_id": {"type": "string"},
                    "is_visitor": {"const": False},
                },
            },
            "campaign": {
                "type": "object",
                "required": ["id", "series_id", "action"],
                "properties": {
                    "id": {"type": "integer"},
                    "series_id": {"type": ["integer", "null"]},
                    "action": {
                        "type": "object",
                        "required": ["id", "name", "promo_codes", "channels"],
                        "properties": {
                            "id": {"type": "integer"},
                            "name": {"type": "string"},
                            "promo_codes": {"type": "array", "items": {"type": "string"}},
                            "channels": {
                                "type": "array",
                                "items": {"type": "integer"},
                                "description": "The campaign's ChannelIDs",
                            },
                        },
                    },
                },
            },
            "context": {
                "type": "object",
                "description": "Trigger data, e.g. `depositAmount` in minor units",
            },
        },
    },
}


def _webhook(op_id: str, schema: str, summary: str, description: str) -> JSON:
    return {
        "post": {
            "operationId": op_id,
            "summary": summary,
            "description": description,
            "parameters": copy.deepcopy(WEBHOOK_HEADERS),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(schema)}},
            },
            "responses": copy.deepcopy(LISTENER_RESPONSES),
        }
    }


def listener_document(version: str = __version__) -> JSON:
    """The integrator's webhook listener: what the simulator POSTs (wire-contract §6)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "optisim: the integrator's webhook listener",
            "version": version,
            "description": "The webhooks the simulator sends, as the integrator's listener "
            "receives them (wire-contract §6). All are `POST` with `Content-Type: "
            "application/json`, delivered at least once (dedupe on `webhook-id`), and signed "
            "with Standard Webhooks when a secret is set. Scheduled, cancelled and channel "
            "events go to the URLs registered with RegisterEventListener (EventTypeID 5, 4, "
            "and 13 with the event's ChannelID); "
            "triggered events to the CE v2 webhook. Verify the signature over the raw body "
            "before parsing it; `POST /_sim/webhooks/verify` explains a failing one.",
        },
        "webhooks": {
            "scheduledCampaign": _webhook(
                "scheduled_campaign",
                "ScheduledCampaignEvent",
                "EventTypeID 5: a scheduled campaign was executed",
                "Sent to the EventTypeID 5 listener when a campaign executes.",
            ),
            "campaignCancelled": _webhook(
                "campaign_cancelled",
                "CampaignCancelledEvent",
                "EventTypeID 4: a campaign was cancelled",
                "Sent to the EventTypeID 4 listener when an executed campaign is cancelled.",
            ),
            "campaignExecutedOnChannel": _webhook(
                "campaign_executed_on_channel",
                "ChannelExecutedEvent",
                "EventTypeID 13: a scheduled campaign was sent on a channel",
                "Sent at `ClearanceRequiredBy`, once per channel of the campaign, to the "
                "listener registered for EventTypeID 13 with that `ChannelID`; not sent "
                "when no such listener is registered.",
            ),
            "triggeredEvent": _webhook(
                "triggered_event",
                "TriggeredEvent",
                "CE v2: a customer event of a triggered campaign",
                "Sent to the CE v2 webhook, one per customer event; signed with the "
                "registration's secret when it has one, else with the tenant's.",
            ),
        },
        "components": {"schemas": copy.deepcopy(LISTENER_SCHEMAS)},
    }


# -- files ----------------------------------------------------------------------------------
def documents() -> dict[str, JSON]:
    """File name → document, for every contract file."""
    schema = full_schema()
    out = {f"{name}.json": doc for name, doc in split(schema).items()}
    out["listener.json"] = listener_document(schema["info"]["version"])
    return out


def render(document: JSON) -> str:
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def export_contracts(out_dir: Path) -> list[Path]:
    """Write every contract document to `out_dir`; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in sorted(documents().items()):
        path = out_dir / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None, echo: Callable[[str], object] = print) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else DEFAULT_DIR
    for path in export_contracts(out_dir):
        echo(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
