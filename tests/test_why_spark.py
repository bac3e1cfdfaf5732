"""The Why analyses give the same answers on Spark as on DuckDB (SPEC §7, §8): the same
kernel SQL runs on every partition, so conversion drivers and trends with control limits
must agree on the sample.  Needs pyspark, as tests/test_engines_spark.py."""
from __future__ import annotations

import pytest

from cxdata.why import drivers, trends
from tests.test_engines_spark import DAY, SAMPLE, STAGES, _both, _same_frames, spark  # noqa: F401


@pytest.fixture(scope="module")
def sample_engines(spark, tmp_path_factory):  # noqa: F811
    return _both(spark, tmp_path_factory.mktemp("why_sample"), csv_path=SAMPLE, partitions=5)


def test_drivers_and_trends_agree_on_the_sample(sample_engines):
    local, remote = sample_engines
    for steps, after, options in [
            (["Cart", "Order confirmation"], None, dict(by="touchpoint")),
            (STAGES[:4], 3, dict(window_seconds=30 * DAY)),
            # not an ordered funnel of distinct steps: the two-pass query
            (STAGES[:3], 2, dict(order="strict"))]:
        a = drivers.conversion_drivers(remote, None, steps, after, **options)
        b = drivers.conversion_drivers(local, None, steps, after, **options)
        assert (a.after_step, a.customers, a.converted) == (b.after_step, b.customers, b.converted)
        _same_frames(a.drivers, b.drivers)
    a = trends.conversion_trend_limits(remote, None, ["Consideration", "Purchase"], "week",
                                       explain_by="channel")
    b = trends.conversion_trend_limits(local, None, ["Consideration", "Purchase"], "week",
                                       explain_by="channel")
    _same_frames(a.buckets, b.buckets)
    _same_frames(a.explanations, b.explanations)
    assert len(b.explanations) == 2
    a = trends.score_trend_limits(remote, None, "csat", "month", explain_by="touchpoint")
    b = trends.score_trend_limits(local, None, "csat", "month", explain_by="touchpoint")
    _same_frames(a.buckets, b.buckets)
    _same_frames(a.explanations, b.explanations)
