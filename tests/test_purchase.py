"""Tests of the purchase-analysis engine (DESIGN §4), with the arithmetic done by hand."""

import json
import math
from dataclasses import replace
from datetime import date, timedelta

import pytest

from jobs.purchase import (
    Offer,
    PurchaseInput,
    analyze_purchase,
    choose_offer,
    croston_sba,
    order_qty,
    render_message,
    ses,
)

AS_OF = date(2026, 3, 2)
S1 = Offer("S1", 5.00, 10, 100, 50)
S2 = Offer("S2", 4.50, 20, 0, 1)


def day(offset: int) -> date:
    return AS_OF + timedelta(days=offset)


def example(on_hand: float, **changes) -> PurchaseInput:
    """DESIGN §4 worked example: 10/day for 90 days, unscheduled demand 50, no receipts."""
    inp = PurchaseInput(
        code="A",
        name="Prod A",
        unit="un",
        as_of=AS_OF,
        sales={day(-i): 10.0 for i in range(1, 91)},
        on_hand=on_hand,
        receipts=(),
        demand=((None, 50.0),),
        offers=(S1, S2),
    )
    return replace(inp, **changes)


# --- DESIGN §4 worked examples, verbatim ------------------------------------------------


def test_example_on_hand_100_late_supplier_manual_review():
    r = analyze_purchase(example(100))
    # IP = 100 - 50 = 50; stock 50 - 10t < 0 first at t = 6.
    assert r["inventory_position"] == 50
    assert r["stockout_date"] == day(6).isoformat()
    # S1 arrives +10, S2 +20: nobody in time -> the fastest, S1, late.
    assert r["supplier"]["supplier"] == "S1"
    assert r["late_supplier"] is True
    assert r["decision"] == "manual_review"
    assert r["risk"] == "high"
    assert "late_supplier" in r["reasons"]
    # Q = 10*(10+14) + 0 - 50 = 190 -> at least 100 -> multiple of 50 -> 200.
    assert r["suggested_qty"] == 200
    assert r["order_value"] == 1000.00


def test_example_on_hand_250_buy_from_s2():
    r = analyze_purchase(example(250))
    # IP = 200; 200 - 10t < 0 first at t = 21; S1 (+10) and S2 (+20) both in time.
    assert r["inventory_position"] == 200
    assert r["stockout_date"] == day(21).isoformat()
    assert r["supplier"]["supplier"] == "S2"
    assert r["supplier"]["arrives_on"] == day(20).isoformat()
    assert r["late_supplier"] is False
    # sigma = 0 -> SS = 0, ROP = 10*20 = 200; IP <= ROP -> buy 10*34 - 200 = 140.
    assert r["safety_stock"] == 0
    assert r["reorder_point"] == 200
    assert r["decision"] == "buy"
    assert r["suggested_qty"] == 140
    assert r["supplier"]["unit_price"] == 4.50
    assert r["order_value"] == 630.00
    # cover 200/10 = 20: not < 20, but < 34 -> medium.
    assert r["days_of_cover"] == 20
    assert r["risk"] == "medium"
    assert r["reasons"] == []


def test_example_on_hand_500_no_action():
    r = analyze_purchase(example(500))
    # IP = 450 > ROP 200 -> no action; cover 45 >= 34 -> low.
    assert r["inventory_position"] == 450
    assert r["supplier"]["supplier"] == "S2"
    assert r["decision"] == "no_action"
    assert r["risk"] == "low"
    assert r["suggested_qty"] is None
    assert r["order_value"] is None


def test_example_forecast_fields_and_json_ready():
    r = analyze_purchase(example(250))
    assert r["history_days"] == 90
    assert r["method"] == "ses"  # no zero day
    assert r["daily_forecast"] == 10
    assert r["sigma"] == 0
    assert r["forecast_30d"] == 300
    assert r["on_hand"] == 250
    assert r["future_receipts"] == 0
    assert r["open_demand"] == 50
    assert r["product"] == {"code": "A", "name": "Prod A", "unit": "un"}
    assert r["as_of"] == "2026-03-02"
    assert json.loads(json.dumps(r)) == r
    assert set(r["supplier"]) == {
        "supplier",
        "unit_price",
        "lead_time_days",
        "min_qty",
        "multiple",
        "arrives_on",
    }


