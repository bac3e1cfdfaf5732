"""Funnel steps as the Funnel page offers them: every value of the step column, and each
value again as a repeat, because SPEC §2 lets one value be several steps (a second
purchase), each needing its own interaction, while a multiselect holds each label once."""
from __future__ import annotations

from dataclasses import replace

#: Labels of a value picked again as a later step.
REPEATS = ("2nd time", "3rd time")


def step_choices(values: list[str]) -> dict[str, str]:
    """Multiselect label -> step value: each value, then each value again as a repeat
    ("Purchase · 2nd time"), listed after all values.  A real value always keeps its own
    label."""
    choices = {v: v for v in values}
    for repeat in REPEATS:
        for v in values:
            choices.setdefault(f"{v} · {repeat}", v)
    return choices


def relabelled(result, labels: list[str]):
    """``result`` (a :class:`cxdata.analytics.funnel.FunnelResult` of an ordered or strict funnel)
    with its steps named by the picker's labels, so that a repeated value reads
    "Purchase · 2nd time" on the chart and in the figures; unchanged when the labels are
    the step values already or do not fit."""
    if len(labels) != len(result.steps) or all(s.step == l for s, l in zip(result.steps, labels)):
        return result
    return replace(result, steps=[replace(s, step=l) for s, l in zip(result.steps, labels)])
