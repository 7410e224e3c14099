"""Stock-out (available-to-promise) engine of DESIGN.md §3: plain data in, plain data out.

`analyze_product` does all per-product work once (supply curve, demand queue, coverage
dates, projection); its `ProductResult` can be cached per data version and reused by
`analyze_order`, which only composes results into the JSON-ready analysis of one order.

Decisions where DESIGN §3 is silent:
- `not_found` orders have criticality `none` (nothing at risk) and all figures 0.
- S(d) >= N tolerates a relative 1e-9, so float noise (0.1 + 0.2) never makes a line late.
- An order's lines for one canonical product form one output line (qty and value summed,
  unit_price = value / qty), as they form one queue entry; first-appearance order is kept.
- `analyze_orders` also resolves alias codes in order lines to their canonical product.
- `availability_pct` is rounded to 2 decimals before the criticality thresholds apply.
- Rows of one order that disagree on ship date / priority / created_at (bad data) take the
  earliest queue key; sums use math.fsum, so no result depends on the order of input rows.
- A known product whose queue lacks the order is a caller bug: ValueError.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from itertools import accumulate
from math import fsum

PROJECTION_DAYS = 8
REL_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Receipt:
    date: date
    qty: float


@dataclass(frozen=True)
class Demand:
    order: str
    ship_date: date | None
    priority: int
    created_at: datetime | None
    qty: float


@dataclass(frozen=True)
class ProductData:
    code: str
    name: str
    unit: str
    codes: tuple[str, ...]
    on_hand: float
    receipts: tuple[Receipt, ...]
    demand: tuple[Demand, ...]


@dataclass(frozen=True)
class OrderLine:
    product: str
    qty: float
    unit_price: float


@dataclass(frozen=True)
class Order:
    number: str
    ship_date: date | None
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True)
class Entry:
    """One order's place in a product's demand queue."""

    qty: float  # q
    queue_ahead: float  # A
    cumulative_need: float  # N = A + q
    need_date: date  # n
    coverage_date: date | None  # D
    status: str  # available | late | unavailable
    shortfall: float
    supply_at_need: float  # S(n)


@dataclass(frozen=True)
class ProductResult:
    code: str
    name: str
    codes: tuple[str, ...]
    on_hand: float
    entries: dict[str, Entry]  # keyed by order number, in queue order
    projection: list[tuple[date, float]]
    min_projected: float
    next_receipt: tuple[date, float] | None

    @cached_property
    def rounded_projection(self) -> tuple[tuple[str, float], ...]:
        """Return the projection as (ISO date, rounded stock) pairs, formatted once."""
        return tuple((day.isoformat(), qty3(stock)) for day, stock in self.projection)


@dataclass(frozen=True)
class SupplyCurve:
    """Step function S(d) for d >= as_of: S(dates[i]) = levels[i] until dates[i + 1]."""

    dates: list[date]
    levels: list[float]
    reach: list[float]  # running maximum of levels, for the coverage search

    def at(self, day: date) -> float:
        """Return S(day) for a day on or after as_of."""
        return self.levels[bisect_right(self.dates, day) - 1]

    def coverage_date(self, need: float) -> date | None:
        """Return the earliest day with S(day) >= need, or None if never."""
        i = bisect_left(self.reach, need - tolerance(need))
        return self.dates[i] if i < len(self.dates) else None


def tolerance(qty: float) -> float:
    """Return the float slack allowed when comparing against qty."""
    return REL_TOLERANCE * max(1.0, abs(qty))


def usable_receipts(receipts: Iterable[Receipt], as_of: date, lead_days: int) -> dict[date, float]:
    """Sum receipt quantities by the day they become usable, ignoring past-dated ones."""
    by_day: dict[date, list[float]] = {}
    for r in receipts:
        if r.date >= as_of:
            by_day.setdefault(r.date + timedelta(days=lead_days), []).append(r.qty)
    return {day: fsum(qtys) for day, qtys in by_day.items()}


def build_supply(on_hand: float, usable: Mapping[date, float], as_of: date) -> SupplyCurve:
    """Build the supply step curve from on-hand stock and usable receipts."""
    level = on_hand + fsum(q for day, q in usable.items() if day <= as_of)
    dates, levels, reach = [as_of], [level], [level]
    for day in sorted(d for d in usable if d > as_of):
        level += usable[day]
        dates.append(day)
        levels.append(level)
        reach.append(max(reach[-1], level))
    return SupplyCurve(dates, levels, reach)


def next_receipt(receipts: Iterable[Receipt], as_of: date) -> tuple[date, float] | None:
    """Return the earliest receipt date on or after as_of and its total quantity."""
    upcoming = [r for r in receipts if r.date >= as_of]
    if not upcoming:
        return None
    first = min(r.date for r in upcoming)
    return first, fsum(r.qty for r in upcoming if r.date == first)


def naive_utc(moment: datetime) -> datetime:
    """Make a datetime comparable: aware ones become naive UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def queue_key(row: Demand) -> tuple:
    """Return the queue key: ship date, priority desc, created_at (nulls last), number."""
    return (
        row.ship_date is None,
        row.ship_date or date.min,
        -row.priority,
        row.created_at is None,
        naive_utc(row.created_at) if row.created_at else datetime.min,
        row.order,
    )


