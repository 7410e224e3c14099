"""Job functions the workers run, the dispatch to the queue, and the ledger sweeper.

Job functions are plain importable functions that let exceptions propagate;
RQ retries them, and the failure callback fails their rows once retries are
spent. Whatever Redis loses, the sweeper finds in the ledger.
"""

import hashlib
import hmac
import json
import math
from collections.abc import Sequence
from datetime import date

import redis
import requests
from rq import Callback, Queue, Retry
from sqlalchemy import select

from jobs import atp, ledger, logs, purchase, runtime
from jobs.constants import SIGNATURE_HEADER, AnalysisKind, AnalysisStatus, ResultStatus
from jobs.db import utcnow
from jobs.loading import analyze_numbers, load_purchase_input
from jobs.models import Analysis, Batch, ChatMessage, ChatSession

WAITING_JOB_STATES = {b"queued", b"scheduled", b"deferred"}


# --- dispatch -------------------------------------------------------------------------------


def _retry(settings: dict) -> Retry | None:
    """Return the RQ retry policy: intervals need the scheduler, which the fake queue lacks."""
    retries = settings.get("JOB_RETRIES", 2)
    if not retries:
        return None
    return Retry(max=retries) if not settings.get("REDIS_URL") else Retry(retries, [1, 3])


DISPATCH_PIPELINE = 200


def enqueue(queue: Queue, settings: dict, func, args: tuple, token: str, pipeline=None) -> None:
    """Enqueue one job under the ledger token as its id (into `pipeline` if given)."""
    queue.enqueue_call(
        func,
        args=args,
        job_id=token,
        timeout=max(5, settings.get("RUNNING_DEADLINE_S", 60) - 5),
        result_ttl=600,
        failure_ttl=3600,
        retry=_retry(settings),
        on_failure=Callback(on_job_failure),
        pipeline=pipeline,
    )


def dispatch(rt: runtime.Runtime, jobs: Sequence[tuple], batch_id: str | None = None) -> int:
    """Enqueue (kind, token, ids) dispatches; on a queue failure hand them back to the sweeper.

    The jobs go to Redis through one pipeline per DISPATCH_PIPELINE of them (a 10 000-order
    batch is one round trip, not hundreds); if a pipeline fails, all its tokens are handed back.
    """
    sent = 0
    for start in range(0, len(jobs), DISPATCH_PIPELINE):
        group = jobs[start : start + DISPATCH_PIPELINE]
        try:
            pipe = rt.redis.pipeline()
            for kind, token, ids in group:
                if kind == AnalysisKind.ORDER.value:
                    args = (list(ids), token, batch_id)
                    enqueue(rt.queue, rt.settings, analyze_chunk, args, token, pipe)
                else:
                    enqueue(rt.queue, rt.settings, analyze_purchase, (ids[0], token), token, pipe)
            pipe.execute()
            sent += len(group)
        except redis.RedisError as exc:
            tokens = [token for _, token, _ in group]
            logs.event("queue.enqueue_failed", tokens=len(tokens), error=str(exc))
            with rt.session_factory.begin() as session:
                for token in tokens:
                    ledger.undispatch(session, token)
    return sent


# --- jobs -----------------------------------------------------------------------------------


def _rows(session, ids: Sequence[int]) -> list[Analysis]:
    """Load ledger rows by id."""
    return list(session.scalars(select(Analysis).where(Analysis.id.in_(list(ids)))))


def order_outcomes(rows: Sequence[Analysis], rt: runtime.Runtime) -> dict[int, dict]:
    """Analyse the rows' orders from one snapshot; an order whose analysis raises fails alone."""
    lead = rt.settings.get("LEAD_DAYS", 1)
    outcomes: dict[int, dict] = {}
    by_as_of: dict[date, list[Analysis]] = {}
    for row in rows:
        by_as_of.setdefault(row.as_of, []).append(row)
    with rt.read_session_factory() as session, session.begin():
        for as_of, group in by_as_of.items():
            for part, (version, orders, products) in _load(session, group, as_of, lead, outcomes):
                _outcomes(part, version, orders, products, as_of, outcomes)
    return outcomes


# Errors the engine raises on data it cannot handle (e.g. a sum of quantities that overflows).
# They isolate the orders concerned; any other error fails the job, which RQ retries.
DATA_ERRORS = (ArithmeticError, LookupError, TypeError, ValueError)


