"""The generalisation study (notebook 07, ``make study``): the card's models, trained on its
17-node network and its load, evaluated zero-shot on other networks and other loads.

The card's Limitations say the model "requires retraining for different topologies". Our graph
models score nodes one by one from their embeddings, so they run on a network of any size; how
well is what this study measures, beside the rules and the one-step oracle on the same episodes:

- networks of 9 to 200 nodes (the API serves up to 256), with the card's sensor : fog : cloud mix and with fog-heavy ones,
  and the card's sizes with random sensor-to-fog links (``topology_seed``);
- the background load scaled (x0.5, x1.5, x2 the arrivals), tighter deadlines (half the card's),
  and the load of a real data-centre trace (:mod:`edge_rl.envs.traces`).

Beside the card's models (10,000 steps), the budget study's tuned models at 200,000 steps
(:func:`tuned_models`: tuned DQN-GNN, the best tuned hybrid design, tuned PPO-GNN), to show whether
what is learned with budget transfers. And one model trained for it: DQN-GNN + root on a mixture of networks and loads (:data:`MIXTURE`,
:func:`mixed_runs`), at the card's budget, to show what training for generalisation buys. Every
evaluation is a task of the experiment engine (the model's checkpoint travels with it, so a
cluster needs no shared filesystem).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from edge_rl.agents import load
from edge_rl.agents.checkpoint import paths as checkpoint_paths
from edge_rl.catalogue import DESIGN
from edge_rl.config import EncoderConfig, EnvConfig, TrainConfig
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, evaluate
from edge_rl.experiments.run.engine import TaskError, session
from edge_rl.experiments.run.notebooks import progress_stream
from edge_rl.experiments.run.runs import Run
from edge_rl.experiments.studies.budget import study_plan
from edge_rl.experiments.studies.tuned import tuned_runs
from edge_rl.experiments.studies.tuning import tuning_plan
from edge_rl.registry import BOUNDS
from edge_rl.stats import improvement_interval, iqm_interval, run_scores


@dataclass(frozen=True)
class Condition:
    """One environment the models were not trained on: its ``name`` in the tables, the
    ``group`` it belongs to (``card``, ``size``, ``topology``, ``load``) and its config."""

    name: str
    group: str
    config: EnvConfig


CARD = EnvConfig()
CONDITIONS: tuple[Condition, ...] = (
    Condition("card: 17 nodes (10/6/1)", "card", CARD),
    Condition("9 nodes (5/3/1)", "size", CARD.replace(n_sensors=5, n_fog=3, n_cloud=1)),
    Condition("30 nodes (20/9/1)", "size", CARD.replace(n_sensors=20, n_fog=9, n_cloud=1)),
    Condition("30 nodes, fog-heavy (12/15/3)", "size", CARD.replace(n_sensors=12, n_fog=15, n_cloud=3)),
    Condition("50 nodes (35/13/2)", "size", CARD.replace(n_sensors=35, n_fog=13, n_cloud=2)),
    Condition("100 nodes (70/27/3)", "size", CARD.replace(n_sensors=70, n_fog=27, n_cloud=3)),
    Condition("100 nodes, fog-heavy (50/45/5)", "size", CARD.replace(n_sensors=50, n_fog=45, n_cloud=5)),
    Condition("200 nodes (140/54/6)", "size", CARD.replace(n_sensors=140, n_fog=54, n_cloud=6)),
    *(Condition(f"17 nodes, random links (topology {seed})", "topology", CARD.replace(topology_seed=seed))
      for seed in (1, 2, 3)),
    Condition("load x0.5", "load", CARD.replace(load_scale=0.5)),
    Condition("load x1.5", "load", CARD.replace(load_scale=1.5)),
    Condition("load x2", "load", CARD.replace(load_scale=2.0)),
    Condition("deadlines halved (25-250 ms)", "load", CARD.replace(deadline_ms=(25.0, 250.0))),
    Condition("load of the Alibaba 2018 trace", "load", CARD.replace(load_trace="alibaba2018")),
    Condition("load of the Google 2019 trace", "load", CARD.replace(load_trace="google2019")),
)
"""Every condition of the study, the card's own first (the reference: trained there)."""

MIXTURE = tuple(CARD.replace(n_sensors=sensors, n_fog=fog, n_cloud=1, max_nodes=30, load_scale=scale)
                for sensors, fog in ((5, 3), (10, 6), (20, 9)) for scale in (0.5, 1.0, 1.5, 2.0))
