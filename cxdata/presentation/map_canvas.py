"""Draw a journey map: an HTML canvas for the page and the report, an Altair chart for
PNG / SVG / PDF (rendered offline by vl-convert).

Both drawings share one look, chosen to read on a projector: stages as dark header
columns, each lane with its own colour, pain points (red) and opportunities (green) in
bold with a coloured bar, and the emotion curve drawn in its own row with every point
exactly under its stage's column.  User text is escaped everywhere (``html.escape``);
nothing typed into a map is ever interpreted as HTML.
"""
from __future__ import annotations

import functools
import html
import textwrap
from dataclasses import dataclass

import altair as alt
import pandas as pd

from cxdata.maps.exports import cell_with_notes
from cxdata.maps import operations, workshop
from cxdata.maps.journey_map import EMOTION_MAX, EMOTION_MIN, JourneyMap, Lane
from cxdata.maps.emotion import emotion_label, parse_emotion


# ---------------------------------------------------------------------------------------
# Look

@dataclass(frozen=True)
class LaneStyle:
    fill: str      # cell background
    accent: str    # lane label background and the bar beside emphasised cells
    ink: str       # cell text colour
    bold: bool     # emphasised lanes (pain points, opportunities)


HEADER_FILL = "#1d2b4f"
HEADER_INK = "#ffffff"
FOCUS_COLOUR = "#f59e0b"
POSITIVE, NEUTRAL, NEGATIVE = "#15803d", "#64748b", "#b91c1c"
_INK = "#0f172a"

_TEXT_STYLES = {
    "goals": LaneStyle("#dbeafe", "#1e40af", _INK, False),
    "actions": LaneStyle("#e2e8f0", "#334155", _INK, False),
    "thoughts": LaneStyle("#ede9fe", "#5b21b6", _INK, False),
    "pain_points": LaneStyle("#fee2e2", "#b91c1c", "#7f1d1d", True),
    "opportunities": LaneStyle("#dcfce7", "#15803d", "#14532d", True),
    "owners": LaneStyle("#fef3c7", "#92400e", _INK, False),
    "backstage": LaneStyle("#f5f5f4", "#57534e", _INK, False),
    "notes": LaneStyle("#f1f5f9", "#475569", _INK, False),
}
_KIND_STYLES = {
    "touchpoints": LaneStyle("#ccfbf1", "#0f766e", _INK, False),
    "metric": LaneStyle("#fff7ed", "#c2410c", _INK, False),
    "emotion": LaneStyle("#ffffff", "#6d28d9", _INK, False),
}


def lane_style(lane: Lane) -> LaneStyle:
    """Colours of a lane: text lanes by topic, other lanes by kind."""
    if lane.kind == "text":
        return _TEXT_STYLES.get(lane.topic, _TEXT_STYLES["notes"])
    return _KIND_STYLES[lane.kind]


def emotion_colour(value: float) -> str:
    """Green for positive (≥ +0.5), red for negative (≤ −0.5), grey in between."""
    if value >= 0.5:
        return POSITIVE
    if value <= -0.5:
        return NEGATIVE
    return NEUTRAL


def emotion_fraction(value: float) -> float:
    """Vertical position of an emotion value in its row: 0 = top (+2) … 1 = bottom (−2)."""
    return (EMOTION_MAX - value) / (EMOTION_MAX - EMOTION_MIN)


def emotion_points(jmap: JourneyMap, lane: Lane) -> list[tuple[int, float, str]]:
    """(stage index, value −2…+2, words) for each stage whose cell starts with a number."""
    points = []
    for index, stage in enumerate(jmap.stages):
        text = lane.cells.get(stage.id, "")
        value = parse_emotion(text)
        if value is not None:
            points.append((index, value, emotion_label(text)))
    return points


def _runs(points: list[tuple[int, float, str]]) -> list[list[tuple[int, float, str]]]:
    """Split points into runs of consecutive stages: a stage without a value breaks the
    curve rather than being bridged by a line that suggests a value."""
    runs: list[list] = []
    for point in points:
        if runs and runs[-1][-1][0] == point[0] - 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


# ---------------------------------------------------------------------------------------
# HTML canvas (page, presentation, report)

