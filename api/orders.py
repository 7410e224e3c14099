"""Orders namespace: deleting an order and reading its latest analysis."""

from datetime import date

from flask import current_app
from flask_restx import Namespace, Resource

from api import loader, schemas
from api.common import load_query
from api.errors import ApiError
from api.extensions import db
from api.swagger import model, query_params
from jobs import atp, ledger
from jobs.db import utcnow
from jobs.loading import analyze_numbers

ns = Namespace("orders", description="Orders and their analyses")
ERROR = model(ns, schemas.ErrorSchema)
ANALYSIS = model(ns, schemas.OrderAnalysisSchema)


def fresh_analysis(session, number: str, as_of: date, lead_days: int) -> dict:
    """Compute an order's analysis now, from one snapshot."""
    version, orders, products = analyze_numbers(session, [number], as_of, lead_days)
    result = atp.analyze_order(number, orders.get(number), products, as_of)
    result.update(data_version=version, computed_at=utcnow().isoformat(), stale=False)
    return result


@ns.route("/<string:number>")
class OrderItem(Resource):
    @ns.doc("delete_order", description="Close an order: its demand leaves every analysis.")
    @ns.response(204, "Deleted")
    @ns.response(404, "No such order", ERROR)
    @ns.response(422, "Unusable order number (e.g. a NUL character)", ERROR)
    def delete(self, number):
        session = db.session
        with session.begin():
            loader.delete_order(session, number)
        return "", 204


@ns.route("/<string:number>/analysis")
class OrderAnalysis(Resource):
    @ns.doc(
        "get_order_analysis",
        params=query_params(schemas.AnalysisQuerySchema),
        description="Latest finished analysis; `fresh=true` computes one now (not stored).",
    )
    @ns.response(200, "Analysis", ANALYSIS)
    @ns.response(404, "Never analysed", ERROR)
    @ns.response(422, "Bad query", ERROR)
    def get(self, number):
        query = load_query(schemas.AnalysisQuerySchema())
        session = db.reader
        with session.begin():
            if query["fresh"]:
                as_of = query["as_of"] or date.today()
                return fresh_analysis(session, number, as_of, current_app.config["LEAD_DAYS"])
            row = ledger.latest_analysis(session, number)
            if row is None:
                raise ApiError(
                    404,
                    f"Order '{number}' has no finished analysis; "
                    "POST a batch or ask with fresh=true.",
                )
            if row.result is None:
                raise ApiError(404, f"The last analysis of '{number}' failed: {row.error}")
            return {**row.result, "stale": row.data_version < ledger.data_version(session)}
