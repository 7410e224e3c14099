"""Purchase analysis of one product (DESIGN §4): forecast, stock-out, supplier, decision.

Pure engine, plain data in, JSON-ready dict out. Choices where the design is silent:

* History: as_of-90 … as_of-1 from the first recorded day (a 0 record counts), missing days 0.
  Under 14 days: manual_review, risk n/a, forecast/SS/ROP/qty null; the stock-out date is
  searched with d = 0 (known commitments only) and the supplier chosen from it.
* SES (alpha 0.2): level starts at the first observation. Croston-SBA (alpha 0.1): size and
  interval start at the first non-zero day, the interval counted from the start of history
  (a sale on day 1 has interval 1), both updated on non-zero days only;
  d = (1 - alpha/2)·size/interval, 0 without sales. A negative forecast is clamped to 0.
* d == 0: days_of_cover null; no_action unless IP < 0 (open orders exceed stock + receipts),
  then buy back to the reorder point; risk low, or high if IP < 0.
* No offer: manual_review whatever IP is (no lead time, so no ROP); risk with L = 0.
* late_supplier / erratic turn a buy into manual_review (qty still suggested); with IP > ROP
  the decision stays no_action and the flag is only a reason. late_supplier makes risk high.
* Comparisons (IP > ROP, stock < 0) use values rounded to 9 decimals.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

HISTORY_WINDOW = 90
MIN_HISTORY = 14
SEARCH_DAYS = 180
REVIEW_DAYS = 14
Z_95 = 1.645
CROSTON_ALPHA = 0.1
SES_ALPHA = 0.2
ERRATIC_CV = 1.5
REASONS = ("short_history", "no_offer", "late_supplier", "erratic")


@dataclass(frozen=True)
class Offer:
    supplier: str
    unit_price: float
    lead_time_days: int
    min_qty: float
    multiple: float


@dataclass(frozen=True)
class PurchaseInput:
    code: str
    name: str
    unit: str
    as_of: date
    sales: Mapping[date, float]
    on_hand: float
    receipts: tuple[tuple[date, float], ...]
    demand: tuple[tuple[date | None, float], ...]
    offers: tuple[Offer, ...]
    lead_days: int = 1


def sales_history(sales: Mapping[date, float], as_of: date) -> list[float]:
    """Return daily sales from the first recorded day of the 90-day window up to as_of − 1."""
    start = as_of - timedelta(days=HISTORY_WINDOW)
    recorded = [day for day in sales if start <= day < as_of]
    if not recorded:
        return []
    first = min(recorded)
    days = (as_of - first).days
    return [float(sales.get(first + timedelta(days=i), 0.0)) for i in range(days)]


def ses(series: list[float], alpha: float = SES_ALPHA) -> float:
    """Return the simple-exponential-smoothing level, started at the first observation."""
    level = series[0]
    for x in series[1:]:
        level += alpha * (x - level)
    return level


def croston_sba(series: list[float], alpha: float = CROSTON_ALPHA) -> float:
    """Return the Croston forecast with the Syntetos–Boylan bias correction (1 − alpha/2)."""
    size = interval = None
    last = 0
    for i, x in enumerate(series, start=1):
        if x == 0:
            continue
        if size is None:
            size, interval = x, float(i)
        else:
            size += alpha * (x - size)
            interval += alpha * ((i - last) - interval)
        last = i
    if size is None:
        return 0.0
    return (1 - alpha / 2) * size / interval


def forecast(series: list[float]) -> tuple[str, float]:
    """Return (method, daily forecast): Croston–SBA when over half the days are zero, else SES."""
    zeros = sum(1 for x in series if x == 0)
    if 2 * zeros > len(series):
        return "croston_sba", max(0.0, croston_sba(series))
    return "ses", max(0.0, ses(series))


def stockout_date(inp: PurchaseInput, d: float) -> date | None:
    """Return the first day in the next 180 whose projected stock is negative, or None."""
    deltas = [0.0] * SEARCH_DAYS
    for day, qty in inp.receipts:
        if day >= inp.as_of:
            k = max(0, (day - inp.as_of).days + inp.lead_days)
            if k < SEARCH_DAYS:
                deltas[k] += qty
    for ship, qty in inp.demand:
        if ship is not None:
            k = max(0, (ship - inp.as_of).days)
            if k < SEARCH_DAYS:
                deltas[k] -= qty
    level = inp.on_hand - sum(qty for ship, qty in inp.demand if ship is None)
    for t in range(SEARCH_DAYS):
        level += deltas[t]
        if round(level - d * t, 9) < 0:
            return inp.as_of + timedelta(days=t)
    return None


def choose_offer(
    offers: tuple[Offer, ...], as_of: date, stockout: date | None
) -> tuple[Offer | None, bool]:
    """Return (offer, late): cheapest offer arriving by the stock-out, else the fastest one."""
    if not offers:
        return None, False
    in_time = [
        o for o in offers if stockout is None or as_of + timedelta(o.lead_time_days) <= stockout
    ]
    if in_time:
        return min(in_time, key=lambda o: (o.unit_price, o.lead_time_days, o.supplier)), False
    return min(offers, key=lambda o: (o.lead_time_days, o.unit_price, o.supplier)), True


def order_qty(raw: float, offer: Offer) -> float:
    """Raise a raw quantity to the offer's minimum and round it up to its multiple."""
    qty = max(raw, offer.min_qty)
    if offer.multiple > 0:
        qty = math.ceil(round(qty / offer.multiple, 6)) * offer.multiple
    return qty


