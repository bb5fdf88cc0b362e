"""Where a reproduction's time goes, and how long the next one will take.

:func:`cost_table` splits each notebook's CPU time into training, validation while training,
evaluation (test and model-selection episodes) and the remainder (start-up, reading, tables,
figures), from each run's ``logs/<stem>/timing.json`` and the notebooks' wall times
(``tables/timings.csv``). ``python -m edge_rl.experiments.analyse.costs RESULTS`` prints which notebooks
``make reproduce`` would rerun, how many of their training runs are not done in ``RESULTS``, and
about how long that takes at the committed runs' rates (``make reproduce`` does, first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

from edge_rl.experiments.run.notebooks import STUDY_NOTEBOOKS

NOTEBOOK_SUITES = {"01_baselines.ipynb": ("baseline_runs",), "02_hybrid.ipynb": ("hybrid_runs",),
                   "04_ablations.ipynb": ("design_runs", "rollout_runs", "ablation_runs")}
"""Which suites each notebook trains (a run belongs to the first notebook that trains it)."""


def _timings(results: Path, required: bool = True) -> pd.DataFrame:
    """The notebooks' timing record; without one (notebooks run by hand or by nbval, not by
    ``make reproduce``) and not ``required``: the training notebooks, wall time unknown."""
    path = results / "tables" / "timings.csv"
    if not path.is_file():
        if not required:
            return pd.DataFrame({"wall time (s)": float("nan"), "cores": float("nan")},
                                index=pd.Index(list(NOTEBOOK_SUITES), name="notebook"))
        raise FileNotFoundError(f"{path} is missing: make reproduce records it")
    return pd.read_csv(path, index_col="notebook")


def cost_table(results: str | os.PathLike, budget: str = "full") -> pd.DataFrame:
    """Per notebook of ``make reproduce``: its wall time, the runs it trained, and its CPU time (wall time x cores)
    split into training, validation while training, evaluation and the remainder; in minutes.
    Without a timing record (``tables/timings.csv``, written by ``make reproduce``), the wall
    time, CPU time and remainder are unknown (NaN) and the runs' own times are still counted.
    *runs timed*: the runs the recorded execution trained (a rerun after an interruption trains
    only what was not done); where it is not all of them, the remainder is unknown (NaN).

    Raises:
        FileNotFoundError: a run's timing is missing.
    """
    from edge_rl.experiments.plan import suites  # torch: only for the table, not for the estimate

    results = Path(results)
    timings = _timings(results, required=False)
    plan, seen, records = suites.budget(budget), set(), []
    for notebook, row in timings.iterrows():
        if notebook in STUDY_NOTEBOOKS:  # make study's cost, not the reproduction's (the README gives it)
            continue
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
        cpu = float(row["wall time (s)"]) * float(row["cores"])
        # A notebook rerun after an interruption trains only the runs not yet done: its wall
        # time is that execution's, so the remainder is unknown unless it trained every run.
        timed = float(row.get("checkpoints written", float("nan")))
        remainder = (cpu - sum(parts.values())) / 60 if not runs or timed == len(runs) else float("nan")
        records.append({"notebook": notebook, "wall (min)": float(row["wall time (s)"]) / 60, "runs": len(runs),
                        "runs timed": timed, "CPU (min)": cpu / 60, "training (min)": parts["train_s"] / 60,
                        "validation (min)": parts["validation_s"] / 60, "evaluation (min)": parts["evaluation_s"] / 60,
                        "remainder (min)": remainder})
    table = pd.DataFrame(records).set_index("notebook")
    table.loc["total"] = table.sum(min_count=1)
    if table["remainder (min)"].iloc[:-1].isna().any():  # a part unknown: the whole is
        table.loc["total", "remainder (min)"] = float("nan")
    return table


EPISODE_STEPS = 100
"""Steps of an evaluation episode: without a recorded evaluation time, an episode is costed as
this many training steps (an upper guess: a greedy step does no learning)."""


def _rates(reference: Path) -> dict[str, dict[str, float]]:
    """Seconds per training step and per evaluation episode of each kind of model (its config's
    name, e.g. ``dqn-gnn-gcn``), from the committed runs: each checkpoint's steps and wall time
    (validation while training included), and the evaluation time in ``logs/<stem>/timing.json``
    where it was recorded (else :data:`EPISODE_STEPS` training steps an episode)."""
    import pandas as pd

    from edge_rl.agents.checkpoint import read_description  # older formats read as they were

    records = []
    for description in sorted(reference.glob("models/*.json")):
        document = read_description(description)
        config, trained = document.get("config"), document.get("trained", {})
        if not config or "wall_time_s" not in trained or not trained.get("timesteps"):
            continue
        stem = description.stem
        train = trained["wall_time_s"] / trained["timesteps"]
        timing, episodes = reference / "logs" / stem / "timing.json", 0
        if timing.is_file():
            episodes = sum(len(pd.read_csv(reference / split / f"{stem}.csv", usecols=["seed"]))
                           for split in ("runs", "validation") if (reference / split / f"{stem}.csv").is_file())
        episode = (json.loads(timing.read_text())["evaluation_s"] / episodes) if episodes else train * EPISODE_STEPS
        env = config["env"]
        records.append({"name": _name(config), "nodes": env["n_sensors"] + env["n_fog"] + env["n_cloud"],
                        "train": train, "episode": episode})
    if not records:
        raise FileNotFoundError(f"{reference}: no committed checkpoints (models/*.json) to estimate from")
    table = pd.DataFrame(records).groupby("name").median()
    return {name: row.to_dict() for name, row in table.iterrows()}


def _name(config: dict) -> str:
    from edge_rl.config import TrainConfig

    return TrainConfig.from_dict(config).name


def run_costs(runs: list, reference: str | os.PathLike = "results") -> pd.DataFrame:
    """Each run's estimated CPU time, in minutes, from the committed runs of the same kind
    (:func:`_rates`; the same model with the plain encoder stack when that is all that was
    committed, else the median of its algorithm): seconds per training step times the steps it
    will take (a hybrid's own pre-training at DQN-GNN's and PPO-GNN's rates, unless that
    pre-training is one of ``runs``: run_all reuses it), plus seconds per evaluation episode times its episodes, both scaled by the topology's node count against the
    committed runs' (a linear guess: the graph encoder's cost grows with the graph)."""
    from dataclasses import replace

    from edge_rl.agents import algorithm
    from edge_rl.agents.hybrid import pretrain_config

    rates = _rates(Path(reference))

    def rate(config) -> dict[str, float]:
        for name in (config.name, replace(config, encoder=replace(config.encoder, root_path="none")).name):
            if name in rates:
                return rates[name]
        same = [r for kind, r in rates.items() if kind.split("-")[0] == config.algo] or list(rates.values())
        return {key: float(pd.Series([r[key] for r in same]).median()) for key in ("train", "episode", "nodes")}

    records, listed = [], {run.config for run in runs}
    for run in runs:
        config, seconds = run.config, 0.0
        planned = algorithm(config).planned_steps(config)
        for part, steps in planned.items():
            kind = config if part == "train" else pretrain_config(config, part.removeprefix("pretrain_"))
            if kind is not config and kind in listed:  # its own run, counted there (run_all reuses it)
                continue
            seconds += steps * rate(kind)["train"] * config.env.n_nodes / rate(kind)["nodes"]
        episodes = len(run.eval_seeds) + len(run.val_seeds)
        seconds += episodes * rate(config)["episode"] * config.env.n_nodes / rate(config)["nodes"]
        records.append({"run": run.stem, "model": config.name, "steps": sum(planned.values()),
                        "episodes": episodes, "estimate (min)": seconds / 60})
    return pd.DataFrame(records)


def _stale(results: Path, root: Path) -> list[str]:
    """The notebooks ``make reproduce`` would rerun into ``results``, by make's own rule: an
    executed notebook older than its source, the package or the pins, or than the one before."""
    package = [p for p in (root / "edge_rl").rglob("*.py")
               if "serve" not in p.parts and p.name not in ("compare.py", "sweep.py")]
    newest = max(p.stat().st_mtime for p in [*package, root / "pyproject.toml"])
    stale, previous = [], False
    for source in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if source.name in STUDY_NOTEBOOKS:  # make study's, not make reproduce's
            continue
        executed = results / "notebooks" / source.name
        previous = previous or not executed.is_file() or executed.stat().st_mtime < max(newest, source.stat().st_mtime)
        if previous:
            stale.append(source.name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_rl.experiments.analyse.costs", description=__doc__.splitlines()[0])
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
    todo, planned = _training_todo(Path(args.results), stale)
    training = run_costs(todo, args.reference)["estimate (min)"].sum() if todo else 0.0
    # What the notebooks do besides training (evaluating, tables, figures): the committed wall time
    # of those that train nothing; the training notebooks' own remainder is too small to count.
    rest = timings.reindex([n for n in stale if n not in NOTEBOOK_SUITES])["wall time (s)"].fillna(0).sum() / 60
    here = os.cpu_count() or 1
    expected = training / here + rest
    print(f"make reproduce: {len(stale)} notebook(s) to run ({', '.join(stale)}); {len(todo)} of their {planned} "
          f"training runs are not done here (about {training:.0f} CPU-minutes, from the committed runs' rates on "
          f"{timings['cpu'].iloc[0]}): expect about {expected:.0f} min on {here} cores (a slower CPU takes longer)",
          file=sys.stderr)
    return 0


def _training_todo(results: Path, stale: list[str]) -> tuple[list, int]:
    """The training runs of the ``stale`` notebooks (full budget) not yet done in ``results``,
    and how many they train in all."""
    from edge_rl.experiments.plan import suites
    from edge_rl.experiments.run.runs import finished

    plan = suites.budget("full")
    runs = {run.stem: run for notebook in stale for name in NOTEBOOK_SUITES.get(notebook, ())
            for run in getattr(suites, name)(plan)}
    return [run for run in runs.values() if not finished(results, run)], len(runs)


if __name__ == "__main__":
    sys.exit(main())
