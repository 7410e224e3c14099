"""Properties of the bulk loaders (PUT /api/v1/<kind>) under random valid and invalid payloads.

For every kind, on SQLite and on PostgreSQL (a private, throwaway database on the test server):
- never a 5xx, and every refusal in the one error shape;
- a refused load (400/413/422) changes nothing, not even the data version;
- an accepted load (200) bumps the data version by one, and reading the tables back gives
  exactly the state before with the payload upserted into it (lines of an order, aliases of
  a product replaced; every other row untouched);
- a payload built only from valid values with distinct keys and known products is accepted.
"""

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text

from api.extensions import db
from jobs import ledger
from jobs.models import Order, OrderLine, Product, ProductAlias, Receipt, Sale, Stock, SupplierOffer
from tests.conftest import PG_SKIP, PG_URL

KINDS = ("products", "stock", "receipts", "orders", "sales", "supplier-offers")
SEED_PRODUCTS = [
    {"code": "P1", "name": "Prod 1", "aliases": ["A1"]},
    {"code": "P2", "name": "Prod 2", "unit": "kg"},
    {"code": "P3", "name": "Prod 3"},
]
KNOWN = ["P1", "P2", "P3", "A1"]  # products and an alias that the seed loads
PRODUCT_CODES = ["P1", "P2", "P3", "P4", "P5"]  # codes a products payload may use
ALIASES = ["A1", "A2", "A3", "A4"]  # aliases a products payload may hand out
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- strategies -----------------------------------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# Text that breaks things: empty, too long, NUL bytes, surrogates are not valid JSON strings.
ODD_TEXT = st.one_of(
    st.sampled_from(["\x00", "P1\x00", "", " P1", "p1", "P1 ", "é", "🙂", "' OR 1=1 --"]),
    st.text(min_size=65, max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
)


def maybe(valid: st.SearchStrategy, junk: st.SearchStrategy = JUNK, clean: bool = False):
    """Mostly `valid`, sometimes junk (never junk when clean)."""
    if clean:
        return valid
    return st.integers(0, 5).flatmap(lambda i: junk if i == 0 else valid)


def code_from(pool: list[str], clean: bool = False):
    """A code from a pool (or, in wild payloads, sometimes odd text)."""
    return maybe(st.sampled_from(pool), st.one_of(ODD_TEXT, JUNK), clean)


def day(clean: bool = False):
    """An ISO date (or junk)."""
    valid = st.dates(date(2020, 1, 1), date(2030, 12, 31)).map(date.isoformat)
    return maybe(valid, st.one_of(st.sampled_from(["2026-02-30", "03/02/2026", ""]), JUNK), clean)


def number(min_value=None, max_value=None, clean: bool = False, exclude_min=False):
    """A JSON number in range (or junk, including out-of-range numbers, NaN and infinities)."""
    valid = st.one_of(
        st.floats(
            min_value=min_value,
            max_value=max_value,
            exclude_min=exclude_min,
            allow_nan=False,
            allow_infinity=False,
        ),
        st.integers(
            min_value=None if min_value is None else int(min_value) + (1 if exclude_min else 0),
            max_value=None if max_value is None else int(max_value),
        ),
    )
    return maybe(valid, JUNK, clean)


def text_value(max_size: int, clean: bool = False, min_size: int = 0):
    """A free-text field."""
    valid = st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
        min_size=min_size,
        max_size=max_size,
    )
    return maybe(valid, st.one_of(ODD_TEXT, JUNK), clean)


def item(fields: dict[str, st.SearchStrategy], optional: set[str], clean: bool):
    """A JSON object from per-field strategies; wild ones may drop or add keys."""
    required = {k: v for k, v in fields.items() if k not in optional}
    opt = {k: v for k, v in fields.items() if k in optional}
    base = st.fixed_dictionaries(required, optional=opt)
    if clean:
        return base
    extra = st.dictionaries(st.sampled_from(["extra", "id2", "Code"]), JUNK, max_size=1)
    return st.tuples(base, extra, st.sets(st.sampled_from(sorted(fields)), max_size=1)).map(
        lambda t: {k: v for k, v in {**t[0], **t[1]}.items() if k not in t[2]}
    )


