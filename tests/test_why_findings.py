"""The Why analyses' findings (cxdata/why/findings.py) for the Overview and the report:
hand-written logs whose figures are worked out here, the sample's planted stories
(sample_data/README.md), the links to the pages, and the Overview showing them.

Times are seconds after 2024-01-01 00:00 UTC (tests/helpers_events.py).
"""
from __future__ import annotations

from urllib.parse import parse_qs

import duckdb
import pytest

from cxdata.analytics.insights import Insight, dataset_insights
from cxdata.why import findings
from cxdata.why.findings import (
    conformance_finding, drivers_finding, finding_link, why_findings,
)
from tests.helpers_app import warm_server  # noqa: F401  (fixture)
from tests.helpers_events import make_events_table

DAY = 86400
STAGES = ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"]


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


# ---------------------------------------------------------------------------------------
# Hand-written logs

def _chat_log(con, chatters_converting: int = 5):
    # Funnel A -> B.  40 customers at A; 20 used Chat (a touchpoint of stage X) after A,
    # of whom `chatters_converting` reach B; of the 20 others, 15 reach B.
    rows = []
    for i in range(40):
        c = f"c{i:02d}"
        rows.append((c, 0, "A", None, "Ad"))
        chatted = i < 20
        if chatted:
            rows.append((c, 10, "X", None, "Chat"))
        converts = i < chatters_converting if chatted else i < 35
        if converts:
            rows.append((c, 20, "B", None, "Buy"))
    return make_events_table(con, rows)


def test_the_drivers_finding_quotes_the_strongest_factor_as_an_association(con):
    table = _chat_log(con)
    found = drivers_finding(con, table, ["A", "B"], "stage", 1)
    # a=5 b=15 c=15 d=5: OR = 25/225 = 0.111; se = √(1/5+1/15+1/15+1/5) = 0.7303:
    # 0.111·exp(∓1.4314) = 0.0266 … 0.4645.  Fisher two-sided p = 0.0012 (one factor: BH
    # leaves it as it is).
    assert found.kind == "drivers"
    assert found.title == ("Customers who used Chat after A went on to B 0.1× as often "
                           "(95% 0.027–0.5, n = 20)")
    assert found.detail.startswith(
        "Of the 20 customers with it who reached A, 5 (25%) went on to B, against 15 of 20 "
        "(75%) without it (odds ratio 0.11, 95% interval 0.03–0.46; p = 0.004 adjusted")
    assert "associated with it, not necessarily caused by it" in found.detail
    assert "caused " not in found.title
    e = found.evidence
    assert (e["with_n"], e["with_converted"], e["without_n"], e["without_converted"]) == (20, 5, 20, 15)
    assert e["odds_ratio"] == pytest.approx(25 / 225)


def test_no_drivers_finding_when_no_factor_is_beyond_chance(con):
    # 10 of 20 chatters and 15 of 20 others convert: Fisher p = 0.19 -> nothing to report
    table = _chat_log(con, chatters_converting=10)
    assert drivers_finding(con, table, ["A", "B"], "stage", 1) is None


def _map_log(con):
    # Stage order A -> B -> C.  40 follow it (A, B, C), 30 of them answer NPS 10 at C and
    # 10 answer 0: NPS +50.  40 skip B (A, C): 10 answer 10 and 30 answer 0: NPS −50.
    rows = []
    for i in range(80):
        c = f"k{i:02d}"
        skips = i >= 40
        rows.append((c, 0, "A", None, "a"))
        if not skips:
            rows.append((c, 10, "B", None, "b"))
        promoter = (i < 30) if not skips else (i < 50)
        rows.append((c, 20, "C", None, "c", None, 10 if promoter else 0))
    return make_events_table(con, rows)


