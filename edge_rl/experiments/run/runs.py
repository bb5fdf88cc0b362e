"""Many training runs at once, as tasks of the experiment engine: resumable, never half-written.

A :class:`Run` is one training config (seed included) and the test seeds it is evaluated on.
:func:`run_all` trains and evaluates every run that is not done yet as a task of
:mod:`~edge_rl.experiments.run.engine` (an embedded Ray by default, a cluster with ``address`` or
``RAY_ADDRESS``, in this process with ``workers=0``), each on one CPU and one torch thread,
with one progress bar over all runs. Each run leaves, under ``folder``:

- ``models/<stem>.safetensors`` and ``.json``: the checkpoint;
- ``runs/<stem>.csv``: its evaluation rows (one per test episode), with the run's ``label``,
  ``train_seed`` and ``env_steps`` (pre-training included); ``validation/<stem>.csv`` likewise;
- ``logs/<stem>/``: the training episodes, one SB3 Monitor CSV per training environment, and
  ``timing.json``, where the run's time went;
- with ``tensorboard=DIR``, ``DIR/<stem>/``: the run's TensorBoard events (and a hybrid's own
  pre-training's in ``DIR/<stem>-pretrain-<algo>/``), only for the runs trained in that call.

A task writes only into a temporary folder of its own and returns the files' bytes; the
driver writes them under ``folder``, each to a temporary file renamed into place, the
checkpoint's description last: no shared filesystem is needed, a task retried after its
worker died writes nothing twice, and an interrupted run leaves no description, so it is not
taken for finished. A rerun skips every run that finished with the same config and seeds (a
changed config reruns; a run asked for seeds it has no rows for is evaluated on them, not
retrained). Runs are seeded one by one: the numbers do not depend on the engine,
on how many workers ran them, or in what order. A run that raises is reported by name with its
error after the others have finished.

A run whose algorithm starts from other runs (:meth:`~edge_rl.agents.base.Agent.prerequisites`:
the hybrid's DQN-GNN and PPO-GNN pre-training of the same encoder and seed) starts from their
checkpoints when they are in the same call, so pre-training is never done twice.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm  # plain text, to the terminal (in a notebook: the runner's progress file)

from edge_rl.agents import Agent, algorithm, load
from edge_rl.agents.checkpoint import CheckpointError, read_description
from edge_rl.agents.checkpoint import paths as checkpoint_paths
from edge_rl.catalogue import slug
from edge_rl.checks import from_dict
from edge_rl.config import TrainConfig
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, evaluate
from edge_rl.experiments.run.engine import TaskError, session
from edge_rl.experiments.run.notebooks import progress_stream
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


def _trained(folder: Path, run: Run) -> bool:
    """Its checkpoint is there, trained with this very config (a run whose config changed is
    stale and retrains)."""
    model = _paths(folder, run)[0]
    description = model.with_name(model.name + ".json")
    if not description.exists():
        return False
    try:  # compared as configs, read as a checkpoint's are: only a field added since (ADDED_FIELDS) may be absent
        saved = from_dict(TrainConfig, read_description(description)["config"], complete=True)
    except (CheckpointError, TypeError, ValueError):
        return False
    return saved == run.config


def _missing_splits(folder: Path, run: Run) -> list[str]:
    """The splits (test, validation) whose rows are not there for exactly the run's seeds."""
    missing = []
    for split, seeds in (("test", run.eval_seeds), ("validation", run.val_seeds)):
        rows = _paths(folder, run, split)[1]
        if seeds and not (rows.exists() and pd.read_csv(rows, usecols=["seed"])["seed"].tolist() == list(seeds)):
            missing.append(split)
    return missing


def finished(folder: str | os.PathLike, run: Run) -> bool:
    """Whether ``run`` is done in ``folder``: trained with this very config, and evaluated on
    exactly its seeds (what :func:`run_all` skips)."""
    return _trained(Path(folder), run) and not _missing_splits(Path(folder), run)


Files = dict[str, bytes]
"""A run's output: each file's path under the results folder (``runs/<stem>.csv``) and its bytes."""


EVENTS = "tensorboard/"
"""A task's TensorBoard events travel back as ``tensorboard/<stem>/...``; the driver writes them
into the ``tensorboard`` folder it was given (:func:`_store`)."""


def _execute(run: Run, *prerequisites: Files, events: bool = False) -> Files:
    """Train, save, evaluate, in a temporary folder of the task's own; return every file made
    there. ``prerequisites``: the checkpoints of the runs it starts from (arguments of their own:
Ray hands a task the results of the tasks whose handles are its arguments). ``events``: also
    TensorBoard events (:data:`EVENTS`). Runs as a task."""
    threads = torch.get_num_threads()
    torch.set_num_threads(run.config.threads)  # inside the task: a worker process runs many
    try:
        with tempfile.TemporaryDirectory(prefix=f"edge-rl-{run.stem}-") as tmp:
            return _train_and_evaluate(run, Path(tmp), prerequisites, events)
    finally:
        torch.set_num_threads(threads)


