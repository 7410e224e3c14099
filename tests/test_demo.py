"""The demo / bench data generator and the hand-written example files."""

import csv
import json
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from jobs.demo import MARKUP_CUSTOMER, generate_book

AS_OF = date(2026, 3, 2)
EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
KINDS = ["products", "stock", "receipts", "orders", "sales", "supplier_offers"]


@pytest.fixture(scope="module")
def book():
    return generate_book(seed=42, as_of=AS_OF)


def _day(value: str) -> date:
    return date.fromisoformat(value)


def test_deterministic_and_seed_dependent(book):
    assert generate_book(seed=42, as_of=AS_OF) == book
    assert generate_book(seed=43, as_of=AS_OF) != book
    assert json.loads(json.dumps(book)) == book  # JSON-ready


def test_default_as_of_is_today():
    assert generate_book(orders=5, products=10) == generate_book(
        orders=5, products=10, as_of=date.today()
    )


def test_shapes_follow_contracts(book):
    assert sorted(book) == sorted(KINDS)
    keys = {
        "products": {"code", "name", "unit", "aliases"},
        "stock": {"product", "on_hand"},
        "receipts": {"id", "product", "date", "qty", "kind"},
        "orders": {"number", "customer", "ship_date", "priority", "created_at", "status", "lines"},
        "sales": {"product", "date", "qty"},
        "supplier_offers": {
            "supplier",
            "product",
            "unit_price",
            "lead_time_days",
            "min_qty",
            "multiple",
        },
    }
    for kind, fields in keys.items():
        assert book[kind] and all(set(item) == fields for item in book[kind]), kind
    for order in book["orders"]:
        assert order["status"] == "open" and order["priority"] in (0, 1, 2)
        datetime.fromisoformat(order["created_at"])
        for line in order["lines"]:
            assert set(line) == {"product", "qty", "unit_price"}
            assert line["qty"] > 0 and line["unit_price"] > 0
            assert round(line["unit_price"], 2) == line["unit_price"]
    assert {r["kind"] for r in book["receipts"]} == {"production", "purchase"}
    for offer in book["supplier_offers"]:
        assert offer["unit_price"] > 0 and 2 <= offer["lead_time_days"] <= 30
        assert offer["min_qty"] in (0, 50, 100) and offer["multiple"] in (1, 6, 12, 24)


