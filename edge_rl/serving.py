"""Serving the trained models: the card's request -> the environment's observation -> a decision.

Pure logic, no web framework: :mod:`edge_rl.api` (FastAPI) and :mod:`edge_rl.dashboard`
(Streamlit) both call it.

- :func:`to_observation` turns a validated :class:`~edge_rl.schemas.NetworkState` (raw units)
  into exactly the observation ``edge_rl/IoTEdge-v0`` gives a policy; :func:`network_state_from_env`
  goes the other way, from a running environment's raw quantities.
- :data:`MODEL_SPECS` names every policy the server runs: the committed checkpoints in
  ``results/models/`` (graph policies, so any topology size) and the fixed rules.
- :class:`Predictor` loads them once and answers a batch of observations per call.
- :func:`model_performance` reads each policy's measured results from ``results/tables/``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edge_rl.agent import Agent, load
from edge_rl.checkpoint import CheckpointError
from edge_rl.config import NODE_FEATURES, TASK_FEATURES, EnvConfig
from edge_rl.env import (
    BANDWIDTH_SCALE_MBPS,
    ENERGY_CAP,
    ENERGY_SCALE_J,
    LATENCY_CAP,
    LATENCY_SCALE_MS,
    QUEUE_CAP_STEPS,
    IoTEdgeEnv,
)
from edge_rl.heuristics import (
    HEURISTICS,
    HeuristicPolicy,
    RoundRobinPolicy,
    make_heuristic,
)
from edge_rl.schemas import MODEL_TYPES, NetworkState, NodeState, TaskSpec

Observation = dict[str, np.ndarray]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEED = 0
"""The training seed whose checkpoint is served for every learned model: fixed in advance, not
picked by test results (picking the best of 10 seeds on the test episodes would overstate what
a fresh training run gives). ``GET /models`` shows both the variant's row over all seeds and
this checkpoint's own test episodes."""

_TASK_FIELDS = ("demand_mi", "input_kb", "memory_mb", "deadline_ms")  # TaskSpec's, in TASK_FEATURES' order
assert len(_TASK_FIELDS) == len(TASK_FEATURES)
_CONFIG = EnvConfig()
_TASK_HIGH = np.array(
    [_CONFIG.demand_mi[1], _CONFIG.input_kb[1], _CONFIG.memory_mb[1], _CONFIG.deadline_ms[1]], dtype=np.float32
)
_TASK_LOW = np.array([_CONFIG.demand_mi[0], _CONFIG.input_kb[0], _CONFIG.memory_mb[0], _CONFIG.deadline_ms[0]])


def results_dir() -> Path:
    """``$EDGE_RL_RESULTS_DIR``, else the repository's ``results/``."""
    return Path(os.environ.get("EDGE_RL_RESULTS_DIR") or ROOT / "results")


def models_dir() -> Path:
    """``$EDGE_RL_MODELS_DIR``, else ``<results>/models`` (the checkpoints ``make reproduce`` commits)."""
    return Path(os.environ.get("EDGE_RL_MODELS_DIR") or results_dir() / "models")


# ---------------------------------------------------------------------- conversions