def test_the_conformance_finding_compares_a_deviation_class_with_those_who_follow(con):
    table = _map_log(con)
    found = conformance_finding(con, table, ["A", "B", "C"])
    assert found.kind == "conformance"
    assert found.title == ("50.0% of customers skip a stage (most often B: A → C); their NPS "
                           "is −50 against +50 for those who follow the stage order")
    assert "associated with the difference, not necessarily its cause" in found.detail
    e = found.evidence
    assert (e["class"], e["metric"], e["customers"], e["n"], e["follows_n"]) == ("skips", "nps", 40, 40, 40)
    assert (e["score"], e["follows_score"]) == (pytest.approx(-50), pytest.approx(50))
    # their intervals (about ±29 points at n = 40, adjusted Wald) do not overlap: the
    # skippers' ends at −20.6, the followers' (the mirror image) starts at +20.6
    assert e["ci_high"] == pytest.approx(-20.65, abs=0.01)


def test_no_conformance_finding_when_the_scores_of_the_classes_overlap(con):
    rows = []
    for i in range(80):
        c = f"k{i:02d}"
        rows.append((c, 0, "A", None, "a"))
        if i < 40:
            rows.append((c, 10, "B", None, "b"))
        rows.append((c, 20, "C", None, "c", None, 10 if i % 2 else 0))   # NPS 0 in both
    table = make_events_table(con, rows)
    assert conformance_finding(con, table, ["A", "B", "C"]) is None


def test_the_why_findings_come_beside_the_overview_findings_not_inside_them(con):
    """The Overview draws them in their own section (they take longer): dataset_insights
    stays the quick findings, why_findings the Why ones."""
    table = _chat_log(con)
    assert [f.kind for f in dataset_insights(con, table, ["A", "B"])] == ["dropoff"]
    assert [f.kind for f in why_findings(con, table, ["A", "B"])] == ["drivers"]


# ---------------------------------------------------------------------------------------
# The sample's planted stories (sample_data/README.md)

def test_the_sample_tells_its_stories_in_the_findings(sample):
    found = why_findings(sample, "events", STAGES)
    assert [f.kind for f in found] == list(findings.WHY_KINDS)
    drivers, key, signal, deviation = found
    # The largest drop-off is Aware -> Consideration (1,524 lost); there the entry channel
    # is what goes with going on (Email entries go on more often: story 3).
    assert (drivers.evidence["step_from"], drivers.evidence["step_to"]) == ("Aware", "Consideration")
    assert drivers.evidence["kind"] == "entry" and drivers.evidence["column"] == "channel"
    # Story 5: low Delivery CSAT carries 70% of what explains NPS.
    assert key.title == "Low CSAT (1–2) at Delivery carries 70% of what explains NPS"
    assert (key.evidence["customers"], key.evidence["customers_with"]) == (606, 75)
    # Story 6: the Mobile app's bad week, Consideration -> Purchase.
    assert signal.title == ("Mobile app conversion from Consideration to Purchase fell below its "
                            "control limit in the week of 6 Oct 2025")
    assert (signal.evidence["n"], signal.evidence["start"]) == (78, "2025-10-06")
    assert signal.evidence["contribution"] == pytest.approx(1.03, abs=0.01)
    # Story 7: one customer in eight skips Consideration; NPS +2 (n = 230).
    assert deviation.title.startswith("12.5% of customers skip a stage (most often "
                                      "Consideration: Aware → Purchase); their NPS is +2 against +34")
    assert deviation.evidence["n"] == 230
    for finding in found:
        assert "caused by" not in finding.title and " cause " not in finding.title
        assert "associated with" in finding.detail


def test_a_log_without_scores_or_stages_has_no_why_findings(con):
    table = make_events_table(con, [("a", 0, None, "open"), ("a", 5, None, "buy"), ("b", 0, None, "open")])
    assert why_findings(con, table, []) == []


# ---------------------------------------------------------------------------------------
# Where each finding points