def _execute_with_events(run: Run, *prerequisites: Files) -> Files:
    """:func:`_execute`, writing TensorBoard events too (a task's arguments are positional)."""
    return _execute(run, *prerequisites, events=True)


def _train_and_evaluate(run: Run, folder: Path, prerequisites: tuple[Files, ...], events: bool = False) -> Files:
    given = {name for files in prerequisites for name in files}
    sources = []
    for files in prerequisites:  # in the order the algorithm asks for them
        _write(folder, files)
        sources += [folder / name for name in files if name.startswith("models/") and name.endswith(".json")][:1]
    model = _paths(folder, run)[0]
    extra = {"tensorboard": folder / EVENTS / run.stem} if events else {}  # only when asked (Agent.train)
    agent = algorithm(run.config).train(run.config, model, log_dir=log_dir(folder, run),
                                        prerequisites=tuple(load(p) for p in sources), **extra)
    evaluation_start = time.perf_counter()
    _evaluate_splits(agent, run, folder, ("test", "validation"))
    # Where the run's CPU time went (the cost table); beside the training logs, which record when.
    trained = agent.trained
    timing = {"train_s": round(trained["wall_time_s"] - trained.get("validation_s", 0.0), 3),
              "validation_s": trained.get("validation_s", 0.0),
              "evaluation_s": round(time.perf_counter() - evaluation_start, 3)}
    (log_dir(folder, run) / "timing.json").write_text(json.dumps(timing) + "\n")
    made = (p for p in folder.rglob("*") if p.is_file())
    return {name: p.read_bytes() for p in made if (name := p.relative_to(folder).as_posix()) not in given}


def _evaluate_splits(agent: Agent, run: Run, folder: Path, splits: Sequence[str]) -> None:
    """Write ``run``'s evaluation rows of ``splits`` (test, validation) under ``folder``."""
    # Every environment step the model used: a hybrid's pre-training included.
    env_steps = agent.trained.get("total_env_steps", agent.trained["timesteps"])
    for split, seeds in (("test", run.eval_seeds), ("validation", run.val_seeds)):
        if not seeds or split not in splits:
            continue
        rows = evaluate(agent, seeds, run.config.env, name=run.label)
        rows.insert(1, "train_seed", run.config.seed)
        rows["env_steps"] = env_steps
        rows["algo"] = run.config.name
        path = _paths(folder, run, split)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(path, index=False)


def _reevaluate(run: Run, checkpoint: Files, splits: tuple[str, ...]) -> Files:
    """Evaluate a trained run's checkpoint on the splits it lacks rows for (seeds added since it
    trained), in a temporary folder; return the rows' files. Runs as a task; trains nothing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(run.config.threads)
    try:
        with tempfile.TemporaryDirectory(prefix=f"edge-rl-{run.stem}-") as tmp:
            folder = Path(tmp)
            _write(folder, checkpoint)
            _evaluate_splits(load(_paths(folder, run)[0]), run, folder, splits)
            return {f"{SPLITS[split]}/{run.stem}.csv": _paths(folder, run, split)[1].read_bytes() for split in splits}
    finally:
        torch.set_num_threads(threads)


def _write(folder: Path, files: Files) -> None:
    for name, data in files.items():
        atomic_write(folder / name, lambda tmp, data=data: Path(tmp).write_bytes(data))


def _store(folder: Path, run: Run, files: Files, tensorboard: Path | None = None) -> None:
    """Write a run's files under ``folder`` (its events under ``tensorboard``), the checkpoint's
    description last: until it is there the run is not finished, so an interruption anywhere
    leaves a run that reruns. The same files twice (a retried task) write the same bytes."""
    events = {name[len(EVENTS):]: data for name, data in files.items() if name.startswith(EVENTS)}
    files = {name: data for name, data in files.items() if not name.startswith(EVENTS)}
    if events and tensorboard is not None:  # fixed names (edge_rl.agents.tensorboard): a rewrite replaces
        _write(tensorboard, events)
    last = f"models/{run.stem}.json"
    (folder / last).unlink(missing_ok=True)
    logs = log_dir(folder, run)
    if logs.is_dir():  # a previous config's logs (another number of training environments)
        for old in logs.iterdir():
            if old.is_file() and f"logs/{run.stem}/{old.name}" not in files:
                old.unlink()
    _write(folder, {name: data for name, data in files.items() if name != last})
    _write(folder, {last: files[last]})


def _checkpoint_files(folder: Path, run: Run) -> Files:
    """A finished run's checkpoint, as a task that starts from it receives it."""
    return {f"models/{path.name}": path.read_bytes() for path in checkpoint_paths(_paths(folder, run)[0])}


