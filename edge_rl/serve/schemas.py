"""The serving API's request and response schemas (pydantic), with the range of every field.

The request is the model card's "Input Format": a network state whose nodes carry the seven
features in raw units (utilisations as fractions, energy in J, latency in ms, bandwidth in
Mbit/s, queue in steps of the node's compute, node type), plus the links as ``[s, t]`` pairs,
and optionally the task being placed. :func:`edge_rl.serve.conversions.to_observation` turns a validated
request into exactly the observation ``edge_rl/IoTEdge-v0`` would give a policy.

Anything outside a range is refused with a message naming the field; every limit is a
constant here (:data:`MAX_NODES`, :data:`MAX_BATCH`, the task bounds of
:class:`~edge_rl.config.EnvConfig`), and the descriptions are built from the same constants.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from edge_rl.config import NODE_TYPES, EnvConfig
from edge_rl.envs.heuristics import HEURISTICS
from edge_rl.envs.iot_edge import (
    BANDWIDTH_SCALE_MBPS,
    ENERGY_CAP,
    ENERGY_SCALE_J,
    LATENCY_CAP,
    LATENCY_SCALE_MS,
    QUEUE_CAP_STEPS,
)
from edge_rl.experiments.catalogue import model_types

MAX_NODES = 256
"""Largest network one request may describe. The graph policies run on any size (their weights
are shared across nodes), but their dense layers cost O(nodes^2) memory and time per request;
256 nodes is 15x the card's network and answers in a few milliseconds."""

MAX_EDGES = MAX_NODES * (MAX_NODES - 1)
"""Every ordered pair of distinct nodes: enough for a complete graph listed in both directions."""

MAX_BATCH = 256
"""Most requests in one ``/batch-predict`` call (they run as one forward pass per model)."""

_ENV = EnvConfig()  # the task distribution the models were trained on

LEARNED_MODEL_TYPES: tuple[str, ...] = model_types()
MODEL_TYPES: tuple[str, ...] = (*LEARNED_MODEL_TYPES, *HEURISTICS)
"""The ``model_type`` values: the catalogue's served variants, then every fixed rule
(:data:`edge_rl.serve.models.MODEL_SPECS` describes each); documented as an enum, checked by
the server so that an unknown one gets 404 rather than 422."""

MODEL_TYPE_DESCRIPTION = (
    f"Which policy answers: one of {', '.join(MODEL_TYPES)}. The first {len(LEARNED_MODEL_TYPES)} are "
    "trained models, the rest fixed rules; GET /models describes each. An unknown one gets 404."
)


def _node_type(value: Any) -> Any:
    """Accept the type's name as well as its index; refuse booleans (JSON true is not 1)."""
    if isinstance(value, bool):
        # ValueError, not TypeError: pydantic reports only ValueErrors as validation errors.
        raise ValueError(f"node_type must be 0 (sensor), 1 (fog) or 2 (cloud), or the name; got {value}")  # noqa: TRY004
    if isinstance(value, str) and value.strip().lower() in NODE_TYPES:
        return NODE_TYPES.index(value.strip().lower())
    if isinstance(value, float) and value.is_integer():  # 1.0, as an observation row holds it
        return int(value)
    return value


NodeType = Annotated[
    int,
    BeforeValidator(_node_type),
    Field(ge=0, le=len(NODE_TYPES) - 1, strict=True),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "enum": list(range(len(NODE_TYPES)))},
                {"type": "string", "enum": list(NODE_TYPES)},
            ],
            "description": "0 sensor, 1 fog, 2 cloud (or the name)",
        }
    ),
]


def _finite(low: float, **bounds: float) -> Any:
    return Field(allow_inf_nan=False, strict=True, **({"ge": low} | bounds))


