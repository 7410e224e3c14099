"""Data builders shared by tests: the DESIGN §3 worked example as API payloads."""

import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
KINDS = ("products", "stock", "receipts", "orders", "sales", "supplier-offers")


def example(kind: str) -> list[dict]:
    """Return one of the worked-example payloads from docs/examples."""
    return json.loads((EXAMPLES / f"{kind.replace('-', '_')}.json").read_text())


def load_example(client) -> None:
    """PUT the whole worked example through the API."""
    for kind in KINDS:
        response = client.put(f"/api/v1/{kind}", json=example(kind))
        assert response.status_code == 200, response.get_json()
