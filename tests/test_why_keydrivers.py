"""Key drivers of a score (SPEC §8.2): relative weights worked by hand, the predictor rules,
the last response as the outcome, a seeded bootstrap, the sample's planted story (a low
Delivery CSAT carries most of NPS's R²) and the ``keydrivers`` command's output."""
from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from cxdata import cli
from cxdata.why import cli_keydrivers
from cxdata.why.keydrivers import (DRIVER_COLUMNS, key_drivers, relative_weights,
                                   response_patterns, select_predictors,
                                   weighted_correlations)
from tests.helpers_events import make_events_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "interactions.csv"


# --- relative weights (pure) ----------------------------------------------------------

def test_relative_weights_three_predictors_by_hand():
    # x1, x2 correlate 0.6, x3 is orthogonal to both; r = (0.5, 0.3, 0.2).
    # The x1/x2 block has eigenvalues 1.6 and 0.4, eigenvectors (1, 1)/√2 and (1, −1)/√2,
    # so Λ = [[3, 1], [1, 3]]/√10 (check: Λ² = [[1, .6], [.6, 1]]) and
    # Λ⁻¹ = √10/8·[[3, −1], [−1, 3]]: β = √10/8·(1.2, 0.4) = √10·(0.15, 0.05),
    # β² = (0.225, 0.025); Λ[k,i]² = [[.9, .1], [.1, .9]]:
    # w1 = .9·.225 + .1·.025 = 0.205, w2 = .1·.225 + .9·.025 = 0.045; w3 = r3² = 0.04.
    # Sum 0.29 = R² = rᵀR⁻¹r = (.25 + .09 − 2·.6·.15)/.64 + .04 = 0.25 + 0.04.
    R = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.0], [0.0, 0.0, 1.0]])
    r = np.array([0.5, 0.3, 0.2])
    weights = relative_weights(R, r)
    assert weights == pytest.approx([0.205, 0.045, 0.04], abs=1e-12)
    assert weights.sum() == pytest.approx(0.29, abs=1e-12)


def _ols_r_squared(X, y):
    design = np.column_stack([np.ones(len(y)), X])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    return 1.0 - residual @ residual / ((y - y.mean()) @ (y - y.mean()))


def test_weights_sum_to_the_r_squared_of_least_squares():
    rng = np.random.default_rng(1)
    X = (rng.random((400, 3)) < [0.3, 0.5, 0.2]).astype(float)
    X[:, 1] = np.where(rng.random(400) < 0.7, X[:, 0], X[:, 1])     # correlated with x1
    y = 2 * X[:, 0] - X[:, 2] + rng.normal(0, 1, 400)
    R, r = weighted_correlations(X, y, np.ones(400))
    assert R == pytest.approx(np.corrcoef(X, rowvar=False), abs=1e-12)
    weights = relative_weights(R, r)
    assert weights.sum() == pytest.approx(_ols_r_squared(X, y), abs=1e-12)
    assert np.all(weights > 0)


def test_collinear_dummies_use_the_pseudo_inverse_and_still_sum_to_r_squared():
    rng = np.random.default_rng(2)
    level = rng.integers(0, 3, 300)
    X = np.column_stack([level == k for k in range(3)]).astype(float)   # sum to 1
    y = level * 1.5 + rng.normal(0, 1, 300)
    weights = relative_weights(*weighted_correlations(X, y, np.ones(300)))
    assert np.all(np.isfinite(weights))
    assert weights.sum() == pytest.approx(_ols_r_squared(X, y), abs=1e-9)


def test_repeated_rows_are_the_same_as_counts():
    X = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    y = np.array([9.0, 3.0, 7.0, 5.0])
    counts = np.array([3, 1, 2, 4])
    expanded = np.repeat(np.arange(4), counts)
    a = weighted_correlations(X, y, counts)
    b = weighted_correlations(X[expanded], y[expanded], np.ones(counts.sum()))
    assert a[0] == pytest.approx(b[0]) and a[1] == pytest.approx(b[1])


# --- predictor rules --------------------------------------------------------------------

def test_selection_range_constant_duplicate_and_complement():
    n = 100
    rng = np.random.default_rng(3)
    b = (np.arange(n) < 40).astype(float)
    X = np.column_stack([
        np.ones(n),                    # 0: everyone: above n − 30
        b,                             # 1: 40 customers: kept
        b,                             # 2: duplicate of 1
        1 - b,                         # 3: complement of 1 (60 customers)
        (np.arange(n) < 29) * 1.0,     # 4: 29 customers: below 30
        (np.arange(n) >= 30) * 1.0,    # 5: 70 = n − 30: kept (boundary)
        (rng.permutation(n) < 30) * 1.0,  # 6: 30: kept (boundary)
    ])
    kept, skipped = select_predictors(X, np.ones(n), n)
    assert kept == [1, 5, 6]
    reasons = dict(skipped)
    assert reasons[0] == "outside the customer range" and reasons[4] == "outside the customer range"
    assert reasons[2].startswith("duplicate") and reasons[3].startswith("duplicate")
    kept_two, skipped_two = select_predictors(X, np.ones(n), n, max_predictors=2)
    assert kept_two == [1, 5] and dict(skipped_two)[6] == "beyond the most common"


