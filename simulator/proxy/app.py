"""The proxy: a plain ASGI app that forwards each request unchanged over httpx, checks
both directions against the published contracts and records the exchange (JSONL).

Forwarded unchanged: method, path, query string, headers (less the hop-by-hop ones and
`host`, which names the upstream) and the body bytes; the answer comes back the same way.
Bodies are read whole (they are small JSON documents and must be checked anyway); nothing
else is buffered. Webhooks reach `webhook_prefix` + the integrator's own path and go on to
`forward_webhooks_to` + that path, signature headers intact."""

from __future__ import annotations

import gzip
import json
import logging
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx

from simulator.proxy.contracts import ContractChecker, parse_json
from simulator.proxy.redact import Redactor

LOG = logging.getLogger("optisim.proxy")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
SURFACES_ON_PROMOTIONS = {"promotions"}


@dataclass
class ProxyConfig:
    upstream_optimove: str
    upstream_promotions: str
    record: Path
    strict: bool = False
    forward_webhooks_to: str | None = None
    webhook_prefix: str = "/_proxy/webhooks"
    redact_fields: tuple[str, ...] = ()
    timeout_s: float = 60.0


@dataclass
class ProxyStats:
    exchanges: int = 0
    webhooks: int = 0
    refused: int = 0
    upstream_errors: int = 0
    violations: Counter[str] = field(default_factory=Counter)  # by operation
    examples: dict[str, str] = field(default_factory=dict)  # operation: first violation


def _envelope(status: int, error: str, message: str, details: Any) -> bytes:
    body = {"status": status, "error": error, "message": message, "details": details}
    return json.dumps(body).encode()


def _plain(body: bytes, headers: list[tuple[str, str]]) -> bytes | None:
    """The body before its gzip content coding, if it has one; None when it claims gzip
    but does not decode (checked and recorded as such, never a 500)."""
    coded = any(k.lower() == "content-encoding" and v.strip().lower() == "gzip" for k, v in headers)
    if not coded:
        return body
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error):  # BadGzipFile is an OSError
        return None


UNDECODABLE = "the body claims gzip content-encoding but does not decode"


def _body_record(plain: bytes | None, raw: bytes, redactor: Redactor) -> dict[str, Any]:
    if plain is None:
        return {"undecodable": f"{UNDECODABLE} ({len(raw)} bytes)"}
    value = parse_json(plain)
    if value is not parse_json(b""):
        return {"json": redactor.json(value)}
    return {"text": plain.decode("utf-8", "replace")} if plain else {}


class _Sent:
    """One direction of an exchange: its head, headers and body, decoded once (`plain`)
    for both the contract check and the record."""

    __slots__ = ("head", "headers", "plain", "raw")

    def __init__(self, head: dict[str, Any], headers: list[tuple[str, str]], raw: bytes) -> None:
        self.head = head  # method, path and query of a request; status of an answer
        self.headers, self.raw = headers, raw
        self.plain = _plain(raw, headers)

    def record(self, redactor: Redactor) -> dict[str, Any]:
        body = _body_record(self.plain, self.raw, redactor)
        return self.head | {"headers": redactor.headers(self.headers), "body": body}


def _refusal(envelope: bytes) -> _Sent:
    """The proxy's own 502 answer (a contract violation under `--strict`)."""
    return _Sent({"status": 502}, [("content-type", "application/json")], envelope)