# --- forecasting ---------------------------------------------------------------------------


def test_croston_sba_intermittent_by_hand():
    # History starts at the 0 record on day -14 (recorded, so it counts): 14 days,
    # day 1 = AS_OF-14. Sales 4 on day 2, 6 on day 5, 3 on day 11; 11 zeros > 7 -> Croston.
    # Init at day 2: size 4, interval 2 (counted from the start of history).
    # Day 5:  interval 3: size 4 + 0.1*(6-4) = 4.2;    interval 2 + 0.1*(3-2) = 2.1
    # Day 11: interval 6: size 4.2 + 0.1*(3-4.2) = 4.08; interval 2.1 + 0.1*(6-2.1) = 2.49
    # d = (1 - 0.1/2) * 4.08 / 2.49 = 3.876 / 2.49 = 1.5566...
    sales = {day(-14): 0.0, day(-13): 4.0, day(-10): 6.0, day(-4): 3.0}
    sales |= {day(-100): 999.0, day(0): 999.0}  # outside the window: ignored
    r = analyze_purchase(example(100, sales=sales))
    assert r["history_days"] == 14
    assert r["method"] == "croston_sba"
    assert r["daily_forecast"] == 1.557
    assert r["forecast_30d"] == round(30 * 3.876 / 2.49, 3)
    # sigma: mean 13/14, sum of squares 16+36+9 = 61, var = (61 - 169/14)/13 = 3.7637
    assert r["sigma"] == 1.94
    assert "erratic" not in r["reasons"]  # 1.94 / 1.557 = 1.25 <= 1.5
    series = [0, 4, 0, 0, 6, 0, 0, 0, 0, 0, 3, 0, 0, 0]
    assert croston_sba(series) == pytest.approx(0.95 * 4.08 / 2.49)


def test_croston_first_sale_on_day_one_has_interval_one():
    # Sales 5 on days 1 and 3: size 5, interval 1 -> 1 + 0.1*(2-1) = 1.1; d = 0.95*5/1.1
    assert croston_sba([5, 0, 5, 0]) == pytest.approx(0.95 * 5 / 1.1)
    assert croston_sba([0, 0, 0]) == 0


def test_ses_smooth_series_by_hand():
    # 14 days from AS_OF-14: 10 x12, then 20 on day 13, day 14 missing -> 0 (1 zero -> SES).
    # Level starts at 10 and stays 10; day 13: 10 + 0.2*(20-10) = 12; day 14: 12 + 0.2*(0-12) = 9.6
    sales = {day(-14 + i): 10.0 for i in range(12)} | {day(-2): 20.0}
    r = analyze_purchase(example(100, sales=sales))
    assert r["history_days"] == 14  # exactly 14 is enough history
    assert r["method"] == "ses"
    assert r["daily_forecast"] == 9.6
    assert r["forecast_30d"] == 288
    # mean 10, squared deviations 100 + 100 -> var 200/13
    assert r["sigma"] == round(math.sqrt(200 / 13), 3)
    assert ses([10] * 12 + [20, 0]) == pytest.approx(9.6)


def test_erratic_demand_goes_to_manual_review():
    # A 0 record on day -90 starts the history; 100 every 10th day (days 10, 20, ... 90).
    # 81 zeros -> Croston: size 100, interval 10 throughout -> d = 0.95 * 100 / 10 = 9.5.
    # sigma = sqrt((9*100^2 - 90*10^2)/89) = sqrt(81000/89) = 30.168; 30.168/9.5 = 3.18 > 1.5.
    sales = {day(-90): 0.0} | {day(-91 + i): 100.0 for i in range(10, 91, 10)}
    offer = Offer("S", 2.0, 1, 0, 1)
    r = analyze_purchase(example(55, sales=sales, demand=(), offers=(offer,)))
    assert r["method"] == "croston_sba"
    assert r["daily_forecast"] == 9.5
    assert r["sigma"] == round(math.sqrt(81000 / 89), 3)
    # stock 55 - 9.5t < 0 at t = 6; S arrives +1, in time.
    assert r["stockout_date"] == day(6).isoformat()
    assert r["late_supplier"] is False
    # SS = 1.645*30.168*1 = 49.626, ROP = 9.5 + 49.626 = 59.126 >= IP 55
    # Q = 9.5*15 + 49.626 - 55 = 137.126 -> multiple 1 -> 138
    assert r["reorder_point"] == round(9.5 + 1.645 * math.sqrt(81000 / 89), 3)
    assert r["decision"] == "manual_review"
    assert r["reasons"] == ["erratic"]
    assert r["suggested_qty"] == 138
    assert r["risk"] == "medium"  # cover 55/9.5 = 5.79: >= 1, < 15


