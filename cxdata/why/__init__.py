"""Why: explanations backed by numbers (SPEC §8).

Conversion drivers, key drivers of a score, trends with control limits, comments and
conformance to a journey map, one small module each.  Every finding is an association
with its n, its interval and, where many are tested at once, an adjusted p; the
event-level work is asked of an engine (:mod:`cxdata.engines`), never done here.
"""