@pytest.mark.parametrize("kind, evidence, page, query", [
    ("drivers", {"after_step": 3, "step_from": "Purchase"}, "pages/funnel.py",
     {"fn_tab": "Drop-outs", "fn_drop": "3. Purchase"}),
    ("key_driver", {"metric": "nps"}, "pages/touchpoints.py", {"tp_metric": "NPS", "tp_tab": "Key drivers"}),
    ("control_signal", {"steps": ["Consideration", "Purchase"], "steps_by": "stage", "grain": "week",
                        "explained_by": "channel"}, "pages/funnel.py",
     {"fn_tab": "Over time", "fn_grain": "week", "fn_steps_stage": ["Consideration", "Purchase"],
      "why_explain": "channel"}),
    ("conformance", {}, "pages/journey_map.py", {}),
    ("dropoff", {"stage_order": STAGES, "from_stage": "Aware"}, "pages/funnel.py",
     {"fn_tab": "Drop-outs", "fn_drop": "1. Aware"}),
    ("worst_touchpoint", {"metric": "ces"}, "pages/touchpoints.py", {"tp_metric": "CES", "tp_tab": "Scores"}),
    ("trend", {"metric": "csat"}, "pages/touchpoints.py", {"tp_metric": "CSAT", "tp_tab": "Trend"}),
    ("channel", {}, "pages/funnel.py", {"fn_tab": "Breakdown", "fn_breakdown": "Channel"}),
])
def test_every_finding_links_to_its_full_analysis(kind, evidence, page, query):
    got_page, label, got_query = finding_link(Insight(kind, "t", "d", evidence))
    assert (got_page, got_query) == (page, query) and label


def test_the_overview_shows_the_why_findings_with_links(warm_server):  # noqa: F811
    from cxdata.bootstrap import install_sample_once
    from cxdata.store.workspace import Workspace
    from tests.helpers_app import open_app_page
    ws = Workspace()
    install_sample_once(ws)
    ws.close()
    at = open_app_page("overview", channel=["Mobile app", "Web"])
    assert any(s.value == "What goes with it" for s in at.subheader)
    titles = [m.value.replace("\\", "") for m in at.markdown]
    assert any(t.startswith("**Low CSAT (1–2) at Delivery carries") for t in titles)
    links = {link.value: link.proto for link in at.page_link}
    key = links["See every key driver on the Touchpoints page"]
    query = parse_qs(key.query_string)
    # the link keeps the Overview's filter and opens the Key drivers tab of NPS
    assert query["channel"] == ["Mobile app", "Web"]
    assert query["tp_tab"] == ["Key drivers"] and query["tp_metric"] == ["NPS"]
    # the sample's example map is linked to it: the conformance finding compares with it
    assert any(t.endswith("for those who follow the journey map**") for t in titles)
    assert "map" in parse_qs(links["See it on the journey map (Journey map → Data)"].query_string)



def test_the_report_has_a_what_goes_with_it_section(sample):
    from cxdata.presentation.report import build_report_html
    page = build_report_html(sample, "events", STAGES)
    why = page[page.index('<section class="insights why">'):]
    why = why[:why.index("</section>")]
    assert "<h2>What goes with it</h2>" in why
    assert ("Mobile app conversion from Consideration to Purchase fell below its control limit "
            "in the week of 6 Oct 2025") in why
    assert why.count('<div class="insight ') == 4
    assert "In the app: See the control chart on the Funnel page." in why


def test_a_linked_journey_map_is_what_the_conformance_finding_compares_with(con):
    table = _map_log(con)
    found = why_findings(con, table, ["A", "B", "C"], journey_map=("m-1", "Shop journey", ("A", "B", "C")))
    deviation = [f for f in found if f.kind == "conformance"][0]
    assert deviation.title.endswith("their NPS is −50 against +50 for those who follow the journey map")
    assert deviation.detail.startswith("Against the journey map “Shop journey” A → B → C, 40 of 80 ")
    assert finding_link(deviation)[0::2] == ("pages/journey_map.py", {"map": "m-1"})
