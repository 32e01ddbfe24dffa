"""The dashboard's routes (`/_sim/ui`): pages, their forms, and the live stream.

Forms post `application/x-www-form-urlencoded` bodies and are answered with a redirect
back to the page (post/redirect/get) carrying a one-line message; a refused action (a
domain rule, bad input, a wrong CSRF token) is that message, never a 500. The routes are
left out of the OpenAPI documents: they are for people, not for integrators.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from simulator.api.deps import call
from simulator.api.webhooks import explain_received
from simulator.domain.errors import DomainError
from simulator.faults import FaultRule
from simulator.services import campaigns, tenants
from simulator.ui import session
from simulator.ui.session import PREFIX, Session
from simulator.ui.views import PAGES, World

router = APIRouter(prefix=PREFIX, include_in_schema=False)
ENV = Environment(
    loader=PackageLoader("simulator.ui", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
MAX_FORM = 1_000_000
# A live stream ends on its own after this long (the page then offers a reload), checks
# every TICK whether anything changed, and at most MAX_STREAMS run at once per process.
LIVE_SECONDS = 600.0
TICK = 0.5
MAX_STREAMS = 32
_streams = 0


class Refused(Exception):
    """A form the dashboard refuses, with the message to show."""


def _page_url(tenant_id: str, page: str) -> str:
    return f"{PREFIX}/{tenant_id}/" + ("" if page == "tenant" else page)


def _back(tenant_id: str, page: str, message: str, level: str = "ok", **query: str) -> Response:
    params = {**query, "flash": message[:500], "level": level}
    return RedirectResponse(f"{_page_url(tenant_id, page)}?{urlencode(params)}", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        raise Refused(f"form over {MAX_FORM} bytes")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(f"unreadable form: {exc}") from None


def _signin_page(message: str = "", status: int = 200) -> HTMLResponse:
    html = ENV.get_template("signin.html").render(message=message, prefix=PREFIX)
    return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})


@router.get("/")
@router.get("")
async def signin_form(request: Request) -> Response:
    return _signin_page()


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Sign in with a tenant's admin key: the key goes into that tenant's cookie."""
    try:
        form = await _form(request)
    except Refused as exc:
        return _signin_page(str(exc), 400)
    key = form.get("key", "").strip()
    tenant_id = session.admin_tenant(World.of(request).rt, key)
    if tenant_id is None or not session.SAFE_TENANT.match(tenant_id):
        return _signin_page("That is not an admin key of any tenant here.", 401)
    response = RedirectResponse(_page_url(tenant_id, "tenant"), status_code=303)
    session.sign_in(response, tenant_id, key, secure=request.url.scheme == "https")
    return response


def _signed_in(request: Request, tenant_id: str) -> Session | None:
    return session.current(World.of(request).rt, request, tenant_id)


def _not_signed_in() -> Response:
    return _signin_page("Sign in with this tenant's admin key first.", 401)


