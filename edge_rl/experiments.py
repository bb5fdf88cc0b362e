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

Hybrid runs that follow the card's procedure start from the DQN-GNN and PPO-GNN runs of the
same encoder and seed when those are in the same call (they are exactly its pre-training), so
pre-training is never done twice.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm  # plain text: make's terminal shows it (the runner echoes the kernel's stderr)

from edge_rl.checkpoint import CheckpointError, read_description
from edge_rl.files import atomic_write
from edge_rl.config import EncoderConfig, HybridConfig, PPOConfig, TrainConfig
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, evaluate


@dataclass(frozen=True)
class Budget:
    """How much a reproduction runs: ``full`` for ``make reproduce``, ``quick`` for
    ``make reproduce QUICK=1`` and for the notebooks' checks in CI."""

    name: str
    eval_episodes: int  # test episodes per policy (and per trained model)
    train_seeds: int  # training seeds per variant
    long_seeds: int  # training seeds of the long hybrid runs (from scratch, "Final")
    step_scale: float  # fraction of the card's training steps
    ppo_rollout: int | None = None  # steps per environment per PPO rollout; None: PPOConfig's

    def steps(self, card_steps: int) -> int:
        """The training steps this budget gives a run the card trains for ``card_steps``."""
        return max(1, round(card_steps * self.step_scale))

    def config(self, **fields) -> TrainConfig:
        """A :class:`TrainConfig` with ``fields``, and this budget's PPO rollout length (a smoke
        run of a fifth of the steps would otherwise still collect one full 8,192-step rollout)."""
        if self.ppo_rollout is not None:
            fields["ppo"] = PPOConfig(n_steps=self.ppo_rollout)
        return TrainConfig(**fields)


BUDGETS = {
    "full": Budget("full", eval_episodes=100, train_seeds=10, long_seeds=5, step_scale=1.0),
    "quick": Budget("quick", eval_episodes=10, train_seeds=2, long_seeds=1, step_scale=0.2, ppo_rollout=128),
}


def budget(name: str) -> Budget:
    """The budget called ``name``: ``full`` or ``quick``."""
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}; accepted: {sorted(BUDGETS)}")
    return BUDGETS[name]


@dataclass(frozen=True)
class Run:
    """One training run: a table ``label``, its config, and the test seeds it is evaluated on."""

    label: str
    config: TrainConfig
    eval_seeds: tuple[int, ...] = field(default=DEFAULT_EVAL_SEEDS)

    @property
    def stem(self) -> str:
        """File name: the label made safe, and the seed, e.g. ``hybrid-best-seed3``."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")
        return f"{slug}-seed{self.config.seed}"


def _paths(folder: Path, run: Run) -> tuple[Path, Path]:
    return folder / "models" / run.stem, folder / "runs" / f"{run.stem}.csv"


def log_dir(folder: str | os.PathLike, run: Run) -> Path:
    """Where ``run``'s training episodes are logged."""
    return Path(folder) / "logs" / run.stem


def _finished(folder: Path, run: Run) -> bool:
    """Done, and with this very config: a run whose config changed is stale and reruns."""
    model, rows = _paths(folder, run)
    description = model.with_name(model.name + ".json")
    if not (rows.exists() and description.exists()):
        return False
    try:
        saved = read_description(description)["config"]
    except CheckpointError:
        return False
    evaluated = pd.read_csv(rows, usecols=["seed"])["seed"].tolist()
    return saved == json.loads(json.dumps(run.config.to_dict())) and evaluated == list(run.eval_seeds)


def _execute(run: Run, folder: Path, pretrained_stems: tuple[Path, Path] | None) -> str:
    """Train, save, evaluate, write the rows. Runs in a worker process."""
    from edge_rl.agent import load, train
    from edge_rl.hybrid import train_hybrid

    torch.set_num_threads(run.config.threads)
    model, rows_path = _paths(folder, run)
    logs = log_dir(folder, run)
    if run.config.algo == "hybrid":
        pretrained = None if pretrained_stems is None else tuple(load(p) for p in pretrained_stems)
        agent = train_hybrid(run.config, model, pretrained=pretrained, log_dir=logs)
        env_steps = agent.trained["total_env_steps"]
    else:
        agent = train(run.config, model, log_dir=logs)
        env_steps = agent.trained["timesteps"]
    rows = evaluate(agent, run.eval_seeds, run.config.env, name=run.label)
    rows.insert(1, "train_seed", run.config.seed)
    rows["env_steps"] = env_steps
    rows["algo"] = run.config.name
    atomic_write(rows_path, lambda tmp: rows.to_csv(tmp, index=False))
    return run.label


def _init_worker() -> None:
    torch.set_num_threads(1)