def test_short_history_manual_review_na():
    # First sale in the window 10 days ago -> 10 history days < 14.
    sales = {day(-10): 5.0, day(-3): 7.0, day(-120): 50.0}
    r = analyze_purchase(example(100, sales=sales))
    assert r["history_days"] == 10
    assert r["decision"] == "manual_review"
    assert r["risk"] == "n/a"
    assert r["reasons"] == ["short_history"]
    for key in ("method", "daily_forecast", "sigma", "forecast_30d", "days_of_cover"):
        assert r[key] is None
    assert r["safety_stock"] is None and r["reorder_point"] is None
    assert r["suggested_qty"] is None and r["order_value"] is None
    # position still reported; stock-out searched on commitments only (100 - 50 >= 0).
    assert r["inventory_position"] == 50
    assert r["stockout_date"] is None
    assert r["supplier"]["supplier"] == "S2"


def test_no_sales_at_all_is_short_history():
    r = analyze_purchase(example(100, sales={}))
    assert r["history_days"] == 0
    assert r["decision"] == "manual_review"
    assert r["risk"] == "n/a"


# --- d == 0 --------------------------------------------------------------------------------


def test_zero_forecast_no_action_and_low_risk():
    # 30 days of history, all zero -> Croston with no sale: d = 0, sigma = 0.
    r = analyze_purchase(example(100, sales={day(-30): 0.0}))
    assert r["history_days"] == 30
    assert r["daily_forecast"] == 0
    assert r["days_of_cover"] is None
    assert r["stockout_date"] is None
    assert r["decision"] == "no_action"
    assert r["risk"] == "low"


def test_zero_forecast_negative_position_buys_the_backlog():
    # IP = 10 - 50 = -40 < 0: stock-out at AS_OF; S0 (lead 0) arrives in time.
    # ROP = 0, Q = 0 + 0 - (-40) = 40.
    s0 = Offer("S0", 3.0, 0, 0, 1)
    r = analyze_purchase(example(10, sales={day(-30): 0.0}, offers=(s0,)))
    assert r["stockout_date"] == AS_OF.isoformat()
    assert r["decision"] == "buy"
    assert r["suggested_qty"] == 40
    assert r["order_value"] == 120.0
    assert r["risk"] == "high"


# --- no offers, late supplier --------------------------------------------------------------


def test_no_offers_manual_review():
    r = analyze_purchase(example(100, offers=()))
    assert r["decision"] == "manual_review"
    assert r["reasons"] == ["no_offer"]
    assert r["supplier"] is None
    assert r["late_supplier"] is False
    assert r["suggested_qty"] is None and r["order_value"] is None
    # risk with L = 0: cover 50/10 = 5 -> not < 0, < 14 -> medium.
    assert r["risk"] == "medium"


def test_no_offers_risk_high_when_position_negative():
    # IP = 30 - 50 = -20; cover -2 < 0 -> high.
    assert analyze_purchase(example(30, offers=()))["risk"] == "high"


def test_late_supplier_with_position_above_rop_stays_no_action_but_high_risk():
    # Stock 0 - 5 < 0 on AS_OF; the big receipt is usable from +1, S arrives +1: late.
    # IP = 0 + 1000 - 5 = 995 > ROP = 10*1 -> no action, flag listed, risk high.
    offer = Offer("S", 1.0, 1, 0, 1)
    inp = example(0, receipts=((AS_OF, 1000.0),), demand=((None, 5.0),), offers=(offer,))
    r = analyze_purchase(inp)
    assert r["stockout_date"] == AS_OF.isoformat()
    assert r["late_supplier"] is True
    assert r["decision"] == "no_action"
    assert r["reasons"] == ["late_supplier"]
    assert r["risk"] == "high"


# --- stock-out search ----------------------------------------------------------------------


