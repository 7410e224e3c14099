"""Server-rendered pages: the order book at / and the chat at /chat."""

from datetime import date
from itertools import groupby

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.extensions import db
from jobs.models import Order

bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def ship_group(ship_date: date | None, today: date) -> str:
    """Return the heading an ERP would group an order under."""
    if ship_date is None:
        return "Unscheduled"
    if ship_date < today:
        return "Past due"
    days = (ship_date - today).days
    if days < 7:
        return "This week"
    if days < 14:
        return "Next week"
    return "Later"


GROUP_ORDER = ["Past due", "This week", "Next week", "Later", "Unscheduled"]


@bp.after_app_request
def security_headers(response):
    """Add security headers to every response, and the CSP to pages."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@bp.get("/")
def orders_page():
    """Render the open order book, grouped by ship date."""
    today = date.today()
    limit = min(int(request.args.get("limit", 5000)), 20000)
    session = db.reader
    with session.begin():
        orders = list(
            session.scalars(
                select(Order)
                .where(Order.status == "open")
                .options(selectinload(Order.lines))
                .order_by(Order.ship_date.is_(None), Order.ship_date, Order.number)
                .limit(limit)
            )
        )
    rows = [
        {
            "number": o.number,
            "customer": o.customer,
            "ship_date": o.ship_date,
            "priority": o.priority,
            "items": len(o.lines),
            "value": round(sum(line.qty * line.unit_price for line in o.lines), 2),
            "group": ship_group(o.ship_date, today),
        }
        for o in orders
    ]
    rows.sort(key=lambda r: GROUP_ORDER.index(r["group"]))
    groups = [(name, list(items)) for name, items in groupby(rows, key=lambda r: r["group"])]
    return render_template(
        "orders.html",
        groups=groups,
        total=len(rows),
        total_value=round(sum(r["value"] for r in rows), 2),
        today=today,
        tokens_required=bool(current_app.config.get("API_TOKENS")),
        poll_interval=current_app.config["POLL_INTERVAL_MS"],
    )


@bp.get("/chat")
def chat_page():
    """Render the product chat."""
    return render_template("chat.html")
