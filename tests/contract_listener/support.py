"""Purpose-built listeners for the `optisim contract listener` suite: each breaks one rule
of the contract on purpose, so the checker has something to find.

- `failing_listener`: answers 500 to everything.
- `trusting_listener`: accepts every webhook (2xx), signed or not: it verifies nothing.
- `SloppyIntegrator`: a small working integrator (deduplicates on webhook-id; fetch,
  validate, approve; triggered: validate and approve) without signature checks, with one
  bug switched on:
  `approve_twice` (approves each approved customer a second time) or
  `skip_validation` (approves fetched customers without validating them).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.client.support import INTEGRATIONS

SCHEDULED_PATH, TRIGGERED_PATH = "/optimove/events", "/optimove/triggered"


def failing_listener() -> Starlette:
    async def fail(request: Request) -> Response:
        await request.body()
        return JSONResponse({"error": "boom"}, 500)

    return Starlette(routes=[Route("/{path:path}", fail, methods=["POST"])])


def trusting_listener() -> Starlette:
    async def accept(request: Request) -> Response:
        try:
            json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "not json"}, 400)
        return JSONResponse({"status": "accepted"}, 202)

    return Starlette(routes=[Route("/{path:path}", accept, methods=["POST"])])


class SloppyIntegrator:
    """Does the flows' work after answering 202, calling the simulator at `sim_url`."""

    def __init__(
        self, sim_url: str, *, approve_twice: bool = False, skip_validation: bool = False
    ) -> None:
        self.sim_url = sim_url
        self.approve_twice = approve_twice
        self.skip_validation = skip_validation
        self.seen: set[str] = set()

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        headers = {"X-API-KEY": INTEGRATIONS}
        async with httpx.AsyncClient(base_url=self.sim_url, headers=headers, timeout=30) as c:
            yield c

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            try:
                payload = json.loads(await request.body())
            except ValueError:
                return JSONResponse({"error": "not json"}, 400)
            if not isinstance(payload, dict):
                return JSONResponse({"error": "not an event"}, 400)
            webhook_id = request.headers.get("webhook-id", "")
            if webhook_id in self.seen:
                return JSONResponse({"status": "duplicate"}, 200)
            self.seen.add(webhook_id)
            work = self.scheduled if request.url.path == SCHEDULED_PATH else self.triggered
            task = BackgroundTask(work, payload)
            return JSONResponse({"status": "accepted"}, 202, background=task)

        return Starlette(
            routes=[Route(p, receive, methods=["POST"]) for p in (SCHEDULED_PATH, TRIGGERED_PATH)]
        )

    async def scheduled(self, event: dict[str, Any]) -> None:
        campaign_id = event.get("CampaignID")
        if event.get("EventTypeID") != 5 or not isinstance(campaign_id, int):
            return
        async with self.client() as sim:
            fetched = await sim.get(
                "/current/customers/GetProcessedCampaignCustomers",
                params={"CampaignID": campaign_id, "$top": 10_000},
            )
            if fetched.status_code != 200:
                return  # a probe campaign, unknown to the simulator
            rows = fetched.json()
            customers = [r["CustomerID"] for r in rows]
            if not self.skip_validation and rows:
                validated = await sim.post(
                    f"/v1/promocodes/{rows[0]['PromoCode']}/validateCustomers",
                    json={
                        "campaignData": {"campaignId": campaign_id, "campaignType": "scheduled"},
                        "contexts": [{"customerId": c} for c in customers[:1000]],
                    },
                )
                contexts = validated.json()["contexts"]
                customers = [c["customerId"] for c in contexts if c["valid"]]
            body = {
                "TimeStamp": event.get("TimeStamp", ""),
                "CampaignID": campaign_id,
                "PromosUpdated": [{"CustomerID": c, "Status": True} for c in customers],
            }
            for _ in range(2 if self.approve_twice else 1):
                await sim.post("/current/integrations/UpdateCustomerPromotionStatus", json=body)

    async def triggered(self, event: dict[str, Any]) -> None:
        try:
            campaign = event["campaign"]
            customer, event_id = event["user"]["user_id"], event["eventId"]
            code = campaign["action"]["promo_codes"][0]
        except (KeyError, IndexError, TypeError):
            return
        async with self.client() as sim:
            validated = await sim.post(
                f"/v1/promocodes/{code}/validateCustomers",
                json={
                    "campaignData": {"campaignId": campaign["id"], "campaignType": "triggered"},
                    "contexts": [
                        {"customerId": customer, "eventId": event_id, "session": event["context"]}
                    ],
                },
            )
            if validated.status_code != 200 or not validated.json()["contexts"][0]["valid"]:
                return
            await sim.post(
                "/conditional-execution/v2/triggered/approval",
                json={
                    "campaignId": campaign["id"],
                    "customerId": customer,
                    "eventId": event_id,
                    "approved": True,
                },
            )