"""What the mixed model trains on: 9, 17 and 30 nodes (the card's mix of types) under x0.5 to x2
the card's background load, one drawn per episode, padded to 30 node slots."""
MIXED = "DQN-GNN + root, mixed"
"""The label of the model trained on :data:`MIXTURE` (DQN-GNN with the root path, the card's
budget): what training for generalisation buys, beside the card's DQN-GNN + root."""

MODELS = ("DQN-GNN + root", "PPO-GNN + root", "Hybrid (Best) + root", "DQN-GNN (SAGE) + root")
"""The card's models the study evaluates (the chosen root-path design; labels of the card's runs)."""
RULES = ("greedy_earliest_finish", "least_loaded", "random")
"""The rules beside them; the first is the one every return is compared with."""
BOUND = "oracle_one_step"
"""The bound beside them (one of :data:`~edge_rl.registry.BOUNDS`)."""


@dataclass(frozen=True)
class GeneralisationPlan:
    """How much the study runs: ``full`` (``make study``) or ``quick`` (CI)."""

    name: str
    episodes: int  # test episodes per condition and policy
    model_seeds: int  # training seeds of each model evaluated
    only: tuple[str, ...] = ()  # the conditions run, by name (none: every one)

    @property
    def seeds(self) -> tuple[int, ...]:
        return DEFAULT_EVAL_SEEDS[: self.episodes]

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return tuple(c for c in CONDITIONS if not self.only or c.name in self.only)


def mixed_runs(plan: GeneralisationPlan, steps: int = 10_000) -> list[Run]:
    """DQN-GNN + root trained on :data:`MIXTURE` for ``steps`` (the card's 10,000 by default),
    ``plan.model_seeds`` seeds, validated while training on the card's network; evaluated by
    :func:`evaluate_conditions` (its own test rows: the card's episodes)."""
    return [Run(MIXED, TrainConfig(encoder=EncoderConfig(root_path=DESIGN), env_mix=MIXTURE, seed=seed,
                                   total_timesteps=steps), plan.seeds)
            for seed in range(plan.model_seeds)]


def tuned_models(plan: GeneralisationPlan, tuning_folder: str | os.PathLike, budget: str) -> list[Run]:
    """The budget study's tuned runs of its ``budget`` (:func:`edge_rl.experiments.studies.tuned.tuned_runs`,
    with the settings the tuning trials in ``tuning_folder`` chose), ``plan.model_seeds`` seeds of
    each: the models trained for the study's whole budget, evaluated as the card's models are."""
    runs = tuned_runs(study_plan(budget), tuning_folder, tuning_plan(budget))
    return [run for run in runs if run.config.seed < plan.model_seeds]


def in_mixture(condition: Condition) -> bool:
    """Whether the mixed model trained on ``condition``'s network and load (then it is not zero-shot there)."""
    slots = MIXTURE[0].padded_nodes
    if condition.config.n_nodes > slots:
        return False
    return condition.config.replace(max_nodes=slots) in MIXTURE


PLANS = {"full": GeneralisationPlan("full", episodes=30, model_seeds=5),
         # One condition of each kind: the smallest and largest networks, random links, a load, a trace.
         "quick": GeneralisationPlan("quick", episodes=4, model_seeds=1, only=(
             CONDITIONS[0].name, "9 nodes (5/3/1)", "100 nodes (70/27/3)", "17 nodes, random links (topology 1)",
             "load x2", "load of the Alibaba 2018 trace"))}


def generalisation_plan(name: str) -> GeneralisationPlan:
    """The plan called ``name``: ``full`` or ``quick``."""
    if name not in PLANS:
        raise ValueError(f"unknown study budget {name!r}; accepted: {sorted(PLANS)}")
    return PLANS[name]


Files = dict[str, bytes]


