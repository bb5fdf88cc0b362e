"""Conversions between the card's request format and the environment's observation.

- :func:`to_observation` turns a validated :class:`~edge_rl.serve.schemas.NetworkState` (raw
  units) into exactly the observation ``edge_rl/IoTEdge-v0`` gives a policy;
  :func:`network_state_from_env` goes the other way, from a running environment's raw
  quantities, and :func:`network_state_from_observation` from an observation.
- :func:`clipped_fields` names the values past a cap, which the answer lists.
- :func:`stack_observations` pads observations of different sizes into one batch.
- :func:`example_request` is a request in the card's format, read off the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_rl.agents.base import Observation
from edge_rl.config import NODE_FEATURES, TASK_FEATURES, EnvConfig
from edge_rl.envs import make_env
from edge_rl.envs.iot_edge import IoTEdgeEnv
from edge_rl.envs.observation import (
    BANDWIDTH_SCALE_MBPS,
    decode_nodes,
    decode_task,
    encode_nodes,
    encode_task,
    task_high,
)
from edge_rl.serve.schemas import CAPS, NetworkState, NodeState, TaskSpec

_TASK_FIELDS = ("demand_mi", "input_kb", "memory_mb", "deadline_ms")  # TaskSpec's, in TASK_FEATURES' order
assert len(_TASK_FIELDS) == len(TASK_FEATURES)
_CONFIG = EnvConfig()
_TASK_HIGH = task_high(_CONFIG)
_TASK_LOW = np.array([_CONFIG.demand_mi[0], _CONFIG.input_kb[0], _CONFIG.memory_mb[0], _CONFIG.deadline_ms[0]])


def to_observation(state: NetworkState, task: TaskSpec | None = None) -> Observation:
    """The observation ``edge_rl/IoTEdge-v0`` would give for this network and task.

    The environment's own encoding (:func:`~edge_rl.envs.observation.encode_nodes`,
    :func:`~edge_rl.envs.observation.encode_task`) of the request's raw units, so a state read off
    the environment converts back bit for bit: energy / 10 J, latency / 100 ms, bandwidth /
    200 Mbit/s, each clipped at its cap; the adjacency is symmetric with a zero diagonal; the task
    is divided by the upper bounds of the training distribution. No padding: ``node_mask`` is all
    ones.
    """
    task = task if task is not None else TaskSpec()
    raw = np.array([[getattr(node, field) for field in NODE_FEATURES] for node in state.nodes], dtype=np.float64)
    n = raw.shape[0]
    adjacency = np.zeros((n, n), dtype=np.float32)
    if state.edges:
        edges = np.asarray(state.edges, dtype=np.intp)
        adjacency[edges[:, 0], edges[:, 1]] = 1.0
        adjacency[edges[:, 1], edges[:, 0]] = 1.0
    return {
        "nodes": encode_nodes(raw),
        "adjacency": adjacency,
        "node_mask": np.ones(n, dtype=np.float32),
        "task": encode_task([getattr(task, field) for field in _TASK_FIELDS], _TASK_HIGH),
    }


def clipped_fields(state: NetworkState) -> list[str]:
    """The fields of ``state`` that :func:`to_observation` clips (past their cap,
    :data:`~edge_rl.serve.schemas.CAPS`), as paths in the request: ``network_state.nodes[3].bandwidth``.
    The answer names them, so that no value a client sends is changed unsaid."""
    return [f"network_state.nodes[{i}].{field}"
            for i, node in enumerate(state.nodes) for field, cap in CAPS.items() if getattr(node, field) > cap]


def network_state_from_env(env: Any) -> tuple[NetworkState, TaskSpec]:
    """The current state of a running environment in the card's raw units, with its task.

    Reads the simulator's raw quantities (:meth:`~edge_rl.envs.iot_edge.IoTEdgeEnv.raw_nodes`,
    not the clipped observation), so that ``to_observation(*network_state_from_env(env))`` equals
    the environment's observation exactly. At the task's source the bandwidth is infinite (nothing
    is transferred); it is given as 200 Mbit/s, which the observation reads as 1 as well. Memory
    in use is given at most at capacity, as the observation reads it.
    """
    env = env.unwrapped if hasattr(env, "unwrapped") else env
    try:
        if not isinstance(env, IoTEdgeEnv):
            raise TypeError
        raw, task = env.raw_nodes(), env.raw_state().task
    except (TypeError, RuntimeError):  # not an environment, or not reset
        raise ValueError("network_state_from_env needs an IoTEdgeEnv after reset()") from None
    for field, most in (("mem_util", 1.0), ("bandwidth", BANDWIDTH_SCALE_MBPS)):
        column = NODE_FEATURES.index(field)
        raw[:, column] = np.minimum(raw[:, column], most)
    columns = [*raw[:, :-1].T, env.topology.node_type]  # the node type as the integer it is
    nodes = [NodeState(**dict(zip(NODE_FEATURES, map(_plain, row), strict=True))) for row in zip(*columns)]
    state = NetworkState(nodes=nodes, edges=env.topology.edges)
    # A log-uniform draw may land one rounding step past its upper bound; the observation
    # clips it to 1 there, and so does the bound here.
    raw_task = np.clip([task[k] for k in _TASK_FIELDS], _TASK_LOW, _TASK_HIGH)
    return state, TaskSpec(**dict(zip(_TASK_FIELDS, raw_task.tolist())))


def network_state_from_observation(obs: Observation) -> tuple[NetworkState, TaskSpec]:
    """The card's raw units read back from an observation (inverse scaling; values the
    observation clipped stay at their cap). For a state as the environment has it, use
    :func:`network_state_from_env`."""
    mask = np.asarray(obs["node_mask"]) > 0.5
    rows = decode_nodes(np.asarray(obs["nodes"])[mask])
    bandwidth = NODE_FEATURES.index("bandwidth")
    rows[:, bandwidth] = np.maximum(rows[:, bandwidth], np.finfo(np.float32).tiny)  # bandwidth must be > 0
    states = [NodeState(**dict(zip(NODE_FEATURES, map(_plain, row)))) for row in rows]
    index = np.flatnonzero(mask)
    adjacency = np.asarray(obs["adjacency"])[np.ix_(index, index)]
    edges = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(adjacency, k=1)))]
    raw = np.clip(decode_task(obs["task"], _TASK_HIGH), _TASK_LOW, _TASK_HIGH)
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


def example_request(seed: int = 0, model_type: str = "hybrid", task: bool = False) -> dict[str, Any]:
    """A request in the card's format for the card's 17-node network, as the environment has it
    after ``reset(seed)`` (values rounded to 3 decimals); with ``task``, the task too."""
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


def probe_observation() -> Observation:
    """A tiny valid observation (two linked nodes) to ask a model which outputs it has."""
    node = NodeState(cpu_util=0.0, mem_util=0.0, energy=0.0, latency=0.0, bandwidth=1.0, queue_len=0.0, node_type=1)
    return to_observation(NetworkState(nodes=[node, node], edges=[(0, 1)]))
