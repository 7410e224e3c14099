"""Bulk loads of integrator data: validated whole, written atomically, a few queries per load.

Referential rules (decided where DESIGN.md is silent, see docs/decisions.md):
stock, receipts, sales and supplier offers must name a known product or alias;
order lines may name an unknown product (the analysis reports it).
"""

from collections import Counter as Tally
from collections.abc import Callable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api import schemas
from api.errors import ApiError
from jobs.constants import COUNTER_DATA_VERSION
from jobs.ledger import IN_CHUNK, bump_counter, chunked
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

WRITE_CHUNK = 2000


def upsert(session: Session, model, rows: list[dict], keys: Sequence[str]) -> None:
    """Insert rows, updating the non-key columns of rows whose keys exist."""
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    for part in chunked(rows, WRITE_CHUNK):
        stmt = dialect.insert(model)
        updates = {c: stmt.excluded[c] for c in part[0] if c not in keys}
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
        session.execute(stmt, list(part))


def _existing(session: Session, column, values: set[str]) -> set[str]:
    """Return which of `values` exist in `column`."""
    found: set[str] = set()
    for part in chunked(sorted(values), IN_CHUNK):
        found.update(session.scalars(select(column).where(column.in_(part))))
    return found


def _duplicates(items: list[dict], key: Callable[[dict], tuple]) -> dict:
    """Return per-row errors for rows whose key repeats an earlier row."""
    seen: dict[tuple, int] = {}
    errors = {}
    for i, item in enumerate(items):
        k = key(item)
        if k in seen:
            errors[i] = {"_key": [f"duplicate of row {seen[k]}"]}
        else:
            seen[k] = i
    return errors


def _require_products(session: Session, items: list[dict]) -> dict:
    """Return per-row errors for rows naming an unknown product or alias."""
    codes = {item["product"] for item in items}
    known = _existing(session, Product.code, codes) | _existing(session, ProductAlias.alias, codes)
    return {
        i: {"product": [f"unknown product '{item['product']}'"]}
        for i, item in enumerate(items)
        if item["product"] not in known
    }


def _alias_owners(session: Session, codes: set[str]) -> dict[str, str]:
    """Return alias → product for the given codes that are stored aliases."""
    owners: dict[str, str] = {}
    for part in chunked(sorted(codes), IN_CHUNK):
        owners.update(
            session.execute(
                select(ProductAlias.alias, ProductAlias.product_code).where(
                    ProductAlias.alias.in_(part)
                )
            ).all()
        )
    return owners


def _check_products(session: Session, items: list[dict]) -> dict:
    """Return per-row errors for codes and aliases that break the alias rules."""
    codes = {item["code"] for item in items}
    uses = Tally(a for item in items for a in item["aliases"])
    product_codes = codes | _existing(session, Product.code, set(uses))
    owners = _alias_owners(session, set(uses) | codes)
    errors: dict[int, dict] = {}
    for i, item in enumerate(items):
        code, problems = item["code"], []
        if owners.get(code) not in (None, *codes):
            problems.append(f"'{code}' is already an alias of '{owners[code]}'")
        for alias in item["aliases"]:
            owner = owners.get(alias)
            if alias == code:
                problems.append(f"alias '{alias}' points at the product itself")
            elif alias in product_codes:
                problems.append(f"alias '{alias}' is a product code (an alias of an alias)")
            elif uses[alias] > 1:
                problems.append(f"alias '{alias}' is given to more than one product")
            elif owner is not None and owner != code and owner not in codes:
                problems.append(f"alias '{alias}' already belongs to '{owner}'")
        if problems:
            errors[i] = {"aliases": problems}
    return errors


def _write_products(session: Session, items: list[dict]) -> None:
    upsert(session, Product, [{k: p[k] for k in ("code", "name", "unit")} for p in items], ["code"])
    codes = [p["code"] for p in items]
    for part in chunked(codes, IN_CHUNK):
        session.execute(delete(ProductAlias).where(ProductAlias.product_code.in_(part)))
    alias_rows = [{"alias": a, "product_code": p["code"]} for p in items for a in p["aliases"]]
    upsert(session, ProductAlias, alias_rows, ["alias"])


