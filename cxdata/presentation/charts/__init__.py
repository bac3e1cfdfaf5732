"""Altair chart builders: a small result DataFrame in, an ``alt.Chart`` out.

Every builder takes one of the aggregated frames returned by ``cxdata.analytics.funnel``,
``cxdata.analytics.scores`` or ``cxdata.analytics.paths`` (tens to thousands of rows, never events) and
returns a chart with a title that states units, tooltips on every mark and the
colour-blind-safe palettes below.  Builders only *format* numbers (labels, unit
conversion for display); every number shown is one that the analytics computed.

Importing this module registers and enables the ``cxlab`` Altair theme, so charts look the
same in the app (``st.altair_chart(chart, theme=None)``), in PNG/SVG/PDF exports and in
the HTML report.

Time axes (trends per week or month) are ordinal: one band per period, named here in UTC
by ``cxdata.formatting.format_period``, every period present (gaps stay visible), the
axis writing a readable subset.  No date reaches the browser or vl-convert, so neither
the viewer's time zone nor d3's tick choice (Sunday weeks, ticks between our period
starts) can put a point under another period's label.  Numbers are written by
``cxdata.formatting``, the one formatter.
"""
# One import gives every chart builder (``charts.funnel_bars``, ``charts.score_bars``, …);
# each lives in the module of its concept.
from cxdata.presentation.charts.base import *  # noqa: F401,F403  (theme, palettes, formatters)
from cxdata.presentation.charts.funnel import *  # noqa: F401,F403
from cxdata.presentation.charts.scores import *  # noqa: F401,F403
from cxdata.presentation.charts.paths import *  # noqa: F401,F403
