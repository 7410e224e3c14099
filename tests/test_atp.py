"""Hand-computed cases for the stock-out engine (DESIGN.md §3)."""

import json
from datetime import date, datetime, timedelta

import pytest

from jobs.atp import (
    Demand,
    Order,
    OrderLine,
    ProductData,
    Receipt,
    analyze_order,
    analyze_orders,
    analyze_product,
)

AS_OF = date(2026, 3, 2)
T0 = datetime(2026, 1, 1, 8, 0)


def d(day: int) -> date:
    """Return 2026-03-<day>."""
    return date(2026, 3, day)


def iso(day: int) -> str:
    """Return '2026-03-<day>'."""
    return d(day).isoformat()


def run(stock, orders, receipts=(), lead_days=1, as_of=AS_OF, numbers=None):
    """Build products and orders as the caller does, then analyze the requested orders.

    stock: {code: on_hand}; receipts: [(code, date, qty)];
    orders: [(number, ship_date, priority, created_at, [(product, qty, unit_price)])].
    """
    demand = {code: [] for code in stock}
    for number, ship, priority, created, lines in orders:
        for product, qty, _ in lines:
            if product in demand:
                demand[product].append(Demand(number, ship, priority, created, qty))
    products = [
        ProductData(
            code=code,
            name=f"Prod {code}",
            unit="un",
            codes=(code,),
            on_hand=on_hand,
            receipts=tuple(Receipt(day, qty) for c, day, qty in receipts if c == code),
            demand=tuple(demand[code]),
        )
        for code, on_hand in stock.items()
    ]
    book = [
        Order(number, ship, tuple(OrderLine(p, q, price) for p, q, price in lines))
        for number, ship, _, _, lines in orders
    ]
    wanted = numbers if numbers is not None else [o[0] for o in orders]
    return analyze_orders(products, book, wanted, as_of, lead_days)


def only_line(result: dict) -> dict:
    """Return the single line of an order analysis."""
    assert len(result["lines"]) == 1
    return result["lines"][0]


# --- DESIGN §3 worked example ---------------------------------------------------------

EXAMPLE_ORDERS = [
    ("O1", d(3), 0, T0, [("A", 60, 10)]),
    ("O2", d(3), 0, T0 + timedelta(hours=1), [("A", 30, 10), ("B", 10, 5)]),
    ("O3", d(6), 0, T0 + timedelta(hours=2), [("A", 40, 10)]),
    ("O4", None, 0, T0 + timedelta(hours=3), [("A", 100, 10)]),
    ("O5", d(4), 0, T0 + timedelta(hours=4), [("B", 5, 5)]),
]
EXAMPLE_RECEIPTS = [("A", d(4), 50), ("A", d(9), 200)]
A_PROJECTION = [100.0, 10.0, 10.0, 60.0, 20.0, 20.0, 20.0, 20.0]


def example():
    """Analyze every order of the worked example."""
    return run({"A": 100, "B": 12}, EXAMPLE_ORDERS, EXAMPLE_RECEIPTS)


def test_example_product_a_queue():
    # S: 100 on 03-02..03-04, 150 from 03-05, 350 from 03-10.
    # O1 N=60 D=03-02; O2 N=90 D=03-02; O3 N=130 D=03-05 <= 03-06; O4 N=230 D=03-10 > 03-02.
    data = ProductData(
        "A",
        "Prod A",
        "un",
        ("A",),
        100,
        (Receipt(d(4), 50), Receipt(d(9), 200)),
        tuple(
            Demand(n, ship, prio, created, q)
            for n, ship, prio, created, lines in EXAMPLE_ORDERS
            for p, q, _ in lines
            if p == "A"
        ),
    )
    entries = analyze_product(data, AS_OF, 1).entries
    assert list(entries) == ["O1", "O2", "O3", "O4"]
    got = {
        n: (e.queue_ahead, e.cumulative_need, e.coverage_date, e.status) for n, e in entries.items()
    }
    assert got == {
        "O1": (0, 60, d(2), "available"),
        "O2": (60, 90, d(2), "available"),
        "O3": (90, 130, d(5), "available"),
        "O4": (130, 230, d(10), "late"),
    }
    assert entries["O4"].shortfall == 100  # min(100, 230 - S(03-02)=100) = 100
    assert entries["O4"].need_date == d(2)  # unscheduled: need as_of


