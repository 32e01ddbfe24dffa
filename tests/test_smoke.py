"""The seed's scheduled flow, end to end through the wire, on each store."""

from tests.helpers import Sim


def test_scheduled_flow_reserves_commits_and_clears(sim: Sim) -> None:
    assert sim.execute().status_code == 200
    page = sim.get_processed_campaign_customers(**{"$top": 3})
    assert [row["CustomerID"] for row in page.json()] == ["C0000000", "C0000001", "C0000002"]
    result = sim.validate_customers(["C0000000", "C0000001"]).json()
    assert all(c["valid"] for c in result["contexts"])
    assert sim.update_customer_promotion_status({"C0000000": True}).status_code == 200
    sim.clear()
    usage = sim.usage()
    assert usage["budgetReserved"] == 0
    assert usage["audienceCommitted"] == 1
    assert sim.report()["sent"] == 1