def _load(session, group: list[Analysis], as_of: date, lead: int, outcomes: dict) -> list:
    """Load and analyse the products of a group of rows: [(rows, (version, orders, products))].

    If the engine raises a data error on a product, the group is retried order by order,
    so only the orders that need that product fail.
    """
    try:
        return [(group, analyze_numbers(session, [row.subject for row in group], as_of, lead))]
    except DATA_ERRORS as exc:  # one bad order must not sink its chunk
        logs.event("analysis.chunk_split", orders=len(group), error=repr(exc))
    loaded = []
    for row in group:
        try:
            loaded.append(([row], analyze_numbers(session, [row.subject], as_of, lead)))
        except DATA_ERRORS as exc:
            logs.event("analysis.order_failed", order=row.subject, error=repr(exc))
            outcomes[row.id] = ledger.failed_outcome(f"analysis error: {exc!r}")
    return loaded


LINE_NUMBERS = (
    "qty",
    "unit_price",
    "value",
    "shortfall",
    "on_hand",
    "queue_ahead",
    "supply_at_need",
)


def finite_numbers(result: dict) -> bool:
    """Tell whether an order analysis is free of inf/nan, which JSON and PostgreSQL refuse.

    A sum that meets an inf or a nan is not finite, so one sum per analysis tells (only
    absurd magnitudes near 1e308 could overflow a sum of finite numbers).
    """
    total = result["total_value"] + result["available_value"] + result["availability_pct"]
    for line in result["lines"]:
        total += sum(line[key] for key in LINE_NUMBERS) + (line["min_projected"] or 0.0)
        total += sum(point["stock"] for point in line["projection"])
        if line["next_receipt"]:
            total += line["next_receipt"]["qty"]
    return math.isfinite(total)


def _outcomes(rows, version, orders, products, as_of: date, outcomes: dict) -> None:
    """Analyse each row's order from loaded products into `outcomes`; a bad order fails alone."""
    computed_at = utcnow().isoformat()
    for row in rows:
        try:
            result = atp.analyze_order(row.subject, orders.get(row.subject), products, as_of)
            if not finite_numbers(result):
                raise ArithmeticError("quantities or values too large to represent")
        except Exception as exc:  # one bad order must not sink its chunk
            logs.event("analysis.order_failed", order=row.subject, error=repr(exc))
            outcomes[row.id] = ledger.failed_outcome(f"analysis error: {exc!r}")
            continue
        result.update(data_version=version, computed_at=computed_at)
        found = result["status"] != ResultStatus.NOT_FOUND.value
        outcomes[row.id] = {
            "status": AnalysisStatus.DONE.value,
            "result_status": (ResultStatus.DONE if found else ResultStatus.NOT_FOUND).value,
            "result": result,
            "data_version": version,
        }


def analyze_chunk(ids: Sequence[int], token: str, batch_id: str | None = None) -> int:
    """Analyse a chunk of order rows and commit their results together; return how many."""
    rt = runtime.get()
    timer = logs.Timer()
    logs.event("job.start", job="analyze_chunk", batch=batch_id, chunk=len(ids), token=token)
    with rt.session_factory.begin() as session:
        rows = ledger.claim_rows(session, ids, token, rt.settings["RUNNING_DEADLINE_S"])
    if not rows:
        logs.event("job.skip", job="analyze_chunk", batch=batch_id, token=token)
        return 0
    claimed = [row.id for row in rows]
    outcomes = order_outcomes(rows, rt)
    with rt.session_factory.begin() as session:
        written = ledger.finish(session, token, outcomes)
    after_finish(rt, claimed)
    logs.event(
        "job.finish",
        job="analyze_chunk",
        batch=batch_id,
        chunk=len(ids),
        written=written,
        duration_ms=timer.ms,
    )
    return written


def analyze_purchase(analysis_id: int, token: str) -> str:
    """Run a chat's purchase analysis and append the answer to its session."""
    rt = runtime.get()
    timer = logs.Timer()
    with rt.session_factory.begin() as session:
        claimed = ledger.claim(session, [analysis_id], token, rt.settings["RUNNING_DEADLINE_S"])
        row = session.get(Analysis, analysis_id) if claimed else None
    if row is None:
        return "skipped"
    fields = {"sku": row.subject, "session_id": row.chat_session_id}
    logs.event("agents.task.start", **fields)
    with rt.read_session_factory() as session, session.begin():
        version = ledger.data_version(session)
        inp = load_purchase_input(session, row.subject, row.as_of, rt.settings.get("LEAD_DAYS", 1))
    if inp is None:
        raise LookupError(f"product {row.subject} is no longer known")
    result = purchase.analyze_purchase(inp)
    result["data_version"] = version
    logs.event("agents.analysis.completed", decision=result["decision"], ms=timer.ms, **fields)
    with rt.session_factory.begin() as session:
        chat = session.get(ChatSession, row.chat_session_id)
        outcome = {
            "status": AnalysisStatus.DONE.value,
            "result_status": ResultStatus.DONE.value,
            "result": result,
            "data_version": version,
        }
        if ledger.finish(session, token, {analysis_id: outcome}):
            text = purchase.render_message(result, chat.locale if chat else "en")
            meta = {
                "type": "analysis_result",
                "product": row.subject,
                "analysis_id": analysis_id,
                "analysis": result,
            }
            ledger.add_chat_message(session, row.chat_session_id, text, meta)
    logs.event("agents.task.result_saved", **fields)
    return result["decision"]