def _log(rows_per_customer):
    con = duckdb.connect()
    rows = []
    for customer, events in rows_per_customer.items():
        rows += [(customer, *event) for event in events]
    make_events_table(con, [dict(zip(("customer_id", "ts", "touchpoint", "channel", "nps", "csat"), r))
                            for r in rows])
    return con


def test_the_outcome_is_the_last_response_by_time_then_row():
    con = _log({
        "a": [(10, "Shop", "Web", 0, None), (20, "Shop", "Web", 10, None)],     # last: 10
        "b": [(30, "Shop", "Web", 9, None), (5, "Shop", "Web", 1, None)],       # later ts: 9
        "c": [(7, "Shop", "Web", 2, None), (7, "Shop", "Web", 6, None)],        # tie: later row 6
        "d": [(1, "Shop", "Web", None, 3)],                                     # no NPS: out
    })
    patterns = response_patterns(con, "ev", "nps", [("experienced", "Shop")])
    assert list(zip(patterns["y"], patterns["mask"], patterns["customers"])) == [
        (6.0, 1, 1), (9.0, 1, 1), (10.0, 1, 1)]


def test_key_drivers_on_a_hand_made_log():
    # 100 NPS respondents: 40 had a low CSAT at Delivery and end at NPS 2, the other 60
    # at 10; everyone visited Shop (constant: left out); entry channels Web 50 / App 50
    # are independent of the outcome.  Low CSAT at Delivery explains everything: R² = 1.
    log = {}
    for i in range(100):
        low = i < 40
        events = [(0, "Shop", "Web" if i % 2 else "App", None, None),
                  (10, "Delivery", "App", None, 1 if low else 5),
                  (20, "Survey", "Email", 2 if low else 10, None)]
        log[f"c{i:03d}"] = events
    con = _log(log)
    result = key_drivers(con, "ev", "nps", resamples=50)
    assert result.customers == 100
    assert list(result.drivers.columns) == DRIVER_COLUMNS
    top = result.drivers.iloc[0]
    assert (top["predictor"], top["value"], top["customers_with"]) == ("low_csat", "Delivery", 40)
    assert result.r_squared == pytest.approx(1.0)
    assert top["share"] == pytest.approx(100.0) and top["direction"] == "negative"
    # Entry App/Web are complements (50 each): only one is kept; Shop, Delivery and
    # Survey are held by everyone.
    entries = result.drivers[result.drivers["predictor"] == "entry"]
    assert len(entries) == 1 and entries.iloc[0]["weight"] == pytest.approx(0.0, abs=1e-12)
    perf = result.performance.set_index(["predictor", "value"]).loc[("low_csat", "Delivery")]
    assert perf["score_with"] == -100.0 and perf["score_without"] == 100.0


# --- the sample's story 5 and the bootstrap ------------------------------------------

def test_sample_low_delivery_csat_has_by_far_the_largest_share_of_nps(sample):
    result = key_drivers(sample, "events", "nps")
    d = result.drivers
    assert result.customers == 606 and len(d) == 20
    assert result.r_squared == pytest.approx(0.1306, abs=5e-4)
    assert d["weight"].sum() == pytest.approx(result.r_squared, abs=1e-12)
    top = d.iloc[0]
    assert (top["predictor"], top["value"], top["customers_with"]) == ("low_csat", "Delivery", 75)
    assert top["share"] == pytest.approx(70.2, abs=0.1)
    assert top["share"] >= 9 * d.iloc[1]["share"]
    assert top["direction"] == "negative"
    assert top["share_ci_low"] > d.iloc[1]["share"]
    assert top["share_ci_low"] <= top["share"] <= top["share_ci_high"]
    assert (d.iloc[1]["predictor"], d.iloc[1]["value"]) == ("experienced", "Product page")


def test_bootstrap_is_fixed_by_its_seed(sample):
    a = key_drivers(sample, "events", "nps", resamples=40, seed=11)
    b = key_drivers(sample, "events", "nps", resamples=40, seed=11)
    c = key_drivers(sample, "events", "nps", resamples=40, seed=12)
    assert a.drivers.equals(b.drivers)
    assert not np.allclose(a.drivers["share_ci_low"], c.drivers["share_ci_low"])
    assert a.drivers["share"].equals(c.drivers["share"])      # the estimate needs no seed


# --- command line -----------------------------------------------------------------------

