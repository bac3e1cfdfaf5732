"""``python -m cxdata comments FILE --by COLUMN [--metric M]`` (SPEC §8.4).

JSON: ``{"by", "metric", "max_comments", "groups": [{"group", "comments", "positive",
"negative", "neutral", "no_sentiment", "analysed", "capped", "topics": [{"topic",
"comments", "mean_score", "mean_score_n", "negative_share"}]}]}`` (negative_share a
fraction 0…1).  CSV: one row per topic.  Text: per group the sentiment counts, then the
topics.  ``cxdata.cli`` wires it with ``add_parser(sub, _common)`` and
``COMMANDS["comments"] = lambda a: run(a, load_data, emit)``.
"""
from __future__ import annotations

import math

TOPIC_COLUMNS = ["group", "topic", "comments", "mean_score", "score_n", "negative_share"]


def add_parser(sub, common) -> None:
    """Add the ``comments`` subcommand to the subparsers ``sub``; ``common`` adds the
    shared options."""
    p = sub.add_parser("comments", help="comment sentiment (VADER) and topics (YAKE) per group, offline (SPEC §8.4)")
    p.add_argument("file", help="a log file, ws:NAME or spark:SOURCE")
    p.add_argument("--by", default="touchpoint", help="touchpoint (default), stage, channel or an attribute")
    p.add_argument("--metric", choices=("nps", "csat", "ces"), default=None,
                   help="the score whose mean each topic shows (default: the log's CSAT, else NPS, else CES)")
    p.add_argument("--top", type=int, default=8, help="topics per group (default 8)")
    p.add_argument("--max-comments", type=int, default=5000,
                   help="newest comments read per group (default 5000)")
    common(p)


def _fmt(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return pattern.format(value)


def text(result, data: dict) -> str:
    """Plain text of the payload ``data`` of ``result``."""
    metric = (result.metric or "score").upper()
    lines = [f"Comments by {result.by}: sentiment (VADER, English only) and topics (YAKE)"]
    for g in data["groups"]:
        capped = f" (newest {g['analysed']:,} read)" if g["capped"] else ""
        lines.append(f"{g['group']}: {g['comments']:,} comments{capped}; positive {g['positive']:,}, "
                     f"negative {g['negative']:,}, neutral {g['neutral']:,}, no sentiment {g['no_sentiment']:,}")
        for t in g["topics"]:
            lines.append(f"    {t['topic']:<32} {t['comments']:>6,} comments  mean {metric} "
                         f"{_fmt(t['mean_score'], '{:.2f}')} (n={t['mean_score_n']:,})  "
                         f"negative {_fmt(t['negative_share'] if t['negative_share'] is None else 100 * t['negative_share'], '{:.0f}%')}")
    if not data["groups"]:
        lines.append("  No comments.")
    return "\n".join(lines)


def run(args, load_data, emit) -> int:
    """Run ``comments``: load FILE with ``load_data(args)``, write with ``emit``."""
    from cxdata.cli import EXIT_OK, UsageError, resolve_column
    from cxdata.why.comments import comment_topics, payload
    if args.top < 1 or args.max_comments < 1:
        raise UsageError("--top and --max-comments must be 1 or more.")
    data = load_data(args)
    if "comment" not in data.roles:
        raise UsageError("The log has no comment column; map one with --map comment=COLUMN.")
    metric = args.metric
    if metric is None:
        metric = next((m for m in ("csat", "nps", "ces") if m in data.roles), None)
    elif metric not in data.roles:
        raise UsageError(f"The log has no {metric.upper()} column; map one with --map {metric}=COLUMN.")
    by = resolve_column(data, args.by)
    result = comment_topics(data.cur, data.table, by=by, metric=metric, top=args.top,
                            max_comments=args.max_comments)
    body = payload(result)
    body["by"] = args.by
    emit(args, body, result.topics[TOPIC_COLUMNS], text(result, body))
    return EXIT_OK