def demand_queue(demand: Iterable[Demand]) -> list[tuple[Demand, float]]:
    """Merge lines per order into (representative row, summed qty), sorted by queue key."""
    by_order: dict[str, list[Demand]] = {}
    for row in demand:
        by_order.setdefault(row.order, []).append(row)
    heads = [
        (rows[0] if len(rows) == 1 else min(rows, key=queue_key), fsum(r.qty for r in rows))
        for rows in by_order.values()
    ]
    return sorted(heads, key=lambda head: queue_key(head[0]))


def queue_entry(qty: float, ahead: float, need_on: date, supply: SupplyCurve) -> Entry:
    """Compute coverage, status and shortfall of one queue entry."""
    need = ahead + qty
    covered = supply.coverage_date(need)
    at_need = supply.at(need_on)
    status = "unavailable" if covered is None else "available" if covered <= need_on else "late"
    gap = need - at_need
    shortfall = min(qty, gap) if gap > tolerance(need) else 0.0
    return Entry(qty, ahead, need, need_on, covered, status, shortfall, at_need)


def project_stock(
    supply: SupplyCurve, scheduled: list[tuple[date, float]], as_of: date
) -> list[tuple[date, float]]:
    """Project S(d) minus scheduled demand due by d, for as_of .. as_of+7."""
    scheduled = sorted(scheduled, key=lambda item: item[0])
    due_dates = [day for day, _ in scheduled]
    due_totals = list(accumulate(qty for _, qty in scheduled))
    projection = []
    for offset in range(PROJECTION_DAYS):
        day = as_of + timedelta(days=offset)
        count = bisect_right(due_dates, day)
        projection.append((day, supply.at(day) - (due_totals[count - 1] if count else 0.0)))
    return projection


def analyze_product(data: ProductData, as_of: date, lead_days: int) -> ProductResult:
    """Analyze one canonical product: queue entries, projection and next receipt."""
    supply = build_supply(data.on_hand, usable_receipts(data.receipts, as_of, lead_days), as_of)
    entries: dict[str, Entry] = {}
    scheduled: list[tuple[date, float]] = []
    ahead = 0.0
    for row, qty in demand_queue(data.demand):
        need_on = max(row.ship_date or as_of, as_of)  # n
        entries[row.order] = queue_entry(qty, ahead, need_on, supply)
        if row.ship_date is not None:
            scheduled.append((need_on, qty))
        ahead += qty
    projection = project_stock(supply, scheduled, as_of)
    return ProductResult(
        code=data.code,
        name=data.name,
        codes=tuple(data.codes) or (data.code,),
        on_hand=data.on_hand,
        entries=entries,
        projection=projection,
        min_projected=min(stock for _, stock in projection),
        next_receipt=next_receipt(data.receipts, as_of),
    )


def qty3(value: float) -> float:
    """Round a quantity to 3 decimals (no negative zero)."""
    return round(value, 3) + 0.0


def money2(value: float) -> float:
    """Round money (or a percentage) to 2 decimals (no negative zero)."""
    return round(value, 2) + 0.0


def iso(day: date | None) -> str | None:
    """Format a date as ISO, keeping None."""
    return day.isoformat() if day is not None else None


def merge_lines(
    lines: Iterable[OrderLine], products: Mapping[str, ProductResult]
) -> dict[str, tuple[list[float], list[float]]]:
    """Group an order's lines by canonical product into (quantities, values)."""
    merged: dict[str, tuple[list[float], list[float]]] = {}
    for line in lines:
        known = products.get(line.product)
        code = known.code if known is not None else line.product
        qtys, values = merged.setdefault(code, ([], []))
        qtys.append(line.qty)
        values.append(line.qty * line.unit_price)
    return merged