class NodeState(BaseModel):
    """One node, in the card's raw units. Values beyond a cap are clipped, as the environment
    clips them; the caps are given for each field."""

    model_config = ConfigDict(extra="forbid")

    cpu_util: float = Field(
        ge=0.0, le=1.0, allow_inf_nan=False, strict=True,
        description="Fraction of the last step the node's CPU was busy, in [0, 1].",
    )
    mem_util: float = Field(
        ge=0.0, le=1.0, allow_inf_nan=False, strict=True,
        description="Memory in use / capacity, in [0, 1].",
    )
    energy: float = _finite(
        0.0,
        description=f"Energy to run the current task on this node, in J (>= 0; the model reads "
        f"J / {ENERGY_SCALE_J:g}, clipped at {ENERGY_CAP * ENERGY_SCALE_J:g} J).",
    )
    latency: float = _finite(
        0.0,
        description=f"Network latency from the task's source to this node, access-link wait "
        f"included, in ms (>= 0; 0 at the source; the model reads ms / {LATENCY_SCALE_MS:g}, "
        f"clipped at {LATENCY_CAP * LATENCY_SCALE_MS:g} ms).",
    )
    bandwidth: float = Field(
        gt=0.0, allow_inf_nan=False, strict=True,
        description=f"Bandwidth from the task's source to this node, min(path, access link), in "
        f"Mbit/s (> 0; the model reads Mbit/s / {BANDWIDTH_SCALE_MBPS:g}, clipped at 1: give "
        f"{BANDWIDTH_SCALE_MBPS:g} or more at the source itself, where nothing is transferred).",
    )
    queue_len: float = _finite(
        0.0,
        description=f"Queued work in steps of the node's own compute, backlog / (MIPS x "
        f"{_ENV.step_ms:g} ms) (>= 0, clipped at {QUEUE_CAP_STEPS:g}). The card counts tasks; "
        "the environment counts work, because nodes differ 400-fold in speed.",
    )
    node_type: NodeType


Edge = tuple[
    Annotated[int, Field(ge=0, le=MAX_NODES - 1, strict=True)],
    Annotated[int, Field(ge=0, le=MAX_NODES - 1, strict=True)],
]


class NetworkState(BaseModel):
    """The network: nodes (numbered by their position in ``nodes``) and undirected links."""

    model_config = ConfigDict(extra="forbid")

    nodes: list[NodeState] = Field(
        min_length=1, max_length=MAX_NODES,
        description=f"1 to {MAX_NODES} nodes; a node's index is its position in this list.",
    )
    edges: list[Edge] = Field(
        default_factory=list, max_length=MAX_EDGES,
        description="Undirected links as [source, target] node indices; duplicates and both "
        "directions are accepted, a node may not link to itself. No links is allowed (every "
        "node then sees only itself).",
    )

    @field_validator("edges")
    @classmethod
    def _edges_name_existing_nodes(cls, edges: list[tuple[int, int]], info: ValidationInfo) -> list[tuple[int, int]]:
        nodes = info.data.get("nodes")
        if nodes is None:  # the nodes failed validation: that error is reported instead
            return edges
        n = len(nodes)
        for i, (s, t) in enumerate(edges):
            if s >= n or t >= n:
                raise ValueError(
                    f"edges[{i}] = [{s}, {t}] names node {max(s, t)}, but the network has {n} "
                    f"node(s), numbered 0 to {n - 1}"
                )
            if s == t:
                raise ValueError(f"edges[{i}] = [{s}, {t}] links node {s} to itself; a link joins two nodes")
        return edges


def _log_median(bounds: tuple[float, float]) -> float:
    return round(math.sqrt(bounds[0] * bounds[1]), 3)


class TaskSpec(BaseModel):
    """The task being placed, in raw units, within the ranges the models were trained on
    (:class:`~edge_rl.config.EnvConfig`). Defaults: the median task of that distribution (the
    geometric mean of the log-uniform ranges, the mid-point of the uniform memory range)."""

    model_config = ConfigDict(extra="forbid")

    demand_mi: float = Field(
        default=_log_median(_ENV.demand_mi), ge=_ENV.demand_mi[0], le=_ENV.demand_mi[1],
        allow_inf_nan=False, strict=True, description="Compute demand in million instructions.",
    )
    input_kb: float = Field(
        default=_log_median(_ENV.input_kb), ge=_ENV.input_kb[0], le=_ENV.input_kb[1],
        allow_inf_nan=False, strict=True, description="Input size in KB, sent from the source.",
    )
    memory_mb: float = Field(
        default=round(sum(_ENV.memory_mb) / 2, 3), ge=_ENV.memory_mb[0], le=_ENV.memory_mb[1],
        allow_inf_nan=False, strict=True, description="Memory the task needs, in MB.",
    )
    deadline_ms: float = Field(
        default=_log_median(_ENV.deadline_ms), ge=_ENV.deadline_ms[0], le=_ENV.deadline_ms[1],
        allow_inf_nan=False, strict=True, description="Deadline in ms.",
    )