_CSS = """
.cxm{--cxm-font:17px;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;
 color:#0f172a;font-size:var(--cxm-font);line-height:1.3}
.cxm.cxm-present{--cxm-font:clamp(15px,min(0.55vw + 11px,1.6vh + 6px),30px)}
.cxm.cxm-present h2.cxm-title{font-size:1.35em;margin-bottom:.15em}
.cxm.cxm-present .cxm-context{font-size:.85em;margin-bottom:.45em;gap:.1em 1.6em}
.cxm.cxm-present .cxm-emo{height:clamp(6.5em,19vh,11em)}
.cxm.cxm-present .cxm-cell,.cxm.cxm-present .cxm-label{padding:.35em .5em;min-height:2.2em}
.cxm.cxm-present .cxm-strong{padding-left:.9em}
.cxm h2.cxm-title{font-size:1.6em;margin:0 0 .3em 0;line-height:1.15}
.cxm .cxm-context{display:flex;flex-wrap:wrap;gap:.6em 2em;margin:0 0 .8em 0;font-size:.95em}
.cxm .cxm-context b{color:#1d2b4f}
.cxm .cxm-scroll{overflow-x:auto}
.cxm .cxm-grid{display:grid;grid-template-columns:minmax(10.5em,12em) repeat(var(--cxm-cols),minmax(8.5em,1fr));
 gap:0;min-width:min-content}
.cxm .cxm-cell,.cxm .cxm-label,.cxm .cxm-stage,.cxm .cxm-corner{border:3px solid #fff;padding:.45em .55em;
 white-space:normal;overflow-wrap:anywhere;hyphens:auto;min-height:2.6em}
.cxm .cxm-corner{background:#fff}
.cxm .cxm-stage{background:#1d2b4f;color:#fff;font-weight:700;font-size:1.08em;line-height:1.15;
 border-radius:10px 10px 0 0;overflow-wrap:break-word;hyphens:auto;container-type:inline-size}
.cxm .cxm-stage .cxm-name{display:block;font-size:min(1em,calc(100cqw / (var(--cxm-w,8) * 0.62)))}
.cxm .cxm-stage .cxm-num{display:block;font-size:.62em;font-weight:600;letter-spacing:.08em;opacity:.8;
 text-transform:uppercase;margin-bottom:.15em}
.cxm .cxm-label{color:#fff;font-weight:700;border-radius:8px 0 0 8px}
.cxm .cxm-label small{display:block;font-weight:400;font-size:.72em;opacity:.9}
.cxm .cxm-cell{border-radius:4px}
.cxm .cxm-strong{font-weight:700;box-shadow:inset 7px 0 0 var(--cxm-accent);padding-left:.95em}
.cxm .cxm-emo{position:relative;height:11em;border:3px solid #fff;background-color:#faf5ff;
 background-image:linear-gradient(to right,transparent calc(100% - 2px),#e9d5ff calc(100% - 2px));
 background-size:calc(100% / var(--cxm-cols)) 100%}
.cxm .cxm-emo .cxm-zero{position:absolute;left:0;right:0;border-top:2px dashed #a78bfa}
.cxm .cxm-emo .cxm-curve{position:absolute;inset:0;background:#4c1d95}
.cxm .cxm-emo .cxm-scale{position:absolute;left:.3em;font-size:.7em;color:#6d28d9;transform:translateY(-50%)}
.cxm .cxm-pt{position:absolute;transform:translate(-50%,-50%);display:flex;flex-direction:column;align-items:center;
 pointer-events:none;width:calc(100% / var(--cxm-cols))}
.cxm .cxm-dot{width:1.1em;height:1.1em;border-radius:50%;border:3px solid #fff;box-shadow:0 0 0 2px #4c1d95}
.cxm .cxm-val{position:absolute;bottom:calc(50% + .75em);font-weight:800;font-size:1.05em;white-space:nowrap;
 background:rgba(255,255,255,.85);padding:0 .25em;border-radius:4px}
.cxm .cxm-word{position:absolute;top:calc(50% + .8em);font-size:.8em;line-height:1.15;text-align:center;max-width:92%;
 display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;
 background:rgba(255,255,255,.85);padding:0 .25em;border-radius:4px}
.cxm .cxm-dim{opacity:.32}
.cxm .cxm-focus{outline:4px solid #f59e0b;outline-offset:-4px}
.cxm .cxm-emo-focus{position:absolute;top:0;bottom:0;outline:4px solid #f59e0b;outline-offset:-4px}
.cxm .cxm-empty{padding:1em;border:2px dashed #94a3b8;border-radius:8px}
.cxm .cxm-changed{outline:3px solid #f59e0b;outline-offset:-3px}
.cxm .cxm-note{display:block;margin-top:.3em;padding:.2em .4em;border-radius:3px;font-weight:500;font-size:.9em;
 box-shadow:0 1px 2px rgba(0,0,0,.2);color:#1f2937;background:#fef08a}
.cxm .cxm-note i{font-weight:400;color:#475569;font-size:.85em}
.cxm .cxm-note-pink{background:#fbcfe8}.cxm .cxm-note-blue{background:#bfdbfe}.cxm .cxm-note-green{background:#bbf7d0}
.cxm .cxm-note-orange{background:#fed7aa}.cxm .cxm-note-purple{background:#e9d5ff}
@media print{.cxm{--cxm-font:10.5pt}.cxm .cxm-grid{break-inside:auto}.cxm .cxm-cell,.cxm .cxm-label,
 .cxm .cxm-stage{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 .cxm .cxm-emo,.cxm .cxm-dot,.cxm .cxm-curve{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def canvas_css() -> str:
    """The canvas style sheet (scoped to ``.cxm``)."""
    return _CSS


def _esc(text: str) -> str:
    """Escape user text for HTML; line breaks become <br>."""
    return html.escape(text, quote=True).replace("\n", "<br>")


def map_html(jmap: JourneyMap, *, focus_stage_id: str | None = None, present: bool = False,
             include_css: bool = True, show_context: bool = True,
             highlight: list[tuple[str, str]] | None = None) -> str:
    """The map as an HTML fragment (a ``div.cxm`` with its style sheet).

    ``focus_stage_id`` outlines that stage's column and, when ``present`` is set, dims the
    other columns; ``present`` also scales the font with the screen width.  ``highlight``:
    (lane id, stage id) of cells to outline (what a version changed).  Sticky notes are
    drawn in their cells.
    """
    marked = set(highlight or ())
    n = len(jmap.stages)
    classes = "cxm cxm-present" if present else "cxm"
    parts = [f"<style>{_CSS}</style>" if include_css else "",
             f'<div class="{classes}" lang="en" style="--cxm-cols:{max(n, 1)}">']
    parts.append(f'<h2 class="cxm-title">{_esc(jmap.name)}</h2>')
    if show_context:
        context = []
        persona = jmap.persona
        if persona.name or persona.description:
            who = _esc(persona.name)
            if persona.description:
                who += (" — " if persona.name else "") + _esc(persona.description)
            context.append(f"<span><b>Persona:</b> {who}</span>")
        if persona.goals:
            context.append(f"<span><b>Goals:</b> {_esc(persona.goals)}</span>")
        if jmap.scenario:
            context.append(f"<span><b>Scenario:</b> {_esc(jmap.scenario)}</span>")
        if jmap.dataset:
            context.append(f"<span><b>Data:</b> {_esc(jmap.dataset)}</span>")
        if context:
            parts.append('<div class="cxm-context">' + "".join(context) + "</div>")
    if n == 0:
        parts.append('<div class="cxm-empty">This map has no stages yet: add one to start.</div></div>')
        return "".join(parts)

    focus_index = next((i for i, s in enumerate(jmap.stages) if s.id == focus_stage_id), None)

    def column_class(index: int) -> str:
        if focus_index is None:
            return ""
        if index == focus_index:
            return " cxm-focus"
        return " cxm-dim" if present else ""

    parts.append('<div class="cxm-scroll"><div class="cxm-grid">')
    parts.append('<div class="cxm-corner"></div>')
    for index, stage in enumerate(jmap.stages):
        longest = max((len(word) for word in stage.name.split()), default=1)
        parts.append(f'<div class="cxm-stage{column_class(index)}" data-stage="{index + 1}" '
                     f'style="--cxm-w:{max(longest, 8)}"><span class="cxm-num">Stage {index + 1}</span>'
                     f'<span class="cxm-name">{_esc(stage.name)}</span></div>')
    for lane in jmap.lanes:
        style = lane_style(lane)
        linked = "<small>from data</small>" if lane.data_linked else ""
        parts.append(f'<div class="cxm-label" style="background:{style.accent}">'
                     f"{_esc(lane.name)}{linked}</div>")
        if lane.kind == "emotion":
            parts.append(_emotion_html(jmap, lane, focus_index, present))
            continue
        strong = " cxm-strong" if style.bold else ""
        for index, stage in enumerate(jmap.stages):
            text = lane.cells.get(stage.id, "")
            changed = " cxm-changed" if (lane.id, stage.id) in marked else ""
            notes = "".join(f'<span class="cxm-note cxm-note-{html.escape(n.colour)}">{_esc(n.text)}'
                            + (f' <i>— {_esc(n.author)}</i>' if n.author else "") + "</span>"
                            for n in jmap.notes_in(lane.id, stage.id))
            parts.append(f'<div class="cxm-cell{strong}{column_class(index)}{changed}" '
                         f'style="background:{style.fill};color:{style.ink};--cxm-accent:{style.accent}">'
                         f"{_esc(text)}{notes}</div>")
    parts.append("</div></div></div>")
    return "".join(parts)


_EMO_PAD = 0.16  # top/bottom margin of the emotion row (fraction) so labels fit


def _emotion_y(value: float) -> float:
    """Percent from the top of the emotion row for a value."""
    return 100 * (_EMO_PAD + (1 - 2 * _EMO_PAD) * emotion_fraction(value))


_CURVE_HALF_THICKNESS = 1.3  # percent of the emotion row's height


def curve_polygon(points: list[tuple[float, float]], half: float = _CURVE_HALF_THICKNESS) -> str:
    """A CSS ``clip-path`` polygon drawing a polyline through ``points`` (x %, y %) as a
    band ``2·half`` percent tall.  CSS rather than SVG because the page's HTML sanitiser
    (Streamlit's ``st.html``) removes SVG; percentages keep each vertex on its column
    centre at any width."""
    top = [f"{x:.3f}% {y - half:.3f}%" for x, y in points]
    bottom = [f"{x:.3f}% {y + half:.3f}%" for x, y in reversed(points)]
    return "polygon(" + ", ".join(top + bottom) + ")"


def _emotion_html(jmap: JourneyMap, lane: Lane, focus_index: int | None, present: bool) -> str:
    n = len(jmap.stages)
    points = emotion_points(jmap, lane)
    body = [f'<div class="cxm-zero" style="top:{_emotion_y(0.0):.2f}%"></div>']
    for run in _runs(points):
        if len(run) > 1:
            coords = [(100 * (i + 0.5) / n, _emotion_y(v)) for i, v, _ in run]
            body.append(f'<div class="cxm-curve" style="clip-path:{curve_polygon(coords)}"></div>')
    body.append(f'<span class="cxm-scale" style="top:{_emotion_y(2):.1f}%">+2</span>')
    body.append(f'<span class="cxm-scale" style="top:{_emotion_y(-2):.1f}%">−2</span>')
    if focus_index is not None:
        body.append(f'<div class="cxm-emo-focus" style="left:{100 * focus_index / n:.3f}%;'
                    f'width:{100 / n:.3f}%"></div>')
    for index, value, words in points:
        dim = " cxm-dim" if present and focus_index is not None and index != focus_index else ""
        shown = f"{value:+.1f}".replace(".0", "") if value != 0 else "0"
        word = f'<span class="cxm-word">{_esc(words)}</span>' if words else ""
        body.append(
            f'<div class="cxm-pt{dim}" data-stage="{index + 1}" data-value="{value:g}" '
            f'style="left:{100 * (index + 0.5) / n:.3f}%;top:{_emotion_y(value):.3f}%">'
            f'<span class="cxm-val" style="color:{emotion_colour(value)}">{_esc(shown)}</span>'
            f'<span class="cxm-dot" style="background:{emotion_colour(value)}"></span>{word}</div>')
    return f'<div class="cxm-emo" style="grid-column:2 / span {n}">' + "".join(body) + "</div>"


# ---------------------------------------------------------------------------------------
# Altair chart (PNG / SVG / PDF)

@dataclass(frozen=True)
class ChartLayout:
    """Sizes of the exported drawing, in pixels (PNG pixels at scale 1)."""
    label_width: int = 190
    column_width: int = 236
    padding: int = 10
    font_size: int = 17
    header_font_size: int = 21
    line_height: int = 22
    emotion_height: int = 190
    max_lines: int = 9
    gap: int = 3


def wrap_text(text: str, chars: int, max_lines: int) -> list[str]:
    """Wrap a cell into lines of at most ``chars`` characters, keeping typed line
    breaks; more than ``max_lines`` lines end with "…"."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, chars, break_long_words=True,
                                   break_on_hyphens=True) or [""])
    while lines and lines[-1] == "":
        lines.pop()
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = (lines[-1][: max(chars - 1, 1)]).rstrip() + "…"
    return lines