def risk_level(ip: float, d: float, lead: int) -> str:
    """Classify days of cover IP/d against the lead time and the 14-day review period."""
    if d == 0:
        return "high" if ip < 0 else "low"
    cover = ip / d
    if cover < lead:
        return "high"
    return "medium" if cover < lead + REVIEW_DAYS else "low"


def _r(x: float | None, digits: int = 3) -> float | None:
    """Round for JSON, turning -0.0 into 0.0."""
    return None if x is None else round(x, digits) + 0.0


def analyze_purchase(inp: PurchaseInput) -> dict:
    """Analyse whether to buy the product and return the JSON-ready result of DESIGN §4."""
    history = sales_history(inp.sales, inp.as_of)
    receipts = sum(qty for day, qty in inp.receipts if day >= inp.as_of)
    open_demand = sum(qty for _, qty in inp.demand)
    ip = inp.on_hand + receipts - open_demand
    short = len(history) < MIN_HISTORY
    method = d = sigma = None
    if not short:
        method, d = forecast(history)
        sigma = statistics.stdev(history)
    stockout = stockout_date(inp, d or 0.0)
    offer, late = choose_offer(inp.offers, inp.as_of, stockout)
    erratic = d is not None and d > 0 and sigma / d > ERRATIC_CV
    flags = (short, not inp.offers, late, erratic)
    reasons = [code for code, flag in zip(REASONS, flags, strict=True) if flag]
    ss = rop = qty = None
    if short:
        decision, risk = "manual_review", "n/a"
    elif offer is None:
        decision, risk = "manual_review", risk_level(ip, d, 0)
    else:
        lead = offer.lead_time_days
        ss = Z_95 * sigma * math.sqrt(lead)
        rop = d * lead + ss
        if round(ip - rop, 9) > 0 or (d == 0 and ip >= 0):
            decision = "no_action"
        else:
            qty = order_qty(d * (lead + REVIEW_DAYS) + ss - ip, offer)
            decision = "manual_review" if late or erratic else "buy"
        risk = "high" if late else risk_level(ip, d, lead)
    supplier = None
    if offer is not None:
        supplier = {
            "supplier": offer.supplier,
            "unit_price": _r(offer.unit_price, 2),
            "lead_time_days": offer.lead_time_days,
            "min_qty": _r(offer.min_qty),
            "multiple": _r(offer.multiple),
            "arrives_on": (inp.as_of + timedelta(offer.lead_time_days)).isoformat(),
        }
    return {
        "product": {"code": inp.code, "name": inp.name, "unit": inp.unit},
        "as_of": inp.as_of.isoformat(),
        "decision": decision,
        "risk": risk,
        "reasons": reasons,
        "history_days": len(history),
        "method": method,
        "daily_forecast": _r(d),
        "sigma": _r(sigma),
        "forecast_30d": _r(None if d is None else 30 * d),
        "on_hand": _r(inp.on_hand),
        "future_receipts": _r(receipts),
        "open_demand": _r(open_demand),
        "inventory_position": _r(ip),
        "stockout_date": stockout.isoformat() if stockout else None,
        "days_of_cover": _r(ip / d) if d else None,
        "supplier": supplier,
        "late_supplier": late,
        "safety_stock": _r(ss),
        "reorder_point": _r(rop),
        "suggested_qty": _r(qty),
        "order_value": _r(None if qty is None else qty * offer.unit_price, 2),
    }


