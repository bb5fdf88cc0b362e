"""The serving API's request schemas (pydantic), with the range of every field (the answers:
:mod:`edge_rl.serve.responses`).

The request is the model card's "Input Format": a network state whose nodes carry the seven
features in raw units (utilisations as fractions, energy in J, latency in ms, bandwidth in
Mbit/s, queue in steps of the node's compute, node type), plus the links as ``[s, t]`` pairs,
and optionally the task being placed. :func:`edge_rl.serve.conversions.to_observation` turns a validated
request into exactly the observation ``edge_rl/IoTEdge-v0`` would give a policy.

Anything outside a range is refused with a message naming the field; every limit is a
constant here (:data:`MAX_NODES`, :data:`MAX_BATCH`, the task bounds of
:class:`~edge_rl.config.EnvConfig`), and the descriptions are built from the same constants.

The JSON schema (the OpenAPI documentation) says every rule JSON Schema can say, so that what
it allows is accepted: a link joins two different nodes (``uniqueItems``), a rule that places
only on fog or cloud nodes needs one in the network (``if``/``then`` with ``contains``), node
indices and types may be written ``1.0`` (JSON Schema's integers include it). What it cannot
say (that an edge names a node of the list beside it; a batch's totals) its descriptions say,
and the server answers 422 naming the field.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetPydanticSchema,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from edge_rl.catalogue import model_types
from edge_rl.config import NODE_FEATURES, NODE_TYPES, EnvConfig
from edge_rl.envs.heuristics import HEURISTICS, make_heuristic
from edge_rl.envs.observation import (
    BANDWIDTH_SCALE_MBPS,
    ENERGY_CAP,
    ENERGY_SCALE_J,
    LATENCY_CAP,
    LATENCY_SCALE_MS,
    QUEUE_CAP_STEPS,
)

MAX_NODES = 256
"""Largest network one request may describe. The graph policies run on any size (their weights
are shared across nodes), but their dense layers cost O(nodes^2) memory and time per request;
256 nodes is 15x the card's network and answers in a few milliseconds."""

MAX_EDGES = MAX_NODES * (MAX_NODES - 1)
"""Every ordered pair of distinct nodes: enough for a complete graph listed in both directions."""

MAX_BATCH = 256
"""Most requests in one ``/batch-predict`` call (they run as one forward pass per model)."""

MAX_BATCH_NODES = 32 * MAX_NODES
"""Most node slots of one ``/batch-predict`` call: its networks run as one forward pass, padded
to the largest, so ``len(requests) x`` the largest network's nodes is what it costs (256
requests of the card's 17 nodes, or 32 of 256 nodes: about 0.1 s of one core)."""

MAX_BATCH_EDGES = MAX_EDGES
"""Most edges of one ``/batch-predict`` call, all requests together (a maximal /predict's)."""

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


def _any_case(names: tuple[str, ...]) -> str:
    """A JSON Schema pattern (ECMA 262, no flags) matching exactly these names, in any case."""
    return "^(" + "|".join("".join(f"[{c.upper()}{c.lower()}]" for c in name) for name in names) + ")$"


def _node_type(value: Any) -> Any:
    """Accept the type's name (in any case) as well as its index; refuse booleans (JSON true is not 1)."""
    if isinstance(value, bool):
        # ValueError, not TypeError: pydantic reports only ValueErrors as validation errors.
        raise ValueError(f"node_type must be 0 (sensor), 1 (fog) or 2 (cloud), or the name; got {value}")  # noqa: TRY004
    if isinstance(value, str) and value.lower() in NODE_TYPES:
        return NODE_TYPES.index(value.lower())
    if isinstance(value, float) and value.is_integer():  # 1.0, as an observation row holds it
        return int(value)
    return value


def _node_type_schema(types: tuple[int, ...]) -> dict[str, Any]:
    """The JSON schema of a node type among ``types``: the index or the name, in any case."""
    return {"anyOf": [{"type": "integer", "enum": list(types)},
                      {"type": "string", "pattern": _any_case(tuple(NODE_TYPES[t] for t in types))}]}


NodeType = Annotated[
    int,
    BeforeValidator(_node_type),
    Field(ge=0, le=len(NODE_TYPES) - 1, strict=True),
    WithJsonSchema({**_node_type_schema(tuple(range(len(NODE_TYPES)))),
                    "description": "0 sensor, 1 fog, 2 cloud (or the name, in any case)"}),
]