def run_all(runs: Sequence[Run], folder: str | os.PathLike, workers: int | None = None,
            progress: bool = True, address: str | None = None,
            tensorboard: str | os.PathLike | None = None) -> pd.DataFrame:
    """Train and evaluate every run not done yet; return the test rows of all runs (those with test seeds).

    Args:
        runs: the runs; two runs may not share a stem (label and seed).
        folder: where ``models/``, ``runs/``, ``validation/`` and ``logs/`` go (on the driver's machine).
        workers: runs at once on an embedded engine (default: one per core); 0: one after
            another in this process, without Ray. A cluster runs as many as it has CPUs.
        progress: one bar over all runs.
        address: a Ray cluster's ``<head>:<port>`` (default: ``RAY_ADDRESS``; unset: an
            embedded engine, started and stopped here).
        tensorboard: a folder for the TensorBoard events of the runs trained now, one
            subfolder per run named as its checkpoint (finished runs are skipped: no events).

    Raises:
        RuntimeError: runs that failed, each by name with its error, after every other run
            finished (and was written: a rerun retries only the failed ones).
    """
    folder = Path(folder)
    stems = [run.stem for run in runs]
    duplicated = sorted({s for s in stems if stems.count(s) > 1})
    if duplicated:
        raise ValueError(f"runs must have distinct labels per seed; repeated: {duplicated}")
    by_config = {run.config: run for run in runs}
    todo = [run for run in runs if not finished(folder, run)]
    # Trained with this config, but asked for seeds it has no rows for: evaluated, not retrained.
    topups = {run.stem: tuple(_missing_splits(folder, run)) for run in todo if _trained(folder, run)}

    def sources(run: Run) -> list[Run]:
        """The runs this one starts from, when all are among these runs (else it trains them itself)."""
        needs = [by_config.get(config) for config in algorithm(run.config).prerequisites(run.config)]
        return [] if None in needs else needs  # type: ignore[return-value]

    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc="runs", unit="run", disable=not progress,
               file=progress_stream())
    failed: dict[str, str] = {}
    if todo:
        # Runs that start from others' checkpoints (the hybrids) are submitted after those.
        todo.sort(key=lambda run: bool(sources(run)))
        with session(address, workers) as engine:
            handles: dict[str, object] = {}
            for run in todo:
                if run.stem in topups:
                    handles[run.stem] = engine.submit(_reevaluate, run, _checkpoint_files(folder, run),
                                                      topups[run.stem], cpus=run.config.threads)
                    continue
                inputs = tuple(handles[s.stem] if s.stem in handles and s.stem not in topups
                               else _checkpoint_files(folder, s) for s in sources(run))
                task = _execute if tensorboard is None else _execute_with_events
                handles[run.stem] = engine.submit(task, run, *inputs, cpus=run.config.threads)
            named = {handle: run for run, handle in zip(todo, handles.values())}
            handles.clear()  # each result is released once written (a dependent task holds what it needs)
            for handle, result in engine.completed():
                run = named.pop(handle)
                if isinstance(result, TaskError):
                    failed[run.stem] = str(result)
                    continue
                if run.stem in topups:  # rows only: the checkpoint and its description stay as they are
                    _write(folder, result)
                else:
                    _store(folder, run, result, None if tensorboard is None else Path(tensorboard))
                bar.update(1)
    bar.close()
    for run in runs:  # a run whose prerequisite failed failed with its error: say which it was
        broken = [s.stem for s in sources(run) if s.stem in failed] if run.stem in failed else []
        if broken:
            failed[run.stem] = f"it starts from {', '.join(broken)}, which failed"
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(runs)} runs failed (the others are done; a rerun retries "
                           "these): " + "; ".join(f"run {stem} failed: {error}" for stem, error in failed.items()))
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
        if not finished(folder, run):
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
        if not finished(Path(folder), run):
            raise FileNotFoundError(f"run {run.stem} has no up-to-date results in {folder}")
        trained = read_description(model.with_name(model.name + ".json"))["trained"]
        offset = sum(trained.get("pretrain_timesteps", {}).values())
        history = np.asarray(trained.get("validation_returns", []), dtype=float).reshape(-1, 2)
        frames.append(pd.DataFrame({"policy": run.label, "seed": run.config.seed, "step": history[:, 0] + offset,
                                    "return": history[:, 1]}))
    return pd.concat(frames, ignore_index=True)
