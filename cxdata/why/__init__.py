"""Why: explanations backed by numbers (SPEC §8).  Each module answers one question —
key drivers of a score (:mod:`cxdata.why.keydrivers`), what the comments say
(:mod:`cxdata.why.comments`) — by asking an engine (:mod:`cxdata.engines`) for small
per-customer or per-group results and computing the statistics in Python with NumPy and
SciPy.  Every finding is an association with its n and interval, never a cause."""