def test_example_lines_a():
    r = example()
    lines = {n: r[n]["lines"][0] for n in ("O1", "O2", "O3", "O4")}
    assert [lines[n]["queue_ahead"] for n in lines] == [0.0, 60.0, 90.0, 130.0]
    assert [lines[n]["available_on"] for n in lines] == [iso(2), iso(2), iso(5), iso(10)]
    assert [lines[n]["status"] for n in lines] == ["available"] * 3 + ["late"]
    assert [lines[n]["shortfall"] for n in lines] == [0.0, 0.0, 0.0, 100.0]
    assert [lines[n]["supply_at_need"] for n in lines] == [100.0, 100.0, 150.0, 100.0]


def test_example_lines_b():
    # B: on hand 12. O2 N=10 available; O5 A=10 N=15 never: shortfall min(5, 15 - 12) = 3.
    r = example()
    b2 = r["O2"]["lines"][1]
    assert (b2["product"], b2["status"], b2["available_on"], b2["queue_ahead"]) == (
        "B",
        "available",
        iso(2),
        0.0,
    )
    b5 = only_line(r["O5"])
    assert (b5["status"], b5["available_on"], b5["shortfall"], b5["queue_ahead"]) == (
        "unavailable",
        None,
        3.0,
        10.0,
    )
    assert b5["next_receipt"] is None
    assert b5["projection"][0] == {"date": iso(2), "stock": 12.0}
    assert [p["stock"] for p in b5["projection"]] == [12.0, 2.0] + [-3.0] * 6  # 12-10, -5


def test_example_orders():
    r = example()
    for number in ("O1", "O2", "O3"):
        assert (r[number]["status"], r[number]["criticality"]) == ("ok", "none")
        assert r[number]["availability_pct"] == 100.0
    assert r["O2"]["total_value"] == 350.0  # 30*10 + 10*5
    assert r["O2"]["ready_date"] == iso(3)  # both lines available, need 03-03
    assert r["O3"]["ready_date"] == iso(6)
    o5 = r["O5"]
    assert (o5["status"], o5["criticality"], o5["ready_date"]) == ("short", "critical", None)
    assert (o5["total_value"], o5["available_value"], o5["availability_pct"]) == (25.0, 0.0, 0.0)


def test_example_o4_matches_the_json_example():
    o4 = example()["O4"]
    projection = [{"date": iso(2 + i), "stock": s} for i, s in enumerate(A_PROJECTION)]
    assert o4 == {
        "status": "short",
        "as_of": "2026-03-02",
        "total_value": 1000.0,
        "available_value": 0.0,
        "availability_pct": 0.0,
        "ready_date": "2026-03-10",
        "criticality": "high",
        "lines": [
            {
                "product": "A",
                "name": "Prod A",
                "codes": ["A"],
                "qty": 100.0,
                "unit_price": 10.0,
                "value": 1000.0,
                "status": "late",
                "available_on": "2026-03-10",
                "shortfall": 100.0,
                "on_hand": 100.0,
                "queue_ahead": 130.0,
                "supply_at_need": 100.0,
                "unknown_product": False,
                "next_receipt": {"date": "2026-03-04", "qty": 50.0},
                "projection": projection,
                "min_projected": 10.0,
            }
        ],
    }
    json.dumps(o4)  # JSON-ready


def test_example_projection_and_next_receipt_of_a():
    # 03-02: 100; 03-03: 100-60-30=10; 03-04: 10; 03-05: 150-90=60; 03-06..09: 150-130=20.
    demand = (
        Demand("O4", None, 0, T0, 100),
        Demand("O1", d(3), 0, T0, 60),
        Demand("O3", d(6), 0, T0, 40),
        Demand("O2", d(3), 0, T0, 30),
    )
    receipts = (Receipt(d(9), 200), Receipt(d(4), 50))
    result = analyze_product(
        ProductData("A", "Prod A", "un", ("A",), 100, receipts, demand), AS_OF, 1
    )
    assert result.projection == [(d(2 + i), s) for i, s in enumerate(A_PROJECTION)]
    assert result.min_projected == 10
    assert result.next_receipt == (d(4), 50)


