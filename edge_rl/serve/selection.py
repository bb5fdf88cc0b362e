"""Which checkpoint answers for a model type: chosen on validation episodes, never on test ones.

Every training run of ``make reproduce`` is also evaluated on the model-selection seeds
(:data:`edge_rl.evaluation.SELECTION_SEEDS`), its rows in ``results/validation/<stem>.csv``.
A learned model type is served by the training seed whose mean validation return is the
highest (:func:`choose_seed`); the unsuffixed ``hybrid`` by the hybrid variant whose seeds
have the highest interquartile mean of those returns (:func:`rank_variants`), the budget study's
(``results/study/validation``, on the same episodes) among them. Without
validation rows (a folder of checkpoints alone), seed 0 answers, and ``GET /models`` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from edge_rl.stats import interquartile_mean

FALLBACK_SEED = 0
"""The seed served when there are no validation rows to choose by: fixed in advance."""


@dataclass(frozen=True)
class Choice:
    """The checkpoint chosen for a model type, and why (``GET /models`` shows ``reason``)."""

    stem: str
    seed: int
    reason: str
    score: float | None = None  # its mean validation return


def validation_scores(results: Path, prefix: str) -> dict[int, float]:
    """Mean validation return per training seed of the runs ``<prefix>-seed<k>``."""
    scores = {}
    for path in sorted((results / "validation").glob(f"{prefix}-seed*.csv")):
        match = re.fullmatch(rf"{re.escape(prefix)}-seed(\d+)\.csv", path.name)
        if match:
            scores[int(match.group(1))] = float(pd.read_csv(path, usecols=["return"])["return"].mean())
    return scores


def choose_seed(results: Path, prefix: str, seed: int | None = None) -> Choice:
    """The checkpoint of ``prefix`` to serve: ``seed`` if given, else the seed with the best mean
    validation return (the first on ties), else :data:`FALLBACK_SEED`."""
    if seed is not None:
        return Choice(f"{prefix}-seed{seed}", seed, f"seed {seed}, as asked (--seed)")
    scores = validation_scores(results, prefix)
    if not scores:
        return Choice(f"{prefix}-seed{FALLBACK_SEED}", FALLBACK_SEED,
                      f"seed {FALLBACK_SEED}: no validation results in {results}/validation to choose by")
    best = max(scores, key=lambda k: (scores[k], -k))
    episodes = len(pd.read_csv(results / "validation" / f"{prefix}-seed{best}.csv", usecols=["seed"]))
    return Choice(f"{prefix}-seed{best}", best,
                  f"seed {best} of {len(scores)}: the best mean return ({scores[best]:.2f}) on {episodes} validation "
                  "episodes (never the test episodes)", scores[best])


def rank_variants(candidates: dict[str, tuple[Path, str]]) -> tuple[list[str], str]:
    """Of the model types ``candidates`` (model type -> (results folder, checkpoint prefix)),
    those with validation results, best first by the interquartile mean over their training
    seeds of the mean validation return; and why the first is first (``[]`` without any)."""
    iqm = {}
    for model_type, (results, prefix) in candidates.items():
        scores = list(validation_scores(results, prefix).values())
        if scores:
            iqm[model_type] = float(interquartile_mean(scores))
    if not iqm:
        return [], "no validation results to choose by"
    ranked = sorted(iqm, key=lambda t: -iqm[t])  # stable: the first listed on ties
    best = ranked[0]
    runner_up = f", against {ranked[1]}'s {iqm[ranked[1]]:.2f}" if len(ranked) > 1 else ""
    return ranked, (f"{best}: of the hybrids {', '.join(sorted(iqm))}, the best interquartile mean over training "
                    f"seeds of the validation return ({iqm[best]:.2f}{runner_up})")
