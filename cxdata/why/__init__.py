"""Why: explanations backed by numbers (SPEC §8).

Each module answers one question: which experiences go with converting
(:mod:`cxdata.why.drivers`), which move a score (:mod:`cxdata.why.keydrivers`), whether a
change is real or noise (:mod:`cxdata.why.trends`), what the comments say
(:mod:`cxdata.why.comments`) and whether reality follows the journey map
(:mod:`cxdata.why.conformance`).  Like every analysis they ask an engine
(:mod:`cxdata.engines`) for per-customer work and small aggregates, never importing DuckDB
or Spark, and compute the statistics in Python with NumPy and SciPy.  Every finding is an
association with its n and interval, worded so, never a cause.
"""