# --- queue order ----------------------------------------------------------------------


def test_same_ship_date_higher_priority_first():
    # Z9 (priority 5) beats A1 (priority 0) despite later creation and number.
    # Z9 N=10 <= 10 available; A1 A=10 N=20 never: shortfall min(10, 20-10) = 10.
    r = run(
        {"A": 10},
        [
            ("A1", d(3), 0, T0, [("A", 10, 1)]),
            ("Z9", d(3), 5, T0 + timedelta(hours=1), [("A", 10, 1)]),
        ],
    )
    assert only_line(r["Z9"])["queue_ahead"] == 0.0
    assert only_line(r["Z9"])["status"] == "available"
    a1 = only_line(r["A1"])
    assert (a1["queue_ahead"], a1["status"], a1["shortfall"]) == (10.0, "unavailable", 10.0)


def test_same_ship_date_and_priority_earlier_created_first_nulls_last():
    # Queue O3 (07:00), O2 (08:00), O1 (no created_at); 5 each, on hand 10.
    # O3 A=0; O2 A=5 N=10 available; O1 A=10 N=15 never, shortfall 5.
    r = run(
        {"A": 10},
        [
            ("O1", d(3), 0, None, [("A", 5, 1)]),
            ("O2", d(3), 0, T0, [("A", 5, 1)]),
            ("O3", d(3), 0, T0 - timedelta(hours=1), [("A", 5, 1)]),
        ],
    )
    assert [only_line(r[n])["queue_ahead"] for n in ("O3", "O2", "O1")] == [0.0, 5.0, 10.0]
    assert [only_line(r[n])["status"] for n in ("O3", "O2", "O1")] == [
        "available",
        "available",
        "unavailable",
    ]
    assert only_line(r["O1"])["shortfall"] == 5.0


def test_full_tie_broken_by_order_number_as_string():
    # "O10" < "O2" < "O9"; 4 each, on hand 8: O9 A=8 N=12, shortfall 12-8 = 4.
    same = (d(3), 1, T0)
    r = run({"A": 8}, [(n, *same, [("A", 4, 1)]) for n in ("O9", "O2", "O10")])
    assert [only_line(r[n])["queue_ahead"] for n in ("O10", "O2", "O9")] == [0.0, 4.0, 8.0]
    assert only_line(r["O9"])["shortfall"] == 4.0


def test_unscheduled_orders_queue_last_and_need_as_of():
    # O2 (ship 03-09) goes before O1 (unscheduled, priority 9, created first).
    # S: 10 until 03-05, 20 from 03-06 (receipt 03-05 + 1 day).
    # O2 N=10 D=03-02 available; O1 A=10 N=15 D=03-06 > need 03-02: late, shortfall 5.
    # Projection leaves O1 out: 10,10,10,10,20,20,20, 03-09: 20-10=10.
    r = run(
        {"A": 10},
        [
            ("O1", None, 9, T0, [("A", 5, 1)]),
            ("O2", d(9), 0, T0 + timedelta(days=1), [("A", 10, 1)]),
        ],
        receipts=[("A", d(5), 10)],
    )
    o1 = only_line(r["O1"])
    assert (o1["queue_ahead"], o1["status"], o1["available_on"], o1["shortfall"]) == (
        10.0,
        "late",
        iso(6),
        5.0,
    )
    assert r["O1"]["ready_date"] == iso(6)
    assert only_line(r["O2"])["status"] == "available"
    assert r["O2"]["ready_date"] == iso(9)
    assert [p["stock"] for p in o1["projection"]] == [10.0] * 4 + [20.0] * 3 + [10.0]
    assert o1["min_projected"] == 10.0


def test_past_due_ship_date_needs_as_of():
    # Ship 02-20 < as_of: need 03-02. Receipt 03-02 +10 usable 03-03 > 03-02: late.
    # shortfall min(10, 10 - S(03-02)=0) = 10. Projection 03-02: 0-10 = -10, then 0.
    r = run({"A": 0}, [("O1", date(2026, 2, 20), 0, T0, [("A", 10, 1)])], [("A", d(2), 10)])
    line = only_line(r["O1"])
    assert (line["status"], line["available_on"], line["shortfall"]) == ("late", iso(3), 10.0)
    assert r["O1"]["ready_date"] == iso(3)
    assert [p["stock"] for p in line["projection"]] == [-10.0] + [0.0] * 7


