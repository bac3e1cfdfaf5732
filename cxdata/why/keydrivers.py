"""Key drivers of a score: which experiences go with a customer's NPS, CSAT or CES (SPEC §8.2).

Population: the customers with at least one response of the metric; outcome: each one's
**last** response (latest ``ts``, then ``_row``).  Predictors, 0/1 per customer:

==============  ===========================================================
``experienced``  the customer had an event at touchpoint T
``low_csat``     a CSAT of 1–2 at touchpoint T
``hard_ces``     a CES of 1–3 at touchpoint T
``entry``        the channel of the customer's first event (``ts``, ``_row``)
==============  ===========================================================

A predictor is kept when 30…(n−30) customers have it (``min_with``); candidates are taken
most common first (ties by kind, then value) up to ``max_predictors``, skipping any that
is constant or a duplicate of one already kept (the same customers, or exactly the
others: a complement carries the same information).

**Collinearity.**  Predictors that are linear combinations of others (every entry channel
kept: their dummies sum to 1) make the correlation matrix singular.  No predictor is
dropped for it: the relative weights use the Moore–Penrose pseudo-inverse of Λ, so the
zero eigenvalues carry no weight, and the weights still sum to the R² of the least-squares
fit (the minimum-norm solution has the same fitted values).

**Importance**: relative weights (Johnson 2000), :func:`relative_weights`.  Each weight is
shown as its share of R² (percent), with a 95% percentile bootstrap interval (customers
resampled with replacement, fixed seed) and the sign of its correlation with the outcome.
Associations, never causes.

**Engine work** (:mod:`cxdata.engines`): the kernel builds one row per customer of the
population (outcome and a bit mask of the candidate predictors held) and ``then`` counts
customers per distinct (outcome, mask) pattern.  Only those patterns come back — never
more rows than customers, usually a few hundred — and every statistic, the bootstrap
included, is computed from them: resampling n customers with replacement is a
multinomial draw of counts over the patterns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxdata.engines import as_engine
from cxdata.sql import EventFilter, filtered_events, quote_ident

METRICS: tuple[str, ...] = ("nps", "csat", "ces")
KINDS: tuple[str, ...] = ("experienced", "low_csat", "hard_ces", "entry")
#: The columns of :attr:`KeyDriversResult.drivers` (SPEC §8.2).
DRIVER_COLUMNS: list[str] = ["predictor", "value", "customers_with", "weight", "share",
                             "share_ci_low", "share_ci_high", "direction"]
#: Candidates sent to the engine at most (one bit each of a BIGINT mask).
_MAX_CANDIDATES = 62
#: Eigenvalues below this (of a correlation matrix, trace = number of predictors) are zero.
_EIGEN_TOLERANCE = 1e-10


@dataclass(frozen=True)
class KeyDriversResult:
    """Key drivers of ``metric``.

    ``customers``: the population n; ``r_squared``: R² (0…1) of the outcome on the kept
    predictors (NaN when none is kept); ``drivers``: one row per kept predictor, largest
    share first, columns :data:`DRIVER_COLUMNS` — ``weight`` (its part of R², 0…1),
    ``share`` (weight / R², percent 0…100), ``share_ci_low``/``share_ci_high`` (95%
    percentile bootstrap interval, percent), ``direction`` ("positive" / "negative": the
    sign of its correlation with the outcome).  ``performance``: per kept predictor the
    outcome's score (SPEC §4: NPS −100…100, CSAT top-2-box %, CES mean) of the customers
    with it (``score_with``) and without it (``score_without``).  ``resamples``: the
    bootstrap resamples used; ``skipped``: candidates in range left out, with the reason.
    """
    metric: str
    customers: int
    r_squared: float
    drivers: pd.DataFrame
    performance: pd.DataFrame = field(default_factory=pd.DataFrame)
    resamples: int = 0
    skipped: tuple[tuple[str, str, str], ...] = ()


# ---------------------------------------------------------------------------------------
# Statistics (pure)

def relative_weights(R: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights from the predictors' correlation matrix ``R``
    (k×k) and their correlations ``r`` with the outcome (k).

    R = V·diag(λ)·Vᵀ, Λ = V·diag(√λ)·Vᵀ, β = Λ⁺·r, weight_k = Σ_i Λ[k,i]²·β_i².  The
    weights (each 0…1) sum to the R² of the least-squares regression.  Λ⁺ is the
    pseudo-inverse: eigenvalues below 1e-10 count as zero (collinear predictors).
    """
    R = np.asarray(R, dtype=float)
    r = np.asarray(r, dtype=float)
    eigenvalues, V = np.linalg.eigh(R)
    root = np.sqrt(np.where(eigenvalues > _EIGEN_TOLERANCE, eigenvalues, 0.0))
    Lam = (V * root) @ V.T
    inverse_root = np.where(root > 0, 1.0 / np.where(root > 0, root, 1.0), 0.0)
    beta = (V * inverse_root) @ V.T @ r
    return (Lam ** 2) @ (beta ** 2)