def _write_orders(session: Session, items: list[dict]) -> None:
    heads = [
        {k: o[k] for k in ("number", "customer", "ship_date", "priority", "created_at", "status")}
        for o in items
    ]
    upsert(session, Order, heads, ["number"])
    for part in chunked([o["number"] for o in items], IN_CHUNK):
        session.execute(delete(OrderLine).where(OrderLine.order_number.in_(part)))
    lines = [
        {
            "order_number": o["number"],
            "line_no": n,
            "product_code": line["product"],
            "qty": line["qty"],
            "unit_price": line["unit_price"],
        }
        for o in items
        for n, line in enumerate(o["lines"], start=1)
    ]
    for part in chunked(lines, WRITE_CHUNK):
        session.execute(OrderLine.__table__.insert(), list(part))


def _simple_writer(model, keys: Sequence[str], rename: dict[str, str]):
    """Return a writer that upserts items after renaming payload keys to columns."""

    def write(session: Session, items: list[dict]) -> None:
        rows = [{rename.get(k, k): v for k, v in item.items()} for item in items]
        upsert(session, model, rows, keys)

    return write


PRODUCT = {"product": "product_code"}

KINDS: dict[str, dict] = {
    "products": {
        "schema": schemas.ProductSchema,
        "key": lambda p: (p["code"],),
        "check": _check_products,
        "write": _write_products,
    },
    "stock": {
        "schema": schemas.StockSchema,
        "key": lambda s: (s["product"],),
        "check": _require_products,
        "write": _simple_writer(Stock, ["product_code"], PRODUCT),
    },
    "receipts": {
        "schema": schemas.ReceiptSchema,
        "key": lambda r: (r["id"],),
        "check": _require_products,
        "write": _simple_writer(Receipt, ["id"], PRODUCT),
    },
    "orders": {
        "schema": schemas.OrderSchema,
        "key": lambda o: (o["number"],),
        "check": None,
        "write": _write_orders,
    },
    "sales": {
        "schema": schemas.SaleSchema,
        "key": lambda s: (s["product"], s["date"]),
        "check": _require_products,
        "write": _simple_writer(Sale, ["product_code", "date"], PRODUCT),
    },
    "supplier-offers": {
        "schema": schemas.SupplierOfferSchema,
        "key": lambda o: (o["supplier"], o["product"]),
        "check": _require_products,
        "write": _simple_writer(SupplierOffer, ["supplier", "product_code"], PRODUCT),
    },
}


def validate(session: Session, kind: str, payload) -> list[dict]:
    """Validate a whole payload; raise a 422 ApiError listing every bad row."""
    spec = KINDS[kind]
    if not isinstance(payload, list):
        raise ApiError(422, "The body must be a JSON list.", {"_schema": ["expected a list"]})
    items = spec["schema"](many=True).load(payload)
    errors = _duplicates(items, spec["key"])
    if spec["check"]:
        for i, err in spec["check"](session, items).items():
            errors.setdefault(i, {}).update(err)
    if errors:
        raise ApiError(
            422,
            f"{len(errors)} row(s) of {kind} are invalid; nothing was loaded.",
            {str(i): e for i, e in sorted(errors.items())},
        )
    return items


def load(session: Session, kind: str, payload) -> dict:
    """Validate and write one kind of data in the session's transaction; bump the data version."""
    items = validate(session, kind, payload)
    KINDS[kind]["write"](session, items)
    version = bump_counter(session, COUNTER_DATA_VERSION)
    return {"kind": kind, "count": len(items), "data_version": version}


def delete_order(session: Session, number: str) -> int:
    """Delete an order and its lines; return the new data version."""
    order = session.get(Order, number)
    if order is None:
        raise ApiError(404, f"Order '{number}' does not exist.")
    session.delete(order)
    return bump_counter(session, COUNTER_DATA_VERSION)