def on_job_failure(job, connection, exc_type, exc_value, tb) -> None:
    """Fail the rows of a job whose retries are spent (RQ failure callback)."""
    if job.retries_left:
        logs.event("job.retry", job=job.func_name, token=job.id, error=repr(exc_value))
        return
    rt = runtime.get()
    ids = job.args[0] if job.func_name.endswith("analyze_chunk") else [job.args[0]]
    message = f"analysis failed: {exc_value!r}"
    logs.event("job.fail", job=job.func_name, token=job.id, rows=len(ids), error=message)
    with rt.session_factory.begin() as session:
        ledger.finish(session, job.id, {i: ledger.failed_outcome(message) for i in ids})
        chat_failures(session, ids, message)
    after_finish(rt, ids)


def chat_failures(session, ids: Sequence[int], message: str) -> None:
    """Tell each chat whose purchase analysis failed, once per analysis.

    The rows are read afresh (populate_existing): the sweeper holds them from before it
    failed them. A job failing after the sweeper gave up on its row adds no second message.
    """
    if not ids:
        return
    rows = session.scalars(
        select(Analysis)
        .where(
            Analysis.id.in_(list(ids)),
            Analysis.kind == AnalysisKind.PURCHASE.value,
            Analysis.status == AnalysisStatus.FAILED.value,
            Analysis.chat_session_id.is_not(None),
        )
        .execution_options(populate_existing=True)
    )
    for row in list(rows):
        if _chat_answered(session, row):
            continue
        meta = {
            "type": "analysis_failed",
            "product": row.subject,
            "analysis_id": row.id,
            "error": row.error,
        }
        chat = session.get(ChatSession, row.chat_session_id)
        text = (
            f"Não consegui concluir a análise de {row.subject}. Tente novamente."
            if chat and chat.locale == "pt-BR"
            else f"I could not finish the analysis of {row.subject}. Please try again."
        )
        ledger.add_chat_message(session, row.chat_session_id, text, meta)


def _chat_answered(session, row: Analysis) -> bool:
    """Tell whether the chat already holds the final message of this analysis."""
    metas = session.scalars(
        select(ChatMessage.meta).where(
            ChatMessage.session_id == row.chat_session_id, ChatMessage.sender == "ai"
        )
    )
    return any(
        isinstance(meta, dict)
        and meta.get("analysis_id") == row.id
        and meta.get("type") in ("analysis_result", "analysis_failed")
        for meta in metas
    )


# --- batch completion and webhooks ----------------------------------------------------------


def after_finish(rt: runtime.Runtime, ids: Sequence[int] | None) -> None:
    """Stamp batches that have nothing open left and send their callbacks."""
    with rt.session_factory.begin() as session:
        batches = ledger.finished_batches(session, ids)
    for batch in batches:
        logs.event("batch.finish", batch=batch.id, total=batch.total)
    if any(b.callback_url for b in batches):
        dispatch_webhooks(rt)


