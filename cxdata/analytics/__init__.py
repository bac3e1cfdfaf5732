"""The numbers: funnels, paths, scores and findings.

Every analysis asks an engine (`cxdata.engines`) for its result and never imports DuckDB or
Spark itself, so one definition of each number serves every engine.
"""
