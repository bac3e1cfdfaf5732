"""Conversion drivers (SPEC §8.1): hand-worked 2×2 tables, the statistics against SciPy,
the planted story of the sample, and the ``drivers`` subcommand's JSON.

Times are seconds after 2024-01-01 00:00 UTC (tests/helpers_events.py).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pytest
from scipy import stats

from cxdata import cli
from cxdata.why import cli_drivers, drivers
from cxdata.why.drivers import adjust_bh, conversion_drivers, fisher_p, odds_ratio
from tests.helpers_events import make_events_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "interactions.csv"
DAY = 86400


# ---------------------------------------------------------------------------------------
# One 2×2 table

def test_odds_ratio_without_a_zero_cell_is_the_plain_ratio():
    # a=10 b=20 c=30 d=40: OR = 10·40 / (20·30) = 0.6667;
    # se = √(1/10 + 1/20 + 1/30 + 1/40) = √0.208333 = 0.456435 -> exp(−0.405465 ∓ 0.894613)
    ratio, low, high = odds_ratio(10, 20, 30, 40)
    assert ratio == pytest.approx(400 / 600)
    se = math.sqrt(0.1 + 0.05 + 1 / 30 + 0.025)
    assert low == pytest.approx(math.exp(math.log(2 / 3) - 1.959963984540054 * se))
    assert high == pytest.approx(math.exp(math.log(2 / 3) + 1.959963984540054 * se))
    assert (round(low, 3), round(high, 3)) == (0.273, 1.631)


def test_a_zero_cell_adds_a_half_to_every_cell():
    # a=0 b=2 c=3 d=1 -> 0.5 2.5 3.5 1.5: OR = 0.5·1.5 / (2.5·3.5) = 0.75 / 8.75 = 0.085714
    # se = √(2 + 0.4 + 0.285714 + 0.666667) = 1.830951 -> 0.00237 … 3.10
    ratio, low, high = odds_ratio(0, 2, 3, 1)
    assert ratio == pytest.approx(0.75 / 8.75)
    assert low == pytest.approx(0.75 / 8.75 * math.exp(-1.959963984540054 * 1.830951), rel=1e-6)
    assert high == pytest.approx(0.75 / 8.75 * math.exp(1.959963984540054 * 1.830951), rel=1e-6)


def test_fisher_p_is_scipys_two_sided_and_worked_by_hand():
    # [[0, 2], [3, 1]]: rows 2 / 4, first column 3 of 6: P(a = k) = C(3,k)·C(3,2−k)/C(6,2)
    # = 0.2, 0.6, 0.2 for k = 0, 1, 2; tables as unlikely as a = 0: 0.2 + 0.2 = 0.4
    assert fisher_p(0, 2, 3, 1) == pytest.approx(0.4)
    for cells in [(88, 237, 1110, 1140), (5, 0, 1, 9), (12, 30, 40, 20)]:
        a, b, c, d = cells
        assert fisher_p(*cells) == pytest.approx(stats.fisher_exact([[a, b], [c, d]]).pvalue)


def test_benjamini_hochberg_by_hand_and_against_scipy():
    # p sorted 0.01 0.02 0.03 0.5 (m = 4): p·m/rank = 0.04 0.04 0.04 0.5 -> running minimum
    # from the top: 0.04 0.04 0.04 0.5; returned in the order given
    given = [0.5, 0.03, 0.01, 0.02]
    assert adjust_bh(given) == pytest.approx([0.5, 0.04, 0.04, 0.04])
    many = [0.001, 0.2, 0.049, 0.8, 0.0004, 0.03, 0.03, 0.6]
    assert adjust_bh(many) == pytest.approx(list(stats.false_discovery_control(many, method="bh")))
    assert adjust_bh([]) == []


# ---------------------------------------------------------------------------------------
# A hand-written log

def _log(con):
    # Funnel A -> B by stage, window 1 day.  Six customers, all at A (step 1):
    #   c1 Web:    A, Chat, B              converted, Chat in the span
    #   c2 Web:    A, B, Chat (csat 2)     converted, Chat and the low CSAT after B: not counted
    #   c3 Mobile: A, Chat                 not converted, Chat inside the window
    #   c4 Mobile: A, Chat (csat 1) 2 days later: after the window's end, not counted
    #   c5 Web:    A, Survey (csat 1), B   converted, did Survey, low CSAT before B
    #   c6 Web:    A                       not converted
    rows = [
        ("c1", 0, "A", None, "Ad", "Web"), ("c1", 100, "X", None, "Chat", "Web"),
        ("c1", 200, "B", None, "Buy", "Web"),
        ("c2", 0, "A", None, "Ad", "Web"), ("c2", 50, "B", None, "Buy", "Web"),
        ("c2", 100, "X", None, "Chat", "Web", None, 2),
        ("c3", 0, "A", None, "Ad", "Mobile app"), ("c3", 100, "X", None, "Chat", "Mobile app"),
        ("c4", 0, "A", None, "Ad", "Mobile app"), ("c4", 2 * DAY, "X", None, "Chat", "Mobile app", None, 1),
        ("c5", 0, "A", None, "Ad", "Web"), ("c5", 10, "X", None, "Survey", "Web", None, 1),
        ("c5", 300, "B", None, "Buy", "Web"),
        ("c6", 0, "A", None, "Ad", "Web"),
    ]
    rows = [tuple(r) + (None,) * (10 - len(r)) + ("same",) for r in rows]
    return make_events_table(con, rows, attributes=["segment"])


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_drivers_of_a_hand_written_log(con):
    table = _log(con)
    result = conversion_drivers(con, table, ["A", "B"], window_seconds=DAY)
    assert (result.step_from, result.step_to, result.customers, result.converted) == ("A", "B", 6, 3)
    d = result.drivers
    got = {(r.kind, r.column, r.value): (r.with_n, r.with_converted, r.without_n, r.without_converted)
           for r in d.itertuples()}
    # segment has one value: not a factor; "Ad" is the step-1 event, before the span
    assert got == {("entry", "channel", "Mobile app"): (2, 0, 4, 3),
                   ("entry", "channel", "Web"): (4, 3, 2, 0),
                   ("did", "touchpoint", "Chat"): (2, 1, 4, 2),
                   ("did", "touchpoint", "Survey"): (1, 1, 5, 2),
                   ("score", "csat", "low"): (1, 1, 5, 2)}
    mobile = d[d["value"] == "Mobile app"].iloc[0]
    assert mobile["odds_ratio"] == pytest.approx(0.75 / 8.75)          # Haldane, worked above
    assert mobile["p"] == pytest.approx(0.4)
    # low CSAT: a=1 b=0 c=2 d=3 -> 1.5·3.5 / (0.5·2.5) = 4.2; Fisher: P(a=1) = P(a=0) = 0.5 -> 1
    low = d[d["kind"] == "score"].iloc[0]
    assert low["odds_ratio"] == pytest.approx(4.2) and low["p"] == pytest.approx(1.0)
    # p 0.4 0.4 1 1 1 (m = 5): 0.4·5/2 = 1 -> every adjusted p is 1; then |ln OR| decides:
    # channel (ln 11.67 = 2.46) before Survey and low CSAT (ln 4.2 = 1.44) before Chat (OR 1)
    assert list(d["p_adjusted"]) == pytest.approx([1.0] * 5)
    assert list(zip(d["kind"], d["value"])) == [("entry", "Mobile app"), ("entry", "Web"),
                                                 ("did", "Survey"), ("score", "low"), ("did", "Chat")]
    assert d["low_sample"].all()
    assert list(d.columns) == drivers.DRIVER_COLUMNS


def test_without_a_window_a_non_converter_counts_any_later_event(con):
    table = _log(con)
    result = conversion_drivers(con, table, ["A", "B"])
    d = result.drivers.set_index(["kind", "value"])
    assert d.loc[("did", "Chat"), "with_n"] == 3               # c4's late chat counts now
    assert d.loc[("score", "low"), "with_n"] == 2              # and its CSAT of 1


def test_the_default_step_is_the_one_most_customers_drop_after(con):
    table = make_events_table(con, [("a", 0, "A"), ("a", 1, "B"), ("b", 0, "A"), ("b", 1, "B"),
                                    ("c", 0, "A"), ("c", 1, "B"), ("c", 2, "C"), ("d", 0, "A")])
    # counts 4, 3, 1: dropped 1 after A, 2 after B
    assert drivers.step_reach(con, table, ["A", "B", "C"]) == [4, 3, 1]
    assert conversion_drivers(con, table, ["A", "B", "C"]).after_step == 2
    with pytest.raises(ValueError):
        conversion_drivers(con, table, ["A", "B", "C"], 3)


# ---------------------------------------------------------------------------------------
# The route between two steps is not a factor (docs/metrics.md, "Conversion drivers")

def _route_log(con):
    # Stages Browse -> Buy -> Keep; touchpoints Product, Chat (Browse), Checkout, Pay (Buy),
    # Mail (Keep).  Chat has 3 events at Browse and 1 at Buy: its stage is Browse.
    #   k1: Product, Checkout 10, Pay 20, Mail 30          reaches Keep
    #   k2: Product, Checkout 10, Chat 15, Pay 20           stops in Buy, chatted
    #   k3: Product, Checkout 10                            stops in Buy
    #   k4: Product, Checkout 10, Chat 12, Pay 20, Mail 30  reaches Keep, chatted
    #   k5: Product, Checkout 10, Chat 11 (at Buy), Mail 40 reaches Keep, chatted
    #   k6: Product, Chat 3, Mail 5                         skips Buy
    rows = [("k1", 0, "Browse", None, "Product"), ("k1", 10, "Buy", None, "Checkout"),
            ("k1", 20, "Buy", None, "Pay"), ("k1", 30, "Keep", None, "Mail"),
            ("k2", 0, "Browse", None, "Product"), ("k2", 10, "Buy", None, "Checkout"),
            ("k2", 15, "Browse", None, "Chat"), ("k2", 20, "Buy", None, "Pay"),
            ("k3", 0, "Browse", None, "Product"), ("k3", 10, "Buy", None, "Checkout"),
            ("k4", 0, "Browse", None, "Product"), ("k4", 10, "Buy", None, "Checkout"),
            ("k4", 12, "Browse", None, "Chat"), ("k4", 20, "Buy", None, "Pay"),
            ("k4", 30, "Keep", None, "Mail"),
            ("k5", 0, "Browse", None, "Product"), ("k5", 10, "Buy", None, "Checkout"),
            ("k5", 11, "Buy", None, "Chat"), ("k5", 40, "Keep", None, "Mail"),
            ("k6", 0, "Browse", None, "Product"), ("k6", 3, "Browse", None, "Chat"),
            ("k6", 5, "Keep", None, "Mail")]
    return make_events_table(con, rows)


def _did(result) -> dict:
    d = result.drivers[result.drivers["kind"] == "did"]
    return {r.value: (r.with_n, r.with_converted) for r in d.itertuples()}


def test_each_touchpoint_has_the_stage_most_of_its_events_carry(con):
    from cxdata.engines import as_engine
    table = _route_log(con)
    assert drivers.value_stages(as_engine(con, table), "touchpoint") == {
        "Product": "Browse", "Chat": "Browse", "Checkout": "Buy", "Pay": "Buy", "Mail": "Keep"}


def test_touchpoints_of_the_steps_own_stages_are_not_factors(con):
    table = _route_log(con)
    # Buy -> Keep: k1…k5 reached Buy (Checkout at 10), k1 k4 k5 reached Keep.  In the
    # spans: Pay (k1 k2 k4) is a Buy touchpoint, the route itself: left out (it would be
    # 3 customers, 2 converted).  Chat (k2 k4 k5; k5's at a Buy event) is a Browse one.
    result = conversion_drivers(con, table, ["Browse", "Buy", "Keep"], after_step=2)
    assert (result.customers, result.converted) == (5, 3)
    assert _did(result) == {"Chat": (3, 2)}
    # Browse -> Buy: Chat is of Browse, the stage being finished, and Mail (k6's skip to
    # Keep, a later step) of Keep: no did factor is left.
    result = conversion_drivers(con, table, ["Browse", "Buy", "Keep"], after_step=1)
    assert (result.customers, result.converted) == (6, 5)
    assert _did(result) == {}


def test_with_touchpoint_steps_the_next_steps_stage_is_the_route(con):
    table = _route_log(con)
    # Product -> Pay by touchpoint: Pay is of Buy, so Checkout and Pay are the route.  All
    # six reached Product; k1 k2 k4 reached Pay.  Spans: k2 and k4 chatted before Pay;
    # the others (no window: any later event) k5 Chat and Mail, k6 Chat and Mail.
    # Chat, of Browse like Product, stays: 4 customers, 2 converted; Mail (Keep): 2, 0.
    result = conversion_drivers(con, table, ["Product", "Pay"], by="touchpoint")
    assert (result.customers, result.converted) == (6, 3)
    assert _did(result) == {"Chat": (4, 2), "Mail": (2, 0)}


def test_events_at_the_instant_of_a_step_count_by_their_file_order(con):
    # Funnel A -> B.  t1's rows in file order, all at second 0 or 20:
    #   1 @0  X Early (Phone, CSAT 1)   before the step-1 event at the same instant: out
    #   2 @0  A Ad (Web)                the step-1 event: t1's entry channel is Web
    #   3 @0  X Same                    after it at the same instant: did Same
    #   4 @10 X Mid                     did Mid
    #   5 @20 X Before                  at B's instant, before B's event: did Before
    #   6 @20 B Buy                     the step-2 event
    #   7 @20 X After (CSAT 1)          after B's event: neither the visit nor the CSAT
    # t2: A at 0 (Mobile app), nothing else.
    rows = [("t1", 0, "X", None, "Early", "Phone", None, 1), ("t1", 0, "A", None, "Ad", "Web"),
            ("t1", 0, "X", None, "Same", "Web"), ("t1", 10, "X", None, "Mid", "Web"),
            ("t1", 20, "X", None, "Before", "Web"), ("t1", 20, "B", None, "Buy", "Web"),
            ("t1", 20, "X", None, "After", "Web", None, 1),
            ("t2", 0, "A", None, "Ad", "Mobile app")]
    table = make_events_table(con, rows)
    result = conversion_drivers(con, table, ["A", "B"])
    got = {(r.kind, r.value): (r.with_n, r.with_converted) for r in result.drivers.itertuples()}
    assert got == {("entry", "Web"): (1, 1), ("entry", "Mobile app"): (1, 0),
                   ("did", "Same"): (1, 1), ("did", "Mid"): (1, 1), ("did", "Before"): (1, 1)}


@pytest.mark.parametrize("after_step, window", [(1, None), (2, None), (2, 30), (1, 30)])
def test_the_population_is_the_funnels_even_when_steps_tie(con, after_step, window):
    # A log full of ties: 300 customers, events at 6 instants only, steps A -> B -> C by
    # touchpoint in random file order.  A customer whose step B comes at A's instant but
    # earlier in the file reaches B (the funnel compares times), though its span holds
    # no event: it stays in the population, with its entry channel.
    import random
    rng = random.Random(7)
    rows = []
    for c in range(300):
        for _ in range(rng.randint(1, 9)):
            rows.append((f"c{c}", 10 * rng.randint(0, 5), None, None,
                         rng.choice(["A", "B", "C", "X", "Y", "Z", "A", "B"]),
                         rng.choice(["Web", "Phone"]), None, rng.choice([None, None, 1, 5])))
    rng.shuffle(rows)
    table = make_events_table(con, rows)
    result = conversion_drivers(con, table, ["A", "B", "C"], after_step, by="touchpoint",
                                window_seconds=window)
    reach = drivers.step_reach(con, table, ["A", "B", "C"], by="touchpoint", window_seconds=window)
    assert (result.customers, result.converted) == tuple(reach[after_step - 1:after_step + 1])
    entry = result.drivers[result.drivers["kind"] == "entry"]
    assert set(entry["value"]) == {"Web", "Phone"}          # every entrant has its channel
    assert (entry["with_n"] + entry["without_n"] == result.customers).all()
    assert entry["with_n"].sum() == result.customers


def test_without_a_stage_column_only_the_next_steps_own_value_is_left_out(con):
    rows = [("a", 0, None, None, "Cart"), ("a", 5, None, None, "Pay"), ("a", 9, None, None, "Done"),
            ("b", 0, None, None, "Cart"), ("b", 5, None, None, "Pay"),
            ("c", 0, None, None, "Cart"), ("c", 4, None, None, "Chat")]
    table = make_events_table(con, rows)
    result = conversion_drivers(con, table, ["Cart", "Done"], by="touchpoint")
    # spans: a Pay (converted), b Pay, c Chat; "Done" ends a's span
    assert _did(result) == {"Pay": (2, 1), "Chat": (1, 0)}


# ---------------------------------------------------------------------------------------
# The sample's planted story (sample_data/README.md, story 4)

def test_live_chat_during_checkout_goes_with_lost_orders(sample):
    result = conversion_drivers(sample, "events", ["Cart", "Order confirmation"], by="touchpoint")
    assert (result.customers, result.converted) == (2575, 1198)
    chat = result.drivers.set_index(["kind", "value"]).loc[("did", "Live chat")]
    assert (chat["with_n"], chat["with_converted"], chat["without_n"], chat["without_converted"]) == (
        325, 88, 2250, 1110)
    assert chat["odds_ratio"] == pytest.approx(0.381, abs=0.001)
    assert (round(chat["ci_low"], 2), round(chat["ci_high"], 2)) == (0.29, 0.49)
    assert chat["p"] < 1e-13 and chat["p_adjusted"] < 0.001 and not chat["low_sample"]
    assert result.sentences()[0] == ("Customers who used Live chat after Cart converted 0.4× as "
                                     "often (95% 0.3–0.5, n = 325)")


def test_live_chat_in_the_stage_funnel(sample):
    result = conversion_drivers(sample, "events", ["Aware", "Consideration", "Purchase", "Retention"],
                                after_step=3)
    chat = result.drivers.set_index(["kind", "value"]).loc[("did", "Live chat")]
    assert (chat["with_n"], chat["with_converted"]) == (258, 70)
    assert (round(chat["odds_ratio"], 2), round(chat["ci_low"], 2), round(chat["ci_high"], 2)) == (
        0.44, 0.33, 0.58)


# ---------------------------------------------------------------------------------------
# The subcommand

def _cli(argv, capsys):
    parser = cli._Parser(prog="python -m cxdata")
    sub = parser.add_subparsers(dest="command", parser_class=cli._Parser)
    cli_drivers.add_parser(sub, cli._common)
    args = parser.parse_args(argv)
    code = cli_drivers.run(args, cli.load_data, cli.emit)
    return code, capsys.readouterr().out


def test_cli_json_shape(capsys):
    code, out = _cli(["drivers", str(SAMPLE), "--by", "touchpoint", "--step", "Cart",
                      "--step", "Order confirmation", "--format", "json"], capsys)
    payload = json.loads(out)
    assert code == 0
    assert list(payload) == ["step_from", "step_to", "customers", "converted", "drivers"]
    assert (payload["step_from"], payload["customers"], payload["converted"]) == ("Cart", 2575, 1198)
    assert list(payload["drivers"][0]) == drivers.DRIVER_COLUMNS
    chat = [d for d in payload["drivers"] if d["kind"] == "did" and d["value"] == "Live chat"][0]
    assert chat["with_n"] == 325 and chat["column"] == "touchpoint"


def test_cli_text_csv_and_a_bad_step(capsys):
    code, out = _cli(["drivers", str(SAMPLE), "--after-step", "3"], capsys)
    assert code == 0 and "Converting from Purchase to Retention" in out and "Live chat" in out
    code, out = _cli(["drivers", str(SAMPLE), "--after-step", "3", "--format", "csv"], capsys)
    assert out.splitlines()[0].split(",")[:3] == ["kind", "column", "value"]
    with pytest.raises(cli.UsageError):
        _cli(["drivers", str(SAMPLE), "--after-step", "5"], capsys)


# ---------------------------------------------------------------------------------------
# The forest plot and the page helper

def test_forest_plot_is_log_scaled_with_a_reference_at_one_and_hollow_low_samples(con):
    from cxdata.presentation.charts_why import driver_forest
    table = _log(con)
    frame = conversion_drivers(con, table, ["A", "B"], window_seconds=DAY).drivers
    spec = driver_forest(frame).to_dict()
    layers = spec["layer"]
    text = json.dumps(spec)
    assert '{"x": 1.0}' in text                                   # the reference line at 1
    scales = [l["encoding"]["x"].get("scale", {}) for l in layers if "x" in l.get("encoding", {})]
    assert all(s.get("type") == "log" for s in scales)
    assert "With it" in text and "Without it" in text and "datum.low_sample" in text


def test_forest_plot_names_factors_as_the_table_does(con):
    """The chart and the table beside it name an entry factor alike ("Entered with
    Channel Web", the column's display name), not "channel" in one and "Channel" in the other."""
    from cxdata.presentation.charts_why import driver_forest, factor_label
    frame = conversion_drivers(con, _log(con), ["A", "B"], window_seconds=DAY).drivers
    names = {"channel": "Channel"}
    spec = driver_forest(frame, column_names=names).to_dict()
    shown = {row.get("factor") for data in spec["datasets"].values() for row in data}
    assert "Entered with Channel Web" in shown and "Entered with channel Web" not in shown
    assert factor_label("entry", names["channel"], "Web") == "Entered with Channel Web"
    assert "Entered with channel Web" in {row.get("factor") for data in driver_forest(frame).to_dict()[
        "datasets"].values() for row in data}


def test_why_drop_section_renders_for_the_sample():
    from tests.helpers_app import run_section

    def page():
        from cxdata.sql import EventFilter
        from cxdata.ui.why_funnel import why_drop_section
        from tests.helpers_app import sample_dataset
        why_drop_section(sample_dataset(), ["Cart", "Order confirmation"], 1,
                         dict(by="touchpoint", window_seconds=None, order="ordered",
                              event_filter=EventFilter()), {"touchpoint": "Touchpoint"})

    at = run_section(page)
    text = " ".join(m.value for m in at.markdown)
    assert "Live chat after Cart converted 0\\.4× as often" in text   # markdown-escaped
    # the table of every factor, and the 2×2 of the one picked (the strongest: Live chat)
    assert len(at.dataframe) == 2
    assert at.dataframe[1].value[["Customers", "Went on"]].values.tolist() == [[325, 88], [2250, 1110]]
