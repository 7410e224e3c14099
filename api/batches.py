"""Batches namespace: enqueue orders, read progress, poll finished results."""

import base64
import hashlib
import json
from datetime import date
from types import SimpleNamespace

from flask import current_app, request, url_for
from flask_restx import Namespace, Resource

from api import pollcache, schemas
from api.auth import rate_limit
from api.common import load_body, load_query
from api.errors import ApiError
from api.extensions import db
from api.swagger import model, query_params
from jobs import ledger, tasks
from jobs.constants import AnalysisKind
from jobs.models import Batch

ns = Namespace("batches", description="Analyse orders in the background and poll the results")
ERROR = model(ns, schemas.ErrorSchema)
CREATED = model(ns, schemas.BatchCreatedSchema)
STATUS = model(ns, schemas.BatchStatusSchema)
PAGE = model(ns, schemas.ResultsPageSchema)
RETRY_AFTER = "2"
RESULTS_QUERY = schemas.ResultsQuerySchema()  # schemas are reusable; build it once
RESULTS_KEYS = frozenset(RESULTS_QUERY.fields)


def encode_cursor(seq: int, analysis_id: int) -> str:
    """Return the opaque cursor of a position in finish order."""
    return base64.urlsafe_b64encode(f"{seq}.{analysis_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[int, int]:
    """Return the position of an opaque cursor (422 if it was not made here)."""
    if not cursor:
        return 0, 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        seq, analysis_id = raw.split(".")
        return int(seq), int(analysis_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            422, "The cursor is not one this API issued.", {"since": [str(exc)]}
        ) from exc


def get_batch(session, batch_id: str) -> Batch:
    """Return a batch or raise 404."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise ApiError(404, f"Batch '{batch_id}' does not exist.")
    return batch


def result_entry(number: str, row, version: int) -> dict:
    """Shape one finished analysis for the results endpoint."""
    if row.result is None:
        return {
            "order": number,
            "status": row.result_status,
            "error": {"code": "analysis_failed", "message": row.error or "failed"},
        }
    return {
        "order": number,
        "status": row.result_status,
        "analysis": {**row.result, "stale": (row.data_version or 0) < version},
    }


def result_json(number: str, row, version: int) -> str:
    """Serialise one finished analysis for the results endpoint from its stored JSON text.

    The stored analysis is spliced in as is, with `"stale"` appended; anything unusual
    (no object, a stored "stale" key) goes through `result_entry` instead.
    """
    raw = row.result_json.rstrip() if row.result_json is not None else None
    if raw is None or raw == "null":
        entry = {
            "order": number,
            "status": row.result_status,
            "error": {"code": "analysis_failed", "message": row.error or "failed"},
        }
        return json.dumps(entry, ensure_ascii=False)
    if not (raw.startswith("{") and raw.endswith("}")) or '"stale"' in raw:
        parsed = SimpleNamespace(
            result=json.loads(raw),
            result_status=row.result_status,
            data_version=row.data_version,
            error=row.error,
        )
        return json.dumps(result_entry(number, parsed, version), ensure_ascii=False)
    inner = raw[1:-1].strip()
    stale = "true" if (row.data_version or 0) < version else "false"
    analysis = "{" + inner + ("," if inner else "") + f'"stale":{stale}}}'
    return (
        f'{{"order":{json.dumps(number, ensure_ascii=False)},'
        f'"status":{json.dumps(row.result_status)},"analysis":{analysis}}}'
    )


def etag(batch_id, orders, limit, position, unfinished, state, counts, more=False) -> str:
    """Return the ETag of a results page that ends at `position` in this state."""
    key = (
        f"{batch_id}|{orders}|{limit}|{position}|{unfinished}|{state}|{counts['last_seq']}"
        f"|{counts['done']}|{counts['failed']}|{counts['not_found']}|{more}"
    )
    return '"' + hashlib.sha1(key.encode()).hexdigest()[:20] + '"'


@ns.route("")
class BatchList(Resource):
    method_decorators = [rate_limit("RATELIMIT_ENQUEUE")]

    @ns.doc(
        "create_batch",
        params={"Idempotency-Key": {"in": "header", "type": "string"}},
        description="Enqueue 1–10 000 orders. Orders already queued for the same as_of and "
        "data version are joined, not analysed twice.",
    )
    @ns.expect(model(ns, schemas.BatchRequestSchema))
    @ns.response(202, "Accepted", CREATED)
    @ns.response(400, "Bad JSON", ERROR)
    @ns.response(422, "Invalid request", ERROR)
    @ns.response(429, "Rate limited", ERROR)
    @ns.response(503, "Database unavailable", ERROR)
    def post(self):
        payload = load_body(schemas.BatchRequestSchema())
        settings = current_app.config
        session = db.session
        with session.begin():
            batch, dispatches, created = ledger.create_batch(
                session,
                payload["orders"],
                payload["as_of"] or date.today(),
                chunk_size=ledger.batch_chunk_size(
                    len(payload["orders"]),
                    settings["CHUNK_SIZE"],
                    settings.get("CHUNK_MAX", settings["CHUNK_SIZE"]),
                    settings.get("CHUNK_TARGET_JOBS", 0),
                ),
                queued_deadline_s=settings["QUEUED_DEADLINE_S"],
                callback_url=payload["callback_url"],
                idempotency_key=request.headers.get("Idempotency-Key") or None,
            )
            body = {
                "id": batch.id,
                "total": batch.total,
                "state": "queued",
                "status_url": url_for("api.batches_batch_item", batch_id=batch.id),
                "results_url": url_for("api.batches_batch_results", batch_id=batch.id),
            }
            if not created:
                body["state"] = ledger.batch_summary(session, batch)["state"]
        tasks.dispatch(
            db.runtime, [(AnalysisKind.ORDER.value, t, ids) for t, ids in dispatches], batch.id
        )
        headers = {"Location": body["status_url"], "Retry-After": RETRY_AFTER}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return body, 202, headers


@ns.route("/<string:batch_id>")
class BatchItem(Resource):
    method_decorators = [rate_limit("RATELIMIT_POLL")]

    @ns.doc("get_batch")
    @ns.response(200, "Batch status", STATUS)
    @ns.response(404, "No such batch", ERROR)
    @ns.response(422, "Unusable batch id (e.g. a NUL character)", ERROR)
    def get(self, batch_id):
        session = db.reader
        with session.begin():
            summary = ledger.batch_summary(session, get_batch(session, batch_id))
        headers = {"Retry-After": RETRY_AFTER} if summary["pending"] else {}
        return summary, 200, headers


@ns.route("/<string:batch_id>/results")
class BatchResults(Resource):
    method_decorators = [rate_limit("RATELIMIT_POLL")]

    @ns.doc(
        "get_batch_results",
        params=query_params(schemas.ResultsQuerySchema),
        description="Only the orders finished since the cursor. ETag; If-None-Match → 304.",
    )
    @ns.response(200, "Results since the cursor", PAGE)
    @ns.response(304, "Nothing new")
    @ns.response(404, "No such batch", ERROR)
    @ns.response(422, "Bad cursor or query", ERROR)
    def get(self, batch_id):
        query = results_query()
        after = decode_cursor(query["since"])
        orders = [o for o in (query["orders"] or "").split(",") if o] or None
        limit = min(query["limit"], current_app.config["RESULTS_PAGE_LIMIT"])
        asked = request.headers.get("If-None-Match")
        if asked:
            # The ETag a client holds says "I have everything up to this cursor, in this
            # state"; if it sends that cursor and nothing finished since (the batch's last
            # finish_seq is unchanged: a later commit gets a larger one), the answer would be
            # an empty page: 304, from the cached counts or one statement.
            counts = self.quick_counts(batch_id, orders)
            if counts is not None:
                answer = not_modified(batch_id, orders, limit, after, counts, asked)
                if answer is not None:
                    return answer
        session = db.reader
        with session.begin():  # one snapshot for the counts and the rows
            counts = ledger.batch_counts(session, batch_id, orders)
            if not any(counts[k] for k in ("done", "failed", "not_found", "queued", "running")):
                get_batch(session, batch_id)  # 404 unless the batch exists
            unfinished = counts["queued"] + counts["running"]
            state = ledger.batch_state(counts)
            headers = {"Cache-Control": "no-cache"}
            if unfinished:
                headers["Retry-After"] = RETRY_AFTER
            nothing_new = etag(batch_id, orders, limit, after, unfinished, state, counts)
            if asked == nothing_new:
                return None, 304, {**headers, "ETag": nothing_new}
            rows = ledger.batch_result_rows(session, batch_id, after, limit, orders)
            position = (rows[-1].finish_seq, rows[-1].id) if rows else after
            undelivered = (
                ledger.count_after(session, batch_id, position, orders) if len(rows) == limit else 0
            )
            version = ledger.data_version(session) if rows else 0
        # A page that leaves results behind gets a tag no request can match.
        headers["ETag"] = etag(
            batch_id, orders, limit, position, unfinished, state, counts, more=bool(undelivered)
        )
        cursor = encode_cursor(*position)
        body = (
            '{"results":['
            + ",".join(result_json(row.order_number, row, version) for row in rows)
            + f'],"cursor":{json.dumps(cursor)},"pending":{unfinished + undelivered},'
            + f'"state":{json.dumps(state)}}}'
        )
        return current_app.response_class(
            body, status=200, headers=headers, mimetype="application/json"
        )

    @staticmethod
    def quick_counts(batch_id: str, orders) -> dict | None:
        """Return a batch's counts from the per-process cache or one autocommit statement.

        PostgreSQL only (None elsewhere: the caller reads them in its transaction).
        """
        rt = db.runtime
        if not current_app.config.get("RESULTS_CACHE", True):
            return None
        watch = pollcache.watch_for(rt.engine)
        if watch is None:
            return None
        key = (batch_id, tuple(orders) if orders else None)
        marker = watch.marker()  # before reading: counts read after it stay valid until it moves
        counts = watch.get(key, marker)
        if counts is None:
            with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                counts = ledger.batch_counts(conn, batch_id, orders)
            watch.put(key, marker, counts)
        return counts


def not_modified(batch_id, orders, limit, after, counts, asked: str):
    """Return the 304 answer if the client's ETag is the empty page's, else None."""
    if not any(counts[k] for k in ("done", "failed", "not_found", "queued", "running")):
        return None  # unknown batch: the full path answers 404
    unfinished = counts["queued"] + counts["running"]
    state = ledger.batch_state(counts)
    nothing_new = etag(batch_id, orders, limit, after, unfinished, state, counts)
    if asked != nothing_new:
        return None
    headers = {"Cache-Control": "no-cache", "ETag": nothing_new}
    if unfinished:
        headers["Retry-After"] = RETRY_AFTER
    return current_app.response_class(status=304, headers=headers)


def results_query() -> dict:
    """Read the results query: plain values directly (the hot path), anything else through
    the schema (which then also reports the errors)."""
    args = request.args
    if len(args) <= 3 and all(k in RESULTS_KEYS for k in args):
        raw = args.get("limit")
        if raw is None or (raw.isdigit() and 1 <= int(raw) <= 1000):
            return {
                "since": args.get("since"),
                "orders": args.get("orders"),
                "limit": int(raw) if raw else 1000,
            }
    return load_query(RESULTS_QUERY)
