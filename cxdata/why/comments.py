"""Comments: sentiment and topics, offline (SPEC §8.4).

Per group of a column (touchpoint by default):

* **sentiment** of each English comment from VADER (``vaderSentiment``, a lexicon shipped
  with the package): compound ≥ 0.05 positive, ≤ −0.05 negative, else neutral.  Comments
  that do not look English get **no sentiment** rather than a guess (:func:`is_english`);
* **topics**: key phrases found by YAKE (``yake``, statistical, no model download) over
  the group's English comments; per topic the comments mentioning it (the phrase as whole
  words, any case), their mean score of ``metric`` with its n, and the share of them that
  are negative (of those with a sentiment).

Nothing touches a network.  **Engine work**: the kernel selects each group's comment
rows, newest first (``ts`` descending, then ``customer_id``, ``_row``: one order on every
engine) and keeps at most ``max_comments`` per group on every subset of customers; the
``then`` step keeps the first ``max_comments`` of the whole, so both engines return the
same rows.  The text processing is Python over those rows; a group with more comments says
so (``analysed`` < ``comments``, ``capped`` true).  Comments are user text: show them as
plain text only.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from cxdata.engines import as_engine
from cxdata.analytics.scores import METRICS, _key_for, table_columns
from cxdata.sql import EventFilter, filtered_events, quote_ident

POSITIVE_FROM = 0.05     # VADER compound ≥ this: positive
NEGATIVE_UPTO = -0.05    # VADER compound ≤ this: negative
NO_SENTIMENT = "no sentiment"
#: Share of a comment's letters that must be ASCII a–z for it to be taken as English.
ASCII_SHARE = 0.9

#: Common English function words (any one of them, or a word of VADER's English lexicon,
#: counts as English evidence).
_ENGLISH = frozenset("""a an the and or but if of to in on at for with from by about as is
are was were be been being it its this that these those i me my we our you your he she
they them their not no very so too really did do does done have has had will would can
could should never again after before just only all""".split())
#: Common function words of other languages written in Latin letters (Spanish, French,
#: German, Italian, Portuguese, Dutch): evidence against English.
_OTHER = frozenset("""el la los las un una es muy pero por para con que del y fue está
le les des une est pas mais pour avec très et du au ce qui je
der die das und ist nicht sehr mit für ein eine ich zu auf war
il di che non per con una sono molto della gli lo
o os um uma não com para muito mas foi
de het een en niet met voor zeer maar ik""".split())
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class CommentTopicsResult:
    """Sentiment and topics per group.

    ``groups``: group, comments (all of the group), analysed (the ones read: at most
    ``max_comments``), capped (analysed < comments), positive, negative, neutral,
    no_sentiment (counts of the analysed comments); most comments first.
    ``topics``: group, topic, comments (analysed comments mentioning it), mean_score (of
    ``metric`` over those with a response; None without a metric), score_n, negative_share
    (0…1 of those with a sentiment; None when none has one); per group most mentioned first.
    ``examples``: group, topic, score, sentiment, comment — up to three newest comments per
    topic (plain text for display).
    """
    by: str
    metric: str | None
    max_comments: int
    groups: pd.DataFrame
    topics: pd.DataFrame
    examples: pd.DataFrame


# ---------------------------------------------------------------------------------------
# Text (pure)

@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    return SentimentIntensityAnalyzer()


def is_english(text: str) -> bool:
    """A cheap language check: at least 90% of the letters are ASCII a–z, and the words
    include English evidence (a common English function word or a word of VADER's English
    lexicon) outnumbering common function words of Spanish, French, German, Italian,
    Portuguese and Dutch.  Text without letters is not English."""
    letters = [c for c in str(text) if c.isalpha()]
    if not letters:
        return False
    ascii_share = sum("a" <= c.lower() <= "z" for c in letters) / len(letters)
    if ascii_share < ASCII_SHARE:
        return False
    words = _WORD.findall(str(text).lower())
    lexicon = _analyzer().lexicon
    english = sum(w in _ENGLISH or w in lexicon for w in words)
    other = sum(w in _OTHER for w in words)
    return english > 0 and english > other


def sentiment(text: str) -> str:
    """"positive", "negative" or "neutral" (VADER compound ≥ 0.05 / ≤ −0.05 / between)
    for an English comment; "no sentiment" for any other."""
    if not is_english(text):
        return NO_SENTIMENT
    compound = _analyzer().polarity_scores(str(text))["compound"]
    if compound >= POSITIVE_FROM:
        return "positive"
    if compound <= NEGATIVE_UPTO:
        return "negative"
    return "neutral"


def key_phrases(texts: list[str], top: int = 8) -> list[str]:
    """Up to ``top * 3`` candidate key phrases (1–3 words, lower case, best first) that
    YAKE finds in ``texts`` taken together; [] when there is no text."""
    import yake
    body = "\n".join(t.strip().rstrip(".!?") + "." for t in texts if t and t.strip())
    if not body:
        return []
    extractor = yake.KeywordExtractor(lan="en", n=3, dedupLim=0.7, top=max(top * 3, 10))
    seen: list[str] = []
    for phrase, _score in extractor.extract_keywords(body):
        phrase = " ".join(phrase.lower().split())
        if len(phrase) > 2 and phrase not in seen:
            seen.append(phrase)
    return seen


def _mentions(phrase: str, text: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text.lower()) is not None


def topics_of(comments: pd.DataFrame, top: int = 8, min_mentions: int = 2) -> list[dict]:
    """Topics of one group's comments (columns comment, score, sentiment): the YAKE phrases
    mentioned by at least ``min_mentions`` comments, most mentioned first (ties: YAKE's
    order), at most ``top``; of phrases mentioned by the very same comments only the
    longest is kept.  Each: topic, comments, mean_score, score_n, negative_share."""
    english = comments[comments["sentiment"] != NO_SENTIMENT]
    found = []
    for rank, phrase in enumerate(key_phrases(list(english["comment"]), top)):
        mask = comments["comment"].map(lambda t, p=phrase: _mentions(p, t))
        hit = comments[mask]
        if len(hit) < min_mentions:
            continue
        scored = hit["score"].dropna()
        rated = hit[hit["sentiment"] != NO_SENTIMENT]
        found.append({
            "topic": phrase,
            "comments": int(len(hit)),
            "mean_score": float(scored.mean()) if len(scored) else None,
            "score_n": int(len(scored)),
            "negative_share": (float((rated["sentiment"] == "negative").mean())
                               if len(rated) else None),
            "_rank": rank,
            "_who": frozenset(hit.index),
        })
    # Phrases mentioned by exactly the same comments say one thing ("failing", "checkout
    # kept failing"): keep the longest.
    best: dict[frozenset, dict] = {}
    for t in found:
        same = best.get(t["_who"])
        if same is None or len(t["topic"]) > len(same["topic"]):
            best[t["_who"]] = t
    kept = sorted(best.values(), key=lambda t: (-t["comments"], t["_rank"]))
    for t in kept:
        del t["_rank"], t["_who"]
    return kept[:top]


# ---------------------------------------------------------------------------------------
# Engine queries

_NEWEST = "ts DESC, customer_id, _row"


def _group_sql(cur, table: str, by: str) -> str:
    key = _key_for(table_columns(cur, table), by)
    if key.grain:
        raise ValueError("Comments are grouped by a column, not a time bucket.")
    return key.sql()


def comment_counts(cur, table: str, *, by: str = "touchpoint",
                   event_filter: EventFilter | None = None) -> pd.DataFrame:
    """Non-blank comments per group of ``by`` (columns group, comments), most first."""
    engine = as_engine(cur, table)
    source, params = filtered_events(engine.table, event_filter)
    group = _group_sql(engine, None, by)
    kernel = (f"WITH ev AS ({source}) SELECT {group} AS grp, count(*) AS n FROM ev "
              "WHERE comment IS NOT NULL AND trim(comment) <> '' GROUP BY grp")
    then = "SELECT grp, CAST(sum(n) AS BIGINT) AS n FROM kernel GROUP BY grp"
    frame = pd.DataFrame(engine.rows(kernel, params, then), columns=["group", "comments"])
    return frame.sort_values(["comments", "group"], ascending=[False, True]).reset_index(drop=True)


def comment_rows(cur, table: str, *, by: str = "touchpoint", metric: str | None = None,
                 event_filter: EventFilter | None = None, max_comments: int = 5000) -> pd.DataFrame:
    """The newest ``max_comments`` comments of every group (columns group, score,
    comment): ``score`` is the row's ``metric`` response (NA without one).  Sorted by
    group, then newest first (``ts`` desc, customer_id, ``_row``)."""
    if metric is not None and metric not in METRICS:
        raise ValueError(f"Unknown score metric {metric!r}: choose one of nps, csat or ces.")
    engine = as_engine(cur, table)
    source, params = filtered_events(engine.table, event_filter)
    group = _group_sql(engine, None, by)
    score = f"CAST({quote_ident(metric)} AS INTEGER)" if metric else "CAST(NULL AS INTEGER)"
    # Each subset keeps its own newest max_comments per group: the newest of the whole are
    # among them.
    kernel = (f"WITH ev AS ({source}) SELECT grp, customer_id, ts, _row, score, comment FROM ("
              f"SELECT {group} AS grp, customer_id, ts, _row, {score} AS score, "
              f"CAST(comment AS VARCHAR) AS comment, row_number() OVER (PARTITION BY {group} "
              f"ORDER BY {_NEWEST}) AS rk FROM ev WHERE comment IS NOT NULL AND trim(comment) <> '') "
              "WHERE rk <= ?")
    then = ("SELECT grp, score, comment FROM (SELECT *, row_number() OVER (PARTITION BY grp "
            f"ORDER BY {_NEWEST}) AS rk FROM kernel) WHERE rk <= ? ORDER BY grp, rk")
    rows = engine.rows(kernel, params + [int(max_comments)], then, [int(max_comments)])
    frame = pd.DataFrame(rows, columns=["group", "score", "comment"])
    frame["score"] = frame["score"].astype("Int64")
    return frame


def comment_topics(cur, table: str, *, by: str = "touchpoint", metric: str | None = None,
                   event_filter: EventFilter | None = None, top: int = 8,
                   max_comments: int = 5000) -> CommentTopicsResult:
    """Sentiment counts and topics of the comments per group of ``by`` (SPEC §8.4); see
    :class:`CommentTopicsResult`.  ``metric`` (nps, csat, ces or None) is the score whose
    mean each topic shows."""
    counts = comment_counts(cur, table, by=by, event_filter=event_filter)
    rows = comment_rows(cur, table, by=by, metric=metric, event_filter=event_filter,
                        max_comments=max_comments)
    rows["sentiment"] = [sentiment(t) for t in rows["comment"]]
    group_records, topic_records, example_records = [], [], []
    for _, g in counts.iterrows():
        mine = rows[rows["group"] == g["group"]]
        tally = mine["sentiment"].value_counts()
        group_records.append({
            "group": g["group"], "comments": int(g["comments"]), "analysed": int(len(mine)),
            "capped": bool(len(mine) < g["comments"]),
            "positive": int(tally.get("positive", 0)), "negative": int(tally.get("negative", 0)),
            "neutral": int(tally.get("neutral", 0)), "no_sentiment": int(tally.get(NO_SENTIMENT, 0)),
        })
        for topic in topics_of(mine, top):
            topic_records.append({"group": g["group"], **topic})
            hits = mine[mine["comment"].map(lambda t, p=topic["topic"]: _mentions(p, t))].head(3)
            for _, h in hits.iterrows():
                example_records.append({"group": g["group"], "topic": topic["topic"],
                                        "score": h["score"], "sentiment": h["sentiment"],
                                        "comment": h["comment"]})
    topics = pd.DataFrame(topic_records, columns=["group", "topic", "comments", "mean_score",
                                                  "score_n", "negative_share"])
    examples = pd.DataFrame(example_records, columns=["group", "topic", "score", "sentiment", "comment"])
    groups = pd.DataFrame(group_records, columns=["group", "comments", "analysed", "capped", "positive",
                                                  "negative", "neutral", "no_sentiment"])
    return CommentTopicsResult(by, metric, int(max_comments), groups, topics, examples)


def payload(result: CommentTopicsResult) -> dict:
    """SPEC §8.4's JSON object: ``{"groups": [{"group", "comments", "positive",
    "negative", "neutral", "topics": [{"topic", "comments", "mean_score",
    "negative_share"}]}]}``, plus per group ``no_sentiment``, ``analysed`` and ``capped``,
    per topic ``mean_score_n``, and the ``metric`` and ``max_comments`` used."""
    def clean(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value.item() if hasattr(value, "item") else value
    groups = []
    for _, g in result.groups.iterrows():
        mine = result.topics[result.topics["group"] == g["group"]]
        groups.append({
            "group": g["group"], "comments": int(g["comments"]), "positive": int(g["positive"]),
            "negative": int(g["negative"]), "neutral": int(g["neutral"]),
            "no_sentiment": int(g["no_sentiment"]), "analysed": int(g["analysed"]),
            "capped": bool(g["capped"]),
            "topics": [{"topic": t["topic"], "comments": int(t["comments"]),
                        "mean_score": clean(t["mean_score"]), "mean_score_n": int(t["score_n"]),
                        "negative_share": clean(t["negative_share"])} for _, t in mine.iterrows()],
        })
    return {"by": result.by, "metric": result.metric, "max_comments": result.max_comments,
            "groups": groups}