def run_all(runs: Sequence[Run], folder: str | os.PathLike, workers: int | None = None,
            progress: bool = True) -> pd.DataFrame:
    """Train and evaluate every run not done yet; return the rows of all runs.

    Args:
        runs: the runs; two runs may not share a stem (label and seed).
        folder: where ``models/`` and ``runs/`` go.
        workers: processes at once (default: the number of cores).
        progress: one bar over all runs.
    """
    from edge_rl.hybrid import pretrain_config

    folder = Path(folder)
    stems = [run.stem for run in runs]
    duplicated = sorted({s for s in stems if stems.count(s) > 1})
    if duplicated:
        raise ValueError(f"runs must have distinct labels per seed; repeated: {duplicated}")
    by_config = {run.config: run for run in runs if run.config.algo != "hybrid"}
    todo = [run for run in runs if not _finished(folder, run)]

    def pretrained_for(run: Run) -> tuple[Path, Path] | None:
        if run.config.algo != "hybrid" or not run.config.pretrain_steps:
            return None
        sources = [by_config.get(pretrain_config(run.config, algo)) for algo in ("dqn", "ppo")]
        if any(source is None for source in sources):
            return None  # not among these runs: the hybrid pre-trains itself
        return tuple(_paths(folder, source)[0] for source in sources)  # type: ignore[return-value]

    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc="runs", unit="run", disable=not progress)
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no forked torch state
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
        # Baselines first: hybrids may start from their checkpoints.
        for phase in ([r for r in todo if r.config.algo != "hybrid"], [r for r in todo if r.config.algo == "hybrid"]):
            futures = {pool.submit(_execute, run, folder, pretrained_for(run)): run for run in phase}
            for future in as_completed(futures):
                try:
                    future.result()
                except Exception as error:
                    pool.shutdown(cancel_futures=True)
                    raise RuntimeError(f"run {futures[future].stem} failed: {error}") from error
                bar.update(1)
    bar.close()
    return read_rows(runs, folder)


def read_rows(runs: Sequence[Run], folder: str | os.PathLike) -> pd.DataFrame:
    """The evaluation rows of runs that already ran, without training anything.

    Adds ``train_steps``: the steps the model itself trained (a hybrid's fine-tuning only),
    beside ``env_steps``, every environment step it used (pre-training included).

    Raises:
        FileNotFoundError: a run has no results in ``folder``, naming it and the notebook
            whose runs are missing.
    """
    folder = Path(folder)
    frames = []
    for run in runs:
        model, rows_path = _paths(folder, run)
        if not _finished(folder, run):
            raise FileNotFoundError(
                f"run {run.stem} has no up-to-date results in {folder}: run the notebook that "
                "trains it first (make reproduce runs them in order)"
            )
        rows = pd.read_csv(rows_path)
        rows["train_steps"] = read_description(model.with_name(model.name + ".json"))["trained"]["timesteps"]
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def baseline_runs(budget: Budget) -> list[Run]:
    """The card's four baselines, ``budget.train_seeds`` seeds each: DQN and PPO on the flat
    observation (SB3's MlpPolicy, the card's form) and on the graph (the card's GCN encoder)."""
    seeds = DEFAULT_EVAL_SEEDS[: budget.eval_episodes]
    runs = []
    for seed in range(budget.train_seeds):
        for algo, policy in (("dqn", "mlp"), ("ppo", "mlp"), ("dqn", "gnn"), ("ppo", "gnn")):
            config = budget.config(algo=algo, policy=policy, seed=seed, total_timesteps=budget.steps(10_000))
            runs.append(Run(f"{algo.upper()}-{policy.upper()}", config, seeds))
    return runs


def n_envs(config: TrainConfig) -> int:
    """How many environments the run trains on (1 for DQN)."""
    return {"dqn": 1, "ppo": config.ppo.n_envs, "hybrid": config.hybrid.n_envs}[config.algo]


