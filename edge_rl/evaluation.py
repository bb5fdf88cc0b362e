"""One evaluation function for every policy, :func:`evaluate`; every table of the project comes
from its tidy rows, one row per episode. (:func:`episode_returns` is a cheaper score for
validation during training.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from edge_rl.config import EnvConfig
from edge_rl.envs import make_env

DEFAULT_EVAL_SEEDS = tuple(range(10_000, 10_100))
"""100 test episodes, the ones every table reports. Training seeds are small integers (SB3 seeds
its environments with ``seed + i``), so these never replay an episode an agent was trained on."""

VALIDATION_SEEDS_START = 20_000
"""Validation episodes (choosing a checkpoint, a hyperparameter) use seeds 20000, 20001, ...:
apart from training seeds and from the test seeds of :data:`DEFAULT_EVAL_SEEDS`."""

COLUMNS = (
    "policy",
    "seed",
    "episode",
    "return",
    "deadline_success",
    "latency_mean_ms",
    "latency_p95_ms",
    "energy_per_task_j",
    "load_balance",
    "dropped",
    "steps",
)


class Policy(Protocol):
    """Anything with SB3's ``predict``: heuristics, SB3 models, our hybrid agent."""

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]: ...


def evaluate(
    policy: Policy,
    seeds: Sequence[int],
    config: EnvConfig | None = None,
    *,
    name: str | None = None,
    flat: bool = False,
) -> pd.DataFrame:
    """Run one episode per seed and return one tidy row per episode.

    Args:
        policy: anything with ``predict(obs, state, episode_start, deterministic)``. If it has
            ``reset(seed)`` (the heuristics do), it is called with each episode's seed so that a
            stochastic rule gives the same numbers whatever order episodes run in.
        seeds: the episodes' ``reset`` seeds; distinct non-negative integers. Keep them apart
            from training seeds.
        config: the environment; the card's network by default.
        name: the ``policy`` column; the policy's ``name`` attribute or class name by default.
        flat: give the policy the flattened observation (the card's MLP baselines).

    Returns:
        A DataFrame with columns :data:`COLUMNS`: the undiscounted return, the fraction of tasks
        that met their deadline, the mean and 95th-percentile latency (ms), the energy per task
        (J), the mean load-balance term, the fraction of tasks dropped for lack of memory, and
        the episode length.
    """
    seeds = _check_seeds(seeds)
    name = name or getattr(policy, "name", None) or type(policy).__name__
    env = make_env(config, flat=flat)
    rows = []
    for episode, seed in enumerate(seeds):
        if hasattr(policy, "reset"):
            policy.reset(seed)
        obs, _ = env.reset(seed=seed)
        state, start = None, np.ones(1, dtype=bool)
        rewards, latency, energy, met, balance, dropped = [], [], [], [], [], []
        done = False
        while not done:
            action, state = policy.predict(obs, state=state, episode_start=start, deterministic=True)
            start = np.zeros(1, dtype=bool)
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            rewards.append(reward)
            latency.append(info["latency_ms"])
            energy.append(info["energy_j"])
            met.append(info["deadline_met"])
            balance.append(info["load_balance"])
            dropped.append(info["dropped"])
        rows.append(
            {
                "policy": name,
                "seed": seed,
                "episode": episode,
                "return": float(np.sum(rewards)),
                "deadline_success": float(np.mean(met)),
                "latency_mean_ms": float(np.mean(latency)),
                "latency_p95_ms": float(np.percentile(latency, 95)),
                "energy_per_task_j": float(np.mean(energy)),
                "load_balance": float(np.mean(balance)),
                "dropped": float(np.mean(dropped)),
                "steps": len(rewards),
            }
        )
    env.close()
    return pd.DataFrame(rows, columns=list(COLUMNS))


def episode_returns(policy: Policy, seeds: Sequence[int], config: EnvConfig | None = None) -> np.ndarray:
    """The undiscounted return of one greedy episode per seed, the episodes run side by side.

    ``policy.predict`` is called once per step on the batch of the episodes still running: one
    forward pass per step for all of them, which is what makes this cheaper than
    :func:`evaluate` for a validation score during training (tables use :func:`evaluate`).

    Only for stateless batch policies without per-episode ``reset``, such as the trained
    agents: a rule that keeps ``state`` between steps (round robin) or reseeds itself for each
    episode (random) would be run wrongly side by side, so it is refused; use :func:`evaluate`.
    A network's batched forward pass may round differently from single ones, so a near-tie
    between two nodes can go the other way than in :func:`evaluate`.
    """
    seeds = _check_seeds(seeds)
    name = getattr(policy, "name", None) or type(policy).__name__
    if hasattr(policy, "reset"):
        raise ValueError(f"episode_returns cannot reset {name} for each episode side by side; use evaluate")
    envs = [make_env(config) for _ in seeds]
    observations = [env.reset(seed=seed)[0] for env, seed in zip(envs, seeds)]
    returns = np.zeros(len(seeds))
    running = list(range(len(seeds)))
    while running:
        batch = {k: np.stack([observations[i][k] for i in running]) for k in observations[0]}
        actions, state = policy.predict(batch, deterministic=True)
        if state is not None:
            raise ValueError(f"{name} keeps state between steps; episode_returns runs stateless policies, use evaluate")
        still_running = []
        for i, action in zip(running, actions):
            observations[i], reward, terminated, truncated, _ = envs[i].step(action)
            returns[i] += reward
            if not (terminated or truncated):
                still_running.append(i)
        running = still_running
    for env in envs:
        env.close()
    return returns


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one episode seed")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seeds must be non-negative integers, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct: a repeated seed replays the same episode")
    return [int(s) for s in seeds]
