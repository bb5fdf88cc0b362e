"""Why a graph policy fails or works: the encoder-design comparison, how alike its node
embeddings become layer by layer (over-smoothing), and what a policy does with its choices.

- :func:`design_table`: the encoder designs' validation returns (notebook 04 chooses the
  default design from it, never from test seeds).
- :func:`layer_distances`: the mean average distance (MAD, Chen et al., "Measuring and
  Relieving the Over-smoothing Problem for Graph Neural Networks", AAAI 2020) between the
  embeddings of different nodes of a state, after each layer: 0 when every node has the same
  embedding direction, so that no head can tell them apart.
- :func:`choices`: where a trained policy puts the tasks and how sure it is.
- :func:`one_step` and :func:`reward_parts`: a step in the card's units, and what a return is
  made of, term by term (notebook 00).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from edge_rl.agents import Agent
from edge_rl.config import NODE_FEATURES, NODE_TYPES, EnvConfig
from edge_rl.envs.observation import BANDWIDTH_SCALE_MBPS, ENERGY_SCALE_J, LATENCY_SCALE_MS
from edge_rl.evaluation import make_vector_env
from edge_rl.nn.encoders import GraphEncoder, node_inputs
from edge_rl.stats import iqm_interval, run_scores


def design_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Validation return of each encoder design, per layer kind and algorithm.

    Args:
        rows: validation rows of :func:`edge_rl.experiments.plan.suites.design_runs` (read with
            ``read_rows(..., split="validation")``); their ``algo`` column is the config name
            (``dqn-gnn-gat-root``, ``hybrid-gcn-jk-weighted_sum``).

    Returns:
        One row per design: the IQM over seeds of the mean validation return in every
        (algorithm, layer kind) cell, and their mean (``mean over cells``), best design first.
    """
    scores = run_scores(rows)
    names = rows.groupby("policy", sort=False)["algo"].first()
    records = []
    for policy, group in scores.groupby("policy", sort=False):
        _, algo, kind, design = _design_of(policy)
        values = group["return"].to_numpy()
        records.append({"design": design, "cell": f"{algo} {kind}", "IQM": iqm_interval(values).estimate
                        if values.size >= 2 else float(values.mean()), "config": names[policy]})
    frame = pd.DataFrame(records)
    table = frame.pivot(index="design", columns="cell", values="IQM")
    table = table[[c for c in dict.fromkeys(frame["cell"])]]
    table.insert(0, "mean over cells", table.mean(axis=1))
    return table.sort_values("mean over cells", ascending=False)


def _design_of(label: str) -> tuple[str, str, str, str]:
    """``Design DQN-GNN GAT root`` -> (``Design``, ``DQN-GNN``, ``GAT``, ``root``)."""
    prefix, algo, kind, design = label.split(" ")
    return prefix, algo, kind, design


def encoder_of(agent: Agent) -> GraphEncoder:
    """The graph encoder of a trained graph policy (DQN-GNN, PPO-GNN or the hybrid)."""
    network = agent.network
    for path in ("encoder", "q_net.features_extractor.encoder", "features_extractor.encoder"):
        module = network
        try:
            for name in path.split("."):
                module = getattr(module, name)
        except AttributeError:
            continue
        if isinstance(module, GraphEncoder):
            return module
    raise ValueError(f"{agent.name} has no graph encoder (an MLP policy?)")


def _states(agent: Agent, seeds: Sequence[int], steps: int) -> dict[str, torch.Tensor]:
    """The observations of ``agent``'s own greedy episodes, their first ``steps`` steps."""
    envs = make_vector_env(agent.config.env, len(seeds))
    obs, _ = envs.reset(seed=list(seeds))
    seen = []
    for _ in range(steps):
        seen.append(obs)
        obs, *_ = envs.step(agent.predict(obs)[0])
    return {k: torch.as_tensor(np.concatenate([o[k] for o in seen])) for k in seen[0]}


def _mad(embeddings: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean cosine distance between the embeddings of different real nodes, over states."""
    normed = torch.nn.functional.normalize(embeddings, dim=-1)
    cosine = normed @ normed.transpose(1, 2)  # (B, N, N)
    pairs = mask.unsqueeze(-1) * mask.unsqueeze(-2) * (1 - torch.eye(mask.shape[-1]))
    return float(((1 - cosine) * pairs).sum() / pairs.sum())


@torch.inference_mode()
def layer_distances(agent: Agent, seeds: Sequence[int] = tuple(range(20_100, 20_110)), steps: int = 20
                    ) -> pd.DataFrame:
    """MAD between node embeddings at the encoder's input and after each graph layer (its
    first stack), over the states of ``agent``'s own greedy episodes on validation seeds."""
    encoder = encoder_of(agent)
    obs = _states(agent, seeds, steps)
    x, adj, mask = node_inputs(obs), obs["adjacency"], obs["node_mask"]
    loops = torch.maximum(adj, torch.eye(adj.shape[-1]))
    stack = encoder.stacks[0]
    outputs = stack(x, adj, loops, every_layer=True)
    labels = ["input"] + [f"layer {i + 1}" for i in range(len(stack.convs))] + (["jumping knowledge"]
                                                                                  if stack.jump is not None else [])
    return pd.DataFrame({"layer": labels, "MAD": [_mad(x, mask)] + [_mad(h, mask) for h in outputs]})


