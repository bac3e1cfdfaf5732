"""Why: explanations backed by numbers (SPEC §8).

Each module answers one question — here, :mod:`cxdata.why.conformance`: does reality
follow the journey map? — with counts, shares and scores that carry their n and interval.
Every finding is an association between what customers did and how they fared, worded
so, never a cause.  Like every analysis, these modules ask an engine
(:mod:`cxdata.engines`) for per-customer work and small aggregates and never import
DuckDB or Spark.
"""