def weighted_correlations(X: np.ndarray, y: np.ndarray, counts: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``(R, r)``: correlations among the columns of ``X`` and of each with ``y``, over
    rows repeated ``counts`` times.  A constant column has correlation 0 with everything
    (and 0 on R's diagonal), so it gets no weight."""
    w = np.asarray(counts, dtype=float)
    total = w.sum()
    Z = np.column_stack([X, y]).astype(float)
    centred = Z - (w @ Z) / total
    sd = np.sqrt((w @ centred ** 2) / total)
    standard = centred / np.where(sd > 0, sd, 1.0)
    standard[:, sd == 0] = 0.0
    C = (standard * w[:, None]).T @ standard / total
    return C[:-1, :-1], C[:-1, -1]


def outcome_score(metric: str, values: np.ndarray, counts: np.ndarray) -> float:
    """SPEC §4's score of responses ``values`` each counted ``counts`` times: NPS
    (−100…100), CSAT top-2-box percent, CES mean; NaN when there is none."""
    n = counts.sum()
    if n == 0:
        return math.nan
    if metric == "nps":
        return 100.0 * (counts[values >= 9].sum() - counts[values <= 6].sum()) / n
    if metric == "csat":
        return 100.0 * counts[values >= 4].sum() / n
    return float(values @ counts / n)


# ---------------------------------------------------------------------------------------
# Engine queries

def _population_sql(engine, metric: str, event_filter: EventFilter | None
                    ) -> tuple[str, list]:
    """``(ctes, params)``: CTEs ``ev`` (filtered events), ``last`` (customer_id, y: the
    last response) and ``held`` (customer_id, kind, value: every candidate predictor a
    customer has).  Correct on any subset of whole customers."""
    columns = engine.column_types()
    source, params = filtered_events(engine.table, event_filter)
    score = quote_ident(metric)
    parts = []
    if "touchpoint" in columns:
        tp = "CAST(touchpoint AS VARCHAR)"
        parts.append(f"SELECT DISTINCT customer_id, 'experienced' AS kind, {tp} AS value "
                     "FROM ev WHERE touchpoint IS NOT NULL")
        if "csat" in columns:
            parts.append(f"SELECT DISTINCT customer_id, 'low_csat', {tp} FROM ev "
                         "WHERE touchpoint IS NOT NULL AND csat BETWEEN 1 AND 2")
        if "ces" in columns:
            parts.append(f"SELECT DISTINCT customer_id, 'hard_ces', {tp} FROM ev "
                         "WHERE touchpoint IS NOT NULL AND ces BETWEEN 1 AND 3")
    if "channel" in columns:
        parts.append("SELECT customer_id, 'entry', channel FROM ("
                     "SELECT customer_id, CAST(channel AS VARCHAR) AS channel, row_number() OVER "
                     "(PARTITION BY customer_id ORDER BY ts, _row) AS k FROM ev) "
                     "WHERE k = 1 AND channel IS NOT NULL")
    if not parts:
        parts.append("SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS VARCHAR) AS kind, "
                     "CAST(NULL AS VARCHAR) AS value WHERE FALSE")
    held = " UNION ALL ".join(parts)
    ctes = (f"WITH ev AS ({source}), "
            f"last AS (SELECT customer_id, y FROM (SELECT customer_id, CAST({score} AS DOUBLE) AS y, "
            f"row_number() OVER (PARTITION BY customer_id ORDER BY ts DESC, _row DESC) AS k "
            f"FROM ev WHERE {score} IS NOT NULL) WHERE k = 1), "
            f"held AS (SELECT h.customer_id, h.kind, h.value FROM ({held}) h "
            f"JOIN last USING (customer_id)) ")
    return ctes, params


def candidate_counts(cur, table: str, metric: str, *,
                     event_filter: EventFilter | None = None) -> tuple[int, pd.DataFrame]:
    """``(n, frame)``: the population size and, per candidate predictor, the customers of
    the population who have it (columns kind, value, customers; most common first, ties
    by kind, value)."""
    engine = as_engine(cur, table)
    ctes, params = _population_sql(engine, metric, event_filter)
    kernel = (ctes + "SELECT kind, value, count(*) AS customers FROM held GROUP BY kind, value "
              "UNION ALL SELECT NULL, NULL, count(*) FROM last")
    then = ("SELECT kind, value, CAST(sum(customers) AS BIGINT) AS customers FROM kernel "
            "GROUP BY kind, value")
    rows = engine.rows(kernel, params, then)
    n = sum(c for k, _, c in rows if k is None)
    frame = pd.DataFrame([r for r in rows if r[0] is not None], columns=["kind", "value", "customers"])
    frame = frame.sort_values(["customers", "kind", "value"], ascending=[False, True, True])
    return int(n), frame.reset_index(drop=True)


def response_patterns(cur, table: str, metric: str, candidates: list[tuple[str, str]], *,
                      event_filter: EventFilter | None = None) -> pd.DataFrame:
    """Customers per distinct (outcome y, mask) pattern: bit i of ``mask`` is set when the
    customer has ``candidates[i]`` (at most 62).  Columns y, mask, customers, sorted by y,
    mask (the same order on every engine)."""
    if len(candidates) > _MAX_CANDIDATES:
        raise ValueError(f"At most {_MAX_CANDIDATES} candidate predictors.")
    engine = as_engine(cur, table)
    ctes, params = _population_sql(engine, metric, event_filter)
    if candidates:
        values = ", ".join("(?, ?, ?)" for _ in candidates)
        chosen = f"sel AS (SELECT * FROM (VALUES {values}) AS s(idx, kind, value)) "
        chosen_params = [x for i, (k, v) in enumerate(candidates) for x in (i, k, v)]
    else:
        chosen = ("sel AS (SELECT CAST(NULL AS INTEGER) AS idx, CAST(NULL AS VARCHAR) AS kind, "
                  "CAST(NULL AS VARCHAR) AS value WHERE FALSE) ")
        chosen_params = []
    kernel = (ctes + ", " + chosen
              + "SELECT y, mask, count(*) AS customers FROM ("
                "SELECT l.customer_id, l.y, COALESCE(bit_or(CAST(1 AS BIGINT) << CAST(s.idx AS INTEGER)), 0) AS mask "
                "FROM last l LEFT JOIN held h ON h.customer_id = l.customer_id "
                "LEFT JOIN sel s ON s.kind = h.kind AND s.value = h.value "
                "GROUP BY l.customer_id, l.y) GROUP BY y, mask")
    then = ("SELECT y, mask, CAST(sum(customers) AS BIGINT) AS customers FROM kernel "
            "GROUP BY y, mask ORDER BY y, mask")
    rows = engine.rows(kernel, params + chosen_params, then)
    return pd.DataFrame(rows, columns=["y", "mask", "customers"])


# ---------------------------------------------------------------------------------------
# Selection and the analysis

def _bits(masks: np.ndarray, count: int) -> np.ndarray:
    """Pattern × predictor 0/1 matrix of the first ``count`` bits of ``masks``."""
    return ((masks[:, None] >> np.arange(count, dtype=np.int64)[None, :]) & 1).astype(float)


def select_predictors(X: np.ndarray, counts: np.ndarray, n: int, *, max_predictors: int = 20,
                      min_with: int = 30) -> tuple[list[int], list[tuple[int, str]]]:
    """Columns of ``X`` (candidates, most common first) to keep: held by min_with…
    (n − min_with) customers, not constant, not a duplicate or complement of one already
    kept, at most ``max_predictors``.  Returns (kept, [(column, reason) skipped])."""
    kept: list[int] = []
    skipped: list[tuple[int, str]] = []
    present = counts > 0
    for j in range(X.shape[1]):
        column = X[present, j]
        holders = int(counts @ X[:, j])
        if not min_with <= holders <= n - min_with:
            skipped.append((j, "outside the customer range"))
            continue
        if column.min() == column.max():
            skipped.append((j, "constant"))
            continue
        twin = next((k for k in kept if np.array_equal(column, X[present, k])
                     or np.array_equal(column, 1.0 - X[present, k])), None)
        if twin is not None:
            skipped.append((j, f"duplicate of column {twin}"))
            continue
        if len(kept) >= max_predictors:
            skipped.append((j, "beyond the most common"))
            continue
        kept.append(j)
    return kept, skipped


def _shares(X: np.ndarray, y: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, float]:
    R, r = weighted_correlations(X, y, counts)
    weights = relative_weights(R, r)
    return weights, float(weights.sum())


def key_drivers(cur, table: str, metric: str, *, event_filter: EventFilter | None = None,
                resamples: int = 200, seed: int = 7, max_predictors: int = 20,
                min_with: int = 30) -> KeyDriversResult:
    """Key drivers of ``metric`` (nps, csat or ces) per SPEC §8.2; see the module
    docstring.  ``resamples`` bootstrap resamples (numpy ``default_rng(seed)``)."""
    if metric not in METRICS:
        raise ValueError(f"Unknown score metric {metric!r}: choose one of nps, csat or ces.")
    engine = as_engine(cur, table)
    if metric not in engine.column_types():
        raise ValueError(f"The log has no {metric.upper()} column.")
    n, candidates = candidate_counts(engine, None, metric, event_filter=event_filter)
    in_range = candidates[(candidates["customers"] >= min_with)
                          & (candidates["customers"] <= n - min_with)].head(_MAX_CANDIDATES)
    keys = list(zip(in_range["kind"], in_range["value"]))
    empty = pd.DataFrame(columns=DRIVER_COLUMNS)
    if not keys:
        return KeyDriversResult(metric, n, math.nan, empty)
    patterns = response_patterns(engine, None, metric, keys, event_filter=event_filter)
    y = patterns["y"].to_numpy(dtype=float)
    counts = patterns["customers"].to_numpy(dtype=np.int64)
    X_all = _bits(patterns["mask"].to_numpy(dtype=np.int64), len(keys))
    kept, skipped = select_predictors(X_all, counts, n, max_predictors=max_predictors,
                                      min_with=min_with)
    skipped_keys = tuple((keys[j][0], keys[j][1], reason) for j, reason in skipped)
    if not kept:
        return KeyDriversResult(metric, n, math.nan, empty, skipped=skipped_keys)
    X = X_all[:, kept]
    weights, r_squared = _shares(X, y, counts)
    _, r = weighted_correlations(X, y, counts)

    # Bootstrap: n customers drawn with replacement = multinomial counts over the patterns.
    rng = np.random.default_rng(seed)
    probabilities = counts / counts.sum()
    boot = []
    for _ in range(resamples):
        draw = rng.multinomial(int(counts.sum()), probabilities)
        w, total = _shares(X, y, draw)
        if total > 0:
            boot.append(100.0 * w / total)
    boot_array = np.array(boot) if boot else np.full((1, len(kept)), np.nan)
    low, high = np.percentile(boot_array, [2.5, 97.5], axis=0)

    holders = counts @ X
    share = 100.0 * weights / r_squared if r_squared > 0 else np.full(len(kept), np.nan)
    drivers = pd.DataFrame({
        "predictor": [keys[j][0] for j in kept],
        "value": [keys[j][1] for j in kept],
        "customers_with": holders.astype(int),
        "weight": weights,
        "share": share,
        "share_ci_low": low,
        "share_ci_high": high,
        "direction": ["positive" if c > 0 else "negative" if c < 0 else "none" for c in r],
    })
    order = np.lexsort((drivers["value"].to_numpy(), drivers["predictor"].to_numpy(),
                        -drivers["weight"].to_numpy()))
    drivers = drivers.iloc[order].reset_index(drop=True)
    performance = pd.DataFrame({
        "predictor": [keys[j][0] for j in kept],
        "value": [keys[j][1] for j in kept],
        "score_with": [outcome_score(metric, y, counts * X[:, i]) for i in range(len(kept))],
        "score_without": [outcome_score(metric, y, counts * (1 - X[:, i]).astype(np.int64))
                          for i in range(len(kept))],
    }).iloc[order].reset_index(drop=True)
    return KeyDriversResult(metric, n, r_squared, drivers, performance, len(boot), skipped_keys)