def _chars_per_line(width: int, font_size: int, padding: int) -> int:
    # Liberation Sans / Helvetica average about 0.52 em per character of mixed text.
    return max(6, int((width - 2 * padding) / (font_size * 0.52)))


@dataclass
class _Drawing:
    rects: list[dict]
    texts: list[dict]
    points: list[dict]
    lines: list[dict]
    width: int
    height: int


def map_drawing(jmap: JourneyMap, layout: ChartLayout = ChartLayout(),
                focus_stage_id: str | None = None) -> _Drawing:
    """Geometry of the exported map: rectangles, text blocks and emotion points in pixel
    coordinates (y downwards).  Pure, so that alignment can be tested directly."""
    lw, cw, pad, gap = layout.label_width, layout.column_width, layout.padding, layout.gap
    n = len(jmap.stages)
    width = lw + max(n, 1) * cw
    rects, texts, points, lines = [], [], [], []

    def column_x(index: int) -> float:
        return lw + index * cw

    # Title block
    y = 0.0
    title_lines = wrap_text(jmap.name, _chars_per_line(width, 28, pad), 2)
    texts.append(dict(x=pad, y=y + pad, lines=title_lines, color=_INK, size=28, weight="bold"))
    y += pad + 34 * len(title_lines)
    context = []
    if jmap.persona.name:
        context.append("Persona: " + jmap.persona.name
                       + (f" — {jmap.persona.description}" if jmap.persona.description else ""))
    if jmap.scenario:
        context.append("Scenario: " + jmap.scenario)
    for line in context:
        wrapped = wrap_text(line, _chars_per_line(width, 16, pad), 2)
        texts.append(dict(x=pad, y=y + 4, lines=wrapped, color="#1d2b4f", size=16, weight="normal"))
        y += 4 + 21 * len(wrapped)
    y += pad

    # Stage headers
    chars = _chars_per_line(cw, layout.header_font_size, pad)
    header_lines = [wrap_text(f"{i + 1}  {s.name}", chars, 3) for i, s in enumerate(jmap.stages)]
    header_h = 2 * pad + (layout.header_font_size + 5) * max([len(h) for h in header_lines] + [1])
    for index, wrapped in enumerate(header_lines):
        x = column_x(index)
        rects.append(dict(x=x + gap, x2=x + cw - gap, y=y + gap, y2=y + header_h, fill=HEADER_FILL,
                          stroke=HEADER_FILL, sw=0))
        texts.append(dict(x=x + gap + pad, y=y + gap + pad, lines=wrapped, color=HEADER_INK,
                          size=layout.header_font_size, weight="bold"))
    header_top = y
    y += header_h

    cell_chars = _chars_per_line(cw, layout.font_size, pad)
    label_chars = _chars_per_line(lw, layout.font_size, pad)
    for lane in jmap.lanes:
        style = lane_style(lane)
        label = wrap_text(lane.name + ("\n(from data)" if lane.data_linked else ""), label_chars, 4)
        if lane.kind == "emotion":
            row_h = layout.emotion_height
        else:
            # The notes of a cell follow its text (as in the CSV and Markdown exports).
            wrapped = [wrap_text(cell_with_notes(jmap, lane.id, s.id, lane.cells.get(s.id, "")),
                                 cell_chars - (1 if style.bold else 0),
                                 layout.max_lines) for s in jmap.stages]
            most = max([len(w) for w in wrapped] + [len(label), 2])
            row_h = 2 * pad + layout.line_height * most
        rects.append(dict(x=gap, x2=lw - gap, y=y + gap, y2=y + row_h - gap, fill=style.accent,
                          stroke=style.accent, sw=0))
        texts.append(dict(x=gap + pad, y=y + gap + pad, lines=label, color="#ffffff",
                          size=layout.font_size, weight="bold"))
        if lane.kind == "emotion":
            top, bottom = y + gap, y + row_h - gap
            rects.append(dict(x=lw + gap, x2=width - gap, y=top, y2=bottom, fill="#faf5ff",
                              stroke="#faf5ff", sw=0))
            inner_top, inner_h = top + 34, (bottom - top) - 68

            def to_y(value: float) -> float:
                return inner_top + inner_h * emotion_fraction(value)

            for index in range(1, n):
                lines.append(dict(x=column_x(index), x2=column_x(index), y=top, y2=bottom,
                                  color="#e9d5ff", dash=0, group=f"sep{index}"))
            lines.append(dict(x=lw + gap, x2=width - gap, y=to_y(0), y2=to_y(0), color="#a78bfa",
                              dash=1, group="zero"))
            for run_no, run in enumerate(_runs(emotion_points(jmap, lane))):
                for index, value, words in run:
                    cx, cy = column_x(index) + cw / 2, to_y(value)
                    points.append(dict(x=cx, y=cy, value=value, color=emotion_colour(value),
                                       run=f"{lane.id}:{run_no}", label=f"{value:+.1f}".replace(".0", "") if value else "0",
                                       words=wrap_text(words, cell_chars, 1)[0] if words else ""))
        else:
            for index, stage in enumerate(jmap.stages):
                x = column_x(index)
                rects.append(dict(x=x + gap, x2=x + cw - gap, y=y + gap, y2=y + row_h - gap,
                                  fill=style.fill, stroke=style.fill, sw=0))
                if style.bold:
                    rects.append(dict(x=x + gap, x2=x + gap + 7, y=y + gap, y2=y + row_h - gap,
                                      fill=style.accent, stroke=style.accent, sw=0))
                texts.append(dict(x=x + gap + pad + (7 if style.bold else 0), y=y + gap + pad,
                                  lines=wrapped[index], color=style.ink, size=layout.font_size,
                                  weight="bold" if style.bold else "normal"))
        y += row_h
    height = int(y + pad)
    focus_index = next((i for i, s in enumerate(jmap.stages) if s.id == focus_stage_id), None)
    if focus_index is not None:
        x = column_x(focus_index)
        rects.append(dict(x=x + 1, x2=x + cw - 1, y=header_top, y2=height - 1,
                          fill="transparent", stroke=FOCUS_COLOUR, sw=5))
    return _Drawing(rects, texts, points, lines, int(width), height)


