"""Tests for cxdata.io.sample: the deterministic sample interaction log and its story.

The story checks run DuckDB SQL over the default sample (5,000 customers, seed 7) loaded
into a table with the canonical dataset layout (docs/architecture.md).  Each threshold is
the brief's, and the comment beside it works out by hand what the generator's
probabilities imply, so a failure means the story is gone, not that a number moved.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cxdata.io.sample import COLUMNS, generate_sample, write_sample

REPO = Path(__file__).resolve().parents[1]
SHIPPED_SAMPLE = REPO / "sample_data" / "interactions.csv"
STAGES = ("Aware", "Consideration", "Purchase", "Retention", "Advocacy")


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return generate_sample()


@pytest.fixture(scope="module")
def con(sample):
    """In-memory DuckDB with the default sample as dataset table ``ds`` (canonical layout
    plus the ``segment`` and ``region`` attributes)."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    raw = sample.assign(_row=range(1, len(sample) + 1))
    connection.register("raw", raw)
    connection.execute("""
        CREATE TABLE ds AS
        SELECT _row::BIGINT AS _row, customer_id::VARCHAR AS customer_id,
               CAST(CAST("timestamp" AS TIMESTAMPTZ) AS TIMESTAMP) AS ts,
               stage::VARCHAR AS stage, NULL::VARCHAR AS event,
               touchpoint::VARCHAR AS touchpoint, channel::VARCHAR AS channel,
               nps::INTEGER AS nps, csat::INTEGER AS csat, ces::INTEGER AS ces,
               comment::VARCHAR AS comment, segment::VARCHAR AS segment,
               region::VARCHAR AS region
        FROM raw ORDER BY _row""")
    connection.unregister("raw")
    yield connection
    connection.close()


def one(con, sql, params=()):
    return con.execute(sql, list(params)).fetchone()


# --- determinism and the shipped file ---------------------------------------------------

def test_same_seed_gives_identical_frames_and_bytes(tmp_path):
    pd.testing.assert_frame_equal(generate_sample(300, seed=3), generate_sample(300, seed=3))
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    assert write_sample(first, customers=300, seed=3) == write_sample(second, customers=300,
                                                                      seed=3)
    assert first.read_bytes() == second.read_bytes()


def test_different_seed_gives_a_different_log():
    a = generate_sample(300, seed=3)
    b = generate_sample(300, seed=4)
    assert not a.equals(b)
    # Not just a reshuffle: the timestamps themselves differ.
    assert set(a["timestamp"]) != set(b["timestamp"])


def test_shipped_sample_equals_generator_output(tmp_path):
    # The committed file must never drift from the generator's defaults.
    assert SHIPPED_SAMPLE.exists(), "sample_data/interactions.csv is missing"
    fresh = tmp_path / "interactions.csv"
    rows = write_sample(fresh)
    assert fresh.read_bytes() == SHIPPED_SAMPLE.read_bytes()
    # Header line + one line per row (comments hold no line breaks).
    assert SHIPPED_SAMPLE.read_bytes().count(b"\n") == rows + 1
    # Small enough to ship: the brief asks for under ~6 MB.
    assert SHIPPED_SAMPLE.stat().st_size < 6_000_000


# --- shape, types, ranges ---------------------------------------------------------------

def test_columns_and_types(sample):
    assert tuple(sample.columns) == COLUMNS == (
        "customer_id", "timestamp", "stage", "touchpoint", "channel", "nps", "csat", "ces",
        "comment", "segment", "region")
    for score in ("nps", "csat", "ces"):
        assert str(sample[score].dtype) == "Int64"
    for column in ("customer_id", "timestamp", "stage", "touchpoint", "channel", "segment",
                   "region"):
        assert sample[column].notna().all(), column
        assert all(isinstance(v, str) and v for v in sample[column]), column
    comments = sample["comment"].dropna()
    assert all(isinstance(v, str) and v.strip() and "\n" not in v for v in comments)


def test_size_customers_and_vocabulary(sample):
    assert 30_000 <= len(sample) <= 60_000
    assert sample["customer_id"].nunique() == 5000
    assert sample["customer_id"].str.fullmatch(r"C\d{5}").all()
    assert tuple(sorted(set(sample["stage"]), key=STAGES.index)) == STAGES
    assert set(sample["channel"]) == {"Web", "Mobile app", "Email", "Social", "Store",
                                      "Call centre"}
    assert 18 <= sample["touchpoint"].nunique() <= 24
    # Each touchpoint belongs to exactly one stage.
    assert (sample.groupby("touchpoint")["stage"].nunique() == 1).all()
    assert set(sample["segment"]) == {"New", "Returning", "Business"}
    assert set(sample["region"]) == {"North", "South", "East", "West"}
    for name in ("Checkout", "Delivery", "Cart", "Payment", "Order confirmation"):
        assert name in set(sample["touchpoint"])


def test_scores_are_whole_numbers_in_range(sample):
    for score, low, high in (("nps", 0, 10), ("csat", 1, 5), ("ces", 1, 7)):
        values = sample[score].dropna()
        assert len(values) > 0
        assert values.between(low, high).all(), score
        # Every value of the scale occurs: the responses use the whole range.
        assert set(int(v) for v in values) == set(range(low, high + 1)), score
    # A comment only ever comes with a response.
    scored = sample[["nps", "csat", "ces"]].notna().any(axis=1)
    assert not (sample["comment"].notna() & ~scored).any()


