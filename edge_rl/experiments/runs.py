"""Many training runs at once: in parallel processes, resumable, never half-written.

A :class:`Run` is one training config (seed included) and the test seeds it is evaluated on.
:func:`run_all` trains and evaluates every run that is not done yet, as many at a time as
there are cores, each process on one torch thread, with one progress bar over all runs. Each
run leaves, under ``folder``:

- ``models/<stem>.safetensors`` and ``.json``: the checkpoint;
- ``runs/<stem>.csv``: its evaluation rows (one per test episode), with the run's ``label``,
  ``train_seed`` and ``env_steps`` (pre-training included);
- ``logs/<stem>/``: the training episodes, one SB3 Monitor CSV per training environment.

Both are written to a temporary file and renamed, so an interrupted run leaves nothing, and a
rerun skips every run that finished with the same config and test seeds (a changed config
reruns). Runs are seeded one by one: the numbers do not depend
on how many processes ran them, or in what order.

A run whose algorithm starts from other runs (:meth:`~edge_rl.agents.base.Agent.prerequisites`:
the hybrid's DQN-GNN and PPO-GNN pre-training of the same encoder and seed) starts from their
checkpoints when they are in the same call, so pre-training is never done twice.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm  # plain text, to the terminal (in a notebook: the runner's progress file)

from edge_rl.agents import algorithm, load
from edge_rl.agents.checkpoint import CheckpointError, read_description
from edge_rl.config import TrainConfig
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, evaluate
from edge_rl.experiments.catalogue import slug
from edge_rl.experiments.notebooks import progress_stream
from edge_rl.files import atomic_write


@dataclass(frozen=True)
class Run:
    """One training run: a table ``label``, its config, the test seeds it is evaluated on, and
    the validation seeds (none, or those that choose between models: never test seeds)."""

    label: str
    config: TrainConfig
    eval_seeds: tuple[int, ...] = field(default=DEFAULT_EVAL_SEEDS)
    val_seeds: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not (self.eval_seeds or self.val_seeds):
            raise ValueError(f"run {self.label!r} must be evaluated on test seeds, validation seeds or both")
        if set(self.eval_seeds) & set(self.val_seeds):
            raise ValueError(f"run {self.label!r}: validation seeds must not be test seeds, both have "
                             f"{sorted(set(self.eval_seeds) & set(self.val_seeds))[:5]}")

    @property
    def stem(self) -> str:
        """File name: the label made safe, and the seed, e.g. ``hybrid-best-seed3``."""
        return f"{slug(self.label)}-seed{self.config.seed}"


SPLITS = {"test": "runs", "validation": "validation"}
"""Where a run's evaluation rows go, by the seeds they ran on: ``runs/`` (test) and ``validation/``."""


def _paths(folder: Path, run: Run, split: str = "test") -> tuple[Path, Path]:
    return folder / "models" / run.stem, folder / SPLITS[split] / f"{run.stem}.csv"


def log_dir(folder: str | os.PathLike, run: Run) -> Path:
    """Where ``run``'s training episodes are logged."""
    return Path(folder) / "logs" / run.stem


def _finished(folder: Path, run: Run) -> bool:
    """Done, and with this very config and seeds: a run whose config changed is stale and reruns."""
    model = _paths(folder, run)[0]
    description = model.with_name(model.name + ".json")
    if not description.exists():
        return False
    try:
        saved = read_description(description)["config"]
    except CheckpointError:
        return False
    if saved != json.loads(json.dumps(run.config.to_dict())):
        return False
    for split, seeds in (("test", run.eval_seeds), ("validation", run.val_seeds)):
        rows = _paths(folder, run, split)[1]
        if seeds and not (rows.exists() and pd.read_csv(rows, usecols=["seed"])["seed"].tolist() == list(seeds)):
            return False
    return True


def _execute(run: Run, folder: Path, pretrained_stems: tuple[Path, ...] | None) -> str:
    """Train, save, evaluate, write the rows. Runs in a worker process."""
    torch.set_num_threads(run.config.threads)
    model = _paths(folder, run)[0]
    prerequisites = tuple(load(p) for p in pretrained_stems) if pretrained_stems else ()
    agent = algorithm(run.config).train(run.config, model, log_dir=log_dir(folder, run), prerequisites=prerequisites)
    # Every environment step the model used: a hybrid's pre-training included.
    env_steps = agent.trained.get("total_env_steps", agent.trained["timesteps"])
    evaluation_start = time.perf_counter()
    for split, seeds in (("test", run.eval_seeds), ("validation", run.val_seeds)):
        if not seeds:
            continue
        rows = evaluate(agent, seeds, run.config.env, name=run.label)
        rows.insert(1, "train_seed", run.config.seed)
        rows["env_steps"] = env_steps
        rows["algo"] = run.config.name
        path = _paths(folder, run, split)[1]
        atomic_write(path, lambda tmp, rows=rows: rows.to_csv(tmp, index=False))
    # Where the run's CPU time went (the cost table); beside the training logs, which record when.
    trained = agent.trained
    timing = {"train_s": round(trained["wall_time_s"] - trained.get("validation_s", 0.0), 3),
              "validation_s": trained.get("validation_s", 0.0),
              "evaluation_s": round(time.perf_counter() - evaluation_start, 3)}
    atomic_write(log_dir(folder, run) / "timing.json", lambda tmp: Path(tmp).write_text(json.dumps(timing) + "\n"))
    return run.label


def _init_worker() -> None:
    torch.set_num_threads(1)


