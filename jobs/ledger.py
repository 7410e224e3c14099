"""The ledger: every requested analysis is a row before it is a job.

Rows move queued → running → done | failed. Each dispatch of a row to the
queue gets a fresh token (the RQ job id); only the job holding the current
token may claim or finish the row, so a zombie job never overwrites a newer
attempt. Finishing rows takes the next value of the `finish_seq` counter under
a row lock, so sequence order is commit order and a results cursor never skips
a row that commits late.
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    bindparam,
    cast,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from jobs.constants import (
    COUNTER_DATA_VERSION,
    COUNTER_FINISH_SEQ,
    OPEN_STATUSES,
    AnalysisKind,
    AnalysisStatus,
    ResultStatus,
    WebhookState,
)
from jobs.db import utcnow
from jobs.models import Analysis, Batch, BatchItem, ChatMessage, Counter

IN_CHUNK = 900  # keep IN lists well under every backend's parameter limit


def chunked(items: Sequence, size: int) -> Iterable[Sequence]:
    """Yield consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ensure_counters(session: Session) -> None:
    """Create the counter rows if they are missing."""
    have = set(session.scalars(select(Counter.name)))
    for name in (COUNTER_DATA_VERSION, COUNTER_FINISH_SEQ):
        if name not in have:
            session.add(Counter(name=name, value=0))
    session.flush()


def bump_counter(session: Session, name: str) -> int:
    """Increment a counter under its row lock and return the new value."""
    stmt = (
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    )
    value = session.execute(stmt, execution_options={"synchronize_session": False}).scalar()
    if value is None:
        ensure_counters(session)
        value = session.execute(stmt, execution_options={"synchronize_session": False}).scalar()
    return int(value)


def data_version(session: Session) -> int:
    """Return the current data version."""
    value = session.scalar(select(Counter.value).where(Counter.name == COUNTER_DATA_VERSION))
    return int(value or 0)


def new_token() -> str:
    """Return a fresh dispatch token (used as the RQ job id)."""
    return uuid.uuid4().hex


