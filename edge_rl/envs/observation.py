"""The observation's encoding, written once: raw units to what a policy reads.

:func:`encode_nodes` and :func:`encode_task` are the one place where raw quantities are scaled
and clipped (the table on :class:`~edge_rl.envs.iot_edge.IoTEdgeEnv`; :func:`decode_nodes` and
:func:`decode_task` undo the scaling). The environments encode their simulator's state with them
(:class:`ObservationEncoder`, any batch of episodes) and the server encodes a client's request with
them (:func:`edge_rl.serve.conversions.to_observation`), so a state read off the environment and
sent to the API is seen exactly as the environment shows it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from gymnasium import spaces

from edge_rl.config import NODE_FEATURES, TASK_FEATURES, EnvConfig
from edge_rl.envs.dynamics import BATCH_SIZES_KEPT, Simulator
from edge_rl.envs.state import BACKLOG, BANDWIDTH, ENERGY, LATENCY, MEM, OBSERVED_TASK_FIELDS, SimState

# Observation scales: raw value / scale, clipped to [0, cap]. Raw values are in ``info``.
ENERGY_SCALE_J = 10.0
ENERGY_CAP = 10.0
LATENCY_SCALE_MS = 100.0
LATENCY_CAP = 10.0
BANDWIDTH_SCALE_MBPS = 200.0
QUEUE_CAP_STEPS = 20.0

NODE_FEATURE_HIGH = np.array(
    [1.0, 1.0, ENERGY_CAP, LATENCY_CAP, 1.0, QUEUE_CAP_STEPS, 2.0], dtype=np.float32
)
# Each column of NODE_FEATURES: raw * multiplier / divisor, at most NODE_FEATURE_HIGH. Energy and
# latency are multiplied by the inverse scale and bandwidth divided by its scale: the arithmetic
# the observation has always had, to the last bit (a factor of 1 changes nothing). Columns here:
# the arithmetic runs feature by feature (a row of n values each), see _encode_features.
_SCALES = np.array([[1.0, 1.0, 1.0 / ENERGY_SCALE_J, 1.0 / LATENCY_SCALE_MS, 1.0, 1.0, 1.0],
                    [1.0, 1.0, 1.0, 1.0, BANDWIDTH_SCALE_MBPS, 1.0, 1.0],
                    NODE_FEATURE_HIGH.astype(np.float64)])[:, :, None]
_RAW_PER_UNIT = np.array([1.0, 1.0, ENERGY_SCALE_J, LATENCY_SCALE_MS, BANDWIDTH_SCALE_MBPS, 1.0, 1.0])  # decoding
_CPU, _MEM_UTIL, _ENERGY, _LATENCY, _BANDWIDTH, _QUEUE, _TYPE = (NODE_FEATURES.index(name) for name in (
    "cpu_util", "mem_util", "energy", "latency", "bandwidth", "queue_len", "node_type"))
# The simulator's channels in the observation's order (raw_features copies them in blocks).
assert (MEM + 1, ENERGY + 1, ENERGY + 2) == (BACKLOG, LATENCY, BANDWIDTH)
assert (_ENERGY + 1, _ENERGY + 2, _MEM_UTIL + 4) == (_LATENCY, _BANDWIDTH, _QUEUE)
assert OBSERVED_TASK_FIELDS == len(TASK_FEATURES)
_ONE = np.array(1.0, dtype=np.float32)  # the task's cap, as a 0-d array (dynamics' docstring says why)


def _broadcast_scales(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Multiplier, divisor and cap broadcast to a feature-major shape ``(..., 7, n)``: numpy's
    broadcasting loop costs twice its plain one on arrays this small, and the lone environment
    encodes one observation per step (its encoder keeps its own; the server's requests come in a
    few sizes, kept here)."""
    return tuple(np.ascontiguousarray(np.broadcast_to(scale, shape)) for scale in _SCALES)


_scales = lru_cache(maxsize=16)(_broadcast_scales)