def kind_item(kind: str, clean: bool):
    """One item of a kind: all valid values (clean) or mostly valid (wild)."""
    c = clean
    known = code_from(KNOWN, c)
    if kind == "products":
        aliases = st.just([]) if c else st.lists(code_from(ALIASES), max_size=3)
        return item(
            {
                "code": code_from(PRODUCT_CODES, c),
                "name": text_value(255, c, min_size=1),
                "unit": maybe(st.sampled_from(["un", "kg", "cx", "fd"]), ODD_TEXT, c),
                "aliases": aliases,
            },
            {"unit", "aliases"},
            c,
        )
    if kind == "stock":
        return item({"product": known, "on_hand": number(-1e9, 1e9, c)}, set(), c)
    if kind == "receipts":
        return item(
            {
                "id": code_from([f"R{i}" for i in range(6)], c),
                "product": known,
                "date": day(c),
                "qty": number(0, 1e9, c, exclude_min=True),
                "kind": maybe(st.sampled_from(["production", "purchase"]), ODD_TEXT, c),
            },
            set(),
            c,
        )
    if kind == "orders":
        line = item(
            {
                "product": code_from([*KNOWN, "UNKNOWN"], c),
                "qty": number(0, 1e9, c, exclude_min=True),
                "unit_price": number(0, 1e6, c),
            },
            {"unit_price"},
            c,
        )
        moment = st.datetimes(
            datetime(2020, 1, 1),
            datetime(2030, 1, 1),
            timezones=st.sampled_from([None, UTC, timezone_minus3()]),
        ).map(datetime.isoformat)
        return item(
            {
                "number": code_from([f"O{i}" for i in range(6)], c),
                "customer": text_value(255, c),
                "ship_date": st.one_of(st.none(), day(c)),
                "priority": maybe(st.integers(-1000, 1000), JUNK, c),
                "created_at": st.one_of(st.none(), maybe(moment, JUNK, c)),
                "status": maybe(st.sampled_from(["open", "closed"]), ODD_TEXT, c),
                "lines": st.lists(line, max_size=4) if c else maybe(st.lists(line, max_size=4)),
            },
            {"customer", "ship_date", "priority", "created_at", "status", "lines"},
            c,
        )
    if kind == "sales":
        return item({"product": known, "date": day(c), "qty": number(0, 1e6, c)}, set(), c)
    return item(
        {
            "supplier": code_from(["S1", "S2", "S3"], c),
            "product": known,
            "unit_price": number(0, 1e6, c, exclude_min=True),
            "lead_time_days": maybe(st.integers(0, 3650), JUNK, c),
            "min_qty": number(0, 1e6, c),
            "multiple": number(0, 1e6, c, exclude_min=True),
        },
        {"min_qty", "multiple"},
        c,
    )


def timezone_minus3():
    """A fixed UTC-3 offset (São Paulo without DST)."""
    from datetime import timezone

    return timezone(timedelta(hours=-3))


KEYS = {
    "products": lambda i: i["code"],
    "stock": lambda i: i["product"],
    "receipts": lambda i: i["id"],
    "orders": lambda i: i["number"],
    "sales": lambda i: (i["product"], i["date"]),
    "supplier-offers": lambda i: (i["supplier"], i["product"]),
}


TEMPLATES = {
    "products": {"code": "P4", "name": "Prod 4", "unit": "un", "aliases": ["A2"]},
    "stock": {"product": "P1", "on_hand": 5},
    "receipts": {"id": "R1", "product": "A1", "date": "2026-03-04", "qty": 5, "kind": "purchase"},
    "orders": {
        "number": "O1",
        "customer": "C",
        "ship_date": "2026-03-03",
        "created_at": "2026-03-01T10:00:00-03:00",
        "lines": [{"product": "P2", "qty": 1.5, "unit_price": 2}],
    },
    "sales": {"product": "P3", "date": "2026-03-01", "qty": 2},
    "supplier-offers": {"supplier": "S1", "product": "P1", "unit_price": 1, "lead_time_days": 3},
}


def fixed_examples(kind: str) -> list[tuple[bool, bytes]]:
    """The template (valid), then the template with a NUL byte or an overflow in each field."""
    template = TEMPLATES[kind]
    cases = [(True, [template])]
    for key, value in template.items():
        if isinstance(value, str):
            cases.append((False, [{**template, key: value + "\x00"}]))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            cases.append((False, [{**template, key: 10**400}]))
    if kind == "orders":
        line = template["lines"][0]
        for key, value in line.items():
            bad = value + "\x00" if isinstance(value, str) else 10**400
            cases.append((False, [{**template, "lines": [{**line, key: bad}]}]))
    return [(clean, json.dumps(body).encode()) for clean, body in cases]


def payloads(kind: str):
    """(clean, body bytes): a clean list, a wild list, or a body that is not a list at all."""
    clean = st.lists(kind_item(kind, True), max_size=5, unique_by=KEYS[kind])
    wild = st.lists(kind_item(kind, False), max_size=5)
    not_a_list = st.one_of(JUNK, kind_item(kind, False))
    as_json = st.one_of(
        clean.map(lambda body: (True, body)),
        wild.map(lambda body: (False, body)),
        not_a_list.map(lambda body: (False, body)),
    ).map(lambda pair: (pair[0], json.dumps(pair[1]).encode()))
    broken = st.sampled_from([b"", b"   ", b"[", b"{]", b"[1,]", b"\xff\xfe", b"null"])
    return st.one_of(as_json, as_json, as_json, broken.map(lambda raw: (False, raw)))


# --- the database as the loaders left it ---------------------------------------------------