def to_observation(state: NetworkState, task: TaskSpec | None = None) -> Observation:
    """The observation ``edge_rl/IoTEdge-v0`` would give for this network and task.

    The same arithmetic as :meth:`IoTEdgeEnv._observation`, in the same order and precision
    (float64, then float32), so a state read off the environment converts back bit for bit:
    energy / 10 J, latency / 100 ms, bandwidth / 200 Mbit/s, each clipped at its cap; the
    adjacency is symmetric with a zero diagonal; the task is divided by the upper bounds of
    the training distribution. No padding: ``node_mask`` is all ones.
    """
    task = task if task is not None else TaskSpec()
    raw = np.array(
        [(n.cpu_util, n.mem_util, n.energy, n.latency, n.bandwidth, n.queue_len, n.node_type) for n in state.nodes],
        dtype=np.float64,
    )
    n = raw.shape[0]
    nodes = np.empty((n, len(NODE_FEATURES)), dtype=np.float32)
    nodes[:, 0] = raw[:, 0]
    nodes[:, 1] = raw[:, 1]
    nodes[:, 2] = np.minimum(raw[:, 2] * (1.0 / ENERGY_SCALE_J), ENERGY_CAP)
    nodes[:, 3] = np.minimum(raw[:, 3] * (1.0 / LATENCY_SCALE_MS), LATENCY_CAP)
    nodes[:, 4] = np.minimum(raw[:, 4] / BANDWIDTH_SCALE_MBPS, 1.0)
    nodes[:, 5] = np.minimum(raw[:, 5], QUEUE_CAP_STEPS)
    nodes[:, 6] = raw[:, 6]
    adjacency = np.zeros((n, n), dtype=np.float32)
    if state.edges:
        edges = np.asarray(state.edges, dtype=np.intp)
        adjacency[edges[:, 0], edges[:, 1]] = 1.0
        adjacency[edges[:, 1], edges[:, 0]] = 1.0
    raw_task = (task.demand_mi, task.input_kb, task.memory_mb, task.deadline_ms)
    return {
        "nodes": nodes,
        "adjacency": adjacency,
        "node_mask": np.ones(n, dtype=np.float32),
        "task": np.minimum(np.array(raw_task, dtype=np.float32) / _TASK_HIGH, 1.0),
    }


def network_state_from_env(env: Any) -> tuple[NetworkState, TaskSpec]:
    """The current state of a running environment in the card's raw units, with its task.

    Reads the simulator's raw quantities (not the clipped observation), so that
    ``to_observation(*network_state_from_env(env))`` equals the environment's observation
    exactly. At the task's source the bandwidth is infinite (nothing is transferred); it is
    given as 200 Mbit/s, which the observation reads as 1 as well.
    """
    env = env.unwrapped if hasattr(env, "unwrapped") else env
    if not isinstance(env, IoTEdgeEnv) or env._task is None:
        raise ValueError("network_state_from_env needs an IoTEdgeEnv after reset()")
    source = env._task["source"]
    bandwidth = np.minimum(env._bandwidth[source], BANDWIDTH_SCALE_MBPS)
    columns = (
        env._busy,
        np.minimum(env._mem_used_mb / env._memory_mb, 1.0),
        env._energy_j,
        env._net_latency_ms,
        bandwidth,
        env._backlog_mi / env._step_mi,
        env.topology.node_type,
    )
    nodes = [NodeState(**dict(zip(NODE_FEATURES, map(_plain, row)))) for row in zip(*columns)]
    state = NetworkState(nodes=nodes, edges=env.topology.edges)
    # A log-uniform draw may land one rounding step past its upper bound; the observation
    # clips it to 1 there, and so does the bound here.
    raw = np.clip([env._task[k] for k in ("demand_mi", "input_kb", "memory_mb", "deadline_ms")], _TASK_LOW, _TASK_HIGH)
    return state, TaskSpec(**dict(zip(_TASK_FIELDS, raw.tolist())))


def network_state_from_observation(obs: Observation) -> tuple[NetworkState, TaskSpec]:
    """The card's raw units read back from an observation (inverse scaling; values the
    observation clipped stay at their cap). For a state as the environment has it, use
    :func:`network_state_from_env`."""
    mask = np.asarray(obs["node_mask"]) > 0.5
    nodes = np.asarray(obs["nodes"], dtype=np.float64)[mask]
    scale = np.array([1.0, 1.0, ENERGY_SCALE_J, LATENCY_SCALE_MS, BANDWIDTH_SCALE_MBPS, 1.0, 1.0])
    rows = nodes * scale
    rows[:, 4] = np.maximum(rows[:, 4], np.finfo(np.float32).tiny)  # bandwidth must be > 0
    states = [NodeState(**dict(zip(NODE_FEATURES, map(_plain, row)))) for row in rows]
    index = np.flatnonzero(mask)
    adjacency = np.asarray(obs["adjacency"])[np.ix_(index, index)]
    edges = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(adjacency, k=1)))]
    raw = np.clip(np.asarray(obs["task"], dtype=np.float64) * _TASK_HIGH, _TASK_LOW, _TASK_HIGH)
    return NetworkState(nodes=states, edges=edges), TaskSpec(**dict(zip(_TASK_FIELDS, raw.tolist())))