# --- supply ---------------------------------------------------------------------------


def test_negative_stock():
    # on hand -5, receipt 03-03 +20 usable 03-04: S = -5, -5, 15, ...
    # O1 ship 03-03 q 10: D=03-04 > 03-03 late; shortfall min(10, 10-(-5)=15) = 10.
    # Projection: -5, -15, 5, 5, ...; min -15.
    r = run({"A": -5}, [("O1", d(3), 0, T0, [("A", 10, 1)])], [("A", d(3), 20)])
    line = only_line(r["O1"])
    assert (line["status"], line["available_on"], line["shortfall"]) == ("late", iso(4), 10.0)
    assert (line["on_hand"], line["supply_at_need"]) == (-5.0, -5.0)
    assert [p["stock"] for p in line["projection"]] == [-5.0, -15.0] + [5.0] * 6
    assert line["min_projected"] == -15.0


def test_past_dated_receipts_are_ignored():
    # Receipt 03-01 (< as_of) would be usable 03-02 but is ignored: S stays 0.
    r = run({"A": 0}, [("O1", d(5), 0, T0, [("A", 10, 1)])], [("A", d(1), 100)])
    line = only_line(r["O1"])
    assert (line["status"], line["shortfall"], line["next_receipt"]) == ("unavailable", 10.0, None)
    assert line["min_projected"] == -10.0  # 03-05 onward: 0 - 10


@pytest.mark.parametrize(
    ("lead_days", "status", "available_on", "shortfall", "at_need"),
    [
        (1, "late", 3, 10.0, 0.0),  # usable 03-03 > need 03-02
        (0, "available", 2, 0.0, 10.0),  # usable 03-02 = need
    ],
)
def test_receipt_dated_as_of(lead_days, status, available_on, shortfall, at_need):
    r = run({"A": 0}, [("O1", d(2), 0, T0, [("A", 10, 1)])], [("A", d(2), 10)], lead_days=lead_days)
    line = only_line(r["O1"])
    assert (line["status"], line["available_on"]) == (status, iso(available_on))
    assert (line["shortfall"], line["supply_at_need"]) == (shortfall, at_need)
    assert line["next_receipt"] == {"date": iso(2), "qty": 10.0}


def test_several_receipts_on_one_day():
    # 03-04: +5 +7 (usable 03-05), 03-06: +100 (usable 03-07). next_receipt 03-04, 12.
    # O1 ship 03-05 q 12: S(03-05)=12, available. O2 ship 03-05 q 1: N=13, D=03-07, late.
    r = run(
        {"A": 0},
        [
            ("O1", d(5), 0, T0, [("A", 12, 1)]),
            ("O2", d(5), 0, T0 + timedelta(hours=1), [("A", 1, 1)]),
        ],
        [("A", d(4), 5), ("A", d(6), 100), ("A", d(4), 7)],
    )
    assert only_line(r["O1"])["next_receipt"] == {"date": iso(4), "qty": 12.0}
    assert only_line(r["O1"])["status"] == "available"
    o2 = only_line(r["O2"])
    assert (o2["status"], o2["available_on"], o2["shortfall"]) == ("late", iso(7), 1.0)


def test_float_noise_does_not_make_a_line_late():
    # 0.1 + 0.1 + 0.1 = 0.30000000000000004 > 0.3 in floats; still covered.
    orders = [(f"O{i}", d(3), 0, T0 + timedelta(hours=i), [("A", 0.1, 1)]) for i in range(3)]
    r = run({"A": 0.3}, orders)
    assert [only_line(r[f"O{i}"])["status"] for i in range(3)] == ["available"] * 3
    assert only_line(r["O2"])["shortfall"] == 0.0


# --- aliases, merging, unknown products -----------------------------------------------