def naive_utc(moment: datetime | None) -> datetime | None:
    """Compare datetimes as naive UTC."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def snapshot(app) -> dict:
    """Read every loaded table into plain dicts keyed like the loaders key them."""
    with app.app_context():
        s = db.session
        state = {
            "version": ledger.data_version(s),
            "products": {p.code: (p.name, p.unit) for p in s.scalars(select(Product))},
            "aliases": {a.alias: a.product_code for a in s.scalars(select(ProductAlias))},
            "stock": {x.product_code: x.on_hand for x in s.scalars(select(Stock))},
            "receipts": {
                r.id: (r.product_code, r.date, r.qty, r.kind) for r in s.scalars(select(Receipt))
            },
            "orders": {
                o.number: (o.customer, o.ship_date, o.priority, naive_utc(o.created_at), o.status)
                for o in s.scalars(select(Order))
            },
            "lines": {
                (ln.order_number, ln.line_no): (ln.product_code, ln.qty, ln.unit_price)
                for ln in s.scalars(select(OrderLine))
            },
            "sales": {(x.product_code, x.date): x.qty for x in s.scalars(select(Sale))},
            "supplier-offers": {
                (o.supplier, o.product_code): (
                    o.unit_price,
                    o.lead_time_days,
                    o.min_qty,
                    o.multiple,
                )
                for o in s.scalars(select(SupplierOffer))
            },
        }
        s.rollback()
        return state


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def upserted(before: dict, kind: str, items: list[dict]) -> dict:
    """Return the state a load of `items` must leave: `before` with the items upserted."""
    after = {k: dict(v) if isinstance(v, dict) else v for k, v in before.items()}
    after["version"] = before["version"] + 1
    if kind == "products":
        codes = {p["code"] for p in items}
        for p in items:
            after["products"][p["code"]] = (p["name"], p.get("unit", "un"))
        after["aliases"] = {a: c for a, c in after["aliases"].items() if c not in codes}
        after["aliases"].update({a: p["code"] for p in items for a in p.get("aliases", [])})
    elif kind == "stock":
        after["stock"].update({s["product"]: float(s["on_hand"]) for s in items})
    elif kind == "receipts":
        after["receipts"].update(
            {r["id"]: (r["product"], _day(r["date"]), float(r["qty"]), r["kind"]) for r in items}
        )
    elif kind == "orders":
        numbers = {o["number"] for o in items}
        after["lines"] = {k: v for k, v in after["lines"].items() if k[0] not in numbers}
        for o in items:
            created = o.get("created_at")
            after["orders"][o["number"]] = (
                o.get("customer", ""),
                _day(o.get("ship_date")),
                o.get("priority", 0),
                naive_utc(datetime.fromisoformat(created)) if created else None,
                o.get("status", "open"),
            )
            for n, line in enumerate(o.get("lines", []), start=1):
                after["lines"][(o["number"], n)] = (
                    line["product"],
                    float(line["qty"]),
                    float(line.get("unit_price", 0.0)),
                )
    elif kind == "sales":
        after["sales"].update({(s["product"], _day(s["date"])): float(s["qty"]) for s in items})
    else:
        after["supplier-offers"].update(
            {
                (o["supplier"], o["product"]): (
                    float(o["unit_price"]),
                    o["lead_time_days"],
                    float(o.get("min_qty", 0.0)),
                    float(o.get("multiple", 1.0)),
                )
                for o in items
            }
        )
    return after


# --- backends -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def loader_url(request, tmp_path):
    """A fresh SQLite file, or a private throwaway database on the PostgreSQL test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'loader.db'}"
        return
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    name = f"ruptura_lp_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        PG_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from jobs import runtime

        runtime.get().engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("kind", KINDS)
def test_a_load_is_all_or_nothing_and_reads_back_as_sent(kind, loader_url, app_factory):
    app = app_factory(loader_url)
    client = app.test_client()
    assert client.put("/api/v1/products", json=SEED_PRODUCTS).status_code == 200
    seen = {"accepted": 0, "refused": 0}

    def load(case):
        clean, body = case
        before = snapshot(app)
        response = client.put(
            f"/api/v1/{kind}", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code < 500, response.get_data(as_text=True)
        after = snapshot(app)
        if response.status_code == 200:
            seen["accepted"] += 1
            items = json.loads(body)
            answer = response.get_json()
            assert answer == {"kind": kind, "count": len(items), "data_version": after["version"]}
            assert after == upserted(before, kind, items)
        else:
            seen["refused"] += 1
            assert not clean, f"a valid payload was refused: {response.get_data(as_text=True)}"
            assert response.status_code in (400, 413, 422)
            error = response.get_json()["error"]
            assert set(error) == {"code", "message", "details"} and error["message"]
            assert after == before

    run = given(payloads(kind))(load)
    for case in fixed_examples(kind):
        run = example(case)(run)
    SETTINGS(run)()
    assert seen["accepted"] and seen["refused"], seen
