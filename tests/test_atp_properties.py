"""Properties of the stock-out engine: monotone in supply, queue-ordered, row-order free."""

import random
from dataclasses import replace
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.atp import Demand, Order, OrderLine, ProductData, Receipt, analyze_orders

AS_OF = date(2026, 3, 2)
T0 = datetime(2026, 1, 1, 8, 0)
KNOWN = ("A", "B")
RANK = {"available": 0, "late": 1, "unavailable": 2}

offsets = st.integers(min_value=-3, max_value=10)
quantities = st.integers(min_value=1, max_value=300).map(lambda n: n / 10)
ship_dates = st.none() | offsets.map(lambda n: AS_OF + timedelta(days=n))
created = st.none() | st.integers(min_value=0, max_value=2).map(lambda h: T0 + timedelta(hours=h))
lines = st.tuples(
    st.sampled_from(("A", "B", "X")), quantities, st.integers(min_value=0, max_value=20)
)
orders = st.lists(
    st.tuples(
        ship_dates,
        st.integers(min_value=0, max_value=2),
        created,
        st.lists(lines, min_size=1, max_size=3),
    ),
    max_size=7,
)
receipts = st.lists(st.tuples(st.sampled_from(KNOWN), offsets, quantities), max_size=5)
stock = st.fixed_dictionaries({code: st.integers(min_value=-10, max_value=40) for code in KNOWN})
books = st.fixed_dictionaries({"stock": stock, "receipts": receipts, "orders": orders})


def numbered(book: dict) -> list[tuple]:
    """Give the generated orders numbers whose string order differs from list order."""
    return [(f"O{(i * 7) % 11}", *spec) for i, spec in enumerate(book["orders"])]


def build(book: dict) -> tuple[list[ProductData], list[Order]]:
    """Build product data (demand from order lines) and orders, as the caller would."""
    book_orders = numbered(book)
    products = [
        ProductData(
            code=code,
            name=f"Prod {code}",
            unit="un",
            codes=(code,),
            on_hand=on_hand,
            receipts=tuple(
                Receipt(AS_OF + timedelta(days=off), qty)
                for c, off, qty in book["receipts"]
                if c == code
            ),
            demand=tuple(
                Demand(number, ship, priority, created_at, qty)
                for number, ship, priority, created_at, order_lines in book_orders
                for product, qty, _ in order_lines
                if product == code
            ),
        )
        for code, on_hand in book["stock"].items()
    ]
    orders_ = [
        Order(number, ship, tuple(OrderLine(*line) for line in order_lines))
        for number, ship, _, _, order_lines in book_orders
    ]
    return products, orders_


def analyze(book: dict, products=None, orders_=None) -> dict[str, dict]:
    """Analyze every order of a generated book."""
    built_products, built_orders = build(book)
    products = built_products if products is None else products
    orders_ = built_orders if orders_ is None else orders_
    numbers = [o.number for o in built_orders]
    return analyze_orders(products, orders_, numbers, AS_OF, 1)


def queue_key(spec: tuple) -> tuple:
    """Return DESIGN §3's priority key of a numbered order spec."""
    number, ship, priority, created_at, _ = spec
    return (ship is None, ship or date.min, -priority, created_at is None, created_at or T0, number)


def by_product(result: dict) -> dict[str, dict]:
    """Index an order analysis' lines by product."""
    return {line["product"]: line for line in result["lines"]}


def day_or_never(value: str | None) -> str:
    """Order ISO dates with None (never) after every date."""
    return value or "9999-12-31"


@settings(max_examples=150, deadline=None)
@given(
    book=books,
    extra=st.one_of(
        st.tuples(st.just("on_hand"), st.sampled_from(KNOWN), st.integers(1, 50)),
        st.tuples(st.sampled_from(KNOWN), offsets, quantities),
    ),
)
def test_more_supply_never_makes_a_line_worse(book, extra):
    richer = {**book, "stock": dict(book["stock"]), "receipts": list(book["receipts"])}
    if extra[0] == "on_hand":
        richer["stock"][extra[1]] += extra[2]
    else:
        richer["receipts"].append(extra)
    before, after = analyze(book), analyze(richer)
    for number, result in before.items():
        improved = by_product(after[number])
        for product, line in by_product(result).items():
            now = improved[product]
            assert RANK[now["status"]] <= RANK[line["status"]]
            assert day_or_never(now["available_on"]) <= day_or_never(line["available_on"])
            assert now["shortfall"] <= line["shortfall"]


@settings(max_examples=150, deadline=None)
@given(book=books, pick=st.integers(min_value=0, max_value=6))
def test_removing_a_later_order_leaves_earlier_orders_alone(book, pick):
    specs = numbered(book)
    if not specs:
        return
    removed = specs[pick % len(specs)]
    before = analyze(book)
    products, orders_ = build(book)
    kept = [
        replace(p, demand=tuple(x for x in p.demand if x.order != removed[0])) for p in products
    ]
    after = analyze(book, kept, [o for o in orders_ if o.number != removed[0]])
    for spec in specs:
        if queue_key(spec) < queue_key(removed):
            assert strip_projection(after[spec[0]]) == strip_projection(before[spec[0]])
    assert after[removed[0]]["status"] == "not_found"


def strip_projection(result: dict) -> dict:
    """Drop the per-product projection, which legitimately sees every order."""
    hidden = ("projection", "min_projected")
    lines = [{k: v for k, v in line.items() if k not in hidden} for line in result["lines"]]
    return {**result, "lines": lines}


def canonical(results: dict[str, dict]) -> dict[str, dict]:
    """Sort each order's lines by product so line order in the input does not matter."""
    return {
        n: {**r, "lines": sorted(r["lines"], key=lambda line: line["product"])}
        for n, r in results.items()
    }


@settings(max_examples=150, deadline=None)
@given(book=books, rng=st.randoms(use_true_random=False))
def test_results_do_not_depend_on_row_order(book, rng: random.Random):
    products, orders_ = build(book)

    def shuffled(items) -> tuple:
        items = list(items)
        rng.shuffle(items)
        return tuple(items)

    mixed_products = [
        replace(p, demand=shuffled(p.demand), receipts=shuffled(p.receipts))
        for p in shuffled(products)
    ]
    mixed_orders = [Order(o.number, o.ship_date, shuffled(o.lines)) for o in shuffled(orders_)]
    assert canonical(analyze(book, mixed_products, mixed_orders)) == canonical(analyze(book))
