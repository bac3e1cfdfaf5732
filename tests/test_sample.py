"""Tests for cxdata.sample: the deterministic sample interaction log and its story.

The story checks run DuckDB SQL over the default sample (5,000 customers, seed 7) loaded
into a table with the canonical dataset layout (docs/architecture.md).  Each threshold is
the brief's, and the comment beside it works out by hand what the generator's
probabilities imply, so a failure means the story is gone, not that a number moved.
"""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cxdata.sample import COLUMNS, generate_sample, write_sample

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


def test_stage_never_goes_back_and_times_strictly_increase(con):
    # Rule: within a customer, in time order, the stage index (Aware=0 … Advocacy=4) never
    # decreases; repeats within a stage are allowed.  Times are strictly increasing, so
    # the order does not depend on tie-breaking.
    backwards, ties = one(con, """
        WITH ordered AS (
            SELECT customer_id, ts,
                   list_position(['Aware','Consideration','Purchase','Retention','Advocacy'],
                                 stage) AS stage_index,
                   lag(list_position(['Aware','Consideration','Purchase','Retention',
                                      'Advocacy'], stage))
                       OVER (PARTITION BY customer_id ORDER BY ts, _row) AS previous_index,
                   lag(ts) OVER (PARTITION BY customer_id ORDER BY ts, _row) AS previous_ts
            FROM ds)
        SELECT count(*) FILTER (WHERE stage_index < previous_index),
               count(*) FILTER (WHERE ts <= previous_ts)
        FROM ordered""")
    assert (backwards, ties) == (0, 0)
    # Repeats exist (several consideration touchpoints for one customer) ...
    assert one(con, """SELECT max(n) FROM (SELECT count(*) AS n FROM ds
                       WHERE stage = 'Consideration' GROUP BY customer_id)""")[0] >= 3
    # ... and every customer starts at Aware.
    assert one(con, """SELECT count(*) FROM (SELECT customer_id, arg_min(stage, ts) AS first
                       FROM ds GROUP BY customer_id) WHERE first <> 'Aware'""")[0] == 0


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
    # back once and succeed with p = 0.5, so 0.5 + 0.5·0.2·0.5 = 0.55 reach Payment: a drop
    # of about 45 %.  Purchase start (Cart) → Order confirmation: 0.85 go on to Checkout,
    # 0.55 of those pay, 0.97 of payments go through: 0.85·0.55·0.97 ≈ 0.45, a 55 % drop.
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
    # By hand: P(Consideration) × P(Purchase | Consideration) by entry touchpoint:
    # Newsletter 0.88·0.78 ≈ 0.69 and Referral link 0.92·0.82 ≈ 0.75 (both Email; shares
    # 18 % and 12 %) → ≈ 0.71; Social ad 0.65·0.50 ≈ 0.33 and Search ad 0.78·0.50 = 0.39
    # (35 % each) → ≈ 0.36.  Ratio ≈ 2.0; the brief's bar is 1.5.
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


# --- overall score levels --------------------------------------------------------------

def test_overall_score_levels(con):
    # NPS = 100·(P − D)/n per SPEC §4.  Happy customers: 58 % promoters, 14 % detractors
    # (+44); unhappy: 8 % / 70 % (−62); most respondents are happy → about +20.
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