def _evaluate(condition: Condition, policy: str, seeds: tuple[int, ...], model: Files | None = None,
              train_seed: int = 0) -> pd.DataFrame:
    """One policy's episodes in one condition (a task): a rule, the bound, or a trained model
    given as its checkpoint's files."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # inside the task: a worker process runs many
    try:
        if model is None:
            actor = BOUNDS.get(policy)() if policy in BOUNDS else make_heuristic(policy, condition.config)
            rows = evaluate(actor, seeds, condition.config, name=policy)
        else:
            with tempfile.TemporaryDirectory(prefix="edge-rl-generalisation-") as tmp:
                for name, data in model.items():
                    (Path(tmp) / name).write_bytes(data)
                description = next(Path(tmp).glob("*.json"))
                rows = evaluate(load(description), seeds, condition.config, name=policy)
    finally:
        torch.set_num_threads(threads)
    rows.insert(0, "condition", condition.name)
    rows.insert(2, "train_seed", train_seed)
    return rows


def _checkpoint(folder: Path, run: Run) -> Files:
    stem = folder / "models" / run.stem
    if not all(path.exists() for path in checkpoint_paths(stem)):
        raise FileNotFoundError(f"run {run.stem} has no checkpoint in {folder / 'models'}: run the card's notebooks "
                                "first (make reproduce)")
    return {path.name: path.read_bytes() for path in checkpoint_paths(stem)}


def evaluate_conditions(models: Sequence[tuple[Run, str | os.PathLike]], plan: GeneralisationPlan,
                        conditions: Sequence[Condition] | None = None, workers: int | None = None,
                        address: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Every rule, the bound, and each model (a run, and the results folder whose ``models/``
    holds its checkpoint) on the plan's test episodes of each of ``conditions`` (default: the
    plan's), as tasks of the experiment engine; one row per episode, with its ``condition``.
    The rows are ordered by condition and policy, whatever order the tasks finished in."""
    conditions = plan.conditions if conditions is None else conditions
    jobs = [(c, p, None, 0) for c in conditions for p in (*RULES, BOUND)]
    checkpoints = [(run, _checkpoint(Path(folder), run)) for run, folder in models]
    jobs += [(c, run.label, files, run.config.seed) for c in conditions for run, files in checkpoints]
    results: dict[int, pd.DataFrame] = {}
    failed = []
    bar = tqdm(total=len(jobs), desc="evaluations", unit="task", disable=not progress, file=progress_stream())
    with session(address, workers) as engine:
        handles = {engine.submit(_evaluate, c, p, plan.seeds, files, seed): i
                   for i, (c, p, files, seed) in enumerate(jobs)}
        for handle, result in engine.completed():
            index = handles[handle]
            if isinstance(result, TaskError):
                failed.append(f"{jobs[index][0].name} / {jobs[index][1]}: {result}")
            else:
                results[index] = result
            bar.update()
    bar.close()
    if failed:
        raise RuntimeError(f"{len(failed)} evaluation(s) failed: " + "; ".join(failed))
    return pd.concat([results[i] for i in range(len(jobs))], ignore_index=True)


def relative_table(rows: pd.DataFrame, rule: str = RULES[0]) -> pd.DataFrame:
    """Per condition and policy: the mean return over episodes (and, for a model, the IQM over
    its training seeds with its 95 % bootstrap interval), the difference to ``rule`` in the same
    condition, and for a model the probability that a training seed beats the rule."""
    out = []
    for condition, group in rows.groupby("condition", sort=False):
        rule_mean = group.loc[group["policy"] == rule, "return"].mean()
        scores = run_scores(group)
        for policy, seeds in scores.groupby("policy", sort=False):
            values = seeds["return"].to_numpy()
            interval = iqm_interval(values) if values.size >= 2 else None
            win = improvement_interval(values, rule_mean) if values.size >= 2 else None
            mean = group.loc[group["policy"] == policy, "return"].mean()
            out.append({"condition": condition, "policy": policy, "Mean Reward": mean,
                        "IQM over seeds": interval.estimate if interval else mean,
                        "IQM 95% CI": f"[{interval.low:.2f}, {interval.high:.2f}]" if interval else "n/a (1 run)",
                        "Seeds": values.size, f"vs {rule}": mean - rule_mean,
                        "P(beats rule) [95% CI]": str(win) if win else ""})
    return pd.DataFrame(out).set_index(["condition", "policy"])


def zero_shot_table(relative: pd.DataFrame, rule: str = RULES[0], models: Sequence[str] = MODELS) -> pd.DataFrame:
    """The study's summary: one row per condition, one column per policy, each the mean return's
    difference to ``rule`` in that condition (positive: better than the rule); the columns in the
    order ``models``, the mixed model, the other rules, the bound."""
    column = f"vs {rule}"
    table = relative[column].unstack("policy")
    order = [p for p in (*dict.fromkeys(models), MIXED, *RULES[1:], BOUND) if p in table.columns]
    return table[order + [c for c in table.columns if c not in order and c != rule]].loc[relative.index.unique(0)]