def test_receipt_before_stockout_pushes_it_and_past_receipt_is_ignored():
    # Without receipts the stock-out is +6. Receipt of 100 dated +2, usable +3:
    # 100 - 50 + 100 - 10t < 0 first at t = 16. The receipt dated -1 is ignored.
    receipts = ((day(2), 100.0), (day(-1), 1000.0))
    r = analyze_purchase(example(100, receipts=receipts))
    assert r["future_receipts"] == 100
    assert r["inventory_position"] == 150
    assert r["stockout_date"] == day(16).isoformat()
    # S1 (+10) now arrives in time, S2 (+20) does not -> S1; IP 150 > ROP 100 -> no action.
    assert r["supplier"]["supplier"] == "S1"
    assert r["late_supplier"] is False
    assert r["decision"] == "no_action"


def test_receipt_usable_only_after_lead_days():
    # Receipt dated +5: lead_days 1 -> usable +6, in time (50 + 100 - 60 >= 0) -> +16;
    # lead_days 2 -> usable +7, too late for day 6 (50 - 60 < 0) -> +6.
    receipts = ((day(5), 100.0),)
    r1 = analyze_purchase(example(100, receipts=receipts))
    r2 = analyze_purchase(example(100, receipts=receipts, lead_days=2))
    assert r1["stockout_date"] == day(16).isoformat()
    assert r2["stockout_date"] == day(6).isoformat()


def test_receipt_after_stockout_does_not_push_it():
    r = analyze_purchase(example(100, receipts=((day(10), 100.0),)))
    assert r["stockout_date"] == day(6).isoformat()
    assert r["inventory_position"] == 150


def test_scheduled_demand_counts_from_its_need_date():
    # Unscheduled 50 counts from day 0: 50 - 10t < 0 at t = 6.
    # Scheduled 50 on +10: t = 9: 100 - 90 = 10 >= 0; t = 10: 100 - 50 - 100 < 0 -> +10.
    # Scheduled 50 on +30: after 100 - 10t < 0 at t = 11 -> +11.
    # Scheduled 50 on -3: need date max(ship, AS_OF) = AS_OF -> like unscheduled, +6.
    unscheduled = analyze_purchase(example(100, demand=((None, 50.0),)))
    scheduled = analyze_purchase(example(100, demand=((day(10), 50.0),)))
    later = analyze_purchase(example(100, demand=((day(30), 50.0),)))
    overdue = analyze_purchase(example(100, demand=((day(-3), 50.0),)))
    assert unscheduled["stockout_date"] == day(6).isoformat()
    assert scheduled["stockout_date"] == day(10).isoformat()
    assert later["stockout_date"] == day(11).isoformat()
    assert overdue["stockout_date"] == day(6).isoformat()
    # all open demand counts in IP whatever its date
    assert {r["inventory_position"] for r in (unscheduled, scheduled, later, overdue)} == {50}


def test_no_stockout_within_180_days():
    # 10/day, IP 10000 - 50: 9950 - 10*179 >= 0 -> none; all offers qualify -> cheapest S2.
    r = analyze_purchase(example(10000))
    assert r["stockout_date"] is None
    assert r["supplier"]["supplier"] == "S2"


# --- quantity rounding ---------------------------------------------------------------------


def test_multiple_rounds_up():
    # IP = 248.8 - 50 = 198.8; stock-out 198.8 - 10t < 0 at t = 20; S25 (lead 20) in time.
    # ROP 200 >= 198.8; Q = 10*34 - 198.8 = 141.2 -> multiple 25 -> 150.
    s25 = Offer("S25", 4.50, 20, 0, 25)
    r = analyze_purchase(example(248.8, offers=(s25,)))
    assert r["stockout_date"] == day(20).isoformat()
    assert r["decision"] == "buy"
    assert r["suggested_qty"] == 150
    assert r["order_value"] == 675.00
    assert r["risk"] == "high"  # cover 19.88 < 20


def test_quantity_below_minimum_becomes_minimum():
    # Example 2: Q = 140 < min 300 -> 300.
    s2_min = Offer("S2", 4.50, 20, 300, 1)
    r = analyze_purchase(example(250, offers=(S1, s2_min)))
    assert r["decision"] == "buy"
    assert r["suggested_qty"] == 300
    assert r["order_value"] == 1350.00