def create_batch(
    session: Session,
    numbers: Sequence[str],
    as_of: date,
    chunk_size: int,
    queued_deadline_s: int,
    callback_url: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[Batch, list[tuple[str, list[int]]], bool]:
    """Write a batch and its ledger rows; return it, the dispatches to enqueue, and if it is new.

    An order already queued (not started) for the same as_of and data version
    is joined rather than analysed twice.
    """
    if idempotency_key:
        found = session.scalar(select(Batch).where(Batch.idempotency_key == idempotency_key))
        if found is not None:
            return found, [], False
    numbers = list(dict.fromkeys(numbers))
    version = data_version(session)
    joined: dict[str, int] = {}
    for part in chunked(numbers, IN_CHUNK):
        rows = session.execute(
            select(Analysis.subject, func.min(Analysis.id))
            .where(
                Analysis.kind == AnalysisKind.ORDER.value,
                Analysis.as_of == as_of,
                Analysis.requested_version == version,
                Analysis.status == AnalysisStatus.QUEUED.value,
                Analysis.subject.in_(part),
            )
            .group_by(Analysis.subject)
        )
        joined.update({subject: analysis_id for subject, analysis_id in rows})
    fresh = [n for n in numbers if n not in joined]
    now = utcnow()
    deadline = now + timedelta(seconds=queued_deadline_s)
    parts = [(new_token(), list(part)) for part in chunked(fresh, chunk_size)]
    rows = [
        {
            "kind": AnalysisKind.ORDER.value,
            "subject": n,
            "as_of": as_of,
            "requested_version": version,
            "status": AnalysisStatus.QUEUED.value,
            "attempts": 1,
            "job_id": token,
            "deadline": deadline,
            "created_at": now,
        }
        for token, part in parts
        for n in part
    ]
    ids = _insert_analyses(session, rows)
    ids_by_number = dict(joined)
    ids_by_number.update(zip(fresh, ids, strict=True))
    dispatches: list[tuple[str, list[int]]] = []
    start = 0
    for token, part in parts:
        dispatches.append((token, ids[start : start + len(part)]))
        start += len(part)
    batch = Batch(
        id=str(uuid.uuid4()),
        as_of=as_of,
        total=len(numbers),
        callback_url=callback_url,
        idempotency_key=idempotency_key,
        created_at=now,
        webhook_state=(WebhookState.PENDING if callback_url else WebhookState.NONE).value,
    )
    session.add(batch)
    session.flush()
    items = [
        {"batch_id": batch.id, "analysis_id": ids_by_number[n], "order_number": n} for n in numbers
    ]
    if _copy_into(session, BatchItem.__table__, items) is None:
        session.execute(insert(BatchItem), items)
    return batch, dispatches, True


def _copy_into(session: Session, table, rows: list[dict]) -> int | None:
    """COPY rows into a table on PostgreSQL (in the session's transaction); None elsewhere.

    A 10 000-order batch is 20 000 rows: COPY takes a fraction of what multi-row INSERTs
    cost (psycopg parses each 9 000-parameter statement in Python).
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    if not rows:
        return 0
    names = list(rows[0])
    driver = session.connection().connection.driver_connection
    columns = ", ".join(f'"{name}"' for name in names)
    with (
        driver.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row([_naive_utc(row[name]) for name in names])
    return len(rows)


def _naive_utc(value):
    """Store datetimes as UTCDateTime does: naive UTC (COPY bypasses the column type)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _insert_analyses(session: Session, rows: list[dict]) -> list[int]:
    """Insert analysis rows; return their ids in order."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        ids = list(
            session.scalars(
                select(func.nextval(func.pg_get_serial_sequence("analyses", "id"))).select_from(
                    func.generate_series(1, len(rows))
                )
            )
        )
        _copy_into(
            session,
            Analysis.__table__,
            [{"id": i, **row} for i, row in zip(ids, rows, strict=True)],
        )
        return ids
    return list(
        session.scalars(insert(Analysis).returning(Analysis.id, sort_by_parameter_order=True), rows)
    )


def batch_chunk_size(total: int, base: int, largest: int, target_jobs: int) -> int:
    """Return the chunk size for a batch of `total` orders.

    Small batches keep `base` (results show up early, in small commits). A large batch is cut
    into about `target_jobs` chunks of at most `largest`: each job has a fixed cost (queue
    round trips, claim, snapshot, finish, batch check) that small chunks would pay thousands
    of times.
    """
    if target_jobs <= 0 or total <= base * target_jobs:
        return base
    return max(base, min(largest, -(-total // target_jobs)))


def create_purchase_analysis(
    session: Session, product: str, as_of: date, chat_session_id: str, queued_deadline_s: int
) -> tuple[Analysis, str]:
    """Write the ledger row of a chat's purchase analysis; return it and its token."""
    token = new_token()
    row = Analysis(
        kind=AnalysisKind.PURCHASE.value,
        subject=product,
        as_of=as_of,
        requested_version=data_version(session),
        status=AnalysisStatus.QUEUED.value,
        attempts=1,
        job_id=token,
        deadline=utcnow() + timedelta(seconds=queued_deadline_s),
        chat_session_id=chat_session_id,
    )
    session.add(row)
    session.flush()
    return row, token


def claim_rows(session: Session, ids: Sequence[int], token: str, running_deadline_s: int) -> list:
    """Mark the rows this dispatch still owns as running; return their (id, subject, as_of).

    One statement: the job needs nothing else of its rows, so it does not read them again.
    """
    now = utcnow()
    stmt = (
        update(Analysis)
        .where(
            Analysis.id.in_(ids),
            Analysis.job_id == token,
            Analysis.status.in_(OPEN_STATUSES),
        )
        .values(
            status=AnalysisStatus.RUNNING.value,
            started_at=now,
            deadline=now + timedelta(seconds=running_deadline_s),
        )
        .returning(Analysis.id, Analysis.subject, Analysis.as_of)
    )
    return list(session.execute(stmt, execution_options={"synchronize_session": False}))


def claim(session: Session, ids: Sequence[int], token: str, running_deadline_s: int) -> list[int]:
    """Mark the rows this dispatch still owns as running; return their ids."""
    return [row.id for row in claim_rows(session, ids, token, running_deadline_s)]


FINISH_ROWS = 500  # rows per finishing statement (6 parameters each)
FINISH_CHANNEL = "ruptura_finish"  # NOTIFY channel of finishes (api/pollcache.py listens)


def result_json(result: dict | list | None) -> str | None:
    """Serialise a result for the `result` column: compact, UTF-8 (smaller to store and serve)."""
    if result is None:
        return None
    return json.dumps(result, separators=(",", ":"), ensure_ascii=False)


def finish(session: Session, token: str, outcomes: dict[int, dict[str, Any]]) -> int:
    """Record the outcomes of rows still owned by `token` under one finish sequence number.

    Each outcome holds `status` (done|failed), `result_status`, and `result` or `error`.
    Only rows still owned by the token and still open are written. Returns how many were.

    The finish_seq counter is bumped under its row lock, held until commit, so sequence
    order is commit order. On PostgreSQL one statement does it all: the counter bump in a
    data-modifying CTE and every row's outcome from one JSON document (one round trip, one
    new row version per analysis, the same short SQL text every time, so nothing is compiled
    or parsed per call). Elsewhere (SQLite: BEGIN IMMEDIATE already serialises writers) the
    bump comes first, then one executemany.
    """
    if not outcomes:
        return 0
    now = utcnow()
    rows = [
        {
            "id": analysis_id,
            "status": outcome["status"],
            "result_status": outcome["result_status"],
            "result": outcome.get("result"),
            "error": outcome.get("error"),
            "data_version": outcome.get("data_version"),
        }
        for analysis_id, outcome in outcomes.items()
    ]
    if session.get_bind().dialect.name == "postgresql":
        return sum(_finish_pg(session, token, part, now) for part in chunked(rows, FINISH_ROWS))
    for row in rows:
        row["result"] = result_json(row["result"])
    return _finish_portable(session, token, rows, now)


FINISH_PG = text(
    """
    WITH seq AS (
        UPDATE counters SET value = value + 1 WHERE name = :counter RETURNING value
    )
    UPDATE analyses AS a
    SET status = v.status, result_status = v.result_status, result = v.result,
        error = v.error, data_version = v.data_version,
        finish_seq = (SELECT value FROM seq), finished_at = :now
    FROM json_to_recordset(CAST(:rows AS json)) AS v(
        id integer, status varchar, result_status varchar, result json, error text,
        data_version bigint
    )
    WHERE a.id = v.id AND a.job_id = :token AND a.status IN ('queued', 'running')
    RETURNING a.id, a.finish_seq
    """
).columns()


def _finish_pg(session: Session, token: str, rows: Sequence[dict], now: datetime) -> int:
    """Write rows' outcomes and the next finish_seq in one statement; return how many."""
    written = session.execute(
        FINISH_PG,
        {
            "counter": COUNTER_FINISH_SEQ,
            "now": _naive_utc(now),
            "rows": result_json(list(rows)),
            "token": token,
        },
    ).all()  # (a zombie's empty write still bumps the counter: a harmless gap)
    if not written:
        return 0
    number = written[0].finish_seq
    if number is None:  # no counter row yet: create it, number the rows now
        number = bump_counter(session, COUNTER_FINISH_SEQ)
        session.execute(
            update(Analysis)
            .where(Analysis.id.in_([row.id for row in written]))
            .values(finish_seq=number),
            execution_options={"synchronize_session": False},
        )
    # Delivered at commit: API processes keep their cached batch counts until they hear it.
    session.execute(select(func.pg_notify(FINISH_CHANNEL, str(number))))
    return len(written)


def _finish_portable(session: Session, token: str, rows: Sequence[dict], now: datetime) -> int:
    """Bump the counter, then write every row's outcome in one executemany; return how many."""
    seq = bump_counter(session, COUNTER_FINISH_SEQ)
    table = Analysis.__table__
    c = table.c
    result = session.execute(  # Core executemany, not ORM bulk; no IN (not in executemany)
        update(table)
        .where(
            c.id == bindparam("b_id", type_=c.id.type),
            c.job_id == token,
            or_(*(c.status == status for status in OPEN_STATUSES)),
        )
        .values(
            status=bindparam("b_status", type_=c.status.type),
            result_status=bindparam("b_result_status", type_=c.result_status.type),
            result=bindparam("b_result", type_=Text),  # already serialised
            error=bindparam("b_error", type_=c.error.type),
            data_version=bindparam("b_data_version", type_=c.data_version.type),
            finish_seq=seq,
            finished_at=now,
        ),
        [{f"b_{key}": value for key, value in row.items()} for row in rows],
    )
    return int(result.rowcount)


def failed_outcome(message: str) -> dict[str, Any]:
    """Return the outcome of an analysis that could not be computed."""
    return {
        "status": AnalysisStatus.FAILED.value,
        "result_status": ResultStatus.FAILED.value,
        "error": message,
    }


def add_chat_message(
    session: Session, session_id: str, content: str, metadata: dict[str, Any]
) -> None:
    """Append an assistant message to a chat session."""
    session.add(ChatMessage(session_id=session_id, sender="ai", content=content, meta=metadata))


def _has_open_item(session: Session, batch_id: str) -> bool:
    """Tell whether any analysis of a batch is still queued or running.

    Walks the batch's analysis ids from the newest down, a page at a time, and looks the page
    up in `analyses` by primary key: chunks finish roughly in id order, so an open row is
    usually on the first page, and every statement is an index lookup whatever the planner's
    statistics say (a NOT EXISTS join was planned as a 10 s nested loop on fresh tables).
    """
    before, page = None, 8
    while True:
        stmt = select(BatchItem.analysis_id).where(BatchItem.batch_id == batch_id)
        if before is not None:
            stmt = stmt.where(BatchItem.analysis_id < before)
        ids = list(session.scalars(stmt.order_by(BatchItem.analysis_id.desc()).limit(page)))
        if not ids:
            return False
        found = session.scalar(
            select(Analysis.id)
            .where(Analysis.id.in_(ids), Analysis.status.in_(OPEN_STATUSES))
            .limit(1)
        )
        if found is not None:
            return True
        if len(ids) < page:
            return False
        before, page = ids[-1], min(page * 8, IN_CHUNK)


def finished_batches(session: Session, analysis_ids: Sequence[int] | None = None) -> list[Batch]:
    """Stamp `finished_at` on batches (of these analyses, or any) with nothing open; return them.

    Analyses never reopen once done or failed, so a batch seen with nothing open stays so; the
    stamp's `finished_at IS NULL` guard makes exactly one caller stamp it.
    """
    candidates = select(Batch.id).where(Batch.finished_at.is_(None))
    if analysis_ids is not None:
        # Two steps: as one semi-join, an unfinished 10 000-item batch was scanned item by item
        # against the whole id list (15 ms a chunk).
        found: set[str] = set()
        for part in chunked(list(analysis_ids), IN_CHUNK):
            found.update(
                session.scalars(
                    select(BatchItem.batch_id).where(BatchItem.analysis_id.in_(part)).distinct()
                )
            )
        if not found:
            return []
        candidates = candidates.where(Batch.id.in_(sorted(found)))
    batch_ids = list(session.scalars(candidates.order_by(Batch.created_at).limit(500)))
    done_ids = [b for b in batch_ids if not _has_open_item(session, b)]
    if not done_ids:
        return []
    now = utcnow()
    stmt = (
        update(Batch)
        .where(Batch.id.in_(done_ids), Batch.finished_at.is_(None))
        .values(finished_at=now, webhook_next_at=now)
        .returning(Batch.id)
    )
    done = list(session.scalars(stmt, execution_options={"synchronize_session": False}))
    return list(session.scalars(select(Batch).where(Batch.id.in_(done)))) if done else []


def batch_counts(
    session: Session, batch_id: str, orders: Sequence[str] | None = None
) -> dict[str, Any]:
    """Count a batch's analyses (or those of some of its orders) by outcome, with the last seq."""
    stmt = (
        select(Analysis.status, Analysis.result_status, func.count(), func.max(Analysis.finish_seq))
        .join(BatchItem, BatchItem.analysis_id == Analysis.id)
        .where(BatchItem.batch_id == batch_id)
        .group_by(Analysis.status, Analysis.result_status)
    )
    if orders:
        stmt = stmt.where(BatchItem.order_number.in_(list(orders)))
    rows = session.execute(stmt)
    counts = {"done": 0, "failed": 0, "not_found": 0, "queued": 0, "running": 0, "last_seq": 0}
    for status, result_status, count, last_seq in rows:
        if status in OPEN_STATUSES:
            counts[status] += count
        else:
            counts[result_status or status] += count
        counts["last_seq"] = max(counts["last_seq"], last_seq or 0)
    return counts


def batch_state(counts: dict[str, Any]) -> str:
    """Derive the state of a batch from its counts."""
    if counts["queued"] + counts["running"] == 0:
        return "done"
    if counts["running"] or counts["done"] or counts["failed"] or counts["not_found"]:
        return "running"
    return "queued"


def _after(seq: int, last_id: int):
    """Return the condition 'finished after position (seq, id)'."""
    return Analysis.finish_seq.is_not(None) & (
        (Analysis.finish_seq > seq) | and_(Analysis.finish_seq == seq, Analysis.id > last_id)
    )


def count_after(
    session: Session, batch_id: str, after: tuple[int, int], orders: Sequence[str] | None = None
) -> int:
    """Count a batch's finished analyses after a cursor position."""
    stmt = (
        select(func.count())
        .select_from(BatchItem)
        .join(Analysis, Analysis.id == BatchItem.analysis_id)
        .where(BatchItem.batch_id == batch_id, _after(*after))
    )
    if orders:
        stmt = stmt.where(BatchItem.order_number.in_(list(orders)))
    return int(session.scalar(stmt) or 0)


def batch_results(
    session: Session,
    batch_id: str,
    after: tuple[int, int],
    limit: int,
    orders: Sequence[str] | None = None,
) -> list[tuple[str, Analysis]]:
    """Return (order number, analysis) finished after the cursor position, in finish order."""
    stmt = (
        select(BatchItem.order_number, Analysis)
        .join(Analysis, Analysis.id == BatchItem.analysis_id)
        .where(BatchItem.batch_id == batch_id, _after(*after))
        .order_by(Analysis.finish_seq, Analysis.id)
        .limit(limit)
    )
    if orders:
        stmt = stmt.where(BatchItem.order_number.in_(list(orders)))
    return [(number, analysis) for number, analysis in session.execute(stmt)]


def batch_result_rows(
    session: Session,
    batch_id: str,
    after: tuple[int, int],
    limit: int,
    orders: Sequence[str] | None = None,
) -> list:
    """Like `batch_results`, as plain rows with the result as stored JSON text (not parsed).

    Rows: order_number, id, finish_seq, result_status, error, data_version, result_json.
    The results endpoint splices the text into its response instead of parsing and
    re-serialising every analysis.
    """
    stmt = (
        select(
            BatchItem.order_number,
            Analysis.id,
            Analysis.finish_seq,
            Analysis.result_status,
            Analysis.error,
            Analysis.data_version,
            cast(Analysis.result, Text).label("result_json"),
        )
        .join(Analysis, Analysis.id == BatchItem.analysis_id)
        .where(BatchItem.batch_id == batch_id, _after(*after))
        .order_by(Analysis.finish_seq, Analysis.id)
        .limit(limit)
    )
    if orders:
        stmt = stmt.where(BatchItem.order_number.in_(list(orders)))
    return list(session.execute(stmt))


def latest_analysis(session: Session, number: str) -> Analysis | None:
    """Return the most recently finished analysis of an order."""
    return session.scalar(
        select(Analysis)
        .where(
            Analysis.kind == AnalysisKind.ORDER.value,
            Analysis.subject == number,
            Analysis.finish_seq.is_not(None),
        )
        .order_by(Analysis.finish_seq.desc(), Analysis.id.desc())
        .limit(1)
    )


def overdue(session: Session, now: datetime, limit: int = 5000) -> list[Analysis]:
    """Return open rows past their deadline."""
    return list(
        session.scalars(
            select(Analysis)
            .where(Analysis.status.in_(OPEN_STATUSES), Analysis.deadline < now)
            .order_by(Analysis.id)
            .limit(limit)
        )
    )


def extend(session: Session, ids: Sequence[int], now: datetime, seconds: int) -> None:
    """Push the deadline of rows whose job is still waiting in the queue."""
    session.execute(
        update(Analysis)
        .where(Analysis.id.in_(ids), Analysis.deadline < now)
        .values(deadline=now + timedelta(seconds=seconds)),
        execution_options={"synchronize_session": False},
    )


def redispatch(
    session: Session, ids: Sequence[int], now: datetime, max_attempts: int, queued_deadline_s: int
) -> tuple[str, list[int]]:
    """Give overdue rows a new token if they have attempts left; return the token and claimed ids."""
    token = new_token()
    stmt = (
        update(Analysis)
        .where(
            Analysis.id.in_(ids),
            Analysis.status.in_(OPEN_STATUSES),
            Analysis.deadline < now,
            Analysis.attempts < max_attempts,
        )
        .values(
            status=AnalysisStatus.QUEUED.value,
            attempts=Analysis.attempts + 1,
            job_id=token,
            deadline=now + timedelta(seconds=queued_deadline_s),
        )
        .returning(Analysis.id)
    )
    return token, list(session.scalars(stmt, execution_options={"synchronize_session": False}))


def give_up(session: Session, ids: Sequence[int], now: datetime, max_attempts: int) -> list[int]:
    """Fail overdue rows that used all their attempts; return their ids."""
    rows = list(
        session.execute(
            select(Analysis.id, Analysis.job_id).where(
                Analysis.id.in_(ids),
                Analysis.status.in_(OPEN_STATUSES),
                Analysis.deadline < now,
                Analysis.attempts >= max_attempts,
            )
        )
    )
    failed: list[int] = []
    message = f"gave up after {max_attempts} attempts: the job was lost or kept failing"
    for token, group in _group_by_token(rows).items():
        outcomes = {analysis_id: failed_outcome(message) for analysis_id in group}
        if finish(session, token, outcomes):
            failed.extend(group)
    return failed


def _group_by_token(rows: Iterable[tuple[int, str | None]]) -> dict[str | None, list[int]]:
    """Group (id, token) pairs by token."""
    groups: dict[str | None, list[int]] = {}
    for analysis_id, token in rows:
        groups.setdefault(token, []).append(analysis_id)
    return groups


def undispatch(session: Session, token: str) -> None:
    """Hand rows whose enqueue failed back to the sweeper without spending an attempt."""
    session.execute(
        update(Analysis)
        .where(Analysis.job_id == token, Analysis.status == AnalysisStatus.QUEUED.value)
        .values(attempts=Analysis.attempts - 1, deadline=utcnow()),
        execution_options={"synchronize_session": False},
    )


def batch_summary(session: Session, batch: Batch) -> dict[str, Any]:
    """Return the status document of a batch."""
    counts = batch_counts(session, batch.id)
    pending = counts["queued"] + counts["running"]
    resolved = batch.total - pending
    return {
        "id": batch.id,
        "state": batch_state(counts),
        "as_of": batch.as_of.isoformat(),
        "total": batch.total,
        "done": counts["done"],
        "failed": counts["failed"],
        "not_found": counts["not_found"],
        "pending": pending,
        "progress": round(resolved / batch.total, 4) if batch.total else 1.0,
        "created_at": batch.created_at.isoformat(),
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }


def claim_webhooks(session: Session, now: datetime, lease_s: int) -> list[str]:
    """Lease the due callbacks of finished batches to this process; return their batch ids."""
    stmt = (
        update(Batch)
        .where(
            Batch.webhook_state == WebhookState.PENDING.value,
            Batch.finished_at.is_not(None),
            Batch.webhook_next_at <= now,
        )
        .values(webhook_next_at=now + timedelta(seconds=lease_s))
        .returning(Batch.id)
    )
    return list(session.scalars(stmt, execution_options={"synchronize_session": False}))


def webhook_failed(session: Session, batch_id: str, now: datetime, max_attempts: int) -> str:
    """Count a failed delivery and schedule the next with exponential backoff; return the state."""
    batch = session.get(Batch, batch_id)
    batch.webhook_attempts += 1
    if batch.webhook_attempts >= max_attempts:
        batch.webhook_state = WebhookState.FAILED.value
    else:
        batch.webhook_next_at = now + timedelta(seconds=2**batch.webhook_attempts)
    return batch.webhook_state


def webhook_sent(session: Session, batch_id: str) -> None:
    """Record a delivered callback."""
    batch = session.get(Batch, batch_id)
    batch.webhook_attempts += 1
    batch.webhook_state = WebhookState.SENT.value
