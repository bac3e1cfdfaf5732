"""The conformance of the sample to its map (SPEC §8.5) is the same on Spark as on DuckDB
(SPEC §7): one kernel, run on every partition of whole customers, and one ``then``.

Reuses the Spark session and the two engines of :mod:`tests.test_engines_spark` (skipped
there, and so here, when pyspark is missing outside CI).
"""
from __future__ import annotations

import pandas as pd

from cxdata.why.conformance import conformance
from tests.test_engines_spark import SAMPLE, STAGES, _both, spark  # noqa: F401  (fixture)


def test_conformance_agrees_on_the_sample(spark, tmp_path):  # noqa: F811
    local, remote = _both(spark, tmp_path, csv_path=SAMPLE, partitions=5)
    a = conformance(remote, None, STAGES, top=None)
    b = conformance(local, None, STAGES, top=None)
    assert (a.stages, a.customers, a.converted) == (b.stages, b.customers, b.converted) == \
        (tuple(STAGES), 5000, 443)
    for x, y in ((a.classes, b.classes), (a.deviations, b.deviations)):
        pd.testing.assert_frame_equal(x, y, check_dtype=False, rtol=1e-9, atol=1e-9)
    assert a.to_json_dict() == b.to_json_dict()
