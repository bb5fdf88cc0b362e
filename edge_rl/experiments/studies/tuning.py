"""The tuning study (notebook 08, ``make tune``): DQN-GNN, PPO-GNN and each hybrid design, tuned
with the same budget before they are compared.

Each model (:data:`MODELS`) gets its own Optuna study: the same number of trials
(:attr:`TuningPlan.trials`), each a training run of the same environment steps
(:attr:`TuningPlan.steps`) from the budget study's config (:func:`~edge_rl.experiments.studies.budget.study_config`:
GCN with the chosen root path, from scratch, last weights), its hyperparameters drawn by a TPE
sampler from the model's search space (:mod:`edge_rl.experiments.studies.search_spaces`), and scored
by the mean greedy return on the model-selection episodes (seeds 20100 onwards). Nothing here
reads a test seed.

**Pruning.** Optuna's :class:`~optuna.pruners.MedianPruner` on the validation curve every run
records (5 validation episodes, seeds 20000-20004, every 1,000 steps): at each fraction of the
budget in :attr:`TuningPlan.prune_at` a trial whose best value so far is below the median of the
finished trials' values there stops. The trials are Ray tasks of the experiment engine, so the
pruner's decision is taken inside the task, from the medians the driver hands it
(:func:`thresholds`); back on the driver the trial's curve is reported to Optuna step by step and
Optuna's own pruner must take the same decision (a mismatch is an error, not a silent fix).

**Same numbers on every engine.** A study asks :attr:`TuningPlan.batch` trials at a time and
tells them all before it asks again, whatever the number of CPUs; the studies run side by side
(each one's batches in order), so the trials, the pruner's medians and the sampler's draws do
not depend on the engine, its size or the order tasks finish in.

**Resumable.** Each told trial is a JSON record under ``<folder>/trials/``. A rerun builds every
study again from its sampler's seed and replays it: a trial whose record holds the same config
and the same medians is read back instead of trained, so an interrupted study continues where it
stopped and a finished one costs nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from edge_rl.config import TrainConfig
from edge_rl.evaluation import SELECTION_SEEDS, evaluate
from edge_rl.experiments.run.engine import TaskError, session
from edge_rl.experiments.studies.search_spaces import MODELS, TunedModel
from edge_rl.files import atomic_write


@dataclass(frozen=True)
class TuningPlan:
    """How much the tuning study runs: ``full`` for ``make tune``, ``quick`` for CI."""

    name: str
    trials: int  # per model: every model gets the same
    steps: int  # environment steps of every trial
    rollouts: tuple[int, ...]  # PPO's and the hybrid's candidate steps per environment per rollout
    batch: int = 2  # trials a study asks before it tells them (fixed: not the engine's size)
    startup_trials: int = 6  # TPE draws at random until this many trials are told
    prune_after: int = 4  # the pruner waits for this many finished trials
    prune_at: tuple[float, ...] = (0.25, 0.5, 0.75)  # fractions of the budget where it may stop a trial
    selection_episodes: int = 50  # model-selection episodes that score a trial
    train_seed: int = 1000  # every trial's training seed: none of the budget study's (0-4)
    sampler_seed: int = 0

    @property
    def selection_seeds(self) -> tuple[int, ...]:
        return SELECTION_SEEDS[: self.selection_episodes]

    @property
    def checkpoints(self) -> tuple[int, ...]:
        """The steps where the pruner may stop a trial."""
        return tuple(int(self.steps * f) for f in self.prune_at)


TUNING_PLANS = {
    "full": TuningPlan("full", trials=12, steps=20_000, rollouts=(64, 128, 256, 512, 1024)),
    "quick": TuningPlan("quick", trials=2, steps=1_024, rollouts=(16, 32), batch=2, startup_trials=1,
                        prune_after=1, prune_at=(0.5,), selection_episodes=5),
}


def tuning_plan(name: str) -> TuningPlan:
    """The plan called ``name``: ``full`` or ``quick``."""
    if name not in TUNING_PLANS:
        raise ValueError(f"unknown tuning budget {name!r}; accepted: {sorted(TUNING_PLANS)}")
    return TUNING_PLANS[name]


# ---------------------------------------------------------------------------- the pruner, in the task

def intermediate_values(curve: Sequence[Sequence[float]], checkpoints: Sequence[int]) -> dict[int, float]:
    """The value a trial reports at each checkpoint it reached: its first validation at or after
    it (a validation lands on the schedule of its algorithm, a checkpoint need not)."""
    values = {}
    for checkpoint in checkpoints:
        later = [score for step, score in curve if step >= checkpoint]
        if later:
            values[checkpoint] = float(later[0])
    return values


def should_stop(curve: Sequence[Sequence[float]], checkpoints: Sequence[int], medians: dict[int, float]) -> int | None:
    """The checkpoint where the median rule stops a trial with this curve (None: it does not):
    the first reached checkpoint with a median where the best value reported so far is below it,
    as :class:`optuna.pruners.MedianPruner` decides for a maximised objective."""
    best = -np.inf
    for checkpoint, value in intermediate_values(curve, checkpoints).items():
        best = max(best, value)
        if checkpoint in medians and best < medians[checkpoint]:
            return checkpoint
    return None


def thresholds(study: Any, plan: TuningPlan) -> dict[int, float]:
    """The medians the pruner compares with at each checkpoint: over the finished (not pruned)
    trials of ``study``; none until :attr:`TuningPlan.prune_after` trials have finished."""
    from optuna.trial import TrialState

    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(finished) < plan.prune_after:
        return {}
    medians = {}
    for checkpoint in plan.checkpoints:
        values = [t.intermediate_values[checkpoint] for t in finished if checkpoint in t.intermediate_values]
        if values:
            medians[checkpoint] = float(np.nanpercentile(np.asarray(values, dtype=float), 50))
    return medians


def run_trial(config: TrainConfig, checkpoints: tuple[int, ...], medians: dict[int, float],
              seeds: tuple[int, ...]) -> dict[str, Any]:
    """Train one trial (stopped by the median rule), score it on ``seeds`` unless it stopped;
    return its record. Runs as a task: one torch thread, nothing written."""
    from edge_rl.agents import algorithm

    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        start = time.perf_counter()
        agent = algorithm(config).train(config, stop=lambda curve: should_stop(curve, checkpoints, medians) is not None)
        curve = [[int(step), float(score)] for step, score in agent.trained["validation_returns"]]
        pruned_at = should_stop(curve, checkpoints, medians)
        value = None if pruned_at is not None else float(evaluate(agent, seeds, config.env)["return"].mean())
        return {"config": config.to_dict(), "medians": {str(k): v for k, v in medians.items()}, "curve": curve,
                "pruned_at": pruned_at, "value": value, "timesteps": int(agent.trained["timesteps"]),
                "seconds": round(time.perf_counter() - start, 3)}
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------- the driver

class _Study:
    """One model's Optuna study, asked and told a batch at a time."""

    def __init__(self, key: str, model: TunedModel, plan: TuningPlan, folder: Path) -> None:
        import optuna

        self.key, self.model, self.plan, self.folder = key, model, plan, folder
        sampler = optuna.samplers.TPESampler(seed=plan.sampler_seed, n_startup_trials=plan.startup_trials)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=plan.prune_after, n_warmup_steps=0)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "a new study created" into every notebook
        try:
            self.study = optuna.create_study(study_name=key, direction="maximize", sampler=sampler, pruner=pruner)
        finally:
            optuna.logging.set_verbosity(verbosity)
        self.batch: list[tuple[Any, TrainConfig, dict[int, float]]] = []

    @property
    def done(self) -> bool:
        return len(self.study.trials) >= self.plan.trials and not self.batch

    def ask(self) -> list[tuple[Any, TrainConfig, dict[int, float]]]:
        """The next batch: each trial, its config and the medians it will be pruned by."""
        medians = thresholds(self.study, self.plan)
        size = min(self.plan.batch, self.plan.trials - len(self.study.trials))
        for _ in range(size):
            trial = self.study.ask()
            config = self.model.suggest(trial, self.model.base(self.plan.steps, self.plan.train_seed), self.plan.rollouts)
            self.batch.append((trial, replace(config, seed=self.plan.train_seed), medians))
        return self.batch

    def record_path(self, trial: Any) -> Path:
        return self.folder / "trials" / f"{self.key}-{trial.number:03d}.json"

    def cached(self, trial: Any, config: TrainConfig, medians: dict[int, float]) -> dict[str, Any] | None:
        """The stored record of this very trial (same config, same medians), if there is one."""
        path = self.record_path(trial)
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        same = record.get("config") == json.loads(json.dumps(config.to_dict())) and \
            record.get("medians") == {str(k): v for k, v in medians.items()}
        return record if same else None

    def tell(self, records: dict[int, dict[str, Any]]) -> None:
        """Report every trial of the batch to Optuna (all before any is told, as they ran side by
        side), check that Optuna's pruner agrees with the task's, then tell them and keep the records."""
        from optuna.trial import TrialState

        for trial, _, _ in self.batch:
            record = records[trial.number]
            stopped = None
            for checkpoint, value in intermediate_values(record["curve"], self.plan.checkpoints).items():
                trial.report(value, checkpoint)
                if trial.should_prune():
                    stopped = checkpoint
                    break
            if stopped != record["pruned_at"]:
                raise RuntimeError(f"tuning {self.key} trial {trial.number}: Optuna's pruner stops it at "
                                   f"{stopped}, the task's rule at {record['pruned_at']}")
        for trial, _, _ in self.batch:
            record = records[trial.number]
            if record["pruned_at"] is not None:
                self.study.tell(trial, state=TrialState.PRUNED)
            else:
                self.study.tell(trial, record["value"])
            record = {"model": self.key, "number": trial.number, "params": trial.params, **record}
            text = json.dumps(record, indent=1) + "\n"
            atomic_write(self.record_path(trial), lambda tmp, text=text: Path(tmp).write_text(text))
        self.batch = []