def _plain(value: Any) -> float | int:
    return int(value) if isinstance(value, (np.integer, int)) else float(value)


def stack_observations(observations: Sequence[Observation]) -> Observation:
    """One batch from observations of possibly different sizes, padded as the environment pads
    (zero rows, ``node_mask`` 0): the graph policies ignore padded nodes exactly."""
    if len(observations) == 1:
        return {k: v[None] for k, v in observations[0].items()}
    size = max(o["nodes"].shape[0] for o in observations)
    batch = len(observations)
    nodes = np.zeros((batch, size, len(NODE_FEATURES)), dtype=np.float32)
    adjacency = np.zeros((batch, size, size), dtype=np.float32)
    mask = np.zeros((batch, size), dtype=np.float32)
    for i, o in enumerate(observations):
        n = o["nodes"].shape[0]
        nodes[i, :n], adjacency[i, :n, :n], mask[i, :n] = o["nodes"], o["adjacency"], o["node_mask"]
    task = np.stack([o["task"] for o in observations])
    return {"nodes": nodes, "adjacency": adjacency, "node_mask": mask, "task": task}


# ---------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class ModelSpec:
    """A policy the server offers.

    Attributes:
        model_type: the name clients use.
        description: one line for ``GET /models``.
        checkpoint: a learned model's checkpoint stem without its seed (``hybrid-best``).
        rule: a fixed rule's name in :data:`edge_rl.heuristics.HEURISTICS`.
        table, row: where its measured performance is: ``results/tables/<table>``, row ``policy == row``.
    """

    model_type: str
    description: str
    table: str
    row: str
    checkpoint: str | None = None
    rule: str | None = None

    @property
    def kind(self) -> str:
        return "learned" if self.checkpoint else "rule"

    def stem(self, seed: int = DEFAULT_SEED) -> str | None:
        return f"{self.checkpoint}-seed{seed}" if self.checkpoint else None


_RULE_DESCRIPTIONS = {
    "random": "A node drawn uniformly among the real nodes.",
    "round_robin": "The fog and cloud nodes in turn; the turn carries over from request to request.",
    "least_loaded": "The fog or cloud node with the shortest queue.",
    "nearest": "The fog or cloud node with the lowest latency from the task's source.",
    "all_cloud": "Always the cloud (the nearest one if several).",
    "greedy_earliest_finish": "The node where the task would finish first, by the environment's latency model.",
}

