"""Loading data through the bulk PUT endpoints: good loads, and every class of bad input."""

import pytest
from sqlalchemy import func, select

from api.extensions import db
from jobs import ledger
from jobs.models import Order, OrderLine, Product, ProductAlias, Receipt, Stock
from tests.helpers import KINDS, example, load_example


def count(app, model) -> int:
    """Count rows of a table."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def version(app) -> int:
    """Return the data version."""
    with app.app_context():
        return ledger.data_version(db.session)


def snapshot(app) -> tuple:
    """Return a fingerprint of everything loaded, to prove a bad request changed nothing."""
    with app.app_context():
        s = db.session
        return (
            version(app),
            sorted((p.code, p.name, p.unit) for p in s.scalars(select(Product))),
            sorted((a.alias, a.product_code) for a in s.scalars(select(ProductAlias))),
            sorted((x.product_code, x.on_hand) for x in s.scalars(select(Stock))),
            sorted((r.id, r.qty) for r in s.scalars(select(Receipt))),
            sorted((o.number, o.customer) for o in s.scalars(select(Order))),
            sorted(
                (ln.order_number, ln.product_code, ln.qty) for ln in s.scalars(select(OrderLine))
            ),
        )


def assert_error(response, status: int, code: str):
    """Check the one error shape."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_worked_example_loads_and_bumps_version(app, client):
    load_example(client)
    assert count(app, Product) == 2
    assert count(app, Order) == 5
    assert count(app, OrderLine) == 6
    assert version(app) == len(KINDS)


def test_upsert_replaces_order_lines_and_updates_rows(app, client):
    load_example(client)
    change = [{"number": "O2", "customer": "New", "lines": [{"product": "A", "qty": 1}]}]
    assert client.put("/api/v1/orders", json=change).status_code == 200
    with app.app_context():
        lines = db.session.scalars(select(OrderLine).where(OrderLine.order_number == "O2")).all()
        assert [(ln.product_code, ln.qty, ln.unit_price) for ln in lines] == [("A", 1.0, 0.0)]
        assert db.session.get(Order, "O2").customer == "New"
    assert count(app, Order) == 5


def test_delete_order_removes_its_demand(app, client):
    load_example(client)
    before = version(app)
    assert client.delete("/api/v1/orders/O4").status_code == 204
    assert count(app, Order) == 4
    assert version(app) == before + 1
    assert_error(client.delete("/api/v1/orders/O4"), 404, "not_found")


def test_aliases_stored_and_replaced(app, client):
    load_example(client)
    products = [{"code": "A", "name": "Prod A", "aliases": ["A-OLD", "7890001"]}]
    assert client.put("/api/v1/products", json=products).status_code == 200
    products = [{"code": "A", "name": "Prod A", "aliases": ["A-NEW"]}]
    assert client.put("/api/v1/products", json=products).status_code == 200
    with app.app_context():
        assert db.session.scalars(select(ProductAlias.alias)).all() == ["A-NEW"]
    # stock may be recorded under an alias
    assert client.put("/api/v1/stock", json=[{"product": "A-NEW", "on_hand": 3}]).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[1, 2", b"\xff\xfe"],
    ids=["broken", "empty", "truncated", "binary"],
)
def test_bad_json_is_400_and_changes_nothing(app, client, raw):
    load_example(client)
    before = snapshot(app)
    response = client.put("/api/v1/stock", data=raw, content_type="application/json")
    assert_error(response, 400, "bad_json")
    assert snapshot(app) == before


def test_body_not_a_list_is_422(app, client):
    assert_error(client.put("/api/v1/stock", json={"product": "A"}), 422, "validation_error")


def test_too_large_is_413(app_factory, backend):
    app = app_factory(backend, MAX_CONTENT_LENGTH=1000)
    client = app.test_client()
    response = client.put(
        "/api/v1/sales", json=[{"product": "A", "date": "2026-01-01", "qty": 1}] * 100
    )
    assert_error(response, 413, "too_large")


def test_invalid_fields_give_per_row_details_and_nothing_changes(app, client):
    load_example(client)
    before = snapshot(app)
    rows = [
        {"id": "R9", "product": "A", "date": "2026-03-05", "qty": 5, "kind": "purchase"},  # fine
        {"id": "R10", "product": "A", "date": "2026-02-30", "qty": 5, "kind": "purchase"},
        {"id": "R11", "product": "A", "date": "2026-03-05", "qty": 0, "kind": "purchase"},
        {"id": "R12", "product": "A", "date": "2026-03-05", "qty": -3, "kind": "gift"},
        {"product": "A", "date": "2026-03-05", "qty": 5, "kind": "purchase", "extra": 1},
    ]
    err = assert_error(client.put("/api/v1/receipts", json=rows), 422, "validation_error")
    details = err["details"]
    assert set(details) == {"1", "2", "3", "4"}
    assert "date" in details["1"]
    assert "qty" in details["2"]
    assert {"qty", "kind"} <= set(details["3"])
    assert {"id", "extra"} <= set(details["4"])
    assert snapshot(app) == before