def test_aliases_are_reported_and_alias_demand_counts():
    # The caller folds alias A-OLD into A: O1's line recorded under A-OLD is demand of A.
    # on hand 10: O1 q 6 N=6 available; O2 A=6 N=12 never, shortfall 2.
    data = ProductData(
        "A",
        "Prod A",
        "un",
        ("A", "A-OLD"),
        10,
        (),
        (Demand("O2", d(4), 0, T0, 6), Demand("O1", d(3), 0, T0, 6)),
    )
    orders = [
        Order("O1", d(3), (OrderLine("A-OLD", 6, 2),)),
        Order("O2", d(4), (OrderLine("A", 6, 2),)),
    ]
    r = analyze_orders([data], orders, ["O1", "O2"], AS_OF, 1)
    o1, o2 = only_line(r["O1"]), only_line(r["O2"])
    assert (o1["product"], o1["codes"], o1["status"]) == ("A", ["A", "A-OLD"], "available")
    assert (o2["queue_ahead"], o2["status"], o2["shortfall"]) == (6.0, "unavailable", 2.0)


def test_one_product_twice_in_an_order_is_one_line_and_one_queue_entry():
    # O1: A 4 @10 + A 5 @20 -> qty 9, value 140, unit price 140/9 = 15.56.
    # O2 after it: A=9, N=11 > on hand 10: shortfall 1.
    r = run(
        {"A": 10},
        [
            ("O1", d(3), 0, T0, [("A", 4, 10), ("A", 5, 20)]),
            ("O2", d(4), 0, T0, [("A", 2, 1)]),
        ],
    )
    line = only_line(r["O1"])
    assert (line["qty"], line["value"], line["unit_price"]) == (9.0, 140.0, 15.56)
    assert (line["status"], r["O1"]["total_value"]) == ("available", 140.0)
    o2 = only_line(r["O2"])
    assert (o2["queue_ahead"], o2["shortfall"]) == (9.0, 1.0)


def test_unknown_product_line():
    # ZZZ unknown: unavailable. A 1 @1 available. total 3*2 + 1 = 7, available 1: 14.29 %.
    r = run({"A": 5}, [("O1", d(3), 0, T0, [("ZZZ", 3, 2), ("A", 1, 1)])])["O1"]
    assert r["lines"][0] == {
        "product": "ZZZ",
        "name": None,
        "codes": ["ZZZ"],
        "qty": 3.0,
        "unit_price": 2.0,
        "value": 6.0,
        "status": "unavailable",
        "available_on": None,
        "shortfall": 3.0,
        "on_hand": 0.0,
        "queue_ahead": 0.0,
        "supply_at_need": 0.0,
        "unknown_product": True,
        "next_receipt": None,
        "projection": [],
        "min_projected": None,
    }
    assert (r["status"], r["criticality"], r["ready_date"]) == ("partial", "critical", None)
    assert (r["total_value"], r["available_value"], r["availability_pct"]) == (7.0, 1.0, 14.29)


# --- order level ----------------------------------------------------------------------

NOT_FOUND = {
    "status": "not_found",
    "as_of": "2026-03-02",
    "total_value": 0.0,
    "available_value": 0.0,
    "availability_pct": 0.0,
    "ready_date": None,
    "criticality": "none",
    "lines": [],
}


def test_order_without_open_lines_or_unknown_is_not_found():
    assert analyze_order("O1", Order("O1", d(3), ()), {}, AS_OF) == NOT_FOUND
    assert analyze_order("O1", None, {}, AS_OF) == NOT_FOUND
    assert run({"A": 1}, [], numbers=["NOPE"]) == {"NOPE": NOT_FOUND}


def test_zero_price_order_uses_line_count():
    # A (on hand 5) available; B: receipt 03-03 usable 03-04 > need 03-02: late.
    # total value 0 -> 1 of 2 lines = 50 %: partial, medium (50 is not < 50).
    # ready = max(need of A 03-02, available_on of B 03-04) = 03-04.
    r = run({"A": 5, "B": 0}, [("O1", d(2), 0, T0, [("A", 5, 0), ("B", 5, 0)])], [("B", d(3), 5)])[
        "O1"
    ]
    assert (r["total_value"], r["availability_pct"]) == (0.0, 50.0)
    assert (r["status"], r["criticality"], r["ready_date"]) == ("partial", "medium", iso(4))