MODEL_SPECS: dict[str, ModelSpec] = {
    spec.model_type: spec
    for spec in (
        ModelSpec("hybrid", "The card's hybrid DQN-PPO: GCN encoder, fused 0.6 Q + 0.4 policy logits, "
                  "best weights on validation seeds.", "hybrid.csv", "Hybrid (Best)", checkpoint="hybrid-best"),
        ModelSpec("hybrid_gat", "The hybrid with a GAT encoder.", "hybrid.csv", "Hybrid GAT", checkpoint="hybrid-gat"),
        ModelSpec("hybrid_attention", "The hybrid with attention fusion (per-state weights of Q and policy).",
                  "hybrid.csv", "Hybrid Attention", checkpoint="hybrid-attention"),
        ModelSpec("hybrid_gating", "The hybrid with gating fusion (a learned per-node gate).",
                  "hybrid.csv", "Hybrid Gating", checkpoint="hybrid-gating"),
        ModelSpec("hybrid_sage", "The hybrid with a GraphSAGE encoder.", "hybrid.csv", "Hybrid SAGE",
                  checkpoint="hybrid-sage"),
        ModelSpec("dqn", "DQN with the GCN graph encoder (SB3), the card's 10,000 steps.", "baselines.csv",
                  "DQN-GNN", checkpoint="dqn-gnn"),
        ModelSpec("ppo", "PPO with the GCN graph encoder (SB3), the card's 10,000 steps.", "baselines.csv",
                  "PPO-GNN", checkpoint="ppo-gnn"),
        *(ModelSpec(name, _RULE_DESCRIPTIONS[name], "heuristics.csv", name, rule=name) for name in HEURISTICS),
    )
}
"""Every ``model_type``: the learned models are graph policies (any topology size); the MLP
baselines are not served, their input is fixed at the card's 17 nodes."""
assert tuple(MODEL_SPECS) == MODEL_TYPES, "edge_rl.schemas.MODEL_TYPES must list MODEL_SPECS, in order"


# ---------------------------------------------------------------------- decisions


class UnknownModelError(KeyError):
    """A ``model_type`` that is not in :data:`MODEL_SPECS`."""

    def __init__(self, model_type: str) -> None:
        super().__init__(model_type)
        self.model_type = model_type
        self.message = f"unknown model_type {model_type!r}; accepted: {sorted(MODEL_SPECS)}"

    def __str__(self) -> str:
        return self.message


class ModelUnavailableError(RuntimeError):
    """A known model whose checkpoint could not be loaded; the message says why and what to do."""


class NoEligibleNodeError(ValueError):
    """The network has no node this rule may choose (e.g. least_loaded with no fog or cloud node)."""


@dataclass(frozen=True)
class Decision:
    """One answer: the chosen node and the per-node outputs behind it (see :class:`PredictResponse`)."""

    selected_node: int
    confidence: float | None
    q_values: list[float] | None
    node_scores: list[float | None]


def _listed(values: np.ndarray) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values.tolist()]


