"""Statistics a reviewer can trust, after Agarwal et al., "Deep RL at the Edge of the Statistical
Precipice" (NeurIPS 2021), on scipy.

A *run* is one training seed; its *score* is its mean return over the evaluation episodes.
Across runs we report the interquartile mean (IQM: the mean of the middle 50 %, robust to a
lucky or broken seed, less noisy than the median) with a 95 % stratified bootstrap confidence
interval, and the probability of improvement ``P(X > Y)`` of one algorithm over another. With
several tasks (topologies), runs are resampled within each task ("stratified"); scipy's
multi-sample bootstrap does exactly that when each task is passed as its own sample.

It sits at the package's top, below both the study pipeline (``edge_rl.experiments``: the
tables, the card) and serving (``edge_rl.serve.selection`` ranks variants by their IQM), so
that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval."""

    estimate: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.estimate:.2f} [{self.low:.2f}, {self.high:.2f}]"


def parse_interval(text: str) -> tuple[float, float] | None:
    """``"[low, high]"`` as the tables write an interval; None for a rule's ``"n/a (1 run)"`` (or
    anything else)."""
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        low, high = (float(part) for part in text[1:-1].split(","))
    except ValueError:
        return None
    return low, high


def interquartile_mean(scores: ArrayLike, axis: int = -1) -> np.ndarray | float:
    """Mean of the scores between the 25th and 75th percentiles (scipy's ``trim_mean``)."""
    return stats.trim_mean(np.asarray(scores, dtype=float), 0.25, axis=axis)


def _tasks(scores: ArrayLike | Sequence[ArrayLike]) -> list[np.ndarray]:
    """One array of run scores per task; a flat sequence is one task."""
    if len(scores) and np.ndim(scores[0]) == 0:
        scores = [scores]
    tasks = [np.asarray(task, dtype=float) for task in scores]
    for task in tasks:
        if task.ndim != 1 or task.size < 2:
            raise ValueError(f"each task needs at least 2 run scores for a bootstrap, got {task.size}")
        if not np.all(np.isfinite(task)):
            raise ValueError("run scores must be finite")
    return tasks


def iqm_interval(scores: ArrayLike | Sequence[ArrayLike], confidence: float = 0.95,
                 n_resamples: int = 2_000, seed: int = 0) -> Interval:
    """IQM of all run scores with a stratified percentile-bootstrap confidence interval.

    Args:
        scores: run scores, or one sequence of run scores per task.
        confidence: the interval's coverage.
        n_resamples: bootstrap resamples.
        seed: the bootstrap's seed (same seed, same interval).
    """
    tasks = _tasks(scores)

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return interquartile_mean(np.concatenate(samples, axis=axis), axis=axis)

    result = stats.bootstrap(tasks, statistic, n_resamples=n_resamples, confidence_level=confidence,
                             method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    estimate = float(statistic(*tasks))
    return Interval(estimate, float(result.confidence_interval.low), float(result.confidence_interval.high))


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """``P(X > Y) + P(X = Y) / 2`` for a random run of X and a random run of Y.

    The Mann-Whitney U statistic divided by the number of pairs: 1 when every run of X beats
    every run of Y, 0.5 when neither tends to beat the other.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(stats.mannwhitneyu(x, y, alternative="two-sided").statistic / (x.size * y.size))


def improvement_interval(x: ArrayLike, y: ArrayLike, confidence: float = 0.95,
                         n_resamples: int = 2_000, seed: int = 0) -> Interval:
    """:func:`probability_of_improvement` with a bootstrap interval (runs of X and of Y
    resampled independently).

    ``y`` may be a single score: a policy with nothing to train (a fixed rule) has one
    "run", and only the runs of X are resampled.
    """
    x = _tasks(x)[0]
    y = np.asarray(y, dtype=float).ravel()
    if y.size != 1:
        y = _tasks(y)[0]
    elif not np.isfinite(y[0]):
        raise ValueError("run scores must be finite")

    def statistic(a: np.ndarray, *rest: np.ndarray, axis: int = -1) -> np.ndarray:
        b = rest[0] if rest else y
        wins = (a[..., :, None] > b[..., None, :]) + 0.5 * (a[..., :, None] == b[..., None, :])
        return wins.mean(axis=(-2, -1))

    samples = (x, y) if y.size > 1 else (x,)
    result = stats.bootstrap(samples, statistic, n_resamples=n_resamples, confidence_level=confidence,
                             method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return Interval(probability_of_improvement(x, y), float(result.confidence_interval.low),
                    float(result.confidence_interval.high))


def run_scores(rows: pd.DataFrame, metric: str = "return") -> pd.DataFrame:
    """One score per (policy, training seed): the mean of ``metric`` over its episodes.

    ``rows`` are :func:`edge_rl.evaluation.evaluate` rows with a ``train_seed`` column.
    """
    missing = {"policy", "train_seed", metric} - set(rows.columns)
    if missing:
        raise ValueError(f"rows lack the column(s) {sorted(missing)}")
    return rows.groupby(["policy", "train_seed"], sort=False)[metric].mean().reset_index()