@pytest.mark.parametrize(
    ("price_a", "price_b", "pct", "criticality"),
    [
        (1, 20, 33.33, "high"),  # 10 / (10 + 20)
        (5, 50, 50.0, "medium"),  # 50 / 100: boundary
        (1, 5, 66.67, "medium"),  # 10 / 15
        (9, 10, 90.0, "low"),  # 90 / 100: boundary
        (9, 1, 98.9, "low"),  # 90 / 91
    ],
)
def test_partial_order_criticality(price_a, price_b, pct, criticality):
    # A 10 available (on hand 10); B 1 late (receipt 03-03 usable 03-04 > need 03-02).
    r = run(
        {"A": 10, "B": 0},
        [("O1", d(2), 0, T0, [("A", 10, price_a), ("B", 1, price_b)])],
        [("B", d(3), 1)],
    )["O1"]
    assert [line["status"] for line in r["lines"]] == ["available", "late"]
    assert (r["status"], r["availability_pct"], r["criticality"]) == ("partial", pct, criticality)


def test_ready_date_mixes_available_and_late_lines():
    # Ship 03-03. A (on hand 10) available, need 03-03. B: receipt 03-03 usable 03-04, late.
    # C: receipt 03-05 usable 03-06, late. ready = max(03-03, 03-04, 03-06) = 03-06.
    r = run(
        {"A": 10, "B": 0, "C": 0},
        [("O1", d(3), 0, T0, [("A", 10, 1), ("B", 1, 1), ("C", 1, 1)])],
        [("B", d(3), 1), ("C", d(5), 1)],
    )["O1"]
    assert [line["status"] for line in r["lines"]] == ["available", "late", "late"]
    assert [line["available_on"] for line in r["lines"]] == [iso(2), iso(4), iso(6)]
    assert (r["status"], r["ready_date"]) == ("partial", iso(6))


def test_ready_date_is_the_need_date_when_it_is_latest():
    # A available (need 03-05 ship date) while B (a queue entry whose row says ship 03-02,
    # bad data) is late with available_on 03-04: ready = max(03-05, 03-04) = 03-05.
    products = [
        ProductData("A", "Prod A", "un", ("A",), 10, (), (Demand("O1", d(5), 0, T0, 10),)),
        ProductData(
            "B", "Prod B", "un", ("B",), 0, (Receipt(d(3), 1),), (Demand("O1", d(2), 0, T0, 1),)
        ),
    ]
    cached = {p.code: analyze_product(p, AS_OF, 1) for p in products}
    order = Order("O1", d(5), (OrderLine("A", 10, 1), OrderLine("B", 1, 1)))
    r = analyze_order("O1", order, cached, AS_OF)
    assert [line["status"] for line in r["lines"]] == ["available", "late"]
    assert r["ready_date"] == iso(5)


def test_ok_order_ready_on_latest_need_date():
    # Two available lines, needs 03-03 and (past due) 03-02 -> ready 03-03, criticality none.
    r = run({"A": 10, "B": 10}, [("O1", d(3), 0, T0, [("A", 1, 1), ("B", 1, 1)])])["O1"]
    assert (r["status"], r["ready_date"], r["criticality"]) == ("ok", iso(3), "none")


def test_product_result_is_reused_for_many_orders():
    data = ProductData(
        "A",
        "Prod A",
        "un",
        ("A",),
        10,
        (),
        (Demand("O1", d(3), 0, T0, 4), Demand("O2", None, 0, T0, 4)),
    )
    cached = {"A": analyze_product(data, AS_OF, 1)}
    o1 = analyze_order("O1", Order("O1", d(3), (OrderLine("A", 4, 1),)), cached, AS_OF)
    o2 = analyze_order("O2", Order("O2", None, (OrderLine("A", 4, 1),)), cached, AS_OF)
    assert (only_line(o1)["queue_ahead"], only_line(o2)["queue_ahead"]) == (0.0, 4.0)
    with pytest.raises(ValueError, match="O3"):
        analyze_order("O3", Order("O3", None, (OrderLine("A", 1, 1),)), cached, AS_OF)
