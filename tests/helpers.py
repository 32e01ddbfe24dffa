"""A thin test client over the wire (like cosmicpython's e2e api_client): one function per
operation, named as the operation, returning the raw httpx response."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

ADMIN = "demo-admin-key"
INTEGRATIONS = "demo-integrations-key"
SCHEDULED = 48213  # WELCOME50, 10,000 targeted (C0000000..C0009999)
SPINS = 48214  # SPINS25, filtered target group
TRIGGERED = 7001  # DEPOSIT10


class Sim:
    def __init__(self, client: TestClient, key: str = ADMIN) -> None:
        self.client = client
        self.key = key

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.key}

    def as_key(self, key: str) -> Sim:
        return Sim(self.client, key)

    # -- raw ------------------------------------------------------------------------------
    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.post(path, json=json, headers=headers, **kw)

    # -- control --------------------------------------------------------------------------
    def execute(self, campaign_id: int = SCHEDULED) -> Any:
        return self.post(f"/_sim/campaigns/{campaign_id}/execute")

    def clear(self, campaign_id: int = SCHEDULED) -> Any:
        return self.post(f"/_sim/campaigns/{campaign_id}/clear")

    def cancel(self, campaign_id: int = SCHEDULED) -> Any:
        return self.post(f"/_sim/campaigns/{campaign_id}/cancel")

    def advance(self, seconds: float) -> Any:
        return self.post("/_sim/clock/advance", {"seconds": seconds})

    def report(self, campaign_id: int = SCHEDULED) -> dict[str, Any]:
        response = self.get(f"/_sim/campaigns/{campaign_id}/report")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def emit(self, campaign_id: int = TRIGGERED, **body: Any) -> Any:
        return self.post(f"/_sim/campaigns/{campaign_id}/events", body)

    def outbox(self, **params: Any) -> list[dict[str, Any]]:
        return list(self.get("/_sim/outbox", params=params).json()["events"])

    # -- wire operations ------------------------------------------------------------------
    def get_processed_campaign_customers(self, campaign_id: int = SCHEDULED, **params: Any) -> Any:
        return self.get(
            "/current/customers/GetProcessedCampaignCustomers",
            params={"CampaignID": campaign_id, **params},
        )

    def validate_customers(
        self,
        customers: list[str] | list[dict[str, Any]],
        campaign_id: int = SCHEDULED,
        promocode: str = "WELCOME50",
        dry_run: bool = False,
    ) -> Any:
        contexts = [c if isinstance(c, dict) else {"customerId": c} for c in customers]
        return self.post(
            f"/v1/promocodes/{promocode}/validateCustomers",
            {"campaignData": {"campaignId": campaign_id}, "contexts": contexts},
            params={"dryRun": str(dry_run).lower()},
        )

    def update_customer_promotion_status(
        self, items: dict[str, bool] | list[tuple[str, bool]], campaign_id: int = SCHEDULED
    ) -> Any:
        pairs = items.items() if isinstance(items, dict) else items
        return self.post(
            "/current/integrations/UpdateCustomerPromotionStatus",
            {
                "TimeStamp": "2026-11-27 10:00:00",
                "CampaignID": campaign_id,
                "PromosUpdated": [{"CustomerID": c, "Status": s} for c, s in pairs],
            },
        )

    def approve_triggered_event(
        self, customer_id: str, event_id: str, approved: bool = True, campaign_id: int = TRIGGERED
    ) -> Any:
        return self.post(
            "/conditional-execution/v2/triggered/approval",
            {
                "campaignId": campaign_id,
                "customerId": customer_id,
                "eventId": event_id,
                "approved": approved,
            },
        )

    def report_redemptions(self, promotion_id: str, items: list[dict[str, Any]]) -> Any:
        return self.post(f"/v1/promotions/{promotion_id}/redemptions", {"redemptions": items})

    def promotion(self, promotion_id: str = "PR-WELCOME") -> dict[str, Any]:
        response = self.get(f"/v1/promotions/{promotion_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def usage(self, promotion_id: str = "PR-WELCOME") -> dict[str, int]:
        return dict(self.promotion(promotion_id)["usage"])

    # -- appended for the rule-by-rule suite (tests/api) ------------------------------------
    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.put(path, json=json, headers=headers, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.patch(path, json=json, headers=headers, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def create_promotion(self, body: dict[str, Any]) -> Any:
        return self.post("/v1/promotions", body)

    def activate(self, promotion_id: str) -> Any:
        return self.patch(f"/v1/promotions/{promotion_id}/activate")

    def deactivate(self, promotion_id: str) -> Any:
        return self.patch(f"/v1/promotions/{promotion_id}/deactivate")

    def archive(self, promotion_id: str) -> Any:
        return self.delete(f"/v1/promotions/{promotion_id}")

    def set_tiers(self, promotion_id: str, tiers: list[dict[str, Any]]) -> Any:
        return self.put(f"/v1/promotions/{promotion_id}/tiers", {"tiers": tiers})

    def create_campaign(self, body: dict[str, Any]) -> Any:
        return self.post("/_sim/campaigns", body)

    def campaign(self, campaign_id: int = SCHEDULED) -> dict[str, Any]:
        response = self.get(f"/_sim/campaigns/{campaign_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def clock(self) -> dict[str, Any]:
        response = self.get("/_sim/clock")
        assert response.status_code == 200, response.text
        return dict(response.json())
