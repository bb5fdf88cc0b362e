"""One evaluation function for every policy, :func:`evaluate`; every table of the project comes
from its tidy rows, one row per episode. The episodes of a call run side by side, in the
vectorised environment (:mod:`edge_rl.envs.vector`), with one policy call per step for all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import pandas as pd

from edge_rl import ENV_ID
from edge_rl.config import EnvConfig
from edge_rl.envs.vector import IoTEdgeVectorEnv

DEFAULT_EVAL_SEEDS = tuple(range(10_000, 10_100))
"""100 test episodes, the ones every table reports. Training seeds are small integers (SB3 seeds
its environments with ``seed + i``), so these never replay an episode an agent was trained on."""

VALIDATION_SEEDS_START = 20_000
"""Validation episodes inside training (choosing the hybrid's best checkpoint) use seeds 20000,
20001, ...: apart from training seeds and from the test seeds of :data:`DEFAULT_EVAL_SEEDS`."""

SELECTION_SEEDS = tuple(range(20_100, 20_200))
"""Validation episodes that choose between trained models (an encoder design, the checkpoint the
API serves): apart from the test seeds, and from the checkpoint selection inside training
(20000 to 20099 at most)."""

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
    """Anything with SB3's ``predict`` on a batch of observations: heuristics, SB3 models, our
    agents. ``state`` and ``episode_start`` are per episode (round robin keeps its turn in it).
    A policy with ``reset(seeds)`` is reset before the episodes with their seeds, one per
    episode, so that a stochastic rule draws the same numbers whatever else runs beside it."""

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
    """Run one episode per seed, all side by side, and return one tidy row per episode.

    The episodes step together in :class:`~edge_rl.envs.vector.IoTEdgeVectorEnv`: one
    ``policy.predict`` per step for the batch of all of them (one forward pass of a network,
    one vectorised call of a rule). Each episode is exactly the one ``IoTEdgeEnv`` gives on its
    seed; a network's batched forward pass may round differently from a pass on one
    observation, so a near-tie between two nodes can go the other way than one at a time.

    Args:
        policy: anything with ``predict(obs, state, episode_start, deterministic)`` on a batch.
            If it has ``reset(seeds)`` (the heuristics do), it is called with the episodes'
            seeds first. A bound (``privileged``, :mod:`edge_rl.envs.oracles`) acts on the
            environment itself, ``act(envs)``, not on observations.
        seeds: the episodes' ``reset`` seeds; distinct non-negative integers. Keep them apart
            from training seeds.
        config: the environment; the card's network by default.
        name: the ``policy`` column; the policy's ``name`` attribute or class name by default.
        flat: give the policy the flattened observations ``(episodes, D)``, as Gymnasium's
            ``FlattenObservation`` writes them (the card's MLP baselines, as SB3 runs them).

    Returns:
        A DataFrame with columns :data:`COLUMNS`: the undiscounted return, the fraction of tasks
        that met their deadline, the mean and 95th-percentile latency (ms), the energy per task
        (J), the mean load-balance term, the fraction of tasks dropped for lack of memory, and
        the episode length.
    """
    seeds = _check_seeds(seeds)
    name = name or getattr(policy, "name", None) or type(policy).__name__
    envs = make_vector_env(config, len(seeds))
    keys = list(envs.single_observation_space.spaces)
    if hasattr(policy, "reset"):
        policy.reset(seeds)
    obs, _ = envs.reset(seed=seeds)
    state, start = None, np.ones(len(seeds), dtype=bool)
    running = np.ones(len(seeds), dtype=bool)
    steps: list[tuple[np.ndarray, ...]] = []  # per step: who was running, and what it measured
    while running.any():
        if getattr(policy, "privileged", False):  # a bound (edge_rl.envs.oracles): it reads the simulator
            actions = policy.act(envs)
        else:
            observation = np.concatenate([obs[k].reshape(len(seeds), -1) for k in keys], axis=1) if flat else obs
            actions, state = policy.predict(observation, state=state, episode_start=start, deterministic=True)
        start = np.zeros(len(seeds), dtype=bool)
        obs, rewards, terminated, truncated, info = envs.step(np.asarray(actions).reshape(-1))
        steps.append((running.copy(), rewards, info["latency_ms"], info["energy_j"], info["deadline_met"],
                      info["load_balance"], info["dropped"]))
        running &= ~(terminated | truncated)  # an episode that ended is not stepped again (autoreset)
    envs.close()
    ran = np.stack([step[0] for step in steps], axis=1)  # (episodes, steps)
    measured = [np.stack([step[i] for step in steps], axis=1) for i in range(1, 7)]
    rows = []
    for episode, seed in enumerate(seeds):
        rewards, latency, energy, met, balance, dropped = (values[episode, ran[episode]] for values in measured)
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
                "steps": int(ran[episode].sum()),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def episode_returns(policy: Policy, seeds: Sequence[int], config: EnvConfig | None = None) -> np.ndarray:
    """The undiscounted return of one greedy episode per seed (a validation score during
    training): :func:`evaluate`'s ``return`` column."""
    return evaluate(policy, seeds, config)["return"].to_numpy()


def make_vector_env(config: EnvConfig | None, num_envs: int) -> IoTEdgeVectorEnv:
    """``gymnasium.make_vec("edge_rl/IoTEdge-v0", num_envs)``: the episodes side by side, with the
    100-step limit of the registration."""
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", config=config)


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
