"""Operations: liveness, readiness, and queue/ledger figures."""

from flask import Blueprint, jsonify
from flask_restx import Namespace, Resource
from rq import Worker
from sqlalchemy import func, select, text

from api import schemas
from api.extensions import db
from api.swagger import model
from jobs import ledger
from jobs.models import Analysis

probes = Blueprint("probes", __name__)
ns = Namespace("stats", description="Queue depth, workers and ledger figures")


@probes.get("/healthz")
def healthz():
    """Answer while the process is alive."""
    return jsonify(status="ok")


@probes.get("/readyz")
def readyz():
    """Answer 200 when the database and the queue answer, 503 otherwise."""
    checks = {}
    try:
        with db.runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, don't raise: this is the probe
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        db.runtime.redis.ping()
        checks["queue"] = "ok"
    except Exception as exc:
        checks["queue"] = f"down: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    response = jsonify(status="ready" if ready else "unavailable", checks=checks)
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = "5"
    return response


@ns.route("")
class Stats(Resource):
    @ns.doc("get_stats")
    @ns.response(200, "Figures", model(ns, schemas.StatsSchema))
    def get(self):
        rt = db.runtime
        session = db.reader
        with session.begin():
            by_status = dict(
                session.execute(
                    select(Analysis.status, func.count()).group_by(Analysis.status)
                ).all()
            )
            version = ledger.data_version(session)
        return {
            "mode": "embedded" if rt.embedded else "redis",
            "data_version": version,
            "queue_depth": rt.queue.count,
            "workers": Worker.count(connection=rt.redis),
            "analyses": by_status,
        }
