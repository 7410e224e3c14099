"""Compute expected analyses straight from a payload book with the pure engine (no database)."""

from collections import defaultdict
from datetime import date, datetime

from jobs import atp

VOLATILE = {"computed_at", "data_version", "stale"}


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def expected_analyses(book: dict, numbers: list[str], as_of: date, lead_days: int = 1) -> dict:
    """Return number → analysis dict for a generate_book()-shaped payload book."""
    aliases = {a: p["code"] for p in book["products"] for a in p.get("aliases", [])}

    def canon(code: str) -> str:
        return aliases.get(code, code)

    on_hand: dict[str, float] = defaultdict(float)
    for s in book["stock"]:
        on_hand[canon(s["product"])] += s["on_hand"]
    receipts = defaultdict(list)
    for r in book["receipts"]:
        receipts[canon(r["product"])].append(atp.Receipt(_day(r["date"]), r["qty"]))
    demand = defaultdict(list)
    orders = {}
    for o in book["orders"]:
        if o.get("status", "open") != "open" or not o["lines"]:
            continue
        created = datetime.fromisoformat(o["created_at"]) if o.get("created_at") else None
        created = created.replace(tzinfo=None) if created else None
        lines = []
        for line in o["lines"]:
            code = canon(line["product"])
            lines.append(atp.OrderLine(code, line["qty"], line.get("unit_price", 0.0)))
            demand[code].append(
                atp.Demand(
                    o["number"],
                    _day(o.get("ship_date")),
                    o.get("priority", 0),
                    created,
                    line["qty"],
                )
            )
        orders[o["number"]] = atp.Order(o["number"], _day(o.get("ship_date")), tuple(lines))
    products = [
        atp.ProductData(
            code=p["code"],
            name=p["name"],
            unit=p.get("unit", "un"),
            codes=(p["code"], *sorted(a for a, c in aliases.items() if c == p["code"])),
            on_hand=on_hand[p["code"]],
            receipts=tuple(receipts[p["code"]]),
            demand=tuple(demand[p["code"]]),
        )
        for p in book["products"]
    ]
    return atp.analyze_orders(products, orders.values(), numbers, as_of, lead_days)


def strip(analysis: dict) -> dict:
    """Drop the fields that legitimately differ between runs."""
    return {k: v for k, v in analysis.items() if k not in VOLATILE}