def test_timestamps_are_iso_utc_inside_2025(sample, con):
    assert sample["timestamp"].str.fullmatch(r"2025-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    low, high = one(con, "SELECT min(ts), max(ts) FROM ds")
    assert str(low) >= "2025-01-01 00:00:00" and str(high) < "2026-01-01 00:00:00"
    # The year is covered: every month has interactions.
    assert one(con, "SELECT count(DISTINCT month(ts)) FROM ds")[0] == 12
    # Rows come in time order, like an export.
    assert sample["timestamp"].is_monotonic_increasing


def test_times_strictly_increase_and_everyone_starts_at_aware(con):
    # Times are strictly increasing within a customer, so no analysis depends on how
    # ties are broken; every journey starts at Aware (the entry).
    assert one(con, """
        WITH o AS (SELECT ts, lag(ts) OVER (PARTITION BY customer_id ORDER BY ts, _row) AS prev
                   FROM ds)
        SELECT count(*) FROM o WHERE ts <= prev""")[0] == 0
    assert one(con, """SELECT count(*) FROM (SELECT customer_id, arg_min(stage, ts) AS first
                       FROM ds GROUP BY customer_id) WHERE first <> 'Aware'""")[0] == 0


def stage_sequences(con) -> dict[str, list[str]]:
    """customer -> their stages in time order, consecutive repeats collapsed (SPEC §3
    variants)."""
    rows = con.execute("SELECT customer_id, list(stage ORDER BY ts, _row) FROM ds "
                       "GROUP BY customer_id").fetchall()
    out = {}
    for customer, stages in rows:
        out[customer] = [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s]
    return out


def test_journeys_branch_skip_loop_and_come_back(con):
    sequences = stage_sequences(con)
    variants = {tuple(v) for v in sequences.values()}
    # A straight-line generator gives at most 5 variants (Aware, Aware > Consideration, …);
    # real journeys branch into many.
    assert len(variants) >= 50

    def customers_with(*pattern):
        return sum(1 for v in sequences.values()
                   if any(tuple(v[i:i + len(pattern)]) == pattern for i in range(len(v))))

    # Skips: Aware straight to Purchase.
    assert customers_with("Aware", "Purchase") >= 300
    # Back-steps: from the basket back to reviews / the comparison (or the live chat at
    # checkout), then on again.
    assert customers_with("Purchase", "Consideration", "Purchase") >= 300
    # Abandoned-basket reminders (a Newsletter) and newsletter-prompted repeat orders.
    assert customers_with("Purchase", "Aware", "Purchase") >= 10
    # Repeat purchases: back from Retention to Purchase, then to Retention again.
    assert customers_with("Retention", "Purchase", "Retention") >= 100
    repeat_buyers = one(con, """SELECT count(*) FROM (SELECT customer_id FROM ds
                                WHERE touchpoint = 'Order confirmation' GROUP BY 1
                                HAVING count(*) >= 2)""")[0]
    assert repeat_buyers >= 100


def test_customers_switch_device_between_browsing_and_buying(con):
    # The device (Web or Mobile app) of the Consideration touchpoints against the one of
    # the Cart: about 20 % of those who do both switch.
    switched, both = one(con, """
        WITH c AS (SELECT customer_id,
                          arg_min(channel, ts) FILTER (WHERE touchpoint IN
                              ('Product page', 'Reviews')) AS browse,
                          arg_min(channel, ts) FILTER (WHERE touchpoint = 'Cart') AS buy
                   FROM ds GROUP BY customer_id)
        SELECT count(*) FILTER (WHERE browse <> buy), count(*) FROM c
        WHERE browse IS NOT NULL AND buy IS NOT NULL""")
    assert both >= 1000
    assert 0.12 <= switched / both <= 0.30


def test_funnel_narrows_stage_by_stage(con):
    reached = dict(con.execute(
        "SELECT stage, count(DISTINCT customer_id) FROM ds GROUP BY stage").fetchall())
    counts = [reached[s] for s in STAGES]
    assert counts[0] == 5000
    # Not everyone goes on: each stage keeps fewer customers than the one before.
    assert all(later < earlier for earlier, later in zip(counts, counts[1:]))


# --- story 1: Checkout is hard work and loses customers --------------------------------

def test_checkout_effort_is_far_worse_than_elsewhere(con):
    # By hand: CES at Checkout averages 2.45 for those who give up (weights .30 .30 .20
    # .10 .06 .03 .01 on 1…7) and 3.57 for those who go on; about half of Checkout visits
    # are abandoned, so the mean is about 3.0.  Elsewhere good experiences average 5.77
    # and at most 12 % go badly (mean 2.65): 0.88·5.77 + 0.12·2.65 ≈ 5.4.
    checkout_mean, checkout_n = one(
        con, "SELECT avg(ces), count(ces) FROM ds WHERE touchpoint = ?", ["Checkout"])
    assert checkout_n >= 30
    assert checkout_mean < 3.5
    others = con.execute("""
        SELECT touchpoint, avg(ces), count(ces) FROM ds
        WHERE touchpoint <> ? AND ces IS NOT NULL GROUP BY touchpoint""",
                         ["Checkout"]).fetchall()
    assert len(others) >= 3
    for touchpoint, mean, n in others:
        if n >= 30:
            assert mean > 5.0, touchpoint
    pooled = one(con, "SELECT avg(ces) FROM ds WHERE touchpoint <> ?", ["Checkout"])[0]
    assert pooled > 5.0
    # The lowest effort score of the whole log belongs to Checkout.
    worst = one(con, """SELECT touchpoint FROM ds WHERE ces IS NOT NULL GROUP BY touchpoint
                        HAVING count(*) >= 30 ORDER BY avg(ces) LIMIT 1""")[0]
    assert worst == "Checkout"


def test_many_customers_who_reach_checkout_never_pay(con):
    # By hand: the first Checkout succeeds with p = 0.5; 20 % of those who give up come
    # back once and succeed with p = 0.5, so 0.5 + 0.5·0.2·0.5 = 0.55 reach Payment; the
    # 14 % who open the live chat at checkout succeed with 0.24 + 0.76·0.2·0.5 ≈ 0.32:
    # 0.86·0.55 + 0.14·0.32 ≈ 0.52, a drop of about 48 % (a little less with the skippers'
    # 0.58).  Purchase start (Cart) → Order confirmation: about 0.87 go on to Checkout
    # (0.85, plus reminders), 0.52 of those pay, 0.97 of payments go through in the end
    # (8 % declined, 60 % of those retry): 0.87·0.52·0.97 ≈ 0.44, a 56 % drop.
    checkout, paid, started, completed = one(con, """
        WITH c AS (SELECT customer_id,
                          bool_or(touchpoint = 'Checkout') AS checkout,
                          bool_or(touchpoint = 'Payment') AS payment,
                          bool_or(stage = 'Purchase') AS started,
                          bool_or(touchpoint = 'Order confirmation') AS completed
                   FROM ds GROUP BY customer_id)
        SELECT count(*) FILTER (WHERE checkout), count(*) FILTER (WHERE checkout AND payment),
               count(*) FILTER (WHERE started), count(*) FILTER (WHERE completed)
        FROM c""")
    assert checkout >= 1000
    assert 1 - paid / checkout >= 0.35
    assert 1 - completed / started >= 0.35
    # Nobody pays without having been through Checkout first.
    assert one(con, """SELECT count(*) FROM ds p WHERE touchpoint = 'Payment' AND NOT EXISTS
                       (SELECT 1 FROM ds c WHERE c.customer_id = p.customer_id
                        AND c.touchpoint = 'Checkout' AND c.ts < p.ts)""")[0] == 0


# --- story 2: the summer delivery problem and its fix ----------------------------------

def test_delivery_satisfaction_drops_in_summer_and_recovers(con):
    # By hand: CSAT top-2-box is 0.42+0.47 = 0.89 after a good delivery and 0.07+0.03 =
    # 0.10 after a bad one.  Normally 7 % of deliveries go badly: 0.93·0.89 + 0.07·0.10 ≈
    # 0.83; in June–August half do: 0.5·0.89 + 0.5·0.10 ≈ 0.50.
    monthly = dict(con.execute("""
        SELECT month(ts), avg(CASE WHEN csat >= 4 THEN 1.0 ELSE 0.0 END)
        FROM ds WHERE touchpoint = 'Delivery' AND csat IS NOT NULL
        GROUP BY month(ts)""").fetchall())
    assert sorted(monthly) == list(range(1, 13))
    summer = [monthly[m] for m in (6, 7, 8)]
    rest = [monthly[m] for m in monthly if m not in (6, 7, 8)]
    assert max(summer) < min(rest)

    def pooled(months):
        return one(con, """
            SELECT avg(CASE WHEN csat >= 4 THEN 1.0 ELSE 0.0 END), count(*) FROM ds
            WHERE touchpoint = 'Delivery' AND csat IS NOT NULL
              AND month(ts) BETWEEN ? AND ?""", months)

    before, n_before = pooled([1, 5])
    during, n_during = pooled([6, 8])
    after, n_after = pooled([9, 12])
    assert min(n_before, n_during, n_after) >= 100
    assert during < 0.65
    assert before >= 0.75 and after >= 0.75
    assert before - during >= 0.20 and after - during >= 0.20


def test_bad_delivery_comments_cluster_in_summer(con):
    # Complaints come with CSAT 1–2; 55 % of those get a comment.  With about 100 Delivery
    # responses a month, about 50 are bad in summer against about 7 otherwise.
    summer, rest = one(con, """
        SELECT count(*) FILTER (WHERE month(ts) BETWEEN 6 AND 8) / 3.0,
               count(*) FILTER (WHERE month(ts) NOT BETWEEN 6 AND 8) / 9.0
        FROM ds WHERE touchpoint = 'Delivery' AND csat <= 2 AND comment IS NOT NULL""")
    assert summer >= 3 * rest
    assert summer >= 10
    # Comments mentioning late / lost parcels come with low scores.
    late = con.execute("""
        SELECT csat FROM ds WHERE touchpoint = 'Delivery'
          AND regexp_matches(lower(comment), 'late|lost|crushed|rain|nothing arrived')
        """).fetchall()
    assert len(late) >= 30
    assert all(csat <= 3 for (csat,) in late)
    # The courier complaints are a summer thing only.
    outside = one(con, """SELECT count(*) FROM ds WHERE comment ILIKE '%summer%'
                          AND month(ts) NOT BETWEEN 6 AND 8""")[0]
    assert outside == 0


# --- story 3: Email converts best ------------------------------------------------------

def test_email_entry_reaches_purchase_far_more_often(con):
    # By hand: P(skip to the basket) + P(no skip) × P(Consideration) × P(Purchase |
    # Consideration) by entry touchpoint: Newsletter 0.25 + 0.75·0.88·0.78 ≈ 0.76 and
    # Referral link 0.22 + 0.78·0.92·0.82 ≈ 0.81 (both Email; shares 18 % and 12 %) → ≈
    # 0.78; Social ad 0.04 + 0.96·0.65·0.50 ≈ 0.35 and Search ad 0.09 + 0.91·0.78·0.50 ≈
    # 0.44 (35 % each) → ≈ 0.40.  Ratio ≈ 2.0; the brief's bar is 1.5.
    rows = dict(con.execute("""
        WITH first AS (SELECT customer_id, arg_min(channel, ts) AS entry_channel
                       FROM ds GROUP BY customer_id),
             reached AS (SELECT customer_id, bool_or(stage = 'Purchase') AS purchase
                         FROM ds GROUP BY customer_id)
        SELECT entry_channel = 'Email', avg(CASE WHEN purchase THEN 1.0 ELSE 0.0 END)
        FROM first JOIN reached USING (customer_id) GROUP BY 1""").fetchall())
    assert rows[True] >= 1.5 * rows[False]
    # Email is the best single entry channel, not just better than the average of others.
    per_channel = con.execute("""
        WITH first AS (SELECT customer_id, arg_min(channel, ts) AS entry_channel
                       FROM ds GROUP BY customer_id),
             reached AS (SELECT customer_id, bool_or(stage = 'Purchase') AS purchase
                         FROM ds GROUP BY customer_id)
        SELECT entry_channel, avg(CASE WHEN purchase THEN 1.0 ELSE 0.0 END), count(*)
        FROM first JOIN reached USING (customer_id) GROUP BY 1
        ORDER BY 2 DESC""").fetchall()
    assert per_channel[0][0] == "Email"
    assert all(n >= 300 for _, _, n in per_channel)


# --- story 4: live chat during checkout goes with lost orders (SPEC §8.1) ---------------

def odds_ratio(a, b, c, d):
    """SPEC §8.1 on a 2×2 table (with the factor: a converted, b not; without: c, d):
    (odds ratio, ci_low, ci_high, Fisher two-sided p)."""
    p = stats.fisher_exact([[a, b], [c, d]])[1]
    if 0 in (a, b, c, d):
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    ratio = a * d / (b * c)
    half = 1.96 * math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return ratio, ratio * math.exp(-half), ratio * math.exp(half), p


def did_table(con, column, steps, step, factor):
    """SPEC §8.1 ``did`` factor ``factor`` (a touchpoint) for the ordered funnel ``steps``
    (values of ``column``, no window) after 1-based step ``step``: (a, b, c, d).

    Without a window the customer's earliest step-1 event starts the counted attempt
    (greedy from there reaches the largest depth), each next step is the earliest later
    event of that step; converted = reached step ``step + 1``; the factor counts between
    step ``step``'s event and step ``step + 1``'s (non-converters: any later event)."""
    col = '"' + column + '"'
    chain, joins = [], []
    for i, value in enumerate(steps[:step + 1], start=1):
        if i == 1:
            chain.append(f"e1 AS (SELECT customer_id, min(ts) AS t FROM ds WHERE {col} = ? "
                         "GROUP BY customer_id)")
        else:
            chain.append(f"e{i} AS (SELECT p.customer_id, min(d.ts) AS t FROM e{i - 1} p "
                         f"JOIN ds d ON d.customer_id = p.customer_id AND d.{col} = ? "
                         "AND d.ts > p.t GROUP BY p.customer_id)")
    j, k = step, step + 1
    sql = f"""
        WITH {", ".join(chain)},
        f AS (SELECT e{j}.customer_id, e{j}.t AS tj, e{k}.t AS tk FROM e{j}
              LEFT JOIN e{k} USING (customer_id)),
        g AS (SELECT tk IS NOT NULL AS converted,
                     EXISTS (SELECT 1 FROM ds d WHERE d.customer_id = f.customer_id
                             AND d.touchpoint = ? AND d.ts > f.tj
                             AND (f.tk IS NULL OR d.ts < f.tk)) AS did
              FROM f)
        SELECT count(*) FILTER (WHERE did AND converted), count(*) FILTER (WHERE did AND NOT converted),
               count(*) FILTER (WHERE NOT did AND converted),
               count(*) FILTER (WHERE NOT did AND NOT converted)
        FROM g"""
    return one(con, sql, list(steps[:step + 1]) + [factor])


def test_live_chat_during_checkout_goes_with_fewer_orders(con):
    # Funnel Cart → Order confirmation (by touchpoint): the customers who open the live
    # chat after putting an item in the basket complete the order far less often.
    # By hand: a chat comes at the first Checkout of 14 % of those who get there; the
    # checkout then succeeds with 0.24 (+ a retry days later, 0.76·0.2·0.5), and 0.97 of
    # payments go through: ≈ 0.31 ordered.  Without a chat: 0.87 reach Checkout,
    # 0.55 pay (0.58 for skippers), 0.97 go through: ≈ 0.48.  OR ≈ (0.31/0.69) /
    # (0.48/0.52) ≈ 0.49 by this rough count; 0.38 measured (the chatters are all past
    # the Cart, so more of the non-chatters' losses fall before Checkout).
    a, b, c, d = did_table(con, "touchpoint", ["Cart", "Order confirmation"], 1, "Live chat")
    ratio, low, high, p = odds_ratio(a, b, c, d)
    assert 200 <= a + b <= 600                       # n in the hundreds
    assert a / (a + b) < 0.35 < 0.45 < c / (c + d)   # ~27 % against ~49 %
    assert 0.3 <= ratio <= 0.5 and high < 0.6
    assert p < 1e-8
    # The same in the stage funnel: after Purchase, before Retention (the order's
    # aftermath), a chat goes with fewer customers going on.
    a, b, c, d = did_table(con, "stage", list(STAGES[:4]), 3, "Live chat")
    stage_ratio, _, stage_high, stage_p = odds_ratio(a, b, c, d)
    assert a + b >= 150
    assert stage_ratio <= 0.55 and stage_high < 0.7 and stage_p < 1e-5
    # Their live chat comments say why.
    took_ages = one(con, """SELECT count(*) FROM ds WHERE touchpoint = 'Live chat'
                            AND comment ILIKE '%live chat took ages%'""")[0]
    assert took_ages >= 10


# --- story 5: a low Delivery CSAT drives NPS (SPEC §8.2) --------------------------------

def keydriver_predictors(con, metric="nps"):
    """SPEC §8.2 predictors for ``metric``: (customers, outcome = their last response,
    {(kind, value): 0/1 column}), kept when 30…n−30 customers have them, the 20 most
    common (ties by name), without duplicates."""
    last = con.execute(f"""SELECT customer_id, arg_max({metric}, ts) FROM ds
                           WHERE {metric} IS NOT NULL GROUP BY customer_id
                           ORDER BY customer_id""").fetchall()
    customers = [c for c, _ in last]
    index = {c: i for i, c in enumerate(customers)}
    n = len(customers)
    outcome = np.array([float(v) for _, v in last])
    have: dict[tuple[str, str], set[str]] = {}
    for customer, touchpoint, low, hard in con.execute("""
            SELECT customer_id, touchpoint, bool_or(csat <= 2), bool_or(ces <= 3)
            FROM ds GROUP BY customer_id, touchpoint""").fetchall():
        if customer not in index:
            continue
        have.setdefault(("experienced", touchpoint), set()).add(customer)
        if low:
            have.setdefault(("low_csat", touchpoint), set()).add(customer)
        if hard:
            have.setdefault(("hard_ces", touchpoint), set()).add(customer)
    for customer, channel in con.execute("""SELECT customer_id, arg_min(channel, ts) FROM ds
                                            GROUP BY customer_id""").fetchall():
        if customer in index:
            have.setdefault(("entry", channel), set()).add(customer)
    kept = sorted(((key, who) for key, who in have.items() if 30 <= len(who) <= n - 30),
                  key=lambda item: (-len(item[1]), item[0]))[:20]
    columns, seen = {}, set()
    for key, who in kept:
        if frozenset(who) in seen:
            continue
        seen.add(frozenset(who))
        column = np.zeros(n)
        column[[index[c] for c in who]] = 1.0
        columns[key] = column
    return n, outcome, columns


def relative_weights(X, y):
    """Johnson's relative weights (SPEC §8.2): one weight per column of X, summing to R².
    A singular correlation matrix (e.g. every entry channel kept, so that they sum to 1)
    takes the pseudo-inverse: its zero eigenvalues carry no weight."""
    R = np.corrcoef(X, rowvar=False)
    r = np.array([np.corrcoef(X[:, k], y)[0, 1] for k in range(X.shape[1])])
    eigenvalues, V = np.linalg.eigh(R)
    eigenvalues = np.where(eigenvalues > 1e-10, eigenvalues, 0.0)
    Lam = V @ np.diag(np.sqrt(eigenvalues)) @ V.T
    beta = np.linalg.pinv(Lam) @ r
    return (Lam ** 2) @ (beta ** 2), r


def test_low_delivery_csat_has_by_far_the_largest_share_of_nps(con):
    # By hand: a Delivery rated 1–2 makes the customer unhappy: 82 % of what they answer
    # afterwards is a detractor score (4 % promoters), against 14 % / 58 % for happy
    # customers.  About a fifth of the deliveries go badly over the year (half of them in
    # summer), 60 % are rated, 70 % of those rated 1–2: roughly one NPS respondent in
    # eight carries the factor.
    n, y, columns = keydriver_predictors(con)
    keys = list(columns)
    X = np.column_stack([columns[k] for k in keys])
    weights, r = relative_weights(X, y)
    assert n >= 400
    r_squared = weights.sum()
    assert 0.08 <= r_squared <= 0.5
    shares = dict(zip(keys, weights / r_squared))
    ranked = sorted(shares, key=shares.get, reverse=True)
    assert ranked[0] == ("low_csat", "Delivery")
    top = shares[ranked[0]]
    assert top >= 0.5 and top >= 4 * shares[ranked[1]]
    assert r[keys.index(("low_csat", "Delivery"))] < -0.2           # lower NPS
    # A 95 % percentile bootstrap interval (200 resamples, fixed seed) of that share stays
    # above every other predictor's share.
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(200):
        pick = rng.integers(0, n, n)
        w, _ = relative_weights(X[pick], y[pick])
        boot.append(w[keys.index(ranked[0])] / w.sum())
    assert np.percentile(boot, 2.5) > shares[ranked[1]]
    # Hand-checkable: NPS (SPEC §4) of the last responses with and without the factor.
    low = columns[("low_csat", "Delivery")] == 1

    def nps(values):
        return 100 * ((values >= 9).mean() - (values <= 6).mean())
    assert nps(y[low]) <= -40 and nps(y[~low]) >= 20


# --- story 6: one bad week of the Mobile app (SPEC §8.3) --------------------------------

def weekly_conversion(con):
    """Funnel Consideration → Purchase (by stage, no window) per ISO week of the entry
    (the customer's first Consideration event) and entry channel: (week, channel, n, x)."""
    return con.execute("""
        WITH firsts AS (SELECT customer_id, min(ts) AS t1 FROM ds
                        WHERE stage = 'Consideration' GROUP BY customer_id),
        entry AS (SELECT f.customer_id, f.t1, arg_min(d.channel, d._row) AS channel
                  FROM firsts f JOIN ds d ON d.customer_id = f.customer_id AND d.ts = f.t1
                   AND d.stage = 'Consideration' GROUP BY f.customer_id, f.t1),
        conv AS (SELECT e.*, EXISTS (SELECT 1 FROM ds d WHERE d.customer_id = e.customer_id
                                     AND d.stage = 'Purchase' AND d.ts > e.t1) AS converted
                 FROM entry e)
        SELECT strftime(date_trunc('week', t1), '%Y-%m-%d') AS week, channel, count(*) AS n,
               count(*) FILTER (WHERE converted) AS x
        FROM conv GROUP BY 1, 2 ORDER BY 1, 2""").df()


def test_one_week_of_mobile_app_conversion_falls_and_recovers(con):
    # By hand: a customer who starts considering in the Mobile app in the week of Monday
    # 6 October 2025 reaches the basket with 0.1 × the usual 0.5–0.9: about 6 % instead
    # of ~70 %.  Mobile app entrants are about 40 % of a week's ~75 entrants, so the week
    # falls from ~0.61 to ~0.61 − 0.4·0.65 ≈ 0.35, far below the lower 3-sigma limit
    # 0.61 − 3·√(0.61·0.39/75) ≈ 0.44.
    groups = weekly_conversion(con)
    last_week = one(con, "SELECT strftime(date_trunc('week', max(ts)), '%Y-%m-%d') FROM ds")[0]
    weeks = groups.groupby("week")[["n", "x"]].sum()
    complete = weeks[weeks.index != last_week]      # no window: only the last is incomplete
    centre = complete["x"].sum() / complete["n"].sum()
    sigma = np.sqrt(centre * (1 - centre) / complete["n"])
    value = complete["x"] / complete["n"]
    lcl, ucl = (centre - 3 * sigma).clip(0, 1), (centre + 3 * sigma).clip(0, 1)
    beyond = list(value[(value < lcl) | (value > ucl)].index)
    outage = "2025-10-06"
    assert dt.date.fromisoformat(outage).isoweekday() == 1     # a Monday: an ISO week
    assert beyond == [outage]                       # the one signal of the year
    assert value[outage] < lcl[outage]
    # Explained by channel: group g contributes n_t,g·(x_t,g − x̄_g) / (n_t·(x_t − x̄)).
    normal = groups[groups["week"] != last_week].groupby("channel")[["n", "x"]].sum()
    own_centre = normal["x"] / normal["n"]
    in_week = groups[groups["week"] == outage].set_index("channel")
    gap = complete.loc[outage, "n"] * (value[outage] - centre)
    contribution = {g: row.n * (row.x / row.n - own_centre[g]) / gap
                    for g, row in in_week.iterrows()}
    assert max(contribution, key=contribution.get) == "Mobile app"
    assert contribution["Mobile app"] >= 0.8
    # The Mobile app fell that week and recovered the next; Web did not fall.
    app = groups[groups["channel"] == "Mobile app"].set_index("week")
    app_rate = app["x"] / app["n"]
    assert app_rate[outage] < 0.25
    assert app_rate["2025-09-29"] > 0.6 and app_rate["2025-10-13"] > 0.6
    web = in_week.loc["Web"]
    assert web.x / web.n > own_centre["Web"] - 0.15


# --- story 7: some customers skip Consideration (SPEC §8.5) -----------------------------

def test_about_one_in_eight_skips_consideration_and_regrets_it_more(con):
    # By hand: P(skip | entry) weighted by the entry shares: 0.35·0.04 + 0.35·0.09 +
    # 0.18·0.25 + 0.12·0.22 ≈ 0.12 of all customers go from Aware straight to Purchase.
    sequences = stage_sequences(con)
    skipped = {c for c, v in sequences.items() if len(v) > 1 and v[1] == "Purchase"}
    assert 0.10 <= len(skipped) / len(sequences) <= 0.15
    # SPEC §8.5 against the map order: first visits of each stage; a skipper reaches
    # Purchase before ever visiting Consideration.
    first_visits = {c: list(dict.fromkeys(v)) for c, v in sequences.items()}
    skips_class = {c for c, v in first_visits.items()
                   if any(STAGES.index(s) > 0 and STAGES[STAGES.index(s) - 1] not in v[:i]
                          for i, s in enumerate(v))}
    assert skipped <= skips_class
    assert 0.10 <= len(skips_class) / len(sequences) <= 0.16
    per_customer = con.execute("""
        SELECT customer_id, bool_or(touchpoint = 'Order confirmation'),
               bool_or(touchpoint = 'Returns'), bool_or(stage = 'Purchase')
        FROM ds GROUP BY customer_id""").fetchall()
    ordered = {c: (o, r) for c, o, r, p in per_customer if p}
    others = set(ordered) - skipped

    def rate(who, what):
        return sum(ordered[c][what] for c in who) / len(who)
    # They complete their order more often (by hand: 0.93 go on to Checkout against
    # 0.85, and 0.58 get through it first time against 0.50) ...
    assert rate(skipped, 0) >= rate(others, 0) + 0.05
    # ... but return more (0.20 against 0.05 per delivery: "not what I expected") ...
    buyers = {c for c in ordered if ordered[c][0]}
    assert (rate(skipped & buyers, 1) >= 2 * rate(others & buyers, 1))
    # ... and give a lower NPS: happy skippers are 44 % promoters / 26 % detractors
    # (+18) against 58 % / 14 % (+44).
    nps = dict(con.execute("""
        SELECT customer_id IN (SELECT unnest(?::VARCHAR[])),
               100.0 * (count(*) FILTER (WHERE nps >= 9) - count(*) FILTER (WHERE nps <= 6))
               / count(*)
        FROM ds WHERE nps IS NOT NULL GROUP BY 1""", [sorted(skipped)]).fetchall())
    assert nps[True] <= nps[False] - 10
    regret = one(con, """SELECT count(*) FROM ds WHERE touchpoint = 'Returns'
                         AND comment ILIKE '%not what I expected%'""")[0]
    assert regret >= 3


# --- comments: recognisable topics per touchpoint (SPEC §8.4) ---------------------------

@pytest.mark.parametrize("touchpoint, phrase, at_least", [
    ("Delivery", "late", 30), ("Delivery", "courier", 30), ("Checkout", "checkout kept failing", 50),
    ("Payment", "payment declined", 8), ("Live chat", "live chat took ages", 10),
])
def test_complaints_name_recognisable_topics(con, touchpoint, phrase, at_least):
    # Key phrases recur in the complaints of their touchpoint, always with a low score:
    # a topic list finds them, and their share negative is 100 %.
    count, low = one(con, """
        SELECT count(*), count(*) FILTER (WHERE csat <= 2 OR ces <= 3 OR nps <= 6)
        FROM ds WHERE touchpoint = ? AND lower(comment) LIKE '%' || ? || '%'""",
                     [touchpoint, phrase])
    assert count >= at_least
    assert low == count


# --- overall score levels --------------------------------------------------------------

def test_overall_score_levels(con):
    # NPS = 100·(P − D)/n per SPEC §4.  Happy customers: 58 % promoters, 14 % detractors
    # (+44; +18 for those who skipped Consideration); unhappy: 4 % / 82 % (−78); most
    # respondents are happy → about +20.
    nps, nps_n = one(con, """
        SELECT 100.0 * (count(*) FILTER (WHERE nps >= 9) - count(*) FILTER (WHERE nps <= 6))
               / count(*), count(*) FROM ds WHERE nps IS NOT NULL""")
    assert nps_n >= 300
    assert 10 <= nps <= 35
    # CSAT top-2-box: ~0.80 from 0.89 on good experiences, less on bad ones.
    top2 = one(con, """SELECT avg(CASE WHEN csat >= 4 THEN 1.0 ELSE 0.0 END) FROM ds
                       WHERE csat IS NOT NULL""")[0]
    assert 0.70 <= top2 <= 0.85
    scored = one(con, """SELECT avg(CASE WHEN nps IS NOT NULL OR csat IS NOT NULL
                                      OR ces IS NOT NULL THEN 1.0 ELSE 0.0 END) FROM ds""")[0]
    assert 0.10 <= scored <= 0.25


def test_nps_is_asked_mostly_late_in_the_journey(con):
    late_share = one(con, """
        SELECT avg(CASE WHEN stage IN ('Retention', 'Advocacy') THEN 1.0 ELSE 0.0 END)
        FROM ds WHERE nps IS NOT NULL""")[0]
    assert late_share >= 0.75
    assert one(con, "SELECT count(*) FROM ds WHERE nps IS NOT NULL AND stage IN (?, ?)",
               ["Aware", "Consideration"])[0] == 0


def test_enough_responses_for_intervals(con):
    per_stage = dict(con.execute("""
        SELECT stage, count(*) FILTER (WHERE nps IS NOT NULL OR csat IS NOT NULL
                                       OR ces IS NOT NULL)
        FROM ds GROUP BY stage""").fetchall())
    assert all(per_stage[s] >= 30 for s in STAGES), per_stage
    main = {("Checkout", "ces"), ("Payment", "ces"), ("Comparison tool", "ces"),
            ("Delivery", "csat"), ("Store visit", "csat"), ("Live chat", "csat"),
            ("Support call", "csat"), ("Newsletter", "csat"), ("Order confirmation", "csat"),
            ("Review request", "nps"), ("Loyalty programme", "nps"),
            ("Onboarding email", "nps")}
    counts = {}
    for touchpoint, metric in sorted(main):
        counts[(touchpoint, metric)] = one(
            con, f"SELECT count({metric}) FROM ds WHERE touchpoint = ?", [touchpoint])[0]
    assert all(n >= 30 for n in counts.values()), counts


def test_comments_agree_with_scores(con):
    # Praise never comes with a poor score, complaints never with a top score.
    praise_scores = con.execute("""
        SELECT csat FROM ds WHERE comment IN ('Great service', 'Very happy, thanks',
                                              'Quick and easy') AND csat IS NOT NULL""").fetchall()
    assert praise_scores and all(csat >= 4 for (csat,) in praise_scores)
    checkout = con.execute("""SELECT ces FROM ds WHERE touchpoint = 'Checkout'
                              AND comment IS NOT NULL AND comment NOT IN
                              ('Great service', 'Very happy, thanks', 'Quick and easy',
                               'Checkout was fine once I found guest checkout',
                               'It was okay', 'Fine, nothing special', 'Could be faster')
                           """).fetchall()
    assert len(checkout) >= 30
    assert all(ces <= 3 for (ces,) in checkout)


# --- output formats ----------------------------------------------------------------------

def test_write_sample_formats_hold_the_same_rows(tmp_path):
    expected = generate_sample(200, seed=11)
    n = len(expected)
    csv_path = tmp_path / "s.csv"
    assert write_sample(csv_path, customers=200, seed=11) == n
    csv_bytes = csv_path.read_bytes()
    assert csv_bytes.startswith(b"customer_id,timestamp,stage,touchpoint,channel,nps,csat,ces,"
                                b"comment,segment,region\n")
    assert b"\r" not in csv_bytes

    gz_path = tmp_path / "s.csv.gz"
    assert write_sample(gz_path, customers=200, seed=11) == n
    assert gzip.decompress(gz_path.read_bytes()) == csv_bytes
    again = tmp_path / "again.csv.gz"
    write_sample(again, customers=200, seed=11)
    assert again.read_bytes() == gz_path.read_bytes()  # no time stamp in the gzip header

    parquet_path = tmp_path / "s.parquet"
    assert write_sample(parquet_path, customers=200, seed=11) == n
    back = pd.read_parquet(parquet_path)
    assert list(back.columns) == list(COLUMNS)
    assert back["timestamp"].tolist() == expected["timestamp"].tolist()
    assert back["csat"].astype("Int64").equals(expected["csat"])

    json_path = tmp_path / "s.json"
    assert write_sample(json_path, customers=200, seed=11) == n
    records = json.loads(json_path.read_text(encoding="utf-8"))
    assert isinstance(records, list) and len(records) == n
    assert list(records[0]) == list(COLUMNS)
    assert records[0]["customer_id"] == expected["customer_id"].iloc[0]

    for suffix in (".ndjson", ".jsonl"):
        path = tmp_path / f"s{suffix}"
        assert write_sample(path, customers=200, seed=11) == n
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == n
        first = json.loads(lines[0])
        assert first["timestamp"] == expected["timestamp"].iloc[0]
        # Missing scores are JSON nulls, present ones whole numbers.
        scored = [json.loads(line) for line in lines if '"csat":null' not in line]
        assert scored and all(isinstance(r["csat"], int) for r in scored)

    # Any other suffix gets CSV.
    other = tmp_path / "s.txt"
    write_sample(other, customers=200, seed=11)
    assert other.read_bytes() == csv_bytes


def test_csv_reads_back_to_the_same_frame(tmp_path):
    expected = generate_sample(200, seed=5)
    path = tmp_path / "s.csv"
    write_sample(path, customers=200, seed=5)
    back = pd.read_csv(io.BytesIO(path.read_bytes()),
                       dtype={"nps": "Int64", "csat": "Int64", "ces": "Int64"})
    assert len(back) == len(expected)
    for column in ("nps", "csat", "ces"):
        assert back[column].equals(expected[column]), column
    assert back["comment"].fillna("").tolist() == expected["comment"].fillna("").tolist()


def test_small_and_invalid_customer_counts():
    empty = generate_sample(0)
    assert len(empty) == 0 and tuple(empty.columns) == COLUMNS
    one_customer = generate_sample(1, seed=2)
    assert set(one_customer["customer_id"]) == {"C00001"}
    assert one_customer["stage"].iloc[0] == "Aware"
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(ValueError):
            generate_sample(bad)
