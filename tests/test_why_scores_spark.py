"""The Why analyses of scores agree on both engines (SPEC §7, §8.2, §8.4): on the sample,
key drivers of NPS (the same predictors, weights and bootstrap intervals to 1e-9) and the
comments per touchpoint (the same counts, sentiment tallies and topics) from DuckDB and
from a local Spark session.  Skipped without pyspark, as tests/test_engines_spark.py."""
from __future__ import annotations

import pandas as pd

from cxdata.why.comments import comment_rows, comment_topics
from cxdata.why.keydrivers import key_drivers
from tests.test_engines_spark import SAMPLE, _both, spark  # noqa: F401  (fixture)


def test_key_drivers_and_comments_agree_on_the_sample(spark, tmp_path):  # noqa: F811
    local, remote = _both(spark, tmp_path, csv_path=SAMPLE, partitions=5)
    a = key_drivers(remote, None, "nps", resamples=50)
    b = key_drivers(local, None, "nps", resamples=50)
    assert (a.customers, a.resamples) == (b.customers, b.resamples) == (606, 50)
    assert abs(a.r_squared - b.r_squared) <= 1e-9
    pd.testing.assert_frame_equal(a.drivers, b.drivers, check_dtype=False, rtol=1e-9, atol=1e-9)
    assert a.drivers.iloc[0][["predictor", "value"]].tolist() == ["low_csat", "Delivery"]

    x = comment_topics(remote, None, metric="csat", max_comments=40)
    y = comment_topics(local, None, metric="csat", max_comments=40)
    pd.testing.assert_frame_equal(x.groups, y.groups)
    assert x.groups["comments"].sum() == 1901 and x.groups["capped"].any()
    pd.testing.assert_frame_equal(x.topics, y.topics, check_dtype=False)
    pd.testing.assert_frame_equal(comment_rows(remote, None, metric="csat", max_comments=40),
                                  comment_rows(local, None, metric="csat", max_comments=40))
