"""A deliberately broken integrator (a plain ASGI app + httpx), to show that the shipped
stories catch what they should. Its bugs, each behind a flag:

- `approve_first`: approves a scheduled campaign's customers before validating them;
- `ignore_webhook_id`: acts on every delivery, re-sent or duplicated ones too;
- `blind_retries`: re-sends an approval batch whose answer was lost, and keeps re-sending
  it on a 409 instead of reading `details.rejected` (no reconciliation).

Everything else is the plain happy path: one page of customers, one batch.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

KEY = {"X-API-KEY": "demo-integrations-key"}
UPDATE = "/current/integrations/UpdateCustomerPromotionStatus"


@dataclass
class Broken:
    sim_url: str
    approve_first: bool = False
    ignore_webhook_id: bool = False
    blind_retries: bool = False
    seen: set[str] = field(default_factory=set, init=False)
    http: httpx.AsyncClient | None = field(default=None, init=False)  # one, like a real app
    tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                if kind == "lifespan.shutdown":
                    await self.aclose()
                await send({"type": f"{kind}.complete"})
                if kind == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        webhook_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
        fresh = webhook_id not in self.seen
        self.seen.add(webhook_id)
        if fresh or self.ignore_webhook_id:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                task = asyncio.create_task(self.handle(scope["path"], data))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.http is not None:
            await self.http.aclose()
            self.http = None

    async def handle(self, path: str, data: dict[str, Any]) -> None:
        if self.http is None:  # created in the server's loop, closed at its shutdown
            self.http = httpx.AsyncClient(base_url=self.sim_url, headers=KEY, timeout=10)
        if path.endswith("/triggered"):
            await self.triggered(self.http, data)
        elif data.get("EventTypeID") == 5:
            await self.scheduled(self.http, int(data["CampaignID"]))

    async def scheduled(self, http: httpx.AsyncClient, campaign_id: int) -> None:
        page = await http.get(
            "/current/customers/GetProcessedCampaignCustomers", params={"CampaignID": campaign_id}
        )
        rows = page.json()
        if not rows:
            return
        code = rows[0]["PromoCode"]
        ids = [r["CustomerID"] for r in rows]
        if self.approve_first:
            await self.approve(http, campaign_id, ids)
        valid = await self.validate(http, code, campaign_id, [{"customerId": c} for c in ids])
        if not self.approve_first:
            await self.approve(http, campaign_id, valid)

    async def validate(
        self, http: httpx.AsyncClient, code: str, campaign_id: int, contexts: list[dict[str, Any]]
    ) -> list[str]:
        for _ in range(4):
            try:
                answer = await http.post(
                    f"/v1/promocodes/{code}/validateCustomers",
                    json={"campaignData": {"campaignId": campaign_id}, "contexts": contexts},
                )
            except httpx.HTTPError:
                continue
            if answer.status_code == 200:
                return [c["customerId"] for c in answer.json()["contexts"] if c["valid"]]
        return []

    async def approve(self, http: httpx.AsyncClient, campaign_id: int, ids: list[str]) -> None:
        body = {
            "TimeStamp": "2026-11-27 10:00:00",
            "CampaignID": campaign_id,
            "PromosUpdated": [{"CustomerID": c, "Status": True} for c in ids],
        }
        for _ in range(4 if self.blind_retries else 2):
            try:
                answer = await http.post(UPDATE, json=body)
            except httpx.HTTPError:
                continue  # lost: send the same batch again
            if answer.status_code == 200 or not self.blind_retries:
                return

    async def triggered(self, http: httpx.AsyncClient, data: dict[str, Any]) -> None:
        campaign_id = int(data["campaign"]["id"])
        customer = data["user"]["user_id"]
        event_id = data["eventId"]
        code = data["campaign"]["action"]["promo_codes"][0]
        context = {"customerId": customer, "eventId": event_id, "session": data["context"]}
        if not await self.validate(http, code, campaign_id, [context]):
            return
        body = {
            "campaignId": campaign_id,
            "customerId": customer,
            "eventId": event_id,
            "approved": True,
        }
        for _ in range(4 if self.blind_retries else 2):
            try:
                answer = await http.post("/conditional-execution/v2/triggered/approval", json=body)
            except httpx.HTTPError:
                continue
            if answer.status_code == 200 or not self.blind_retries:
                return
