"""Data namespace: bulk upserts of what the analyses read."""

from flask_restx import Namespace, Resource

from api import loader, schemas
from api.auth import rate_limit
from api.common import json_body
from api.extensions import db
from api.swagger import model

ns = Namespace(
    "data", path="/", description="Load products, stock, receipts, orders, sales, offers"
)

ITEM_SCHEMAS = {
    "products": schemas.ProductSchema,
    "stock": schemas.StockSchema,
    "receipts": schemas.ReceiptSchema,
    "orders": schemas.OrderSchema,
    "sales": schemas.SaleSchema,
    "supplier-offers": schemas.SupplierOfferSchema,
}
ERROR = model(ns, schemas.ErrorSchema)
LOADED = model(ns, schemas.LoadResultSchema)


def make_resource(kind: str, schema) -> type[Resource]:
    """Build the bulk-upsert resource of one kind of data."""

    class BulkLoad(Resource):
        method_decorators = [rate_limit("RATELIMIT_WRITE")]

        @ns.doc(
            f"put_{kind.replace('-', '_')}",
            description=f"Upsert a JSON list of {kind}, validated whole and written atomically.",
        )
        @ns.expect([model(ns, schema)])
        @ns.response(200, "Loaded", LOADED)
        @ns.response(400, "Bad JSON", ERROR)
        @ns.response(413, "Body too large", ERROR)
        @ns.response(422, "Invalid rows; nothing loaded", ERROR)
        def put(self):
            session = db.session
            with session.begin():
                return loader.load(session, kind, json_body())

    BulkLoad.__name__ = f"Load{schema.__name__.removesuffix('Schema')}"
    return BulkLoad


for _kind, _schema in ITEM_SCHEMAS.items():
    ns.add_resource(make_resource(_kind, _schema), f"/{_kind}")