TEXTS = {
    "en": {
        "buy": "Recommendation: buy {qty} {unit} from {supplier}.",
        "no_action": "Recommendation: no action (position {ip} {unit} > reorder point {rop}).",
        "manual_review": "Recommendation: manual review: {why}.",
        "suggest": " Suggested: {qty} {unit} from {supplier}.",
        "forecast": "Analysis: forecast for the next 30 days {f30} {unit} ({d}/day, {m}) vs "
        "{on_hand} {unit} on hand, inventory position {ip} {unit}.",
        "no_forecast": "Analysis: no forecast; {on_hand} {unit} on hand, "
        "inventory position {ip} {unit}.",
        "stockout": "Stock-out expected on {date}.",
        "no_stockout": "No stock-out expected in the next 180 days.",
        "supplier": "Supplier: {supplier} at {price}/{unit}, lead time {days} (arrives {arrives}).",
        "no_supplier": "Supplier: no offer for this product.",
        "in_time": "Why this supplier: arrives before the stock-out and is the cheapest.",
        "cheapest": "Why this supplier: the cheapest offer.",
        "late": "Why this supplier: nobody arrives before the stock-out; it is the fastest.",
        "quantity": "Quantity: {qty} {unit} = {lead} + 14 days of forecast + safety stock {ss} "
        "− inventory position (min {min}, multiple {mult}); order value {value}.",
        "risk": "Risk: {risk}.",
        "risks": {"high": "high", "medium": "medium", "low": "low", "n/a": "n/a"},
        "reasons": {
            "short_history": "less than 14 days of sales history",
            "no_offer": "no supplier offer",
            "late_supplier": "late supplier, nobody can deliver before the stock-out",
            "erratic": "demand too erratic to forecast",
        },
    },
    "pt-BR": {
        "buy": "Recomendação: comprar {qty} {unit} de {supplier}.",
        "no_action": "Recomendação: nenhuma ação (posição {ip} {unit} > ponto de pedido {rop}).",
        "manual_review": "Recomendação: revisão manual: {why}.",
        "suggest": " Sugestão: {qty} {unit} de {supplier}.",
        "forecast": "Análise: previsão para os próximos 30 dias {f30} {unit} ({d}/dia, {m}) "
        "contra {on_hand} {unit} em estoque, posição de estoque {ip} {unit}.",
        "no_forecast": "Análise: sem previsão; {on_hand} {unit} em estoque, "
        "posição de estoque {ip} {unit}.",
        "stockout": "Ruptura prevista em {date}.",
        "no_stockout": "Nenhuma ruptura prevista nos próximos 180 dias.",
        "supplier": "Fornecedor: {supplier} a {price}/{unit}, prazo de {days} "
        "(chega em {arrives}).",
        "no_supplier": "Fornecedor: nenhuma oferta para este produto.",
        "in_time": "Por que este fornecedor: chega antes da ruptura e é o mais barato.",
        "cheapest": "Por que este fornecedor: a oferta mais barata.",
        "late": "Por que este fornecedor: ninguém chega antes da ruptura; é o mais rápido.",
        "quantity": "Quantidade: {qty} {unit} = previsão de {lead} + 14 dias + estoque de "
        "segurança {ss} − posição de estoque (mínimo {min}, múltiplo {mult}); "
        "valor do pedido {value}.",
        "risk": "Risco: {risk}.",
        "risks": {"high": "alto", "medium": "médio", "low": "baixo", "n/a": "não se aplica"},
        "reasons": {
            "short_history": "menos de 14 dias de histórico de vendas",
            "no_offer": "nenhuma oferta de fornecedor",
            "late_supplier": "fornecedor atrasado, ninguém entrega antes da ruptura",
            "erratic": "demanda irregular demais para prever",
        },
    },
}