class LearnedPolicy:
    """A loaded checkpoint; one forward pass per batch."""

    def check(self, obs: Observation) -> None:
        """A graph policy can place a task on any network: nothing to check."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        outputs = set(agent.node_scores(_probe_observation()))
        self.has_distribution = "probabilities" in outputs
        self.has_q_values = "q_values" in outputs
        self.score_kind = "probability" if self.has_distribution else "q_value"
        self.confidence = (
            "probability of the chosen node under the model's "
            + ("fused distribution" if agent.config.algo == "hybrid" else "policy")
            if self.has_distribution
            else "null: DQN has no distribution, it acts greedily on the Q-values"
        )

    def decide(self, observations: Sequence[Observation]) -> list[Decision]:
        scores = self.agent.node_scores(stack_observations(observations))
        chosen = scores[self.agent.greedy_output].argmax(axis=-1)
        decisions = []
        for i, obs in enumerate(observations):
            n, node = obs["nodes"].shape[0], int(chosen[i])
            probabilities = scores["probabilities"][i, :n] if self.has_distribution else None
            q_values = _listed(scores["q_values"][i, :n]) if self.has_q_values else None
            decisions.append(
                Decision(
                    selected_node=node,
                    confidence=float(probabilities[node]) if probabilities is not None else None,
                    q_values=q_values,
                    node_scores=_listed(probabilities) if probabilities is not None else q_values,
                )
            )
        return decisions


class RulePolicy:
    """A fixed rule on the same observation, with the card network's capacities
    (:class:`EnvConfig` defaults). ``node_scores`` is the rule's cost, negated (higher is
    preferred); round-robin's is minus the turns until the node's turn."""

    def __init__(self, name: str, config: EnvConfig | None = None) -> None:
        self.rule: HeuristicPolicy = make_heuristic(name, config)
        self.score_kind = {
            "random": "negated random draw",
            "round_robin": "negated turns until the node's turn",
            "least_loaded": "negated queue_len (steps)",
            "nearest": "negated latency (observation units: ms / 100)",
            "all_cloud": "negated latency (observation units: ms / 100)",
            "greedy_earliest_finish": "negated estimated finish time (ms)",
        }[name]
        self.confidence = (
            "1 / the number of nodes it draws from" if name == "random" else "null: a deterministic rule"
        )
        self._position = 0  # round-robin's turn, carried over from request to request

    def check(self, obs: Observation) -> None:
        """Raise :class:`NoEligibleNodeError` if the rule has no node to choose in ``obs``."""
        if not self.rule.allowed({k: v[None] for k, v in obs.items()}).any():
            what = "cloud node" if self.rule.name == "all_cloud" else "fog or cloud node"
            raise NoEligibleNodeError(f"{self.rule.name} places tasks on a {what}, and this network has none")

    def decide(self, observations: Sequence[Observation]) -> list[Decision]:
        for obs in observations:
            self.check(obs)
        return [self._decide_one(obs) for obs in observations]

    def _decide_one(self, obs: Observation) -> Decision:
        batch = {k: v[None] for k, v in obs.items()}
        rule = self.rule
        allowed = rule.allowed(batch)[0]
        # Invalid floating-point operations are expected here: a bandwidth that underflows to 0
        # gives an infinite transfer time, which is the right cost.
        with np.errstate(all="ignore"):
            if isinstance(rule, RoundRobinPolicy):
                slots = allowed.shape[0]
                cost = ((np.arange(slots) - self._position) % slots).astype(np.float64)
            else:
                cost = rule.scores(batch)[0].astype(np.float64)
            masked = np.where(allowed, cost, np.inf)
            node = int(masked.argmin())  # as HeuristicPolicy.predict: the first of the cheapest
            scores = np.where(allowed & np.isfinite(cost), -cost, np.nan)
        if isinstance(rule, RoundRobinPolicy):
            self._position = (node + 1) % allowed.shape[0]
        confidence = 1.0 / int(allowed.sum()) if rule.name == "random" else None
        return Decision(selected_node=node, confidence=confidence, q_values=None, node_scores=_listed(scores))


def example_request(seed: int = 0, model_type: str = "hybrid", task: bool = False) -> dict[str, Any]:
    """A request in the card's format for the card's 17-node network, as the environment has it
    after ``reset(seed)`` (values rounded to 3 decimals); with ``task``, the task too."""
    from edge_rl.env import make_env

    env = make_env()
    env.reset(seed=seed)
    state, spec = network_state_from_env(env)
    nodes = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in n.model_dump().items()} for n in state.nodes]
    for node in nodes:  # rounding must not push a positive bandwidth to 0
        node["bandwidth"] = max(node["bandwidth"], 0.001)
    request: dict[str, Any] = {"network_state": {"nodes": nodes, "edges": [list(e) for e in state.edges]},
                               "model_type": model_type}
    if task:
        raw = np.clip(np.round([getattr(spec, k) for k in _TASK_FIELDS], 3), _TASK_LOW, _TASK_HIGH)
        request["task"] = dict(zip(_TASK_FIELDS, raw.tolist()))
    return request


def _probe_observation() -> Observation:
    """A tiny valid observation (two linked nodes) to ask a model which outputs it has."""
    node = NodeState(cpu_util=0.0, mem_util=0.0, energy=0.0, latency=0.0, bandwidth=1.0, queue_len=0.0, node_type=1)
    return to_observation(NetworkState(nodes=[node, node], edges=[(0, 1)]))


class Predictor:
    """Every policy of :data:`MODEL_SPECS`, loaded once.

    A checkpoint that is missing or unreadable does not stop the others: its model is listed
    in :attr:`errors` with the reason, and asking for it raises :class:`ModelUnavailableError`.

    Args:
        models: the folder of checkpoints (default :func:`models_dir`).
        seed: the training seed whose checkpoint each learned model uses (default 0).
    """

    def __init__(self, models: str | os.PathLike | None = None, seed: int = DEFAULT_SEED) -> None:
        self.models_dir = Path(models) if models is not None else models_dir()
        self.seed = seed
        self.policies: dict[str, LearnedPolicy | RulePolicy] = {}
        self.errors: dict[str, str] = {}
        for spec in MODEL_SPECS.values():
            if spec.rule is not None:
                self.policies[spec.model_type] = RulePolicy(spec.rule)
                continue
            path = self.models_dir / spec.stem(seed)
            try:
                agent = load(path)
            except (CheckpointError, OSError) as error:
                self.errors[spec.model_type] = (
                    f"{error}. Point EDGE_RL_MODELS_DIR (or --models-dir) at a folder with "
                    f"{spec.stem(seed)}.json/.safetensors, or run `make reproduce` to train it."
                )
                continue
            if agent.config.policy != "gnn":
                self.errors[spec.model_type] = f"{path}: an MLP policy, fixed at 17 nodes; serve a graph policy"
                continue
            self.policies[spec.model_type] = LearnedPolicy(agent)

    def policy(self, model_type: str) -> LearnedPolicy | RulePolicy:
        """The loaded policy, or :class:`UnknownModelError` / :class:`ModelUnavailableError`."""
        if model_type not in MODEL_SPECS:
            raise UnknownModelError(model_type)
        if model_type in self.errors:
            raise ModelUnavailableError(f"model_type {model_type!r} is unavailable: {self.errors[model_type]}")
        return self.policies[model_type]

    def agent(self, model_type: str) -> Agent | HeuristicPolicy:
        """The policy as something with ``predict`` (for episodes): the agent, or a fresh rule."""
        policy = self.policy(model_type)
        return policy.agent if isinstance(policy, LearnedPolicy) else make_heuristic(policy.rule.name)

    def checkpoint(self, model_type: str) -> str:
        """The checkpoint stem or the rule's name that answers for ``model_type``."""
        spec = MODEL_SPECS[model_type]
        return spec.stem(self.seed) or spec.rule  # type: ignore[return-value]

    def predict(self, model_type: str, observations: Sequence[Observation]) -> list[Decision]:
        """Decisions for a batch of observations (any sizes), in order."""
        return self.policy(model_type).decide(observations)