def unknown_line(code: str, qty: float) -> dict:
    """Describe a line whose product is unknown."""
    return {
        "name": None,
        "codes": [code],
        "status": "unavailable",
        "available_on": None,
        "shortfall": qty3(qty),
        "on_hand": 0.0,
        "queue_ahead": 0.0,
        "supply_at_need": 0.0,
        "unknown_product": True,
        "next_receipt": None,
        "projection": [],
        "min_projected": None,
    }


def known_line(number: str, product: ProductResult) -> dict:
    """Describe a line of a known product from its queue entry."""
    entry = product.entries.get(number)
    if entry is None:
        raise ValueError(f"order {number} is not in the demand of product {product.code}")
    receipt = product.next_receipt
    return {
        "name": product.name,
        "codes": list(product.codes),
        "status": entry.status,
        "available_on": iso(entry.coverage_date),
        "shortfall": qty3(entry.shortfall),
        "on_hand": qty3(product.on_hand),
        "queue_ahead": qty3(entry.queue_ahead),
        "supply_at_need": qty3(entry.supply_at_need),
        "unknown_product": False,
        "next_receipt": {"date": iso(receipt[0]), "qty": qty3(receipt[1])} if receipt else None,
        "projection": [{"date": day, "stock": s} for day, s in product.rounded_projection],
        "min_projected": qty3(product.min_projected),
    }


def line_ready_date(number: str, status: str, product: ProductResult | None) -> date | None:
    """Return when a line is ready: its need date if available, else its coverage date."""
    if product is None or status == "unavailable":
        return None
    entry = product.entries[number]
    return entry.need_date if status == "available" else entry.coverage_date


def order_status(statuses: list[str]) -> str:
    """Return ok (all available), short (none available) or partial."""
    available = statuses.count("available")
    return "ok" if available == len(statuses) else "partial" if available else "short"


def criticality(status: str, statuses: list[str], pct: float) -> str:
    """Rate how critical an order's shortage is."""
    if status in ("ok", "not_found"):
        return "none"
    if "unavailable" in statuses:
        return "critical"
    if pct < 50:
        return "high"
    return "medium" if pct < 90 else "low"


def not_found(as_of: date) -> dict:
    """Return the analysis of an unknown order or one without open lines."""
    return {
        "status": "not_found",
        "as_of": as_of.isoformat(),
        "total_value": 0.0,
        "available_value": 0.0,
        "availability_pct": 0.0,
        "ready_date": None,
        "criticality": "none",
        "lines": [],
    }


def analyze_order(
    number: str, order: Order | None, products: Mapping[str, ProductResult], as_of: date
) -> dict:
    """Compose the JSON-ready analysis of one order from analyzed products."""
    if order is None or not order.lines:
        return not_found(as_of)
    lines, values, ready = [], [], []
    for code, (qtys, line_values) in merge_lines(order.lines, products).items():
        qty, value = fsum(qtys), fsum(line_values)
        product = products.get(code)
        detail = known_line(number, product) if product else unknown_line(code, qty)
        ready.append(line_ready_date(number, detail["status"], product))
        values.append(value)
        lines.append(
            {
                "product": code,
                "name": detail.pop("name"),
                "codes": detail.pop("codes"),
                "qty": qty3(qty),
                "unit_price": money2(value / qty) if qty else 0.0,
                "value": money2(value),
                **detail,
            }
        )
    statuses = [line["status"] for line in lines]
    total = fsum(values)
    available = fsum(v for v, s in zip(values, statuses, strict=True) if s == "available")
    if total > 0:
        pct = money2(available / total * 100)
    else:
        pct = money2(statuses.count("available") / len(statuses) * 100)
    status = order_status(statuses)
    return {
        "status": status,
        "as_of": as_of.isoformat(),
        "total_value": money2(total),
        "available_value": money2(available),
        "availability_pct": pct,
        "ready_date": None if None in ready else iso(max(ready)),
        "criticality": criticality(status, statuses, pct),
        "lines": lines,
    }


def analyze_orders(
    products: Iterable[ProductData],
    orders: Iterable[Order],
    numbers: Iterable[str],
    as_of: date,
    lead_days: int,
) -> dict[str, dict]:
    """Analyze each product once, then each requested order (missing ones: not_found)."""
    by_code: dict[str, ProductResult] = {}
    for data in products:
        result = analyze_product(data, as_of, lead_days)
        for code in result.codes:
            by_code.setdefault(code, result)
        by_code[result.code] = result
    by_number = {order.number: order for order in orders}
    return {n: analyze_order(n, by_number.get(n), by_code, as_of) for n in numbers}
