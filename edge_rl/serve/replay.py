"""Episode replay: several policies on the same seeded episode, step by step.

:func:`edge_rl.evaluation.evaluate` keeps one row per episode; :func:`replay` keeps one row per
step, to show how returns, latency, energy and queues evolve (the dashboard's replay page).
Each policy acts exactly as in ``evaluate`` (deterministic, ``reset(seed)`` called first), so
the last cumulative return of a policy equals its ``evaluate`` return on that seed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from edge_rl.config import NODE_FEATURES, NODE_TYPES, EnvConfig
from edge_rl.envs import make_env
from edge_rl.evaluation import Policy

QUEUE_LEN = NODE_FEATURES.index("queue_len")
NODE_TYPE = NODE_FEATURES.index("node_type")

COLUMNS = (
    "policy",
    "step",
    "node",
    "node_type",
    "reward",
    "return",
    "latency_ms",
    "energy_j",
    "deadline_met",
    "dropped",
    *(f"queue_{name}" for name in NODE_TYPES),
)
"""``return`` is cumulative; ``queue_<type>`` is the mean ``queue_len`` (steps of compute,
clipped at 20 as the policies see it) over the nodes of that type after the step."""


def replay(policies: Mapping[str, Policy], seed: int, config: EnvConfig | None = None,
           steps: int | None = None) -> pd.DataFrame:
    """Run each policy on the episode ``reset(seed)`` gives; one row per policy and step.

    Args:
        policies: name -> anything with SB3's ``predict`` (agents, heuristics).
        seed: the episode's seed; every policy sees the same first state and the same arrivals.
        config: the environment (the card's network by default).
        steps: stop after this many steps (default: the whole 100-step episode).
    """
    if not policies:
        raise ValueError("replay needs at least one policy")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1 or None, got {steps}")
    rows = []
    env = make_env(config)
    for name, policy in policies.items():
        if hasattr(policy, "reset"):
            policy.reset(seed)
        obs, _ = env.reset(seed=seed)
        node_type = obs["nodes"][:, NODE_TYPE][obs["node_mask"] > 0.5].round().astype(int)
        state, start, total, step, done = None, np.ones(1, dtype=bool), 0.0, 0, False
        while not done and (steps is None or step < steps):
            action, state = policy.predict(obs, state=state, episode_start=start, deterministic=True)
            start = np.zeros(1, dtype=bool)
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            total += float(reward)
            queues = obs["nodes"][: node_type.size, QUEUE_LEN]
            rows.append({
                "policy": name,
                "step": step,
                "node": info["node"],
                "node_type": NODE_TYPES[info["node_type"]],
                "reward": float(reward),
                "return": total,
                "latency_ms": info["latency_ms"],
                "energy_j": info["energy_j"],
                "deadline_met": info["deadline_met"],
                "dropped": info["dropped"],
                **{f"queue_{t}": float(queues[node_type == i].mean()) if (node_type == i).any() else np.nan
                   for i, t in enumerate(NODE_TYPES)},
            })
            step += 1
    env.close()
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per policy: the return, deadline success, mean latency and energy per task."""
    grouped = frame.groupby("policy", sort=False)
    return pd.DataFrame({
        "return": grouped["reward"].sum(),
        "deadline success": grouped["deadline_met"].mean(),
        "mean latency (ms)": grouped["latency_ms"].mean(),
        "energy / task (J)": grouped["energy_j"].mean(),
        "dropped": grouped["dropped"].mean(),
        "steps": grouped.size(),
    }).sort_values("return", ascending=False)