# ---------------------------------------------------------------------- measured performance


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def model_performance(spec: ModelSpec, results: str | os.PathLike | None = None,
                      seed: int = DEFAULT_SEED) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``(variant, checkpoint)``: the policy's row of ``results/tables/<table>`` (every training
    seed on the test episodes) and, for learned models, the mean of the served checkpoint's own
    test episodes (``results/runs/<stem>.csv``). Either is None when its file is missing."""
    results = Path(results) if results is not None else results_dir()
    variant = checkpoint = None
    table = results / "tables" / spec.table
    if table.is_file():
        frame = pd.read_csv(table)
        rows = frame[frame["policy"] == spec.row]
        if len(rows):
            metrics = {k: _json_value(v) for k, v in rows.iloc[0].items() if k != "policy"}
            variant = {"source": f"{results.name}/tables/{spec.table}", "row": spec.row, "metrics": metrics}
    stem = spec.stem(seed)
    runs = results / "runs" / f"{stem}.csv" if stem else None
    if runs is not None and runs.is_file():
        frame = pd.read_csv(runs)
        numeric = ["return", "deadline_success", "latency_mean_ms", "latency_p95_ms", "energy_per_task_j",
                   "load_balance", "dropped"]
        metrics = {k: _json_value(frame[k].mean()) for k in numeric if k in frame}
        metrics["return_std"] = _json_value(frame["return"].std()) if "return" in frame else None
        metrics["episodes"] = len(frame)
        checkpoint = {"source": f"{results.name}/runs/{runs.name}", "metrics": metrics}
    return variant, checkpoint