def map_chart(jmap: JourneyMap, *, focus_stage_id: str | None = None,
              layout: ChartLayout = ChartLayout()) -> alt.LayerChart:
    """The map as one Altair layer chart in pixel coordinates (no axes), for export."""
    d = map_drawing(jmap, layout, focus_stage_id)
    xs = alt.Scale(domain=[0, d.width], range=[0, d.width], nice=False, zero=False)
    ys = alt.Scale(domain=[0, d.height], range=[0, d.height], nice=False, zero=False)
    x = alt.X("x:Q", scale=xs, axis=None)
    y = alt.Y("y:Q", scale=ys, axis=None)
    layers = [alt.Chart(pd.DataFrame(d.rects)).mark_rect().encode(
        x=x, x2="x2:Q", y=y, y2="y2:Q", fill=alt.Fill("fill:N", scale=None),
        stroke=alt.Stroke("stroke:N", scale=None),
        strokeWidth=alt.StrokeWidth("sw:Q", scale=None))]
    if d.lines:
        frame = pd.DataFrame(d.lines)
        for dashed in (0, 1):
            part = frame[frame["dash"] == dashed]
            if len(part):
                layers.append(alt.Chart(part).mark_rule(
                    strokeWidth=2, strokeDash=[7, 5] if dashed else [1, 0]).encode(
                    x=x, x2="x2:Q", y=y, y2="y2:Q", color=alt.Color("color:N", scale=None)))
    if d.points:
        frame = pd.DataFrame(d.points)
        layers.append(alt.Chart(frame).mark_line(strokeWidth=4, color="#4c1d95").encode(
            x=x, y=y, detail="run:N", order="x:Q"))
        layers.append(alt.Chart(frame).mark_point(filled=True, size=380, opacity=1,
                                                  stroke="#ffffff", strokeWidth=3).encode(
            x=x, y=y, fill=alt.Fill("color:N", scale=None)))
        layers.append(alt.Chart(frame).mark_text(dy=-24, fontSize=19, fontWeight="bold",
                                                 baseline="bottom").encode(
            x=x, y=y, text="label:N", color=alt.Color("color:N", scale=None)))
        layers.append(alt.Chart(frame).mark_text(dy=22, fontSize=15, baseline="top",
                                                 color="#1f2937").encode(x=x, y=y, text="words:N"))
    texts = pd.DataFrame(d.texts)
    for (size, weight), part in texts.groupby(["size", "weight"]):
        layers.append(alt.Chart(part).mark_text(
            align="left", baseline="top", fontSize=int(size), fontWeight=weight,
            lineHeight=layout.line_height if size == layout.font_size else int(size) + 5).encode(
            x=x, y=y, text="lines", color=alt.Color("color:N", scale=None)))
    return (alt.layer(*layers)
            .properties(width=d.width, height=d.height, padding=12, background="#ffffff")
            .configure_view(stroke=None))


