"""The proxy's own work per exchange: the contract check and the redaction.

    python -m loadtests.bench_proxy_checks [--contexts 1000] [--repeat 50]

Times (timeit, this process only) checking a validateCustomers body of N contexts and
one approval against contracts/*.json, and redacting and scrubbing the N-context body
with `customerId` configured. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import timeit

from simulator.proxy.contracts import ContractChecker
from simulator.proxy.redact import Redactor

VALIDATE = "/v1/promocodes/WELCOME50/validateCustomers"
APPROVE = "/current/integrations/UpdateCustomerPromotionStatus"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contexts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    checker = ContractChecker.from_dir()
    contexts = [{"customerId": f"C{i:07d}"} for i in range(args.contexts)]
    data = {"campaignData": {"campaignId": 48213, "actionId": 17}, "contexts": contexts}
    body = json.dumps(data).encode()
    approval = json.dumps(
        {"TimeStamp": "", "CampaignID": 1, "PromosUpdated": [{"CustomerID": "C1", "Status": True}]}
    ).encode()
    _, problems = checker.check_request("POST", VALIDATE, {}, body)
    assert not problems, problems
    n = args.repeat
    t = timeit.timeit(lambda: checker.check_request("POST", VALIDATE, {}, body), number=n) / n
    print(f"contract check, validation of {args.contexts} contexts: {t * 1000:.2f} ms")
    n = args.repeat * 40
    t = timeit.timeit(lambda: checker.check_request("POST", APPROVE, {}, approval), number=n) / n
    print(f"contract check, one approval: {t * 1e6:.0f} us")
    redactor = Redactor(["customerId"])
    n = args.repeat
    t = timeit.timeit(lambda: redactor.scrub(redactor.json(data)), number=n) / n
    print(f"redact + scrub, {args.contexts} contexts: {t * 1000:.2f} ms")


if __name__ == "__main__":
    main()
