"""Read the data an analysis needs, in a constant number of queries per call.

Per-product work is cached per process, keyed by (data version, as_of, lead
days): any data change bumps the version, so a cached entry is never stale.
"""

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from threading import Lock

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs import atp, purchase
from jobs.ledger import IN_CHUNK, chunked, data_version
from jobs.models import (
    Order,
    OrderLine,
    Product,
    ProductAlias,
    Receipt,
    Sale,
    Stock,
    SupplierOffer,
)

HISTORY_DAYS = 90


def load_aliases(session: Session) -> dict[str, str]:
    """Return alias code → canonical code."""
    return dict(session.execute(select(ProductAlias.alias, ProductAlias.product_code)).all())


def codes_of(canonical: Iterable[str], aliases: dict[str, str]) -> dict[str, list[str]]:
    """Return canonical code → [canonical, *aliases]."""
    codes = {code: [code] for code in canonical}
    for alias, code in sorted(aliases.items()):
        if code in codes:
            codes[code].append(alias)
    return codes


def _in(column, values: Sequence[str], stmt_for):
    """Run `stmt_for(column.in_(part))` over slices of values and chain the rows."""
    for part in chunked(list(values), IN_CHUNK):
        yield from stmt_for(column.in_(part))


def load_orders(session: Session, numbers: Sequence[str], aliases: dict[str, str]):
    """Return number → atp.Order for open orders with open lines (others are absent)."""
    lines: dict[str, list[atp.OrderLine]] = {}
    heads: dict[str, Order] = {}

    def query(cond):
        return session.execute(
            select(
                Order.number,
                Order.ship_date,
                OrderLine.product_code,
                OrderLine.qty,
                OrderLine.unit_price,
            )
            .join(OrderLine, OrderLine.order_number == Order.number)
            .where(cond, Order.status == "open")
            .order_by(Order.number, OrderLine.line_no)
        )

    for number, ship_date, code, qty, price in _in(Order.number, numbers, query):
        heads[number] = ship_date
        lines.setdefault(number, []).append(
            atp.OrderLine(product=aliases.get(code, code), qty=qty, unit_price=price)
        )
    return {
        number: atp.Order(number=number, ship_date=heads[number], lines=tuple(order_lines))
        for number, order_lines in lines.items()
    }


def order_heads(session: Session, numbers: Iterable[str]) -> dict[str, tuple]:
    """Return number → (ship_date, priority, created_at) of the open orders among `numbers`."""
    return {
        number: (ship, priority, created)
        for number, ship, priority, created in _in(
            Order.number,
            sorted(numbers),
            lambda c: session.execute(
                select(Order.number, Order.ship_date, Order.priority, Order.created_at).where(
                    c, Order.status == "open"
                )
            ),
        )
    }


def load_product_data(
    session: Session, canonical: Sequence[str], aliases: dict[str, str], as_of: date
) -> dict[str, atp.ProductData]:
    """Return canonical code → atp.ProductData for the known products among `canonical`."""
    info = {
        code: (name, unit)
        for code, name, unit in _in(
            Product.code,
            canonical,
            lambda c: session.execute(select(Product.code, Product.name, Product.unit).where(c)),
        )
    }
    codes = codes_of(info, aliases)
    all_codes = [c for group in codes.values() for c in group]
    on_hand: dict[str, float] = dict.fromkeys(info, 0.0)
    for code, qty in _in(
        Stock.product_code,
        all_codes,
        lambda c: session.execute(select(Stock.product_code, Stock.on_hand).where(c)),
    ):
        on_hand[aliases.get(code, code)] += qty
    receipts: dict[str, list[atp.Receipt]] = {code: [] for code in info}
    for code, day, qty in _in(
        Receipt.product_code,
        all_codes,
        lambda c: session.execute(
            select(Receipt.product_code, Receipt.date, Receipt.qty).where(c, Receipt.date >= as_of)
        ),
    ):
        receipts[aliases.get(code, code)].append(atp.Receipt(date=day, qty=qty))
    demand: dict[str, list[atp.Demand]] = {code: [] for code in info}
    # Two index lookups rather than one join: without planner statistics (a freshly loaded
    # book) PostgreSQL planned the join as a nested loop over every order (0.5 s a query).
    lines = list(
        _in(
            OrderLine.product_code,
            all_codes,
            lambda c: session.execute(
                select(OrderLine.product_code, OrderLine.order_number, OrderLine.qty).where(c)
            ),
        )
    )
    heads = order_heads(session, {number for _, number, _ in lines})
    for code, number, qty in lines:
        head = heads.get(number)
        if head is not None:  # open orders only
            ship, priority, created = head
            demand[aliases.get(code, code)].append(
                atp.Demand(
                    order=number, ship_date=ship, priority=priority, created_at=created, qty=qty
                )
            )
    return {
        code: atp.ProductData(
            code=code,
            name=name,
            unit=unit,
            codes=tuple(codes[code]),
            on_hand=on_hand[code],
            receipts=tuple(receipts[code]),
            demand=tuple(demand[code]),
        )
        for code, (name, unit) in info.items()
    }