class ProxyApp:
    def __init__(self, config: ProxyConfig, checker: ContractChecker | None = None) -> None:
        self.config = config
        self.checker = checker or ContractChecker.from_dir()
        self.redactor = Redactor(config.redact_fields)
        self.stats = ProxyStats()
        self._seq = 0
        self._file: IO[str] | None = None
        self._client: httpx.AsyncClient | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        if self._file is None:
            self.config.record.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.config.record.open("a", encoding="utf-8")
            # no decompression, no redirects: the answer goes back as the service gave it
            self._client = httpx.AsyncClient(timeout=self.config.timeout_s, follow_redirects=False)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._file is not None:
            self._file.close()
            self._file = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.open()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.open()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path: str = scope["path"]
        prefix = self.config.webhook_prefix
        if self.config.forward_webhooks_to and (path == prefix or path.startswith(prefix + "/")):
            await self._webhook(scope, body, send, path[len(prefix) :] or "/")
        else:
            await self._api(scope, body, send)

    # -- the two directions ----------------------------------------------------------------
    async def _api(self, scope: Scope, body: bytes, send: Send) -> None:
        self._seq += 1
        seq, started, t0 = self._seq, datetime.now(UTC), time.perf_counter()
        method, path = scope["method"], scope["path"]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = dict(httpx.QueryParams(raw_query))
        headers = _incoming_headers(scope)
        request = {"method": method, "path": path, "query": self.redactor.query(raw_query)}
        sent = _Sent(request, headers, body)  # checked decoded, forwarded as sent
        checked = sent.plain if sent.plain is not None else body
        op, problems = self.checker.check_request(method, path, query, checked)
        if sent.plain is None:
            problems.append(f"request: {UNDECODABLE}")
        name = op.operation_id if op is not None else f"{method} {path}"
        on_promotions = (
            op.surface in SURFACES_ON_PROMOTIONS if op is not None else path.startswith("/v1/")
        )
        base = self.config.upstream_promotions if on_promotions else self.config.upstream_optimove
        if problems and self.config.strict:
            answer = _envelope(
                502,
                "contract_violation",
                f"the request breaks optisim's contract for {name}; not sent upstream",
                {"direction": "request", "operation": name, "violations": problems},
            )
            self.stats.refused += 1
            answered = _refusal(answer)
        else:
            status, out_headers, out_body, upstream_problem = await self._forward(
                method,
                base.rstrip("/") + scope.get("raw_path", path.encode()).decode("latin-1"),
                raw_query,
                headers,
                body,
            )
            answered = _Sent({"status": status}, out_headers, out_body)
            if upstream_problem is None and op is not None:
                problems += (
                    [f"response: {UNDECODABLE}"]
                    if answered.plain is None
                    else self.checker.check_response(op, status, answered.plain)
                )
                if self.config.strict and any(p.startswith("response") for p in problems):
                    answer = _envelope(
                        502,
                        "contract_violation",
                        f"the answer of {name} breaks optisim's contract; not passed on",
                        {"direction": "response", "operation": name, "violations": problems},
                    )
                    self.stats.refused += 1
                    answered = _refusal(answer)
        self.stats.exchanges += 1
        self._note(name, problems)
        await _answer(send, answered.head["status"], answered.headers, answered.raw)
        self._write(
            self._exchange(
                {
                    "seq": seq,
                    "kind": "api",
                    "operation": name,
                    "surface": op.surface if op is not None else None,
                },
                started,
                t0,
                sent,
                answered,
                problems,
            )
        )

    async def _webhook(self, scope: Scope, body: bytes, send: Send, rest: str) -> None:
        self._seq += 1
        seq, started, t0 = self._seq, datetime.now(UTC), time.perf_counter()
        headers = _incoming_headers(scope)
        name, problems = self.checker.check_webhook(dict(headers), body)
        raw_query = scope.get("query_string", b"").decode("latin-1")
        target = str(self.config.forward_webhooks_to).rstrip("/") + rest
        if problems and self.config.strict:
            status, out_headers = 502, [("content-type", "application/json")]
            out_body = _envelope(
                502,
                "contract_violation",
                f"the webhook breaks optisim's listener contract ({name}); not passed on",
                {"direction": "webhook", "operation": name, "violations": problems},
            )
            self.stats.refused += 1
        else:
            status, out_headers, out_body, _ = await self._forward(
                scope["method"], target, raw_query, headers, body
            )
        self.stats.webhooks += 1
        self._note(f"webhook {name}", problems)
        await _answer(send, status, out_headers, out_body)
        request = {"method": scope["method"], "path": rest, "query": self.redactor.query(raw_query)}
        self._write(
            self._exchange(
                {"seq": seq, "kind": "webhook", "operation": name},
                started,
                t0,
                _Sent(request, headers, body),
                _Sent({"status": status}, out_headers, out_body),
                problems,
            )
        )

    async def _forward(
        self,
        method: str,
        url: str,
        raw_query: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> tuple[int, list[tuple[str, str]], bytes, str | None]:
        assert self._client is not None
        if raw_query:
            url = f"{url}?{raw_query}"
        try:
            request = self._client.build_request(method, url, headers=headers, content=body)
            response = await self._client.send(request, stream=True)
            try:
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            self.stats.upstream_errors += 1
            message = f"the upstream did not answer: {type(exc).__name__}: {exc}"
            LOG.warning("%s %s: %s", method, url, message)
            answer = _envelope(502, "upstream_unreachable", message, {"url": url})
            return 502, [("content-type", "application/json")], answer, message
        out = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        return response.status_code, out, raw, None

    # -- bookkeeping -----------------------------------------------------------------------
    def _exchange(
        self,
        what: dict[str, Any],
        started: datetime,
        t0: float,
        request: _Sent,
        response: _Sent,
        problems: list[str],
    ) -> dict[str, Any]:
        """An exchange's record (one JSONL line): what it was, when, both directions."""
        return what | {
            "started": started.isoformat(),
            "durationMs": round((time.perf_counter() - t0) * 1000, 3),
            "request": request.record(self.redactor),
            "response": response.record(self.redactor),
            "violations": problems,
        }

    def _note(self, name: str, problems: list[str]) -> None:
        if problems:
            self.stats.violations[name] += len(problems)
            self.stats.examples.setdefault(name, problems[0])
            for problem in problems:
                LOG.warning("contract violation: %s: %s", name, problem)

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        record = self.redactor.scrub(record)
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()


def _incoming_headers(scope: Scope) -> list[tuple[str, str]]:
    return [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in scope["headers"]
        if k.decode("latin-1").lower() not in HOP_BY_HOP
    ]


async def _answer(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