async def _render_page(request: Request, tenant_id: str, page: str) -> Response:
    s = _signed_in(request, tenant_id)
    if s is None:
        return _not_signed_in()
    params = dict(request.query_params)
    try:
        ctx = await PAGES[page](World.of(request), tenant_id, params)
    except DomainError as exc:
        return _signin_page(exc.message, 404)
    live_query = urlencode({k: v for k, v in params.items() if k not in ("flash", "level")})
    html = ENV.get_template(f"{page}.html").render(
        **ctx,
        page=page,
        tenant_id=tenant_id,
        prefix=PREFIX,
        base=f"{PREFIX}/{tenant_id}",
        csrf=s.csrf,
        flash=params.get("flash", ""),
        level="error" if params.get("level") == "error" else "ok",
        live_url=f"{PREFIX}/{tenant_id}/live/{page}" + (f"?{live_query}" if live_query else ""),
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def _page_route(page: str) -> Callable[[Request, str], Awaitable[Response]]:
    async def show(request: Request, tenant_id: str) -> Response:
        return await _render_page(request, tenant_id, page)

    show.__name__ = f"ui_{page}"
    return show


router.add_api_route("/{tenant_id}/", _page_route("tenant"), methods=["GET"])
for _page in PAGES:
    if _page != "tenant":
        router.add_api_route(f"/{{tenant_id}}/{_page}", _page_route(_page), methods=["GET"])


@router.get("/{tenant_id}/live/{page}")
async def live(request: Request, tenant_id: str, page: str) -> Response:
    """Server-sent events: the page's live part, re-rendered whenever it changes, until the
    client goes or LIVE_SECONDS (or the `seconds` asked for) pass; then an `end` event
    tells the page to stop rather than reconnect."""
    global _streams
    s = _signed_in(request, tenant_id)
    if s is None:
        return Response("sign in first", 401)
    if page not in PAGES:
        return Response("no such page", 404)
    if _streams >= MAX_STREAMS:
        return Response("too many live views open", 503)
    world = World.of(request)
    params = dict(request.query_params)
    try:  # a page may ask for a shorter stream (`seconds`), never a longer one
        seconds = min(LIVE_SECONDS, max(0.0, float(params.pop("seconds", LIVE_SECONDS))))
    except ValueError:
        return Response("seconds: a number", 400)
    template = ENV.get_template(f"live/{page}.html")
    base = f"{PREFIX}/{tenant_id}"

    async def events() -> AsyncIterator[str]:
        global _streams
        _streams += 1
        last = ""
        ends = time.monotonic() + seconds
        try:
            while time.monotonic() < ends:
                if await request.is_disconnected():
                    return
                try:
                    ctx = await PAGES[page](world, tenant_id, params)
                except DomainError:
                    break
                html = template.render(**ctx, base=base, csrf=s.csrf, tenant_id=tenant_id)
                if html != last:
                    last = html
                    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
                    yield f"event: fragment\n{data}\n\n"
                else:
                    yield ": idle\n\n"  # a comment: finds a client that went away
                await asyncio.sleep(TICK)
            yield "event: end\ndata: \n\n"
        finally:
            _streams -= 1

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


Action = Callable[[World, str, dict[str, str]], Awaitable[str]]


def _action(path: str, page: str) -> Callable[[Action], Action]:
    """A form's route: signed in, CSRF checked, the action's message shown on `page`."""

    def register(act: Action) -> Action:
        async def run(request: Request, tenant_id: str) -> Response:
            s = _signed_in(request, tenant_id)
            if s is None:
                return _not_signed_in()
            params = {k: v for k, v in request.path_params.items() if k != "tenant_id"}
            keep: dict[str, str] = {}
            try:
                form = await _form(request)
                keep = {k: form[k] for k in ("status", "path", "key") if form.get(k)}
                if not session.csrf_ok(s, form.get("csrf", "")):
                    raise Refused("The form expired (CSRF token): reload the page and try again.")
                message = await act(World.of(request), tenant_id, {**form, **params})
            except Refused as exc:
                return _back(tenant_id, page, str(exc), "error", **keep)
            except DomainError as exc:
                return _back(tenant_id, page, f"{exc.code}: {exc.message}", "error", **keep)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "input"
                return _back(tenant_id, page, f"{where}: {first['msg']}", "error", **keep)
            return _back(tenant_id, page, message, **keep)

        run.__name__ = f"ui_{act.__name__}"
        router.add_api_route(f"/{{tenant_id}}/{path}", run, methods=["POST"])
        return act

    return register


@router.post("/{tenant_id}/signout")
async def signout(request: Request, tenant_id: str) -> Response:
    response = _signin_page("Signed out.")
    if session.SAFE_TENANT.match(tenant_id):
        session.sign_out(response, tenant_id)
    return response


def _number(form: Mapping[str, str], name: str, lo: float, hi: float) -> float:
    text = form.get(name, "").strip()
    try:
        value = float(text)
    except ValueError:
        raise Refused(f"{name}: a number is needed (got {text[:40]!r})") from None
    if not lo <= value <= hi:
        raise Refused(f"{name}: must be between {lo:g} and {hi:g}")
    return value


@_action("clock/set", "tenant")
async def set_clock(world: World, tenant_id: str, form: dict[str, str]) -> str:
    given = form.get("mode", "")
    if given not in ("realtime", "manual"):
        raise Refused("mode: realtime or manual")
    mode: Literal["realtime", "manual"] = "realtime" if given == "realtime" else "manual"
    at: datetime | None = None
    if form.get("now", "").strip():
        try:
            at = datetime.fromisoformat(form["now"].strip().replace("Z", "+00:00"))
        except ValueError:
            raise Refused("now: an ISO time such as 2026-01-01T12:00:00Z") from None
        if at.tzinfo is None:
            raise Refused("now: needs a time zone (use Z for UTC)")
    _, _, ran = await call(world.rt, tenants.set_clock, tenant_id, mode, at)
    return f"Clock set to {mode}; {ran} due duty(ies) ran."


@_action("clock/advance", "tenant")
async def advance_clock(world: World, tenant_id: str, form: dict[str, str]) -> str:
    seconds = _number(form, "seconds", 0, 10 * 365 * 86400)
    _, _, ran = await call(world.rt, tenants.advance_clock, tenant_id, seconds)
    return f"Clock advanced {seconds:g} s; {ran} due duty(ies) ran."


def _campaign_id(form: Mapping[str, str]) -> int:
    return int(_number(form, "campaign_id", 1, 2**31 - 1))


@_action("campaigns/{campaign_id}/execute", "campaigns")
async def execute(world: World, tenant_id: str, form: dict[str, str]) -> str:
    c = await call(world.rt, campaigns.execute_campaign, tenant_id, _campaign_id(form))
    return f"Campaign {c.id} executed: {c.status.value}."


@_action("campaigns/{campaign_id}/cancel", "campaigns")
async def cancel(world: World, tenant_id: str, form: dict[str, str]) -> str:
    c = await call(world.rt, campaigns.cancel_campaign, tenant_id, _campaign_id(form))
    return f"Campaign {c.id} cancelled: {c.status.value}."


@_action("campaigns/{campaign_id}/clear", "campaigns")
async def clear(world: World, tenant_id: str, form: dict[str, str]) -> str:
    c = await call(world.rt, campaigns.clear_campaign, tenant_id, _campaign_id(form))
    return f"Campaign {c.id} cleared: {c.status.value}."


@_action("campaigns/events", "campaigns")
async def emit(world: World, tenant_id: str, form: dict[str, str]) -> str:
    count = int(_number(form, "count", 1, 100_000))
    ids, _ = await call(
        world.rt,
        campaigns.emit_events,
        tenant_id,
        _campaign_id(form),
        customers=None,
        count=count,
        context={},
    )
    return f"{len(ids)} event(s) emitted on campaign {_campaign_id(form)}."


@_action("deliveries/resend-failed", "deliveries")
async def resend_failed(world: World, tenant_id: str, form: dict[str, str]) -> str:
    ids = world.log.failed_since(tenant_id, 0)
    resent = world.log.reschedule(tenant_id, ids, time.time())
    world.wake()
    return f"{resent} failed webhook(s) sent again."


@_action("deliveries/{event_id}/resend", "deliveries")
async def resend(world: World, tenant_id: str, form: dict[str, str]) -> str:
    event_id = form.get("event_id", "")[:128]
    if world.log.reschedule(tenant_id, [event_id], time.time()) == 0:
        raise Refused(f"no webhook with id {event_id!r}")
    world.wake()
    return f"Webhook {event_id} sent again (same webhook-id)."


def _headers(text: str) -> dict[str, str]:
    """Headers pasted one per line (`Name: value`), or as a JSON object."""
    text = text.strip()
    if text.startswith("{"):
        try:
            found = json.loads(text)
        except ValueError as exc:
            raise Refused(f"headers: not valid JSON ({exc})") from None
        if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
            raise Refused("headers: a JSON object of strings")
        return {str(k): v for k, v in found.items()}
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise Refused(f"headers: line {number} is not `Name: value`")
        out[name.strip()] = value.strip()
    return out


@_action("deliveries/verify", "deliveries")
async def verify(world: World, tenant_id: str, form: dict[str, str]) -> str:
    headers = _headers(form.get("headers", ""))
    result = await explain_received(
        world.rt, world.log, tenant_id, form.get("body", "").encode(), headers
    )
    if result.valid:
        return f"Signature valid. {result.detail}"
    raise Refused(f"Signature does not verify ({result.problem}): {result.detail}")


@_action("faults/add", "faults")
async def add_fault(world: World, tenant_id: str, form: dict[str, str]) -> str:
    rule: dict[str, Any] = {
        "target": form.get("target", ""),
        "operation": form.get("operation", "").strip() or "*",
        "action": form.get("action", ""),
    }
    for name in ("probability", "latencyMs"):
        if form.get(name, "").strip():
            rule[name] = _number(form, name, 0, 60_000)
    if form.get("nth", "").strip():
        rule["nth"] = int(_number(form, "nth", 1, 2**31 - 1))
    if form.get("status", "").strip():
        rule["status"] = int(_number(form, "status", 100, 599))
    new = FaultRule.model_validate(rule)
    seed, rules = world.faults.rules(tenant_id)
    if len(rules) >= 100:
        raise Refused("rules: at most 100")
    world.faults.set_rules(tenant_id, [*rules, new], seed)
    return f"Fault added: {new.target} {new.operation} {new.action}."


@_action("faults/clear", "faults")
async def clear_faults(world: World, tenant_id: str, form: dict[str, str]) -> str:
    world.faults.clear(tenant_id)
    return "Faults cleared."