_WHOLE_NUMBER = core_schema.union_schema(
    [core_schema.int_schema(strict=True), core_schema.float_schema(strict=True, allow_inf_nan=False)],
    custom_error_type="int_type",  # "Input should be a valid integer", for a string, a boolean, null
)


def _index(high: int) -> Any:
    """An integer in [0, high], also written as a whole float (``1.0``, which JSON Schema's
    ``integer`` includes), never a string or a boolean. In pydantic-core, not a Python
    validator: a request may hold 130,000 of them."""
    return Annotated[
        int,
        GetPydanticSchema(lambda _type, _handler: core_schema.chain_schema(
            [_WHOLE_NUMBER, core_schema.int_schema(ge=0, le=high)])),
        WithJsonSchema({"type": "integer", "minimum": 0, "maximum": high}),
    ]


CLIP_HEADROOM = 10_000
"""A raw value may be up to this many times the cap the model reads it at. Past its cap it is
clipped, as the environment clips it, and the answer lists it in ``clipped``; past this many
times the cap (2 Tbit/s, 1,000,000 J, ...) it is no measurement but a unit or typing error
(``1e308``), and is refused with the field named."""

CAPS: dict[str, float] = {
    "energy": ENERGY_CAP * ENERGY_SCALE_J,
    "latency": LATENCY_CAP * LATENCY_SCALE_MS,
    "bandwidth": BANDWIDTH_SCALE_MBPS,
    "queue_len": QUEUE_CAP_STEPS,
}
"""The raw value, per node field, at which the model's input is clipped (in the field's units)."""


def _capped(field: str, low: float, description: str, gt: bool = False) -> Any:
    """A raw quantity the model reads clipped at ``CAPS[field]``, accepted up to
    :data:`CLIP_HEADROOM` times that."""
    bound = {"gt": low} if gt else {"ge": low}
    most = CLIP_HEADROOM * CAPS[field]
    return Field(allow_inf_nan=False, strict=True, le=most, **bound,
                 description=f"{description} At most {most:,.0f}: past its cap a value is clipped and "
                 "named in the answer's `clipped`; past the maximum it is refused as no measurement.")


class NodeState(BaseModel):
    """One node, in the card's raw units. Values beyond a cap are clipped, as the environment
    clips them, and the answer's ``clipped`` names them; the caps are given for each field, and
    a value past :data:`CLIP_HEADROOM` times its cap is refused."""

    model_config = ConfigDict(extra="forbid")

    cpu_util: float = Field(
        ge=0.0, le=1.0, allow_inf_nan=False, strict=True,
        description="Fraction of the last step the node's CPU was busy, in [0, 1].",
    )
    mem_util: float = Field(
        ge=0.0, le=1.0, allow_inf_nan=False, strict=True,
        description="Memory in use / capacity, in [0, 1].",
    )
    energy: float = _capped(
        "energy", 0.0,
        f"Energy to run the current task on this node, in J (>= 0; the model reads "
        f"J / {ENERGY_SCALE_J:g}, clipped at {CAPS['energy']:g} J).",
    )
    latency: float = _capped(
        "latency", 0.0,
        f"Network latency from the task's source to this node, access-link wait "
        f"included, in ms (>= 0; 0 at the source; the model reads ms / {LATENCY_SCALE_MS:g}, "
        f"clipped at {CAPS['latency']:g} ms).",
    )
    bandwidth: float = _capped(
        "bandwidth", 0.0,
        f"Bandwidth from the task's source to this node, min(path, access link), in "
        f"Mbit/s (> 0; the model reads Mbit/s / {BANDWIDTH_SCALE_MBPS:g}, clipped at 1: give "
        f"{BANDWIDTH_SCALE_MBPS:g} or more at the source itself, where nothing is transferred).",
        gt=True,
    )
    queue_len: float = _capped(
        "queue_len", 0.0,
        f"Queued work in steps of the node's own compute, backlog / (MIPS x "
        f"{_ENV.step_ms:g} ms) (>= 0, clipped at {QUEUE_CAP_STEPS:g}). The card counts tasks; "
        "the environment counts work, because nodes differ 400-fold in speed.",
    )
    node_type: NodeType


