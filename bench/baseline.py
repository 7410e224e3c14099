"""The straightforward baseline the pipeline bench compares against: one RQ job per order.

Each job loads what its one order needs with per-order (and per-line) ORM queries, analyses
every product of the order from scratch (no cache, no sharing between orders), and writes its
result row with `ledger.finish`, so the results endpoint serves it like any other. Rows are
written by `enqueue_baseline` with a long queued deadline: the sweeper leaves them alone.

The workers run `bench.baseline.analyze_order` by import path (run_worker.py's cwd is the repo).
"""

from __future__ import annotations

from collections.abc import Sequence

from rq import Queue
from sqlalchemy import select

from jobs import atp, ledger, runtime
from jobs.constants import AnalysisStatus, ResultStatus
from jobs.db import utcnow
from jobs.models import Analysis, Order, OrderLine, Product, ProductAlias, Receipt, Stock

BASELINE_DEADLINE_S = 3600


def _product(session, code: str, as_of, lead_days: int) -> atp.ProductResult | None:
    """Load and analyse one canonical product, the obvious way."""
    product = session.get(Product, code)
    if product is None:
        return None
    codes = [
        code,
        *sorted(
            session.scalars(select(ProductAlias.alias).where(ProductAlias.product_code == code))
        ),
    ]
    on_hand = sum(
        s.on_hand for s in session.scalars(select(Stock).where(Stock.product_code.in_(codes)))
    )
    receipts = [
        atp.Receipt(r.date, r.qty)
        for r in session.scalars(select(Receipt).where(Receipt.product_code.in_(codes)))
    ]
    demand = [
        atp.Demand(o.number, o.ship_date, o.priority, o.created_at, line.qty)
        for line, o in session.execute(
            select(OrderLine, Order)
            .join(Order, Order.number == OrderLine.order_number)
            .where(OrderLine.product_code.in_(codes), Order.status == "open")
        ).tuples()
    ]
    data = atp.ProductData(
        code=code,
        name=product.name,
        unit=product.unit,
        codes=tuple(codes),
        on_hand=on_hand,
        receipts=tuple(receipts),
        demand=tuple(demand),
    )
    return atp.analyze_product(data, as_of, lead_days)


def analyze_order(analysis_id: int, token: str) -> str:
    """Analyse one order's ledger row with per-order queries and write its result."""
    rt = runtime.get()
    lead = rt.settings.get("LEAD_DAYS", 1)
    with rt.session_factory() as session:
        row = session.get(Analysis, analysis_id)
        version = ledger.data_version(session)
        order = session.get(Order, row.subject)
        products: dict[str, atp.ProductResult] = {}
        found = None
        if order is not None and order.status == "open" and order.lines:
            lines = []
            for line in order.lines:
                alias_of = session.scalar(
                    select(ProductAlias.product_code).where(ProductAlias.alias == line.product_code)
                )
                code = alias_of or line.product_code
                lines.append(atp.OrderLine(code, line.qty, line.unit_price))
                if code not in products:
                    result = _product(session, code, row.as_of, lead)
                    if result is not None:
                        products[code] = result
            found = atp.Order(order.number, order.ship_date, tuple(lines))
        analysis = atp.analyze_order(row.subject, found, products, row.as_of)
        session.rollback()
    analysis.update(data_version=version, computed_at=utcnow().isoformat())
    is_found = analysis["status"] != ResultStatus.NOT_FOUND.value
    outcome = {
        "status": AnalysisStatus.DONE.value,
        "result_status": (ResultStatus.DONE if is_found else ResultStatus.NOT_FOUND).value,
        "result": analysis,
        "data_version": version,
    }
    with rt.session_factory.begin() as session:
        ledger.finish(session, token, {analysis_id: outcome})
    return analysis["status"]


def enqueue_baseline(rt: runtime.Runtime, queue: Queue, numbers: Sequence[str], as_of) -> str:
    """Write a batch of one ledger row per order and enqueue one baseline job each; return its id."""
    with rt.session_factory.begin() as session:
        batch, dispatches, _ = ledger.create_batch(
            session, numbers, as_of, chunk_size=1, queued_deadline_s=BASELINE_DEADLINE_S
        )
        batch_id = batch.id
    jobs = [
        Queue.prepare_data(
            analyze_order,
            args=(ids[0], token),
            job_id=token,
            timeout=600,
            result_ttl=60,
            failure_ttl=3600,
        )
        for token, ids in dispatches
    ]
    for start in range(0, len(jobs), 1000):
        queue.enqueue_many(jobs[start : start + 1000])
    return batch_id
