"""Where a reproduction's time goes, and how long the next one will take.

:func:`cost_table` splits each notebook's CPU time into training, validation while training,
evaluation (test and model-selection episodes) and the remainder (start-up, reading, tables,
figures), from each run's ``logs/<stem>/timing.json`` and the notebooks' wall times
(``tables/timings.csv``). ``python -m edge_rl.experiments.costs RESULTS`` prints how long the
notebooks that ``make reproduce`` would rerun took last time (``make reproduce`` does, first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

NOTEBOOK_SUITES = {"01_baselines.ipynb": ("baseline_runs",), "02_hybrid.ipynb": ("hybrid_runs",),
                   "04_ablations.ipynb": ("design_runs", "ablation_runs")}
"""Which suites each notebook trains (a run belongs to the first notebook that trains it)."""


def _timings(results: Path) -> pd.DataFrame:
    path = results / "tables" / "timings.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: make reproduce records it")
    return pd.read_csv(path, index_col="notebook")


def cost_table(results: str | os.PathLike, budget: str = "full") -> pd.DataFrame:
    """Per notebook: its wall time, the runs it trained, and its CPU time (wall time x cores)
    split into training, validation while training, evaluation and the remainder; in minutes.

    Raises:
        FileNotFoundError: a run's timing or the timing record is missing.
    """
    from edge_rl.experiments import suites  # torch: only for the table, not for the estimate

    results = Path(results)
    timings = _timings(results)
    plan, seen, records = suites.budget(budget), set(), []
    for notebook, row in timings.iterrows():
        runs = [run for name in NOTEBOOK_SUITES.get(notebook, ()) for run in getattr(suites, name)(plan)]
        runs = [run for run in dict.fromkeys(runs) if run.stem not in seen]
        seen.update(run.stem for run in runs)
        parts = {"train_s": 0.0, "validation_s": 0.0, "evaluation_s": 0.0}
        for run in runs:
            timing = results / "logs" / run.stem / "timing.json"
            if not timing.is_file():
                raise FileNotFoundError(f"{timing} is missing: the run's cost was not recorded")
            for key, value in json.loads(timing.read_text()).items():
                parts[key] += value
        cpu = float(row["wall time (s)"]) * int(row["cores"])
        records.append({"notebook": notebook, "wall (min)": float(row["wall time (s)"]) / 60, "runs": len(runs),
                        "CPU (min)": cpu / 60, "training (min)": parts["train_s"] / 60,
                        "validation (min)": parts["validation_s"] / 60, "evaluation (min)": parts["evaluation_s"] / 60,
                        "remainder (min)": (cpu - sum(parts.values())) / 60})
    table = pd.DataFrame(records).set_index("notebook")
    table.loc["total"] = table.sum()
    return table


def _stale(results: Path, root: Path) -> list[str]:
    """The notebooks ``make reproduce`` would rerun into ``results``, by make's own rule: an
    executed notebook older than its source, the package or the pins, or than the one before."""
    package = [p for p in (root / "edge_rl").rglob("*.py") if "serve" not in p.parts and p.name != "compare.py"]
    newest = max(p.stat().st_mtime for p in [*package, root / "pyproject.toml"])
    stale, previous = [], False
    for source in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        executed = results / "notebooks" / source.name
        previous = previous or not executed.is_file() or executed.stat().st_mtime < max(newest, source.stat().st_mtime)
        if previous:
            stale.append(source.name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_rl.experiments.costs", description=__doc__.splitlines()[0])
    parser.add_argument("results", help="the results folder make reproduce writes, e.g. results or rerun")
    parser.add_argument("--reference", default="results", help="the committed timings (default: results)")
    parser.add_argument("--budget", default="full", help="full or quick (the committed timings are full ones)")
    args = parser.parse_args(argv)
    root = Path.cwd()
    stale = _stale(Path(args.results), root)
    if not stale:
        print("make reproduce: every notebook is up to date; nothing to run", file=sys.stderr)
        return 0
    if args.budget != "full":
        print(f"make reproduce: {len(stale)} notebook(s) to run on the smoke budget", file=sys.stderr)
        return 0
    try:
        timings = _timings(Path(args.reference))
    except FileNotFoundError:
        print(f"make reproduce: {len(stale)} notebooks to run (no committed timings to estimate from)")
        return 0
    committed = timings.reindex(stale)["wall time (s)"].fillna(0).sum()
    cores, here = int(timings["cores"].iloc[0]), os.cpu_count() or 1
    expected = committed * cores / min(here, cores) / 60 if here < cores else committed / 60
    print(f"make reproduce: {len(stale)} notebook(s) to run ({', '.join(stale)}); the committed run took "
          f"{committed / 60:.0f} min for them on {timings['cpu'].iloc[0]} with {cores} cores: expect about "
          f"{expected:.0f} min here ({here} cores; a slower CPU takes longer)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