def _num(x: float | None, loc: str, decimals: int | None = None) -> str:
    """Format a number for the locale: up to 3 decimals, or exactly `decimals`."""
    if x is None:
        return "—"
    text = f"{round(x, decimals or 3) + 0.0:,.{decimals or 3}f}"
    text = text if decimals else text.rstrip("0").rstrip(".")
    return text.translate(str.maketrans(",.", ".,")) if loc == "pt-BR" else text


def _days(n: int, loc: str) -> str:
    """Format a number of days with its noun in the locale."""
    word = "dia" if loc == "pt-BR" else "day"
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _day(iso: str | None, loc: str) -> str:
    """Format an ISO date: dd/mm/yyyy in pt-BR, ISO in en."""
    if iso is None or loc != "pt-BR":
        return iso or "—"
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


def render_message(result: dict, locale: str) -> str:
    """Render an analyze_purchase result as a multi-line chat message in en or pt-BR."""
    loc = "pt-BR" if (locale or "").lower().replace("_", "-").startswith("pt") else "en"
    t, sup, r = TEXTS[loc], result["supplier"], result
    currency = "R$ " if loc == "pt-BR" else ""
    v = {
        key: _num(r[field], loc)
        for key, field in (
            ("qty", "suggested_qty"),
            ("ip", "inventory_position"),
            ("on_hand", "on_hand"),
            ("f30", "forecast_30d"),
            ("d", "daily_forecast"),
            ("ss", "safety_stock"),
            ("rop", "reorder_point"),
        )
    }
    v |= {"unit": r["product"]["unit"], "supplier": sup["supplier"] if sup else "—"}
    v |= {"m": {"croston_sba": "Croston-SBA", "ses": "SES"}.get(r["method"], "")}
    v |= {"date": _day(r["stockout_date"], loc), "value": currency + _num(r["order_value"], loc, 2)}
    lines = [f"{r['product']['code']} – {r['product']['name']} ({_day(r['as_of'], loc)})"]
    if r["decision"] == "manual_review":
        why = "; ".join(t["reasons"].get(code, code) for code in r["reasons"])
        extra = t["suggest"].format(**v) if sup and r["suggested_qty"] is not None else ""
        lines.append(t["manual_review"].format(why=why) + extra)
    else:
        lines.append(t[r["decision"]].format(**v))
    lines.append(t["forecast" if r["method"] else "no_forecast"].format(**v))
    lines.append(t["stockout" if r["stockout_date"] else "no_stockout"].format(**v))
    if sup is None:
        lines.append(t["no_supplier"])
    else:
        v |= {"price": currency + _num(sup["unit_price"], loc, 2), "lead": sup["lead_time_days"]}
        v |= {"arrives": _day(sup["arrives_on"], loc), "min": _num(sup["min_qty"], loc)}
        v |= {"mult": _num(sup["multiple"], loc), "days": _days(sup["lead_time_days"], loc)}
        lines.append(t["supplier"].format(**v))
        why = "late" if r["late_supplier"] else "in_time" if r["stockout_date"] else "cheapest"
        lines.append(t[why])
        if r["suggested_qty"] is not None:
            lines.append(t["quantity"].format(**v))
    lines.append(t["risk"].format(risk=t["risks"].get(r["risk"], r["risk"])))
    return "\n".join(lines)