def _encode_features(raw: np.ndarray, scales: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """:func:`encode_nodes` of ``(..., 7, n)`` raw values, feature by feature; returns ``(..., n, 7)``.
    ``scales``: :func:`_scales` of the shape, if the caller keeps them."""
    multiplier, divisor, cap = _scales(raw.shape) if scales is None else scales
    scaled = raw * multiplier
    scaled /= divisor
    nodes = np.empty((*raw.shape[:-2], raw.shape[-1], raw.shape[-2]), dtype=np.float32)
    np.minimum(scaled, cap, out=nodes.swapaxes(-1, -2), casting="same_kind")  # rounded to float32 as it is stored
    return nodes


def encode_nodes(raw: np.ndarray) -> np.ndarray:
    """``(..., n, 7)`` raw node quantities (the columns of ``NODE_FEATURES``: CPU and memory
    utilisation, energy in J, latency in ms, bandwidth in Mbit/s, queued work in steps, node type)
    as the observation's float32 ``nodes``: scaled and clipped at each column's cap."""
    return _encode_features(np.asarray(raw, dtype=np.float64).swapaxes(-1, -2))


def decode_nodes(nodes: np.ndarray) -> np.ndarray:
    """:func:`encode_nodes` undone as far as it can be: ``(..., n, 7)`` observation columns back
    in raw units, float64 (a value the encoding clipped stays at its cap)."""
    return np.asarray(nodes, dtype=np.float64) * _RAW_PER_UNIT


def decode_task(task: np.ndarray, high: np.ndarray) -> np.ndarray:
    """:func:`encode_task` undone: the task's raw fields, float64."""
    return np.asarray(task, dtype=np.float64) * high


def encode_task(raw: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``(..., 4)`` raw task fields (``TASK_FEATURES``: demand MI, input KB, memory MB, deadline ms)
    divided by ``high``, the upper bounds of their distributions (:func:`task_high`)."""
    # min(): a log-uniform draw may land one rounding step above its upper bound.
    scaled = np.asarray(raw).astype(np.float32)
    scaled /= high
    return np.minimum(scaled, _ONE, out=scaled)


def task_high(config: EnvConfig) -> np.ndarray:
    """The upper bound of each task field's distribution, float32, in ``TASK_FEATURES``' order."""
    return np.array([config.demand_mi[1], config.input_kb[1], config.memory_mb[1], config.deadline_ms[1]],
                    dtype=np.float32)


def observation_space(max_nodes: int) -> spaces.Dict:
    """The ``Dict`` space of one observation with ``max_nodes`` node slots."""
    m = max_nodes
    return spaces.Dict(
        {
            "nodes": spaces.Box(low=0.0, high=np.tile(NODE_FEATURE_HIGH, (m, 1)), dtype=np.float32),
            "adjacency": spaces.Box(0.0, 1.0, shape=(m, m), dtype=np.float32),
            "node_mask": spaces.Box(0.0, 1.0, shape=(m,), dtype=np.float32),
            "task": spaces.Box(0.0, 1.0, shape=(len(TASK_FEATURES),), dtype=np.float32),
        }
    )


class ObservationEncoder:
    """A simulator's state as observations, one per episode of the batch, padded to ``max_nodes``.

    What does not change within an episode is made once: the node types, the adjacency and the
    node mask. Padding rows are zero in every column.
    """

    def __init__(self, simulator: Simulator, max_nodes: int) -> None:
        topology, n = simulator.topology, simulator.n_nodes
        self.n_nodes, self.max_nodes = n, max_nodes
        self.adjacency = np.zeros((max_nodes, max_nodes), dtype=np.float32)
        self.adjacency[:n, :n] = topology.adjacency
        self.node_mask = np.zeros(max_nodes, dtype=np.float32)
        self.node_mask[:n] = 1.0
        self.node_type = topology.node_type
        self.task_high = task_high(simulator.config)
        self.divisors = np.stack([simulator.memory_mb, simulator.step_mi])  # memory in use and queued work
        self._tiles: dict[int, tuple[np.ndarray, ...]] = {}

    def raw_features(self, state: SimState, raw: np.ndarray | None = None) -> np.ndarray:
        """``(B, 7, max_nodes)`` float64: each episode's nodes in raw units, feature by feature, in
        ``raw`` (the encoder's own, :meth:`_tiled`) or a new array."""
        tiles = self._tiled(state.batch)
        if raw is None:
            raw = tiles[-1].copy()
        n = self.n_nodes
        raw[:, _CPU, :n] = state.busy
        # Memory in use / capacity and queued work / a step's work, in one call.
        np.divide(state.held, tiles[0], raw[:, _MEM_UTIL:_QUEUE + 1:_QUEUE - _MEM_UTIL, :n])
        raw[:, _ENERGY:_BANDWIDTH + 1, :n] = state.observed
        return raw

    def raw_nodes(self, state: SimState) -> np.ndarray:
        """``(B, max_nodes, 7)`` float64: each episode's nodes in raw units (before :func:`encode_nodes`)."""
        return self.raw_features(state).swapaxes(1, 2).copy()

    def __call__(self, state: SimState) -> dict[str, np.ndarray]:
        """The observations of every episode, stacked: ``nodes`` ``(B, max_nodes, 7)`` and so on."""
        _, adjacency, node_mask, *scales, raw = self._tiled(state.batch)
        return {
            "nodes": _encode_features(self.raw_features(state, raw), scales),
            # Copies: a caller may keep or modify what it is given (Gymnasium's checker asks).
            "adjacency": adjacency.copy(),
            "node_mask": node_mask.copy(),
            "task": encode_task(state.observed_task, self.task_high),
        }

    def _tiled(self, batch: int) -> tuple[np.ndarray, ...]:
        """What does not change, at the batch's shape (numpy's plain loop, not its broadcasting
        one): divisors, adjacency, node mask, the encoding's scales, and the raw features'
        array, which every call refills but for the node types and the padding's zeros."""
        tiles = self._tiles.get(batch)
        if tiles is None:
            tiles = tuple(np.ascontiguousarray(np.broadcast_to(a, (batch, *a.shape)))
                          for a in (self.divisors, self.adjacency, self.node_mask))
            tiles += _broadcast_scales((batch, len(NODE_FEATURES), self.max_nodes))
            raw = np.zeros((batch, len(NODE_FEATURES), self.max_nodes))
            raw[:, _TYPE, : self.n_nodes] = self.node_type
            tiles += (raw,)
            if len(self._tiles) >= BATCH_SIZES_KEPT:  # the oldest goes
                del self._tiles[next(iter(self._tiles))]
            self._tiles[batch] = tiles
        return tiles