def test_order_qty_guards_float_error():
    # 0.1 + 0.2 = 0.30000000000000004; / 0.1 = 3.0000000000000004 -> without the guard 0.4.
    assert order_qty(0.1 + 0.2, Offer("S", 1, 1, 0, 0.1)) == pytest.approx(0.3)
    assert order_qty(141.2, Offer("S", 1, 1, 0, 25)) == 150
    assert order_qty(10, Offer("S", 1, 1, 100, 50)) == 100
    assert order_qty(101, Offer("S", 1, 1, 100, 50)) == 150
    assert order_qty(7.3, Offer("S", 1, 1, 0, 0)) == 7.3


# --- supplier choice -----------------------------------------------------------------------


def test_supplier_tie_break_by_lead_then_name():
    same_price = (Offer("X", 4.0, 7, 0, 1), Offer("Y", 4.0, 3, 0, 1), Offer("Z", 5.0, 1, 0, 1))
    assert choose_offer(same_price, AS_OF, None) == (same_price[1], False)
    twins = (Offer("B", 4.0, 5, 0, 1), Offer("A", 4.0, 5, 0, 1))
    assert choose_offer(twins, AS_OF, None) == (twins[1], False)
    r = analyze_purchase(example(10000, offers=twins))
    assert r["supplier"]["supplier"] == "A"


def test_late_supplier_tie_break_fastest_then_cheapest_then_name():
    late = (Offer("W", 1.0, 5, 0, 1), Offer("Y", 4.0, 2, 0, 1), Offer("Z", 3.0, 2, 0, 1))
    assert choose_offer(late, AS_OF, day(1)) == (late[2], True)
    twins = (Offer("Q", 3.0, 2, 0, 1), Offer("P", 3.0, 2, 0, 1))
    assert choose_offer(twins, AS_OF, day(1)) == (twins[1], True)


def test_offer_arriving_on_the_stockout_day_is_in_time():
    assert choose_offer((S2,), AS_OF, day(20)) == (S2, False)
    assert choose_offer((S2,), AS_OF, day(19)) == (S2, True)


# --- messages ------------------------------------------------------------------------------


def test_render_buy_in_both_locales():
    r = analyze_purchase(example(250))
    en = render_message(r, "en")
    pt = render_message(r, "pt-BR")
    assert "Recommendation: buy 140 un from S2" in en
    assert "Risk: medium" in en
    assert "4.50" in en and "630.00" in en and "300 un" in en
    assert "2026-03-23" in en  # stock-out date
    assert "Recomendação: comprar 140 un de S2" in pt
    assert "Risco: médio" in pt
    assert "R$ 4,50" in pt and "R$ 630,00" in pt
    assert "23/03/2026" in pt
    assert len(en.splitlines()) >= 5 and len(pt.splitlines()) >= 5


def test_render_manual_review_and_no_action():
    review = analyze_purchase(example(100))
    en = render_message(review, "en")
    pt = render_message(review, "pt-BR")
    assert "manual review" in en and "S1" in en and "200 un" in en and "Risk: high" in en
    assert "late" in en
    assert "revisão manual" in pt and "S1" in pt and "200 un" in pt and "Risco: alto" in pt
    assert "atrasado" in pt
    calm = analyze_purchase(example(500))
    assert "no action" in render_message(calm, "en")
    assert "Risk: low" in render_message(calm, "en")
    assert "nenhuma ação" in render_message(calm, "pt-BR")
    assert "Risco: baixo" in render_message(calm, "pt-BR")


def test_render_short_history_no_offer_and_unknown_locale():
    short = analyze_purchase(example(100, sales={day(-3): 1.0}, offers=()))
    en = render_message(short, "en")
    assert "manual review" in en and "14 days" in en and "no offer" in en
    assert "Risk: n/a" in en
    pt = render_message(short, "pt_BR")
    assert "revisão manual" in pt and "Risco: não se aplica" in pt
    assert render_message(short, "fr") == en


def test_render_pt_thousands_and_decimals():
    r = analyze_purchase(example(12345.5, offers=()))
    assert "12.345,5 un" in render_message(r, "pt-BR")
    assert "12,345.5 un" in render_message(r, "en")
