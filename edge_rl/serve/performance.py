"""What ``GET /models`` says of each policy's measured results, read from ``results/`` (never typed in)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edge_rl.catalogue import STUDY
from edge_rl.serve.models import ModelSpec, results_dir

PERFORMANCE_TABLES = {"": ("evaluation_results.csv",), STUDY: ("budget_final.csv", "budget_tuned_final.csv")}
"""The tables in ``results/tables/`` that ``GET /models`` reads a policy's measured results from
(its row ``Model``, in the first table that has it), by the folder its runs are in: the card's, or
the budget study's (untuned, then tuned)."""


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def model_performance(spec: ModelSpec, results: str | os.PathLike | None = None,
                      stem: str | None = None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``(variant, checkpoint)``: the policy's row of its table (:data:`PERFORMANCE_TABLES`: every
    training seed on the test episodes) and, for learned models, the mean of the served
    checkpoint's own test episodes (``<its folder>/runs/<stem>.csv``; ``stem`` default: seed 0's).
    Either is None when its file is missing."""
    results = Path(results) if results is not None else results_dir()
    variant = checkpoint = None
    for name in PERFORMANCE_TABLES[spec.folder]:
        table = results / "tables" / name
        frame = pd.read_csv(table, index_col=0) if table.is_file() else None  # rows named in the first column
        if frame is not None and spec.row in frame.index:
            metrics = {k: _json_value(v) for k, v in frame.loc[spec.row].items()}
            variant = {"source": f"{results.name}/tables/{name}", "row": spec.row, "metrics": metrics}
            break
    stem = stem if stem is not None else spec.stem()
    runs = spec.home(results) / "runs" / f"{stem}.csv" if stem else None
    if runs is not None and runs.is_file():
        frame = pd.read_csv(runs)
        numeric = ["return", "deadline_success", "latency_mean_ms", "latency_p95_ms", "energy_per_task_j",
                   "load_balance", "dropped"]
        metrics = {k: _json_value(frame[k].mean()) for k in numeric if k in frame}
        metrics["return_std"] = _json_value(frame["return"].std()) if "return" in frame else None
        metrics["episodes"] = len(frame)
        checkpoint = {"source": "/".join((results.name, *Path(spec.folder).parts, "runs", runs.name)), "metrics": metrics}
    return variant, checkpoint