def _run_cli(argv, capsys):
    parser = cli._Parser(prog="cxdata")
    sub = parser.add_subparsers(dest="command")
    cli_keydrivers.add_parser(sub, cli._common)
    args = parser.parse_args(argv)
    code = cli_keydrivers.run(args, cli.load_data, cli.emit)
    return code, capsys.readouterr().out


def test_cli_json_shape(capsys):
    code, out = _run_cli(["keydrivers", str(SAMPLE), "--metric", "nps", "--format", "json",
                          "--resamples", "20"], capsys)
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["metric", "customers", "r_squared", "drivers"]
    assert data["metric"] == "nps" and data["customers"] == 606
    assert list(data["drivers"][0]) == DRIVER_COLUMNS
    first = data["drivers"][0]
    assert (first["predictor"], first["value"], first["direction"]) == ("low_csat", "Delivery", "negative")
    assert math.isclose(sum(d["weight"] for d in data["drivers"]), data["r_squared"], abs_tol=1e-12)


def test_cli_text_and_csv(capsys):
    code, out = _run_cli(["keydrivers", str(SAMPLE), "--metric", "nps", "--resamples", "5"], capsys)
    assert code == 0 and "associations, not causes" in out and "low CSAT (1–2) at Delivery" in out
    code, out = _run_cli(["keydrivers", str(SAMPLE), "--metric", "nps", "--format", "csv",
                          "--resamples", "5"], capsys)
    assert out.splitlines()[0] == ",".join(DRIVER_COLUMNS)


# --- charts and the page sections ---------------------------------------------------------

def test_importance_performance_chart(sample):
    from cxdata.presentation import charts_keydrivers
    result = key_drivers(sample, "events", "nps", resamples=20)
    frame = charts_keydrivers.keydrivers_frame(result)
    top = frame.iloc[0]
    assert top["label"] == "Low CSAT (1–2) at Delivery"
    assert top["common"] == pytest.approx(100 * 75 / 606)
    assert top["score_with"] < -40 < 20 < top["score_without"]       # story 5: −45 against +26
    for y in ("score", "common"):
        spec = charts_keydrivers.importance_performance(frame, "nps", y=y).to_dict()
        layers = spec["layer"]
        assert layers[1]["mark"]["type"] == "text"                       # the corner's name
        assert "Fix first" in json.dumps(spec["datasets"])
        rule = layers[2]["encoding"]
        assert rule["x"]["field"] == "share_ci_low" and rule["x2"]["field"] == "share_ci_high"
        tips = [t["title"] for t in layers[3]["encoding"]["tooltip"]]
        assert "Customers with it (n)" in tips


def test_page_sections_run_without_exception(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from cxdata.store.workspace import Workspace
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.ingest(SAMPLE, "sample")
    ws.close()
    monkeypatch.setenv("CXDATA_WORKSPACE", str(tmp_path / "ws.duckdb"))

    def page():
        from cxdata.ui.state import get_workspace
        from cxdata.ui.why_scores import comments_section, key_drivers_section
        info = get_workspace().get_dataset("sample")
        key_drivers_section(info, "nps", None)
        comments_section(info, "csat", "touchpoint", None)

    at = AppTest.from_function(page, default_timeout=180).run()
    assert not at.exception
    assert any("Low CSAT (1–2) at Delivery carries 70%" in t.value for t in at.text)
    assert len(at.dataframe) >= 3


def test_no_response_no_driver():
    con = _log({"a": [(1, "Shop", "Web", None, 3)]})
    result = key_drivers(con, "ev", "nps")
    assert result.customers == 0 and math.isnan(result.r_squared)
    assert result.drivers.empty and list(result.drivers.columns) == DRIVER_COLUMNS


def test_small_predictors_near_zero_get_no_label_over_another():
    import pandas as pd
    from cxdata.presentation.charts_keydrivers import label_without_overlap
    labels = pd.Series(["Low CSAT (1–2) at Delivery", "Experienced Product page",
                        "Experienced Comparison tool", "Experienced Support call"])
    x = pd.Series([70.0, 7.0, 5.0, 2.9])
    y = pd.Series([-45.0, 23.5, 31.9, 4.65])
    # On a 640 × 230 px plot of x 0…80, y −100…100, a label starts 7 px right of its
    # point and ends 7 px above it, 13 px high, 6 px per letter:
    #   Product page     x 63…207, y 68…81      (placed: the second largest share)
    #   Comparison tool  x 47…209, y 58.3…71.3  overlaps it: no label (tooltip only)
    #   Support call     x 30…174, y 89.6…102.6 below it: placed
    shown = label_without_overlap(x, y, labels, (0.0, 80.0), (-100.0, 100.0), 640, 230)
    assert list(shown) == [True, True, False, True]
    assert list(label_without_overlap(x, y, labels, (0.0, 80.0), (-100.0, 100.0), 640, 230,
                                      limit=2)) == [True, True, False, False]