def test_unknown_product_referenced_is_422(app, client):
    load_example(client)
    before = snapshot(app)
    rows = [{"product": "A", "on_hand": 5}, {"product": "ZZZ", "on_hand": 1}]
    err = assert_error(client.put("/api/v1/stock", json=rows), 422, "validation_error")
    assert err["details"] == {"1": {"product": ["unknown product 'ZZZ'"]}}
    sales = [{"product": "NOPE", "date": "2026-01-01", "qty": 1}]
    assert_error(client.put("/api/v1/sales", json=sales), 422, "validation_error")
    offers = [{"supplier": "S", "product": "NOPE", "unit_price": 1, "lead_time_days": 1}]
    assert_error(client.put("/api/v1/supplier-offers", json=offers), 422, "validation_error")
    assert snapshot(app) == before


def test_order_lines_may_name_unknown_products(app, client):
    rows = [{"number": "X1", "lines": [{"product": "UNKNOWN", "qty": 2, "unit_price": 1}]}]
    assert client.put("/api/v1/orders", json=rows).status_code == 200


@pytest.mark.parametrize(
    ("products", "message"),
    [
        ([{"code": "A", "name": "a", "aliases": ["A"]}], "points at the product itself"),
        ([{"code": "A", "name": "a", "aliases": ["B"]}], "is a product code"),
        (
            [
                {"code": "C", "name": "c", "aliases": ["X"]},
                {"code": "D", "name": "d", "aliases": ["X"]},
            ],
            "more than one product",
        ),
        ([{"code": "C", "name": "c", "aliases": ["A-ALIAS"]}], "already belongs to 'A'"),
        ([{"code": "A-ALIAS", "name": "c"}], "already an alias of 'A'"),
    ],
    ids=["itself", "alias-of-alias", "twice", "taken", "code-is-alias"],
)
def test_alias_rules(app, client, products, message):
    load_example(client)
    client.put("/api/v1/products", json=[{"code": "A", "name": "Prod A", "aliases": ["A-ALIAS"]}])
    before = snapshot(app)
    err = assert_error(client.put("/api/v1/products", json=products), 422, "validation_error")
    assert message in str(err["details"])
    assert snapshot(app) == before


def test_duplicate_keys_in_one_request_are_422(app, client):
    rows = [{"number": "D1", "lines": []}, {"number": "D1", "lines": []}]
    err = assert_error(client.put("/api/v1/orders", json=rows), 422, "validation_error")
    assert err["details"] == {"1": {"_key": ["duplicate of row 0"]}}


def test_negative_stock_is_allowed_but_negative_quantities_are_not(app, client):
    load_example(client)
    assert client.put("/api/v1/stock", json=[{"product": "A", "on_hand": -5}]).status_code == 200
    bad = [{"number": "N1", "lines": [{"product": "A", "qty": -1, "unit_price": 1}]}]
    err = assert_error(client.put("/api/v1/orders", json=bad), 422, "validation_error")
    assert "qty" in err["details"]["0"]["lines"]["0"]
    bad_price = [{"number": "N1", "lines": [{"product": "A", "qty": 1, "unit_price": -1}]}]
    assert_error(client.put("/api/v1/orders", json=bad_price), 422, "validation_error")


def test_unknown_route_and_method_use_the_error_shape(client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.delete("/api/v1/stock"), 405, "method_not_allowed")


def test_swagger_lists_data_endpoints_with_models(client):
    spec = client.get("/api/v1/swagger.json").get_json()
    for kind in KINDS:
        assert "put" in spec["paths"][f"/{kind}"]
    assert {"Product", "Stock", "Receipt", "Order", "OrderLine", "Sale", "SupplierOffer"} <= set(
        spec["definitions"]
    )
    assert spec["definitions"]["Receipt"]["properties"]["kind"]["enum"] == [
        "production",
        "purchase",
    ]
    assert client.get("/api/docs").status_code == 302


def test_example_files_match_payload_contract(client):
    for kind in KINDS:
        assert isinstance(example(kind), list)