def rollout_steps(steps: int, batch: int) -> int:
    """Steps actually taken by a learner that collects whole rollouts of ``batch`` steps."""
    return -(-steps // batch) * batch


ENCODERS = ("gcn", "gat", "sage", "hybrid")
FUSIONS = ("weighted_sum", "attention", "gating")
CARD_VARIANTS = {
    ("gcn", "weighted_sum"): "Hybrid (Best)",
    ("gat", "weighted_sum"): "Hybrid GAT",
    ("gcn", "attention"): "Hybrid Attention",
    ("gcn", "gating"): "Hybrid Gating",
    ("sage", "weighted_sum"): "Hybrid SAGE",
}
"""(encoder, fusion) -> the table label: the card's rows, and gating and GraphSAGE."""


ENCODER_NAMES = {"gcn": "GCN", "gat": "GAT", "sage": "SAGE", "hybrid": "HybridGNN"}


def hybrid_label(encoder: str, fusion: str) -> str:
    """The label of a hybrid variant, e.g. ``Hybrid GAT`` or ``Hybrid HybridGNN gating``. A grid
    cell that is also one of notebook 02's variants has its label, so it is trained once."""
    return CARD_VARIANTS.get((encoder, fusion), f"Hybrid {ENCODER_NAMES[encoder]} {fusion.replace('_', ' ')}")


def _card_hybrid(budget: Budget, seed: int) -> TrainConfig:
    """The card's procedure: pre-train 10,000 steps each, fine-tune 5,000."""
    return budget.config(algo="hybrid", seed=seed, pretrain_steps=budget.steps(10_000),
                       total_timesteps=budget.steps(5_000))


def _variant(card: TrainConfig, encoder: str, fusion: str) -> TrainConfig:
    return replace(card, encoder=EncoderConfig(kind=encoder), hybrid=HybridConfig(fusion=fusion))


def _pretraining(card: TrainConfig, encoder: str, seeds: tuple[int, ...]) -> list[Run]:
    """DQN-GNN and PPO-GNN with ``encoder``: the hybrid's pre-training, and baselines in their own right."""
    from edge_rl.hybrid import pretrain_config

    suffix = "" if encoder == "gcn" else f" ({encoder.upper()})"
    config = _variant(card, encoder, "weighted_sum")
    return [Run(f"{algo.upper()}-GNN{suffix}", pretrain_config(config, algo), seeds) for algo in ("dqn", "ppo")]


def hybrid_runs(budget: Budget) -> list[Run]:
    """The card's hybrid procedure and variants, with the baseline runs they start from.

    Per seed: DQN-GNN and PPO-GNN for each encoder (pre-training, 10,000 steps each), then the
    card's rows, each fine-tuned for 5,000 steps: "Hybrid (Best)" (GCN, weighted sum, best on
    validation seeds), "Hybrid GAT", "Hybrid Attention", plus "Hybrid Gating" and "Hybrid SAGE"
    for a complete ablation. On ``long_seeds`` seeds: "Hybrid (Final)", 20,000 fine-tuning
    steps, last weights; and "Hybrid (scratch)", no pre-training, as many environment steps as
    the card's whole procedure.
    """
    seeds = DEFAULT_EVAL_SEEDS[: budget.eval_episodes]
    runs = []
    for seed in range(budget.train_seeds):
        card = _card_hybrid(budget, seed)
        for encoder in ("gcn", "gat", "sage"):
            runs += _pretraining(card, encoder, seeds)
        runs += [Run(label, _variant(card, *cell), seeds) for cell, label in CARD_VARIANTS.items()]
        if seed < budget.long_seeds:
            hp = card.hybrid
            total = (card.pretrain_steps + rollout_steps(card.pretrain_steps, card.ppo.n_envs * card.ppo.n_steps)
                     + rollout_steps(card.total_timesteps, hp.n_envs * hp.n_steps))
            runs += [
                Run("Hybrid (Final)", replace(card, total_timesteps=budget.steps(20_000),
                                              hybrid=replace(hp, select_best=False)), seeds),
                Run("Hybrid (scratch)", replace(card, pretrain_steps=0, total_timesteps=total), seeds),
            ]
    return runs


def ablation_runs(budget: Budget) -> list[Run]:
    """Every encoder (GCN, GAT, GraphSAGE, hybrid) x every fusion (weighted sum, attention,
    gating), by the card's procedure, ``budget.train_seeds`` seeds each, with their
    pre-training runs. Cells that notebook 02 trained keep its labels and are not retrained."""
    seeds = DEFAULT_EVAL_SEEDS[: budget.eval_episodes]
    runs = []
    for seed in range(budget.train_seeds):
        card = _card_hybrid(budget, seed)
        for encoder in ENCODERS:
            runs += _pretraining(card, encoder, seeds)
            runs += [Run(hybrid_label(encoder, fusion), _variant(card, encoder, fusion), seeds) for fusion in FUSIONS]
    return runs


def card_runs(budget: Budget) -> list[Run]:
    """Every run of notebooks 01 and 02, each once (02's pre-training includes 01's GNN runs)."""
    return list({run.stem: run for run in baseline_runs(budget) + hybrid_runs(budget)}.values())


def rule_rows(folder: str | os.PathLike) -> pd.DataFrame:
    """The fixed rules' test episodes that notebook 00 wrote, shaped like a training run's rows:
    one "seed" (0) and no training steps.

    Raises:
        FileNotFoundError: notebook 00 has not run into ``folder``.
    """
    path = Path(folder) / "tables" / "heuristics_episodes.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebooks/00_environment.ipynb first (make reproduce)")
    rows = pd.read_csv(path)
    rows.insert(1, "train_seed", 0)
    rows["env_steps"] = 0
    rows["train_steps"] = 0
    rows["algo"] = "rule"
    return rows


def learning_curves(runs: Sequence[Run], folder: str | os.PathLike) -> pd.DataFrame:
    """Training episodes of ``runs`` as ``policy, seed, step, return``.

    ``step`` counts every environment step the model has used, pre-training included: a
    fine-tuned hybrid's curve starts where its pre-training ended, so it lines up with a hybrid
    trained from scratch.
    """
    from edge_rl.report import training_curve

    frames = []
    for run in runs:
        rows = read_rows([run], folder)
        offset = int(rows["env_steps"].iloc[0] - rows["train_steps"].iloc[0])
        curve = training_curve(log_dir(folder, run), n_envs(run.config))
        frames.append(curve.assign(step=curve["step"] + offset, policy=run.label, seed=run.config.seed))
    return pd.concat(frames, ignore_index=True)[["policy", "seed", "step", "return"]]