@pytest.mark.parametrize(
    "orders, products, lines", [(300, 60, (1, 8)), (40, 500, (5, 5)), (7, 5, (2, 3))]
)
def test_counts_and_references(orders, products, lines):
    b = generate_book(seed=1, orders=orders, products=products, lines=lines, as_of=AS_OF)
    assert len(b["orders"]) == orders and len(b["products"]) == products
    assert [o["number"] for o in b["orders"]] == [f"PV-{i:06d}" for i in range(1, orders + 1)]
    assert all(lines[0] <= len(o["lines"]) <= lines[1] for o in b["orders"])
    codes = [p["code"] for p in b["products"]]
    assert len(set(codes)) == len(codes)
    aliases = [a for p in b["products"] for a in p["aliases"]]
    assert len(aliases) == len(set(aliases)) == min(8, products // 2)
    assert not set(aliases) & set(codes)  # never itself, never another alias' target
    known = set(codes) | set(aliases)
    referenced = [line["product"] for o in b["orders"] for line in o["lines"]]
    for kind in ("stock", "receipts", "sales", "supplier_offers"):
        referenced += [item["product"] for item in b[kind]]
    assert set(referenced) <= known
    assert [s["product"] for s in b["stock"]] == codes
    assert len({r["id"] for r in b["receipts"]}) == len(b["receipts"])


def test_aliases_are_used(book):
    aliases = {a for p in book["products"] for a in p["aliases"]}
    assert len(aliases) == 8
    used = {line["product"] for o in book["orders"] for line in o["lines"]}
    assert used & aliases


def test_stock_has_zero_and_negative(book):
    on_hand = [s["on_hand"] for s in book["stock"]]
    assert 1 <= sum(q == 0 for q in on_hand) <= 5
    assert 1 <= sum(q < 0 for q in on_hand) <= 2


def test_date_ranges(book):
    for r in book["receipts"]:
        assert 0 <= (_day(r["date"]) - AS_OF).days <= 21 and r["qty"] > 0
    assert book["receipts"][0]["id"] == "R-00001"
    for s in book["sales"]:
        assert 1 <= (AS_OF - _day(s["date"])).days <= 90 and s["qty"] > 0
    classes = defaultdict(int)
    for o in book["orders"]:
        created = datetime.fromisoformat(o["created_at"])
        assert 0 < (AS_OF - created.date()).days <= 30
        if o["ship_date"] is None:
            classes["none"] += 1
            continue
        offset = (_day(o["ship_date"]) - AS_OF).days
        assert -10 <= offset <= 13
        classes["past_due" if offset < 0 else "this_week" if offset < 7 else "next_week"] += 1
        assert created.date() < _day(o["ship_date"]) or offset >= 0
    assert set(classes) == {"past_due", "this_week", "next_week", "none"}
    assert 0.10 <= classes["past_due"] / 300 <= 0.20 and 0.15 <= classes["none"] / 300 <= 0.25


def _series(book):
    by_product = defaultdict(dict)
    for s in book["sales"]:
        by_product[s["product"]][s["date"]] = s["qty"]
    days = [(AS_OF - timedelta(days=k)).isoformat() for k in range(90, 0, -1)]
    return {code: [sold.get(d, 0) for d in days] for code, sold in by_product.items()}


def test_sales_patterns(book):
    series = _series(book)
    assert set(series) == {p["code"] for p in book["products"]}
    stats = []
    for xs in series.values():
        first = next(i for i, x in enumerate(xs) if x)
        zeros = xs[first:].count(0) / len(xs[first:])
        cv = statistics.stdev(xs[first:]) / statistics.mean(xs[first:])
        stats.append((len(xs) - first, zeros, cv))
    full = [s for s in stats if s[0] >= 80]
    assert any(z < 0.1 and cv < 0.6 for _, z, cv in full)  # smooth
    assert any(z <= 0.5 and cv > 1.0 for _, z, cv in full)  # erratic
    assert any(z > 0.5 for _, z, _ in full)  # intermittent
    assert 1 <= sum(n == 10 for n, _, _ in stats) <= 5  # short history: first sale 10 days ago


def test_supplier_offers_cover_most_products(book):
    per_product = defaultdict(list)
    for offer in book["supplier_offers"]:
        per_product[offer["product"]].append(offer["supplier"])
    assert all(1 <= len(s) == len(set(s)) <= 3 for s in per_product.values())
    assert 1 <= len(book["products"]) - len(per_product) <= 6
    assert len({o["supplier"] for o in book["supplier_offers"]}) == 8


def test_markup_names_present(book):
    assert any(o["customer"] == MARKUP_CUSTOMER for o in book["orders"])
    assert any("<b>" in p["name"] for p in book["products"])


def test_large_book_names_are_derived_and_unique():
    b = generate_book(seed=3, orders=10, products=500, lines=(5, 5), as_of=AS_OF)
    names = [p["name"] for p in b["products"]]
    assert len(set(names)) == 500
    assert "Arroz Tipo 1 5kg" in names and "Arroz Tipo 1 5kg (Cx 6)" in names


def test_coverage_mix(book):
    """Supply covers some demand, not all: every product's total supply vs demand varies."""
    canonical = {a: p["code"] for p in book["products"] for a in p["aliases"]}
    supply, demand = defaultdict(float), defaultdict(float)
    for s in book["stock"]:
        supply[s["product"]] += s["on_hand"]
    for r in book["receipts"]:
        supply[canonical.get(r["product"], r["product"])] += r["qty"]
    for o in book["orders"]:
        for line in o["lines"]:
            demand[canonical.get(line["product"], line["product"])] += line["qty"]
    ratios = [supply[p] / demand[p] for p in demand]
    assert any(r >= 1.1 for r in ratios) and any(r < 0.5 for r in ratios)


def _load_json(kind):
    return json.loads((EXAMPLES / f"{kind}.json").read_text(encoding="utf-8"))


def test_example_json_matches_worked_example():
    data = {kind: _load_json(kind) for kind in KINDS}
    assert [(p["code"], p["name"], p["unit"]) for p in data["products"]] == [
        ("A", "Prod A", "un"),
        ("B", "Prod B", "un"),
    ]
    assert {s["product"]: s["on_hand"] for s in data["stock"]} == {"A": 100, "B": 12}
    assert [(r["product"], r["date"], r["qty"]) for r in data["receipts"]] == [
        ("A", "2026-03-04", 50),
        ("A", "2026-03-09", 200),
    ]
    assert {r["kind"] for r in data["receipts"]} == {"purchase", "production"}
    orders = data["orders"]
    assert [o["number"] for o in orders] == ["O1", "O2", "O3", "O4", "O5"]
    assert [o["ship_date"] for o in orders] == [
        "2026-03-03",
        "2026-03-03",
        "2026-03-06",
        None,
        "2026-03-04",
    ]
    assert [o["created_at"] for o in orders] == [f"2026-03-01T08:0{i}:00" for i in range(5)]
    assert all(o["priority"] == 0 and o["status"] == "open" for o in orders)
    lines = [[(ln["product"], ln["qty"], ln["unit_price"]) for ln in o["lines"]] for o in orders]
    assert lines == [
        [("A", 60, 10)],
        [("A", 30, 10), ("B", 10, 5)],
        [("A", 40, 10)],
        [("A", 100, 10)],
        [("B", 5, 5)],
    ]
    # the demand queue of A in DESIGN §3: cumulative N = 60, 90, 130, 230
    queue = sorted(
        (o for o in orders if any(ln["product"] == "A" for ln in o["lines"])),
        key=lambda o: (o["ship_date"] is None, o["ship_date"] or "", o["created_at"]),
    )
    totals, running = [], 0
    for o in queue:
        running += sum(ln["qty"] for ln in o["lines"] if ln["product"] == "A")
        totals.append(running)
    assert totals == [60, 90, 130, 230]
    assert data["sales"] and {s["product"] for s in data["sales"]} == {"A", "B"}
    offers = {(o["supplier"], o["product"]): o for o in data["supplier_offers"]}
    assert {p for _, p in offers} == {"A", "B"}
    assert offers[("S1", "A")]["unit_price"] == 5.0 and offers[("S2", "A")]["unit_price"] == 4.5


HEADERS = {
    "products": "code,name,unit,aliases",
    "stock": "product,on_hand",
    "receipts": "id,product,date,qty,kind",
    "orders": "number,customer,ship_date,priority,created_at,product,qty,unit_price",
    "sales": "product,date,qty",
    "supplier_offers": "supplier,product,unit_price,lead_time_days,min_qty,multiple",
}


@pytest.mark.parametrize("kind", KINDS)
def test_example_csv_headers_and_row_counts(kind):
    with open(EXAMPLES / f"{kind}.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert ",".join(rows[0]) == HEADERS[kind]
    assert all(len(row) == len(rows[0]) for row in rows)
    items = _load_json(kind)
    expected = sum(len(o["lines"]) for o in items) if kind == "orders" else len(items)
    assert len(rows) - 1 == expected
    assert f"`{HEADERS[kind]}`" in (EXAMPLES / "README.md").read_text(encoding="utf-8")


def test_example_orders_csv_equals_json():
    with open(EXAMPLES / "orders.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rebuilt = {}
    for row in rows:
        order = rebuilt.setdefault(
            row["number"],
            {
                "number": row["number"],
                "customer": row["customer"],
                "ship_date": row["ship_date"] or None,
                "priority": int(row["priority"]),
                "created_at": row["created_at"],
                "status": "open",
                "lines": [],
            },
        )
        order["lines"].append(
            {
                "product": row["product"],
                "qty": float(row["qty"]),
                "unit_price": float(row["unit_price"]),
            }
        )
    assert list(rebuilt.values()) == _load_json("orders")