_NODE_INDEX = _index(MAX_NODES - 1)
Edge = Annotated[
    tuple[_NODE_INDEX, _NODE_INDEX],
    WithJsonSchema({"type": "array", "prefixItems": [{"type": "integer", "minimum": 0, "maximum": MAX_NODES - 1}] * 2,
                    "minItems": 2, "maxItems": 2, "uniqueItems": True,
                    "description": "[source, target]: two different nodes' indices"}),
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
        description="Undirected links as [source, target] node indices; a node may not link to itself. "
        "A link listed more than once, in either direction, is one link: duplicates are merged, not counted "
        "twice (the model reads a 0/1 adjacency). Each index must name a node of "
        "`nodes` (below its length: JSON Schema cannot say so, the server refuses it with 422). "
        "No links is allowed (every node then sees only itself).",
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


def eligible_node_types(rule: str) -> tuple[int, ...]:
    """The node types the fixed ``rule`` may place a task on, asked of the rule itself (on a
    one-node network of each type)."""
    policy = make_heuristic(rule)
    types = []
    for node_type in range(len(NODE_TYPES)):
        nodes = np.zeros((1, 1, len(NODE_FEATURES)), dtype=np.float32)
        nodes[..., NODE_FEATURES.index("node_type")] = node_type
        if policy.allowed({"nodes": nodes, "node_mask": np.ones((1, 1), dtype=np.float32)}).any():
            types.append(node_type)
    return tuple(types)


def _eligibility_rules() -> list[dict[str, Any]]:
    """JSON Schema's ``if``/``then`` for every rule that places on some node types only: a
    network for it must contain one (the server refuses the others with 422, no_eligible_node)."""
    by_types: dict[tuple[int, ...], list[str]] = {}
    for rule in HEURISTICS:
        types = eligible_node_types(rule)
        if len(types) < len(NODE_TYPES):
            by_types.setdefault(types, []).append(rule)
    return [
        {"if": {"properties": {"model_type": {"enum": rules}}, "required": ["model_type"]},
         "then": {"properties": {"network_state": {"properties": {"nodes": {
             "contains": {"properties": {"node_type": _node_type_schema(types)}, "required": ["node_type"]}}}}}}}
        for types, rules in by_types.items()
    ]


class PredictRequest(BaseModel):
    """The card's request: a network state, a model, and optionally the task. A fixed rule that
    places only on fog or cloud nodes (round_robin, least_loaded, nearest) or on clouds
    (all_cloud) needs such a node in the network."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": _eligibility_rules()})

    network_state: NetworkState
    # Required: a request that names no model is refused (422), never answered by a default model.
    model_type: str = Field(max_length=64, description=MODEL_TYPE_DESCRIPTION,
                            json_schema_extra={"enum": list(MODEL_TYPES)})
    task: TaskSpec = Field(
        default_factory=TaskSpec,
        description="The task to place; omitted fields take the median task's values.",
    )


class BatchPredictRequest(BaseModel):
    """Several predictions in one call; each item is a full /predict request."""

    model_config = ConfigDict(extra="forbid")

    requests: list[PredictRequest] = Field(
        min_length=1, max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} requests. They run as one forward pass per model, padded to the largest "
        f"network: len(requests) x the largest network's nodes may be at most {MAX_BATCH_NODES:,} (e.g. "
        f"{MAX_BATCH} of {MAX_BATCH_NODES // MAX_BATCH} nodes, or {MAX_BATCH_NODES // MAX_NODES} of "
        f"{MAX_NODES}), and the edges of all requests together at most {MAX_BATCH_EDGES:,} (JSON Schema "
        "cannot say totals: the server refuses a larger batch with 422).",
    )

    @model_validator(mode="after")
    def _within_the_batch_budget(self) -> BatchPredictRequest:
        largest = max(len(r.network_state.nodes) for r in self.requests)
        slots = len(self.requests) * largest
        if slots > MAX_BATCH_NODES:
            raise ValueError(
                f"{len(self.requests)} requests x {largest} nodes (the largest network) = {slots:,} node slots; "
                f"a batch may have at most {MAX_BATCH_NODES:,}: split it, or send the large networks apart"
            )
        edges = sum(len(r.network_state.edges) for r in self.requests)
        if edges > MAX_BATCH_EDGES:
            raise ValueError(f"the requests have {edges:,} edges together; a batch may have at most "
                             f"{MAX_BATCH_EDGES:,}: split it")
        return self