def map_svg(jmap: JourneyMap, *, focus_stage_id: str | None = None) -> str:
    """The map as an SVG document (text stays text: searchable, editable)."""
    from cxdata.presentation.export import chart_svg  # vl-convert, offline
    return chart_svg(map_chart(jmap, focus_stage_id=focus_stage_id)).decode("utf-8")


def map_png(jmap: JourneyMap, *, scale: float = 2.0, focus_stage_id: str | None = None) -> bytes:
    """The map as a PNG (``scale`` 2 = sharp on projectors and in slides)."""
    from cxdata.presentation.export import chart_png
    return chart_png(map_chart(jmap, focus_stage_id=focus_stage_id), scale=scale)


def map_pdf(jmap: JourneyMap, *, focus_stage_id: str | None = None) -> bytes:
    """The map as a one-page vector PDF."""
    from cxdata.presentation.export import chart_pdf
    return chart_pdf(map_chart(jmap, focus_stage_id=focus_stage_id))


# ---------------------------------------------------------------------------------------
# The canvas component's data (cxdata/ui/canvas/: the map editor, the projector view)

#: Smallest font (px) the presentation scales down to before it would rather scroll.
MIN_PRESENT_FONT = 11


def evidence_link(jmap: JourneyMap, lane: Lane, stage_index: int) -> dict | None:
    """Where the number in a data lane's cell comes from: the Funnel or Touchpoints page
    with the map's dataset and this stage in the URL.  None for typed lanes and maps
    without a dataset.

    The pages bind their widgets to query parameters, and a bound widget reads the value
    *as it shows it* (its label: "Journey stage", "CSAT", "2. Consideration"), so the
    links use those labels.  Returns ``{"url": "/funnel?…", "title": "…"}`` (relative: the
    app's own pages).
    """
    from urllib.parse import urlencode

    from cxdata.io.schema import ROLE_LABELS
    if not lane.data_linked or not jmap.dataset or not 0 <= stage_index < len(jmap.stages):
        return None
    stage = jmap.stages[stage_index].name
    if lane.kind == "metric" and lane.topic in ("customers", "conversion", "dropoff_touchpoint",
                                                "median_time"):
        params = {"dataset": jmap.dataset, "fn_by": ROLE_LABELS["stage"]}
        if lane.topic == "median_time":
            params["fn_tab"] = "Time to convert"
        else:
            params["fn_tab"] = "Drop-outs"
            if len(jmap.stages) > 1:
                # "Drop-outs after" step i (1-based).  Conversion into a stage is explained
                # by who dropped out after the stage before it; customers and drop-offs of
                # a stage by who dropped out after it (the last stage has none of its own).
                after = stage_index if lane.topic == "conversion" else stage_index + 1
                after = max(1, min(after, len(jmap.stages) - 1))
                params["fn_drop"] = f"{after}. {jmap.stages[after - 1].name}"
        return {"url": "/funnel?" + urlencode(params),
                "title": f"See the funnel behind “{lane.name}” at {stage}"}
    metric = lane.topic if lane.topic in ("nps", "csat", "ces") else None
    params = {"dataset": jmap.dataset}
    if metric:
        params.update({"tp_metric": metric.upper(), "tp_by": ROLE_LABELS["stage"],
                       "tp_tab": "Scores"})
        title = f"See the {metric.upper()} of every stage behind “{lane.name}” at {stage}"
    else:                                     # top touchpoints of the stage
        params.update({"tp_by": ROLE_LABELS["touchpoint"], "filter_on": ROLE_LABELS["stage"],
                       "f_stage": stage})
        title = f"See the touchpoints of {stage} behind “{lane.name}”"
    return {"url": "/touchpoints?" + urlencode(params), "title": title}