def webhook_body(summary: dict) -> bytes:
    """Serialise a batch summary for signing and sending."""
    return json.dumps(summary, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, body: bytes) -> str:
    """Return the signature header value for a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def dispatch_webhooks(rt: runtime.Runtime) -> int:
    """Enqueue the callbacks that are due (each claimed by one sweeper for a lease)."""
    with rt.session_factory.begin() as session:
        due = ledger.claim_webhooks(session, utcnow(), lease_s=60)
    for batch_id in due:
        rt.queue.enqueue_call(send_webhook, args=(batch_id,), result_ttl=600, failure_ttl=3600)
    return len(due)


def send_webhook(batch_id: str) -> int:
    """POST the signed summary of a finished batch to its callback URL; return the status."""
    rt = runtime.get()
    with rt.session_factory() as session:
        batch = session.get(Batch, batch_id)
        summary = ledger.batch_summary(session, batch)
    body = webhook_body(summary)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(rt.settings["WEBHOOK_SECRET"], body),
        "User-Agent": "ruptura-webhook/1",
    }
    try:
        response = requests.post(
            batch.callback_url, data=body, headers=headers, timeout=rt.settings["WEBHOOK_TIMEOUT_S"]
        )
        response.raise_for_status()
    except requests.RequestException as exc:
        with rt.session_factory.begin() as session:
            state = ledger.webhook_failed(
                session, batch_id, utcnow(), rt.settings["WEBHOOK_MAX_ATTEMPTS"]
            )
        logs.event("webhook.fail", batch=batch_id, error=str(exc), state=state)
        raise
    with rt.session_factory.begin() as session:
        ledger.webhook_sent(session, batch_id)
    logs.event("webhook.sent", batch=batch_id, status=response.status_code)
    return response.status_code


# --- the sweeper ----------------------------------------------------------------------------


def _waiting_tokens(connection, tokens: set[str], queue_key: str | None = None) -> set[str]:
    """Return the tokens whose RQ job still waits in Redis.

    A job whose status says `queued` but which is no longer in the queue's list was taken by
    a worker that died before starting it (RQ only cleans those up every 10 minutes): it is
    not waiting, and its rows are re-dispatched (the token makes the old job a no-op).
    """
    tokens = sorted(t for t in tokens if t)
    if not tokens:
        return set()
    pipe = connection.pipeline(transaction=False)
    for token in tokens:
        pipe.hget(f"rq:job:{token}", "status")
    statuses = dict(zip(tokens, pipe.execute(), strict=True))
    listed: set[str] | None = None
    if queue_key is not None and any(status == b"queued" for status in statuses.values()):
        listed = {
            job_id.decode() if isinstance(job_id, bytes) else job_id
            for job_id in connection.lrange(queue_key, 0, -1)
        }
    return {
        t
        for t, status in statuses.items()
        if status in WAITING_JOB_STATES and (status != b"queued" or listed is None or t in listed)
    }


def sweep(rt: runtime.Runtime) -> dict[str, int]:
    """Re-dispatch overdue ledger rows, fail exhausted ones, finish batches, send due webhooks."""
    s = rt.settings
    now = utcnow()
    try:
        rt.redis.ping()
    except redis.RedisError:
        return {"skipped": 1}  # nothing can be enqueued; rows keep their attempts
    jobs: list[tuple] = []
    with rt.session_factory.begin() as session:
        rows = ledger.overdue(session, now)
        waiting = _waiting_tokens(
            rt.redis,
            {r.job_id for r in rows if r.status == AnalysisStatus.QUEUED.value},
            rt.queue.key,
        )
        alive = [
            r.id for r in rows if r.status == AnalysisStatus.QUEUED.value and r.job_id in waiting
        ]
        if alive:
            ledger.extend(session, alive, now, s["QUEUED_DEADLINE_S"])
        stuck = [r for r in rows if r.id not in set(alive)]
        failed = ledger.give_up(session, [r.id for r in stuck], now, s["MAX_ATTEMPTS"])
        chat_failures(session, failed, "")
        retry_rows = [r for r in stuck if r.id not in set(failed)]
        orders = [r.id for r in retry_rows if r.kind == AnalysisKind.ORDER.value]
        for part in ledger.chunked(orders, s["CHUNK_SIZE"]):
            token, claimed = ledger.redispatch(
                session, part, now, s["MAX_ATTEMPTS"], s["QUEUED_DEADLINE_S"]
            )
            if claimed:
                jobs.append((AnalysisKind.ORDER.value, token, claimed))
        for r in retry_rows:
            if r.kind == AnalysisKind.PURCHASE.value:
                token, claimed = ledger.redispatch(
                    session, [r.id], now, s["MAX_ATTEMPTS"], s["QUEUED_DEADLINE_S"]
                )
                if claimed:
                    jobs.append((AnalysisKind.PURCHASE.value, token, claimed))
    if jobs or failed:
        logs.event(
            "sweeper.act",
            redispatched=sum(len(j[2]) for j in jobs),
            failed=len(failed),
            extended=len(alive),
        )
    sent = dispatch(rt, jobs)
    after_finish(rt, None)
    hooks = dispatch_webhooks(rt)
    return {"redispatched": sent, "failed": len(failed), "extended": len(alive), "webhooks": hooks}
