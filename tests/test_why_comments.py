"""Comments: sentiment and topics, offline (SPEC §8.4): VADER's thresholds, "no sentiment"
for other languages, YAKE topics of a tiny hand-made set worked by hand, the per-group cap,
the sample's planted comments and the ``comments`` command's JSON."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cxdata import cli
from cxdata.why import cli_comments, comments
from cxdata.why.comments import NO_SENTIMENT, comment_topics, is_english, sentiment, topics_of
from tests.helpers_events import make_events_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "interactions.csv"


@pytest.mark.parametrize("text, expected", [
    ("Great service, thank you", "positive"),
    ("Delivery was late, really disappointing", "negative"),
    ("It arrived on Tuesday", "neutral"),
    ("Courier lost my parcel, awful", "negative"),
])
def test_vader_on_fixed_sentences(text, expected):
    assert sentiment(text) == expected


@pytest.mark.parametrize("compound, expected", [
    (0.05, "positive"), (0.0499, "neutral"), (0.0, "neutral"), (-0.0499, "neutral"),
    (-0.05, "negative"), (-0.9, "negative")])
def test_vader_thresholds(monkeypatch, compound, expected):
    class Fixed:
        lexicon = {"fine": 1.0}

        def polarity_scores(self, text):
            return {"compound": compound}
    monkeypatch.setattr(comments, "_analyzer", lambda: Fixed())
    assert sentiment("it is fine") == expected


@pytest.mark.parametrize("text", ["La entrega fue muy lenta", "Die Lieferung war sehr spät",
                                  "Le colis est arrivé en retard", "El paquete llegó tarde",
                                  "配送が遅れました", "12345", ""])
def test_other_languages_get_no_sentiment(text):
    assert not is_english(text)
    assert sentiment(text) == NO_SENTIMENT


def test_yake_topics_on_a_tiny_hand_made_set():
    texts = ["The courier was late again", "Courier lost my parcel, awful", "Courier never called",
             "Great packaging", "Great packaging, thanks", "Parcel arrived damaged",
             "El paquete llegó tarde", "Amazing courier, so friendly"]
    frame = pd.DataFrame({"comment": texts, "score": pd.array([1, 1, 2, 5, 4, 2, 1, 5], dtype="Int64")})
    frame["sentiment"] = [sentiment(t) for t in texts]
    # VADER: negative "lost … awful" and "arrived damaged"; positive the two "great" and
    # "amazing"; neutral "was late again", "never called"; Spanish: no sentiment.
    assert list(frame["sentiment"]) == ["neutral", "negative", "neutral", "positive", "positive",
                                        "negative", NO_SENTIMENT, "positive"]
    topics = {t["topic"]: t for t in topics_of(frame)}
    # courier: comments 1, 2, 3, 8 — scores 1, 1, 2, 5: mean 2.25; one negative of four.
    assert topics["courier"] == {"topic": "courier", "comments": 4, "mean_score": 2.25, "score_n": 4,
                                 "negative_share": 0.25}
    # great packaging: comments 4, 5 (scores 5, 4); "great" and "packaging" alone are
    # mentioned by the same two comments, so only the longest phrase stays.
    assert topics["great packaging"]["comments"] == 2 and topics["great packaging"]["mean_score"] == 4.5
    assert "great" not in topics and "packaging" not in topics
    # parcel: comments 2, 6, both negative.
    assert topics["parcel"]["negative_share"] == 1.0 and topics["parcel"]["mean_score"] == 1.5
    assert list(topics)[0] == "courier"                 # most mentioned first
    assert not any("tarde" in t for t in topics)          # phrases come from English comments


def _log(con):
    rows = [
        ("a", 10, "Delivery", 1, "Courier lost my parcel, awful"),
        ("a", 20, "Delivery", 2, "Courier never called"),
        ("b", 30, "Delivery", 5, "Great courier, thank you"),
        ("c", 40, "Delivery", 4, "La entrega fue muy lenta"),
        ("c", 50, "Shop", 5, "   "),                        # blank: not a comment
        ("d", 60, "Shop", 3, "Nice shop"),
    ]
    make_events_table(con, [dict(customer_id=c, ts=t, touchpoint=tp, csat=s, comment=m)
                            for c, t, tp, s, m in rows])


def test_groups_counts_and_the_cap():
    con = duckdb.connect()
    _log(con)
    result = comment_topics(con, "ev", by="touchpoint", metric="csat")
    groups = result.groups.set_index("group")
    assert groups.loc["Delivery", ["comments", "analysed", "positive", "negative", "neutral",
                                   "no_sentiment"]].tolist() == [4, 4, 1, 1, 1, 1]
    assert groups.loc["Shop", "comments"] == 1 and not groups.loc["Shop", "capped"]
    topic = result.topics[(result.topics["group"] == "Delivery") & (result.topics["topic"] == "courier")].iloc[0]
    assert (topic["comments"], topic["mean_score"], topic["score_n"]) == (3, (1 + 2 + 5) / 3, 3)
    capped = comment_topics(con, "ev", metric="csat", max_comments=2).groups.set_index("group")
    assert capped.loc["Delivery", ["comments", "analysed"]].tolist() == [4, 2]
    assert bool(capped.loc["Delivery", "capped"])
    newest = comments.comment_rows(con, "ev", metric="csat", max_comments=2)
    assert list(newest[newest["group"] == "Delivery"]["comment"]) == ["La entrega fue muy lenta",
                                                                      "Great courier, thank you"]


def test_sample_comment_topics_per_touchpoint(sample):
    result = comment_topics(sample, "events", metric="csat")
    assert result.groups["comments"].sum() == 1901          # sample_data/README.md
    topics = result.topics.set_index(["group", "topic"])
    # Story 2: "courier" in 47 Delivery comments, "late" in 46, all with a CSAT of 1–2.
    assert topics.loc[("Delivery", "courier"), "comments"] == 47
    assert topics.loc[("Delivery", "late"), "comments"] == 46
    assert topics.loc[("Delivery", "courier"), "mean_score"] < 2
    # Story 1: 156 Checkout comments say "checkout kept failing"; every one is negative.
    assert topics.loc[("Checkout", "checkout kept failing"), "comments"] == 156
    assert topics.loc[("Checkout", "checkout kept failing"), "negative_share"] == 1.0
    # Story 4: 24 Live chat comments say "live chat took ages" (YAKE: "chat took ages").
    assert topics.loc[("Live chat", "chat took ages"), "comments"] == 24


def _run_cli(argv, capsys):
    parser = cli._Parser(prog="cxdata")
    sub = parser.add_subparsers(dest="command")
    cli_comments.add_parser(sub, cli._common)
    args = parser.parse_args(argv)
    code = cli_comments.run(args, cli.load_data, cli.emit)
    return code, capsys.readouterr().out


def test_cli_json_shape(capsys, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("customer_id,timestamp,touchpoint,csat,comment\n"
                    "a,2025-01-01T10:00:00Z,Delivery,1,\"Courier lost my parcel, awful\"\n"
                    "a,2025-01-02T10:00:00Z,Delivery,2,Courier never called\n"
                    "b,2025-01-03T10:00:00Z,Delivery,5,\"Great courier, thank you\"\n"
                    "c,2025-01-04T10:00:00Z,Shop,4,La entrega fue muy lenta\n", encoding="utf-8")
    code, out = _run_cli(["comments", str(path), "--by", "touchpoint", "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["metric"] == "csat" and data["by"] == "touchpoint"
    first = data["groups"][0]
    assert {"group", "comments", "positive", "negative", "neutral", "topics"} <= set(first)
    assert (first["group"], first["comments"], first["positive"], first["negative"], first["neutral"]) == (
        "Delivery", 3, 1, 1, 1)
    assert first["topics"][0] == {"topic": "courier", "comments": 3, "mean_score": 8 / 3,
                                  "mean_score_n": 3, "negative_share": 1 / 3}
    assert data["groups"][1]["no_sentiment"] == 1
    code, out = _run_cli(["comments", str(path), "--format", "csv"], capsys)
    assert out.splitlines()[0] == ",".join(cli_comments.TOPIC_COLUMNS)