class ProductCache:
    """A small per-process LRU of analysed products, one slot per (version, as_of, lead days)."""

    def __init__(self, slots: int = 4):
        self._slots: OrderedDict[tuple, dict[str, atp.ProductResult | None]] = OrderedDict()
        self._aliases: OrderedDict[int, dict[str, str]] = OrderedDict()
        self._size = slots
        self._lock = Lock()

    def aliases(self, session: Session, version: int) -> dict[str, str]:
        """Return the alias map for this data version."""
        with self._lock:
            if version in self._aliases:
                return self._aliases[version]
        found = load_aliases(session)
        with self._lock:
            self._aliases[version] = found
            while len(self._aliases) > self._size:
                self._aliases.popitem(last=False)
        return found

    def slot(self, key: tuple) -> dict[str, atp.ProductResult | None]:
        """Return the product map for a key, creating it (and evicting the oldest) if needed."""
        with self._lock:
            if key not in self._slots:
                self._slots[key] = {}
                while len(self._slots) > self._size:
                    self._slots.popitem(last=False)
            self._slots.move_to_end(key)
            return self._slots[key]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._slots.clear()
            self._aliases.clear()


CACHE = ProductCache()


def analyze_numbers(
    session: Session,
    numbers: Sequence[str],
    as_of: date,
    lead_days: int,
    cache: ProductCache = CACHE,
) -> tuple[int, dict[str, atp.Order], dict[str, atp.ProductResult]]:
    """Load what `numbers` need and analyse their products; return version, orders, products."""
    version = data_version(session)
    aliases = cache.aliases(session, version)
    orders = load_orders(session, numbers, aliases)
    wanted = {line.product for order in orders.values() for line in order.lines}
    slot = cache.slot((version, as_of, lead_days))
    missing = sorted(code for code in wanted if code not in slot)
    if missing:
        data = load_product_data(session, missing, aliases, as_of)
        computed = {code: atp.analyze_product(d, as_of, lead_days) for code, d in data.items()}
        for code in missing:
            slot[code] = computed.get(code)
    products = {code: slot[code] for code in wanted if slot.get(code) is not None}
    return version, orders, products


def load_purchase_input(
    session: Session, code: str, as_of: date, lead_days: int
) -> purchase.PurchaseInput | None:
    """Return the purchase engine's input for a canonical product, or None if unknown."""
    aliases = load_aliases(session)
    code = aliases.get(code, code)
    product = session.get(Product, code)
    if product is None:
        return None
    data = load_product_data(session, [code], aliases, as_of)[code]
    all_codes = list(data.codes)
    sales: dict[date, float] = {}
    for day, qty in session.execute(
        select(Sale.date, Sale.qty).where(
            Sale.product_code.in_(all_codes),
            Sale.date >= as_of - timedelta(days=HISTORY_DAYS),
            Sale.date < as_of,
        )
    ):
        sales[day] = sales.get(day, 0.0) + qty
    offers = tuple(
        purchase.Offer(
            supplier=o.supplier,
            unit_price=o.unit_price,
            lead_time_days=o.lead_time_days,
            min_qty=o.min_qty,
            multiple=o.multiple,
        )
        for o in session.scalars(
            select(SupplierOffer).where(SupplierOffer.product_code.in_(all_codes))
        )
    )
    return purchase.PurchaseInput(
        code=code,
        name=product.name,
        unit=product.unit,
        as_of=as_of,
        sales=sales,
        on_hand=data.on_hand,
        receipts=tuple((r.date, r.qty) for r in data.receipts),
        demand=tuple((d.ship_date, d.qty) for d in data.demand),
        offers=offers,
        lead_days=lead_days,
    )