@torch.inference_mode()
def choices(agent: Agent, seeds: Sequence[int] = tuple(range(20_100, 20_110))) -> dict[str, float]:
    """Where a trained policy puts the tasks of its greedy episodes on validation seeds, and how
    sure it is: the share of tasks on sensors, on the task's own sensor, on fog nodes and on
    the cloud; the node most often chosen and its share; for policies with a distribution, its
    mean entropy as a fraction of the uniform distribution's and its mean largest probability."""
    envs = make_vector_env(agent.config.env, len(seeds))
    obs, _ = envs.reset(seed=list(seeds))
    node_type, at_source, nodes, entropy, top = [], [], [], [], []
    for _ in range(envs.max_episode_steps):
        scores = agent.node_scores(obs)
        action = scores[agent.greedy_output].argmax(axis=-1)
        rows = np.arange(len(action))
        node_type.append(obs["nodes"][rows, action, 6])
        at_source.append(obs["nodes"][rows, action, 3] == 0.0)  # zero latency: the task's own sensor
        nodes.append(action)
        if "probabilities" in scores:
            p = scores["probabilities"]
            real = obs["node_mask"].sum(axis=-1)
            entropy.append(-(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=-1) / np.log(real))
            top.append(p.max(axis=-1))
        obs, *_ = envs.step(action)
    node_type, nodes = np.concatenate(node_type), np.concatenate(nodes)
    counts = np.bincount(nodes)
    result = {"on sensors": float((node_type == 0).mean()), "on its own sensor": float(np.concatenate(at_source).mean()),
              "on fog": float((node_type == 1).mean()), "on the cloud": float((node_type == 2).mean()),
              "most chosen node": int(counts.argmax()), "its share": float(counts.max() / counts.sum())}
    if entropy:
        result["entropy / uniform"] = float(np.concatenate(entropy).mean())
        result["largest probability"] = float(np.concatenate(top).mean())
    return result


# ---------------------------------------------------------------------- one step, in the card's units

SCALES = {"energy": ENERGY_SCALE_J, "latency": LATENCY_SCALE_MS, "bandwidth": BANDWIDTH_SCALE_MBPS}
"""Observation column -> its unit's scale (the observation holds raw / scale)."""


def observation_table(obs: dict[str, np.ndarray]) -> pd.DataFrame:
    """One observation's nodes in the card's units (J, ms, Mbit/s; values the observation clips
    stay at their cap), one row per real node."""
    real = obs["node_mask"] > 0.5
    table = pd.DataFrame(obs["nodes"][real].astype(np.float64), columns=list(NODE_FEATURES))
    for column, scale in SCALES.items():
        table[column] *= scale
    table["node_type"] = [NODE_TYPES[int(t)] for t in table["node_type"]]
    table = table.rename(columns={"energy": "energy (J)", "latency": "latency (ms)", "bandwidth": "bandwidth (Mbit/s)",
                                  "queue_len": "queue (steps)"})
    return table.rename_axis("node")


def reward_terms(info: dict[str, np.ndarray], rewards: np.ndarray, config: EnvConfig) -> pd.DataFrame:
    """A step's reward split into the docstring's four terms, one row per episode: the
    deadline bonus, the latency and energy penalties and the balance bonus (energy: the reward
    less the other three, which the step's ``info`` gives exactly)."""
    deadline = config.w_deadline * np.asarray(info["deadline_met"], dtype=float)
    latency = -config.w_latency * np.minimum(np.asarray(info["latency_ms"]) / np.asarray(info["deadline_ms"]),
                                             config.latency_cap)
    balance = config.w_balance * np.asarray(info["load_balance"])
    energy = np.asarray(rewards) - deadline - latency - balance
    return pd.DataFrame({"deadline met": deadline, "latency": latency, "energy": energy, "load balance": balance,
                         "reward": rewards})


def one_step(policy: Any, seed: int = 10_000, config: EnvConfig | None = None
             ) -> tuple[pd.DataFrame, pd.Series, int, pd.Series]:
    """The first step of the episode ``seed``: the nodes as the policy sees them (in the card's
    units), the task, the node the policy chooses, and the reward's terms."""
    config = config if config is not None else EnvConfig()
    envs = make_vector_env(config, 1)
    obs, _ = envs.reset(seed=[seed])
    if hasattr(policy, "reset"):
        policy.reset([seed])
    nodes = observation_table({k: v[0] for k, v in obs.items()})
    task = pd.Series(obs["task"][0].astype(np.float64) * [config.demand_mi[1], config.input_kb[1],
                                                           config.memory_mb[1], config.deadline_ms[1]],
                     index=["demand (MI)", "input (KB)", "memory (MB)", "deadline (ms)"], name="task")
    action, _ = policy.predict(obs, deterministic=True)
    _, rewards, _, _, info = envs.step(np.asarray(action).reshape(-1))
    return nodes, task, int(np.asarray(action).reshape(-1)[0]), reward_terms(info, rewards, config).iloc[0]


def reward_parts(policies: dict[str, Any], seeds: Sequence[int], config: EnvConfig | None = None) -> pd.DataFrame:
    """Each policy's mean reward per task over its episodes, split into the four terms (one row
    per policy): what a return (100 tasks) is made of."""
    config = config if config is not None else EnvConfig()
    records = {}
    for name, policy in policies.items():
        envs = make_vector_env(config, len(seeds))
        if hasattr(policy, "reset"):
            policy.reset(list(seeds))
        obs, _ = envs.reset(seed=list(seeds))
        state, start, parts = None, np.ones(len(seeds), dtype=bool), []
        for _ in range(envs.max_episode_steps):
            action, state = policy.predict(obs, state=state, episode_start=start, deterministic=True)
            start = np.zeros(len(seeds), dtype=bool)
            obs, rewards, _, _, info = envs.step(np.asarray(action).reshape(-1))
            parts.append(reward_terms(info, rewards, config))
        records[name] = pd.concat(parts).mean()
    return pd.DataFrame(records).T.rename_axis("policy")
