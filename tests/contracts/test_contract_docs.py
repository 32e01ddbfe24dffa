"""`docs/wire-contract.md` stands alone in a clone: its route index is what the contract
documents contain, and every section the code and docs cite exists in it."""

from __future__ import annotations

import re
from pathlib import Path

from simulator import contract_docs
from simulator.contracts import documents

ROOT = Path(__file__).resolve().parents[2]


def test_the_route_index_is_generated_from_the_contract_documents() -> None:
    committed = contract_docs.DOC.read_text("utf-8")
    fresh = contract_docs.update(committed, contract_docs.render(documents()))
    assert committed == fresh, "run `python -m simulator.contract_docs` and commit the result"


def test_the_index_lists_every_operation_once() -> None:
    block = contract_docs.render(documents())
    for name, doc in documents().items():
        if name == "listener.json":
            continue
        for item in doc["paths"].values():
            for method in contract_docs.METHODS:
                if method in item:
                    assert block.count(f"`{item[method]['operationId']}`") == 1


def test_every_cited_section_of_the_wire_contract_exists() -> None:
    contract = (ROOT / "docs" / "wire-contract.md").read_text("utf-8")
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", contract, re.MULTILINE))
    cited: dict[str, set[str]] = {}
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "contracts" / "README.md"]
    files += [*(ROOT / "simulator").rglob("*.py"), *(ROOT / "reference_client").rglob("*.py")]
    for path in files:
        for match in re.finditer(
            r"wire[- ]contract[^§\n]{0,12}((?:§\s?\d+(?:\.\d+)?[, and]*)+)", path.read_text("utf-8")
        ):
            for section in re.findall(r"§\s?(\d+(?:\.\d+)?)", match.group(1)):
                cited.setdefault(section, set()).add(path.name)
    assert cited, "the pattern found no citation at all"
    missing = {s: sorted(where) for s, where in cited.items() if s not in sections}
    assert not missing, f"cited but not in docs/wire-contract.md: {missing}"


def test_no_document_points_outside_the_clone() -> None:
    for path in [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        ROOT / "contracts" / "README.md",
    ]:
        text = path.read_text("utf-8")
        assert "../shared" not in text and "shared docs" not in text, path.name