@functools.lru_cache(maxsize=64)
def qr_data_uri(url: str) -> str:
    """A QR code of ``url`` as an SVG data URI (made offline by ``segno``)."""
    import segno
    return segno.make(url, error="m").svg_data_uri(scale=4, border=2, dark="#0f172a")


def _style_dict(style: LaneStyle) -> dict:
    return {"fill": style.fill, "accent": style.accent, "ink": style.ink, "bold": style.bold}


def canvas_payload(jmap: JourneyMap, *, version: int, mode: str = "edit",
                   focus_stage_id: str | None = None, author: str | None = None,
                   acked: dict | None = None, message: dict | None = None,
                   join_url: str | None = None, changed: list[tuple[str, str]] | None = None,
                   show_context: bool = True) -> dict:
    """Everything the canvas component draws, as JSON data.

    ``mode``: "edit" (the facilitator's editor), "present" (the projector, read-only,
    fitted to the screen) or "view".  Votes stay hidden until the facilitator reveals
    them: before that only how many dots were placed, by how many people.
    """
    lanes = []
    for lane in jmap.lanes:
        evidence = {}
        for index, stage in enumerate(jmap.stages):
            link = evidence_link(jmap, lane, index)
            if link and lane.cells.get(stage.id):
                evidence[stage.id] = link
        lanes.append({"id": lane.id, "name": lane.name, "kind": lane.kind, "topic": lane.topic,
                      "linked": lane.data_linked, "cells": dict(lane.cells),
                      "style": _style_dict(lane_style(lane)), "evidence": evidence})
    totals = workshop.vote_totals(jmap)
    revealed = jmap.workshop.votes_revealed
    votes = {"placed": sum(totals.values()), "voters": len(jmap.votes),
             "totals": totals if revealed else None,
             "results": [{"rank": r.rank, "votes": r.votes, "text": r.note.text,
                          "note": r.note.id} for r in workshop.vote_results(jmap)] if revealed else []}
    context = []
    if show_context:
        persona = jmap.persona
        if persona.name or persona.description:
            context.append(["Persona", " — ".join(p for p in (persona.name, persona.description) if p)])
        if persona.goals:
            context.append(["Goals", persona.goals])
        if jmap.scenario:
            context.append(["Scenario", jmap.scenario])
        if jmap.dataset:
            context.append(["Data", jmap.dataset])
    return {
        "mode": mode, "version": version, "author": author or "",
        "map": {"name": jmap.name, "stages": [{"id": s.id, "name": s.name} for s in jmap.stages],
                "lanes": lanes, "notes": [operations.note_to_dict(n) for n in jmap.notes]},
        "default_style": _style_dict(_TEXT_STYLES["notes"]),
        "context": context, "focus": focus_stage_id,
        "workshop": dict(vars(jmap.workshop)), "votes": votes,
        "acked": acked or {}, "message": message,
        "join": ({"url": join_url, "qr": qr_data_uri(join_url)} if join_url else None),
        "changed": [f"{lane_id}:{stage_id}" for lane_id, stage_id in (changed or [])],
        "min_font": MIN_PRESENT_FONT,
    }