def run_all(runs: Sequence[Run], folder: str | os.PathLike, workers: int | None = None,
            progress: bool = True) -> pd.DataFrame:
    """Train and evaluate every run not done yet; return the test rows of all runs (those with test seeds).

    Args:
        runs: the runs; two runs may not share a stem (label and seed).
        folder: where ``models/`` and ``runs/`` go.
        workers: processes at once (default: the number of cores).
        progress: one bar over all runs.
    """
    folder = Path(folder)
    stems = [run.stem for run in runs]
    duplicated = sorted({s for s in stems if stems.count(s) > 1})
    if duplicated:
        raise ValueError(f"runs must have distinct labels per seed; repeated: {duplicated}")
    by_config = {run.config: run for run in runs}
    todo = [run for run in runs if not _finished(folder, run)]

    def pretrained_for(run: Run) -> tuple[Path, ...] | None:
        """The checkpoints of the runs this one starts from, when they are among these runs."""
        needs = algorithm(run.config).prerequisites(run.config)
        sources = [by_config.get(config) for config in needs]
        if not needs or any(source is None for source in sources):
            return None  # nothing to start from, or not among these runs: it trains them itself
        return tuple(_paths(folder, source)[0] for source in sources)  # type: ignore[union-attr]

    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc="runs", unit="run", disable=not progress,
               file=progress_stream())
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no forked torch state
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
        # Runs that start from others' checkpoints (the hybrids) go after those.
        later = [run for run in todo if pretrained_for(run) is not None]
        for phase in ([run for run in todo if run not in later], later):
            futures = {pool.submit(_execute, run, folder, pretrained_for(run)): run for run in phase}
            for future in as_completed(futures):
                try:
                    future.result()
                except Exception as error:
                    pool.shutdown(cancel_futures=True)
                    raise RuntimeError(f"run {futures[future].stem} failed: {error}") from error
                bar.update(1)
    bar.close()
    tested = [run for run in runs if run.eval_seeds]
    return read_rows(tested, folder) if tested else pd.DataFrame()


def read_rows(runs: Sequence[Run], folder: str | os.PathLike, split: str = "test") -> pd.DataFrame:
    """The evaluation rows of runs that already ran, without training anything: on their test
    seeds, or with ``split="validation"`` on their validation seeds.

    Adds ``train_steps``: the steps the model itself trained (a hybrid's fine-tuning only),
    beside ``env_steps``, every environment step it used (pre-training included).

    Raises:
        FileNotFoundError: a run has no results in ``folder``, naming it and the notebook
            whose runs are missing.
    """
    folder = Path(folder)
    frames = []
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    for run in runs:
        model, rows_path = _paths(folder, run, split)
        if not (run.val_seeds if split == "validation" else run.eval_seeds):
            raise ValueError(f"run {run.stem} has no {split} seeds")
        if not _finished(folder, run):
            raise FileNotFoundError(
                f"run {run.stem} has no up-to-date results in {folder}: run the notebook that "
                "trains it first (make reproduce runs them in order)"
            )
        rows = pd.read_csv(rows_path)
        rows["train_steps"] = read_description(model.with_name(model.name + ".json"))["trained"]["timesteps"]
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def _reference_rows(folder: str | os.PathLike, table: str, kind: str) -> pd.DataFrame:
    """Notebook 00's episodes of the rules or the bounds, shaped like a training run's rows:
    one "seed" (0) and no training steps."""
    path = Path(folder) / "tables" / f"{table}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebooks/00_environment.ipynb first (make reproduce)")
    rows = pd.read_csv(path)
    rows.insert(1, "train_seed", 0)
    rows["env_steps"] = 0
    rows["train_steps"] = 0
    rows["algo"] = kind
    return rows


def rule_rows(folder: str | os.PathLike) -> pd.DataFrame:
    """The fixed rules' test episodes that notebook 00 wrote, shaped like a training run's rows.

    Raises:
        FileNotFoundError: notebook 00 has not run into ``folder``.
    """
    return _reference_rows(folder, "heuristics_episodes", "rule")


def bound_rows(folder: str | os.PathLike) -> pd.DataFrame:
    """The bounds' test episodes that notebook 00 wrote (:mod:`edge_rl.envs.oracles`: policies
    that read the simulator, labelled as bounds), shaped like the rules' rows."""
    return _reference_rows(folder, "bounds_episodes", "bound")


def validation_curves(runs: Sequence[Run], folder: str | os.PathLike) -> pd.DataFrame:
    """The learning curves of ``runs`` as ``policy, seed, step, return``: the greedy return on
    the validation episodes that each run recorded while it trained (its checkpoint's
    ``validation_returns``), never the exploring training episodes.

    ``step`` counts every environment step the model has used, pre-training included: a
    fine-tuned hybrid's curve starts where its pre-training ended, so it lines up with a hybrid
    trained from scratch.
    """
    frames = []
    for run in runs:
        model = _paths(Path(folder), run)[0]
        if not _finished(Path(folder), run):
            raise FileNotFoundError(f"run {run.stem} has no up-to-date results in {folder}")
        trained = read_description(model.with_name(model.name + ".json"))["trained"]
        offset = sum(trained.get("pretrain_timesteps", {}).values())
        history = np.asarray(trained.get("validation_returns", []), dtype=float).reshape(-1, 2)
        frames.append(pd.DataFrame({"policy": run.label, "seed": run.config.seed, "step": history[:, 0] + offset,
                                    "return": history[:, 1]}))
    return pd.concat(frames, ignore_index=True)