def tune(plan: TuningPlan, folder: str | os.PathLike, models: Sequence[str] | None = None,
         workers: int | None = None, address: str | None = None,
         report: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Run (or resume) the tuning study of every model in ``models`` (default :data:`MODELS`);
    return each model's Optuna study. Records go to ``folder/trials/``."""
    folder = Path(folder)
    unknown = sorted(set(models or ()) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown model(s) {unknown} to tune; accepted: {list(MODELS)}")
    studies = [_Study(key, MODELS[key], plan, folder) for key in (models or MODELS)]
    pending: dict[Any, tuple[_Study, int]] = {}
    results: dict[str, dict[int, dict[str, Any]]] = {s.key: {} for s in studies}
    with session(address, workers) as engine:

        def advance(study: _Study) -> None:
            """Tell a finished batch, then ask (and submit) the next, until the study is done."""
            while True:
                if study.batch and len(results[study.key]) == len(study.batch):
                    study.tell(results[study.key])
                    results[study.key] = {}
                    if report:
                        report(f"{study.key}: {len(study.study.trials)} of {plan.trials} trials told")
                if study.batch or len(study.study.trials) >= plan.trials:
                    return
                for trial, config, medians in study.ask():
                    record = study.cached(trial, config, medians)
                    if record is not None:
                        results[study.key][trial.number] = record
                    else:
                        handle = engine.submit(run_trial, config, plan.checkpoints, medians, plan.selection_seeds,
                                               cpus=config.threads)
                        pending[handle] = (study, trial.number)

        for study in studies:
            advance(study)
        while pending:
            handle, result = next(engine.completed())
            study, number = pending.pop(handle)
            if isinstance(result, TaskError):
                raise RuntimeError(f"tuning {study.key} trial {number} failed: {result}") from result.cause
            results[study.key][number] = result
            advance(study)
    return {study.key: study.study for study in studies}


def trials_table(folder: str | os.PathLike, plan: TuningPlan) -> pd.DataFrame:
    """Every told trial of ``folder``: model, number, state, selection return, steps, CPU
    seconds and its parameters (one column each, ``params_<name>``)."""
    rows = []
    for path in sorted(Path(folder, "trials").glob("*.json")):
        record = json.loads(path.read_text())
        if TrainConfig.from_dict(record["config"]).total_timesteps != plan.steps:
            continue  # another plan's trial
        rows.append({"model": MODELS[record["model"]].label, "trial": record["number"],
                     "state": "pruned" if record["pruned_at"] is not None else "complete",
                     "pruned at (env steps)": record["pruned_at"], "selection return": record["value"],
                     "env steps": record["timesteps"], "seconds": record["seconds"],
                     **{f"params_{k}": v for k, v in record["params"].items()}})
    return pd.DataFrame(rows)