class PredictRequest(BaseModel):
    """The card's request: a network state, a model, and optionally the task."""

    model_config = ConfigDict(extra="forbid")

    network_state: NetworkState
    model_type: str = Field(default="hybrid", max_length=64, description=MODEL_TYPE_DESCRIPTION,
                            json_schema_extra={"enum": list(MODEL_TYPES)})
    task: TaskSpec = Field(
        default_factory=TaskSpec,
        description="The task to place; omitted fields take the median task's values.",
    )


class PredictResponse(BaseModel):
    """The card's answer, plus the per-node scores the choice was made from."""

    model_type: str
    model: str = Field(description="The checkpoint (results/models/<model>) or the rule that answered.")
    selected_node: int = Field(description="Index of the chosen node in network_state.nodes.")
    confidence: float | None = Field(
        description="Probability of the chosen node under the model's action distribution (the "
        "fused distribution for hybrids, the policy for PPO). null for policies that have no "
        "distribution: DQN acts greedily on Q-values, and the fixed rules are deterministic "
        "(random: 1 / the number of nodes it draws from)."
    )
    q_values: list[float] | None = Field(
        description="Q-value of each node (expected discounted return), for models with a Q head "
        "(dqn and the hybrids); null otherwise."
    )
    node_scores: list[float | None] = Field(
        description="One score per node, higher is preferred; the chosen node has the highest. "
        "score_kind says what it is. null marks a node the policy may not choose."
    )
    score_kind: str = Field(description="What node_scores are, e.g. 'probability' or 'q_value'.")
    processing_time_ms: float = Field(
        description="Time in the server from the validated request to the answer: conversion, "
        "forward pass and formatting (HTTP and JSON parsing excluded). Requests that arrive "
        "together share one forward pass; a batch item reports the whole batch's time."
    )


class BatchPredictRequest(BaseModel):
    """Several predictions in one call; each item is a full /predict request."""

    model_config = ConfigDict(extra="forbid")

    requests: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH)


class BatchPredictResponse(BaseModel):
    predictions: list[PredictResponse] = Field(description="One answer per request, in order.")
    processing_time_ms: float


class ModelInfo(BaseModel):
    """A policy the server can run, and how well it did in ``results/`` (never typed in)."""

    model_type: str
    kind: str = Field(description="'learned' (a trained checkpoint) or 'rule' (a fixed heuristic).")
    description: str
    available: bool
    error: str | None = Field(description="Why the policy is unavailable (e.g. a missing checkpoint).")
    checkpoint: str | None = Field(description="The checkpoint's stem in the models folder.")
    selection: str | None = Field(description="Why this checkpoint answers: the training seed (and, for the "
                                  "unsuffixed hybrid, the variant) with the best validation return; never "
                                  "chosen on test episodes.")
    config_name: str | None = Field(description="The checkpoint's training config, e.g. hybrid-gcn-weighted_sum.")
    confidence: str = Field(description="What the answer's confidence is for this policy.")
    score_kind: str
    performance: dict[str, Any] | None = Field(
        description="The policy's row of the results table: every training seed of this variant "
        "on the same test episodes (source and row named). null if results/ has no such table."
    )
    checkpoint_performance: dict[str, Any] | None = Field(
        description="The served checkpoint's own test episodes (results/runs/<checkpoint>.csv), "
        "averaged; null for rules and when the file is missing."
    )


class Health(BaseModel):
    status: str = Field(description="'ok' when every policy loaded, 'degraded' otherwise (still serving the rest).")
    models_loaded: list[str]
    models_unavailable: dict[str, str]
    models_dir: str
    torch_threads: int
    version: str
