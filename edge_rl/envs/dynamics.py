"""The simulator's dynamics, written once, for a batch of episodes.

:class:`Simulator` holds what a configuration fixes (capacities, paths, background loads);
:class:`SimState` holds what changes, for ``B`` episodes at once, every array with a leading
episode axis. The lone environment (:class:`~edge_rl.envs.iot_edge.IoTEdgeEnv`) steps a batch of
one, the vectorised one (:class:`~edge_rl.envs.vector.IoTEdgeVectorEnv`) a batch of many and the
bounds (:mod:`~edge_rl.envs.oracles`) copies of that: a change of the model is made here and
nowhere else (issue 29). The model is documented on ``IoTEdgeEnv``.

Why it is written as it is:

- Each episode draws from its own generator, in the order a lone episode always has: at a start
  the trace offset; each step of time the number of background jobs, where they land, their
  sizes; each task five uniforms. So an episode is the same, bit for bit, in any batch; these
  draws are the only loop over episodes.
- Each formula keeps its order of operations (``a * b / c`` is not ``a * (b / c)`` in floating
  point); Jain's index takes ``np.vecdot``, which rounds as the 1-D dot product of each row.
  Where a branch depends on the episode, both sides are computed and one is kept by multiplying
  with a flag of 0 or 1 and adding, which is exact for the finite values here.
- The lone environment is what training steps, and on a batch of one numpy costs per call, not
  per element (a few tenths of a microsecond a call). So the state is laid out for few calls
  (:mod:`edge_rl.envs.state`: one row per episode); the per-episode arithmetic runs on Python
  floats for a batch of one (:func:`episodes`); constants are kept broadcast to the batch's shape
  (:meth:`Simulator.constants`), because numpy's broadcasting loop costs twice its plain one on
  arrays this small, and as 0-d arrays, which numpy does not convert at every call as it does a
  Python float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_rl.config import EnvConfig
from edge_rl.envs.state import (
    BACKLOG,
    BANDWIDTH,
    CAPACITY,
    CHANNELS,
    DEADLINE,
    DEMAND,
    ENERGY,
    INDEX,
    INFO_KEYS,
    INGRESS,
    INPUT_MBIT,
    LATENCY,
    MEM,
    MEMORY,
    MIPS,
    TASK_FIELDS,
    TX_ENERGY,
    TYPE,
    RawState,
    SimState,
)
from edge_rl.envs.topology import Topology, make_topology
from edge_rl.registry import LOAD_TRACES

__all__ = ["BATCH_SIZES_KEPT", "INFO_KEYS", "BatchConstants", "RawState", "SimState", "Simulator"]


# What a placement reads of an episode's row: a channel at the chosen node, or a task field. The
# first three are what it adds to (_WRITES), in their channels' order.
_READS = (("node", MEM), ("node", BACKLOG), ("node", INGRESS), ("task", MEMORY), ("task", DEMAND),
          ("task", INPUT_MBIT), ("node", LATENCY), ("node", BANDWIDTH), ("node", ENERGY),
          ("node", TX_ENERGY), ("task", DEADLINE), ("node", CAPACITY), ("node", MIPS), ("node", INDEX), ("node", TYPE))
_WRITES = 3

BATCH_SIZES_KEPT = 8
"""How many batch sizes' constants a simulator (and an encoder) keeps at once."""

# Constants of the array arithmetic as 0-d arrays (see the module's docstring).
_ZERO, _ONE, _TINY = np.array(0.0), np.array(1.0), np.array(1e-12)
_INF = float("inf")


def episodes(values: np.ndarray, column: bool = False) -> list[Any]:
    """The columns of ``values`` ``(B, k)``, one value per episode each: Python scalars for a batch
    of one, else ``(B,)`` arrays (``(B, 1)`` with ``column``, to broadcast against per-node arrays).

    Why: on one element numpy's call costs about 5x a Python float's arithmetic, which would
    double the lone environment's step. So the per-episode formulas are written once and run on
    either; both are IEEE double arithmetic in the same order and give the same bits
    (tests/test_vector_env.py and tests/test_recorded_episodes.py compare them).
    """
    if len(values) == 1:
        return values[0].tolist()
    return list(values.T[:, :, None]) if column else list(values.T)


def _store(values: list[Any], out: np.ndarray) -> None:
    """The inverse of :func:`episodes` with ``column``: per-episode values into ``out`` ``(B, k)``."""
    out[:] = values if len(out) == 1 else np.concatenate(values, axis=1)


def _each(*arrays: np.ndarray) -> list[Any]:
    """:func:`episodes` of ``(B,)`` arrays."""
    return [array.item() for array in arrays] if len(arrays[0]) == 1 else list(arrays)


def _minimum(a: Any, b: float) -> Any:
    return np.minimum(a, b) if isinstance(a, np.ndarray) else min(a, b)


def _integer(a: Any) -> Any:
    return a.astype(np.int64) if isinstance(a, np.ndarray) else int(a)


def _truncated(a: Any) -> Any:
    """``(B, 1)`` or one value, toward zero, as ``(B,)`` indices or one."""
    return a.astype(np.intp).reshape(-1) if isinstance(a, np.ndarray) else int(a)


@dataclass(frozen=True)
class BatchConstants:
    """A simulator's constants broadcast to one batch size (see the module's docstring for why)."""

    step_mi: np.ndarray  # (B, n) the work a node does in one step
    drain: np.ndarray  # (B, 2, n) what BACKLOG and INGRESS lose per step
    background: np.ndarray  # (B, 3, n) what MEM, BACKLOG and INGRESS gain per unit of background job
    j_per_mi: np.ndarray  # (B, n)
    log_low: np.ndarray  # (B, 3) demand, input size, deadline: their lower bounds
    log_span: np.ndarray  # (B, 3) and log(high / low)
    row_nodes: np.ndarray  # (B,) n times each row: row * n + node indexes ``reads``
    reads: np.ndarray  # (B n, len(_READS)) flat index into values of each read, per (row, node)
    server_step_mi: np.ndarray  # (B, servers)
    uniforms: np.ndarray  # (B, 5) where a task's draws land (scratch)


class Simulator:
    """The dynamics of ``edge_rl/IoTEdge-v0`` for one configuration, on any batch of episodes.

    Args:
        config: the network, its load and the tasks (every default of the card's).
    """

    def __init__(self, config: EnvConfig) -> None:
        self.config = cfg = config
        self.topology: Topology = make_topology(config)
        topo, n = self.topology, config.n_nodes
        self.n_nodes = n
        self.step_s = cfg.step_ms / 1000.0
        specs = [cfg.node_type_spec(int(t)) for t in topo.node_type]
        self.mips = np.array([s.mips for s in specs])
        self.memory_mb = np.array([s.memory_mb for s in specs])
        ingress_mbps = np.array([s.ingress_mbps for s in specs])
        self.step_mi = self.mips * self.step_s  # work a node does in one step
        self.servers = slice(cfg.n_sensors, n)  # fog and cloud nodes, numbered last
        # Background jobs: Poisson(rate) per step over the network, each on a uniform node with
        # an Exp(1)-distributed size times these per-node means, chosen so that the expected
        # load is bg_*_util of the capacity.
        jobs_per_node = cfg.background_rate / n
        scale = 1.0 / jobs_per_node if jobs_per_node > 0 else 0.0
        bg_cpu = np.array([s.bg_cpu_util for s in specs])
        bg_mi = bg_cpu * self.step_mi * scale
        bg_mbit = np.array([s.bg_link_util for s in specs]) * ingress_mbps
        bg_mbit *= self.step_s * scale
        # Memory held per MI of queued background work: bg_mem_util of capacity when the
        # queue holds one step of mean background work.
        mem_per_mi = np.divide(np.array([s.bg_mem_util for s in specs]) * self.memory_mb, bg_cpu * self.step_mi,
                               out=np.zeros(n), where=bg_cpu > 0)
        self.background = np.stack([bg_mi * mem_per_mi, bg_mi, bg_mbit])  # per channel MEM, BACKLOG, INGRESS
        self.drain = np.stack([self.step_mi, ingress_mbps * self.step_s])  # per channel BACKLOG, INGRESS
        self.rate = cfg.background_rate * cfg.load_scale  # background jobs per step, before the trace
        self._nodes = np.array(float(n))
        # The arrival rate's pattern over time (EnvConfig.load_trace): per-step multipliers.
        self.trace = LOAD_TRACES.get(cfg.load_trace)() if cfg.load_trace is not None else None

        # Per-source path tables (row = task source), precomputed once. Tasks arrive at sensors;
        # one gather per task reads its source's row of each (draw_tasks).
        self.bandwidth_mbps = np.minimum(topo.path_bandwidth_mbps, ingress_mbps[None, :])
        np.fill_diagonal(self.bandwidth_mbps, np.inf)  # a task that stays is not transferred
        # The access-link wait per Mbit queued, 0 at the source itself: a task that stays there
        # waits for no link (its path latency is 0 too).
        ms_per_mbit = np.tile(1000.0 / ingress_mbps, (n, 1))
        np.fill_diagonal(ms_per_mbit, 0.0)
        self.paths = np.stack([topo.path_latency_ms, self.bandwidth_mbps, ms_per_mbit,
                               topo.path_hops.astype(np.float64)], axis=1)[: cfg.n_sensors]  # as LATENCY..HOPS
        self.j_per_mi = np.array([s.busy_power_w for s in specs]) / self.mips
        # An episode's row at its start: empty, but for the nodes' constants.
        self.initial = np.zeros(len(CHANNELS) * n + len(TASK_FIELDS))
        self.initial[CAPACITY * n:(TYPE + 1) * n] = np.concatenate([self.memory_mb, self.mips, np.arange(n),
                                                                    topo.node_type])
        bounds = np.array([cfg.demand_mi, cfg.input_kb, cfg.deadline_ms])
        self.log_low, self.log_span = bounds[:, 0], np.log(bounds[:, 1] / bounds[:, 0])
        self._batches: dict[int, BatchConstants] = {}

    def constants(self, batch: int) -> BatchConstants:
        """The constants broadcast to ``batch`` episodes, made once per batch size."""
        constants = self._batches.get(batch)
        if constants is None:
            n, width = self.n_nodes, len(CHANNELS) * self.n_nodes + len(TASK_FIELDS)

            def tile(array: np.ndarray) -> np.ndarray:
                return np.ascontiguousarray(np.broadcast_to(array, (batch, *np.shape(array))))

            nodes = np.arange(n)[:, None]
            task = len(CHANNELS) * n  # where the task's fields start
            reads = np.concatenate([channel * n + nodes if kind == "node" else np.full((n, 1), task + channel)
                                    for kind, channel in _READS], axis=1)  # (n, reads) for row 0
            rows = np.arange(batch)
            constants = BatchConstants(
                step_mi=tile(self.step_mi), drain=tile(self.drain), background=tile(self.background),
                j_per_mi=tile(self.j_per_mi), log_low=tile(self.log_low), log_span=tile(self.log_span),
                row_nodes=rows * n, reads=(reads[None] + (rows * width)[:, None, None]).reshape(batch * n, -1),
                server_step_mi=tile(self.step_mi[self.servers]), uniforms=np.empty((batch, 5)))
            if len(self._batches) >= BATCH_SIZES_KEPT:  # the oldest goes: forks come in many sizes
                del self._batches[next(iter(self._batches))]
            self._batches[batch] = constants
        return constants

    def new_state(self, batch: int) -> SimState:
        """``batch`` episodes before their start (:meth:`start` starts them)."""
        return SimState(np.tile(self.initial, (batch, 1)), np.zeros(batch, dtype=np.intp),
                        np.zeros(batch, dtype=np.int64))

    # ------------------------------------------------------------------ an episode's start and steps

    def start(self, state: SimState, rngs: list[np.random.Generator]) -> None:
        """Every episode of ``state`` from empty queues, through the warm-up, to its first task."""
        state.values[:] = self.initial
        if self.trace is not None:  # where in the trace each episode starts: its first draw
            state.trace_at[:] = [rng.integers(len(self.trace)) for rng in rngs]
        constants = self.constants(state.batch)
        for _ in range(self.config.warmup_steps):
            self.advance(state, rngs, constants)
        self.draw_tasks(state, rngs, constants)

    def step(self, state: SimState, nodes: np.ndarray, rngs: list[np.random.Generator]
             ) -> tuple[Any, dict[str, Any]]:
        """Place each episode's task on ``nodes`` (valid node indices), then one step of time and
        the next tasks. Returns the rewards and the placements' ``info`` (see :meth:`place`)."""
        constants = self.constants(state.batch)
        placed = self.place(state, nodes, constants)
        self.advance(state, rngs, constants)
        self.draw_tasks(state, rngs, constants)
        return placed

    def place(self, state: SimState, nodes: np.ndarray, constants: BatchConstants | None = None
              ) -> tuple[Any, dict[str, Any]]:
        """Each episode's task placed on its node of ``nodes``: the state updated, the rewards and
        ``info`` returned, one value per episode (see :func:`episodes`: Python scalars for a batch
        of one). Draws nothing, so it is exact on a copy (the bounds' what-if). ``constants``:
        :meth:`constants` of the batch, if the caller has them (as for the two methods below)."""
        cfg, c = self.config, constants or self.constants(state.batch)
        index = c.reads.take(nodes if state.batch == 1 else c.row_nodes + nodes, axis=0)  # row 0: no offset
        read = state.values.take(index)
        (held, ahead, queued_mbit, need, work, input_mbit, latency_at, bandwidth, energy_at, tx_at, deadline, memory,
         mips, node, node_type) = episodes(read)
        fits = need <= memory - held
        dropped = fits ^ True
        transfer = latency_at + 1000.0 * input_mbit / bandwidth
        # A dropped task (too little free memory) neither waits nor runs: it counts as a hopeless
        # placement, and uses the energy of its transmission only.
        wait = 1000.0 * ahead / mips * fits
        execution = 1000.0 * work / mips * fits
        latency = transfer + wait + execution + dropped * (cfg.latency_cap * deadline)
        energy = energy_at * fits + tx_at * dropped
        met = fits & (latency <= deadline)
        # The node holds its memory and work if it fits; its input crosses the node's access link
        # unless it stays on its sensor, the one node to which the bandwidth is infinite.
        state.values.put(index[:, :_WRITES].T,
                         [held + need * fits, ahead + work * fits, queued_mbit + input_mbit * (bandwidth != _INF)])

        # Jain's fairness index of the servers' queued work, measured in steps of their compute:
        # 1 where no server has work queued (``empty``).
        queued = state.backlog_mi[:, self.servers] / c.server_step_mi
        total, squares, most_energy = _each(np.add.reduce(queued, axis=-1), np.vecdot(queued, queued),
                                            np.maximum.reduce(state.energy_j, axis=-1))
        empty = squares == 0
        balance = total * total / (queued.shape[-1] * squares + empty) + empty
        rewards = (cfg.w_deadline * met - cfg.w_latency * _minimum(latency / deadline, cfg.latency_cap)
                   - cfg.w_energy * (energy / most_energy) + cfg.w_balance * balance)
        info = {"latency_ms": latency, "energy_j": energy, "deadline_met": met, "dropped": dropped,
                "node": _integer(node), "node_type": _integer(node_type), "transfer_ms": transfer, "wait_ms": wait,
                "execution_ms": execution, "deadline_ms": deadline, "load_balance": balance}
        return rewards, info

    def advance(self, state: SimState, rngs: list[np.random.Generator], constants: BatchConstants | None = None
                ) -> None:
        """One step of time: queues drain at capacity, then background work arrives."""
        c, n = constants or self.constants(state.batch), self.n_nodes
        backlog, busy, queues = state.backlog_mi, state.busy, state.queues
        np.divide(backlog, c.step_mi, busy)
        np.minimum(busy, _ONE, out=busy)
        held = np.maximum(backlog, _TINY)
        np.subtract(queues, c.drain, queues)
        np.maximum(queues, _ZERO, out=queues)
        # Memory is released in proportion to the work done (a fluid model of the queue);
        # a node with no work holds no task memory, so an empty queue gives a ratio of 0.
        state.mem_used_mb *= backlog / held
        rate: Any = self.rate
        if self.trace is not None:
            rate = rate * self.trace[state.trace_at % len(self.trace)]
            state.trace_at += 1
        sizes = None
        for row, rng in enumerate(rngs):
            jobs = rng.poisson(rate if self.trace is None else rate[row])
            if jobs:
                # One draw for where the jobs land and one for their Exp(1) sizes.
                where = (rng.random(jobs) * self._nodes).astype(np.intp)
                counts = np.bincount(where, rng.standard_exponential(jobs), n)
                if state.batch == 1:  # the lone episode's row as it is
                    sizes = counts.reshape(1, 1, n)
                else:
                    if sizes is None:
                        sizes = np.zeros((state.batch, 1, n))
                    sizes[row, 0] = counts
        if sizes is not None:
            state.loads += sizes * c.background

    def draw_tasks(self, state: SimState, rngs: list[np.random.Generator], constants: BatchConstants | None = None
                   ) -> None:
        """Each episode's next task, and what it would meet on each node."""
        cfg, c = self.config, constants or self.constants(state.batch)
        u = c.uniforms
        for row, rng in enumerate(rngs):
            rng.random(out=u[row])
        # Log-uniform draws: low * (high / low) ** u, for demand, input size and deadline.
        logs = u[:, 1:4]
        np.multiply(logs, c.log_span, logs)
        np.exp(logs, logs)
        np.multiply(logs, c.log_low, logs)
        sensor, demand_mi, input_kb, deadline_ms, memory_u = episodes(u, column=True)
        state.source[:] = _truncated(sensor * cfg.n_sensors)  # a uniform sensor
        memory_mb = cfg.memory_mb[0] + memory_u * (cfg.memory_mb[1] - cfg.memory_mb[0])
        input_mbit = 8.0 * input_kb / 1000.0
        _store([demand_mi, input_kb, memory_mb, deadline_ms, input_mbit], state.task)
        # What it would meet on each node: network latency (the path's, then the wait behind the
        # input queued on the node's access link), transmission energy, energy. The source's path
        # latency lands in LATENCY, its other tables beside it (mode="clip": no buffer; every
        # source is valid).
        self.paths.take(state.source, axis=0, out=state.paths, mode="clip")
        state.latency_ms += state.ingress_mbit * state.ms_per_mbit
        np.multiply(cfg.tx_energy_j_per_mb * input_kb / 1000.0, state.hops, state.tx_energy_j)
        np.multiply(demand_mi, c.j_per_mi, state.energy_j)
        state.energy_j += state.tx_energy_j

    # ------------------------------------------------------------------ reading it

    def task_info(self, state: SimState, row: int) -> dict[str, Any]:
        """Episode ``row``'s current task in raw units, as ``info["task"]`` gives it."""
        demand_mi, input_kb, memory_mb, deadline_ms, input_mbit = state.task[row].tolist()
        return {"source": state.source.item(row), "demand_mi": demand_mi, "input_kb": input_kb,
                "input_mbit": input_mbit, "memory_mb": memory_mb, "deadline_ms": deadline_ms}

    def raw_state(self, state: SimState, row: int) -> RawState:
        """Episode ``row``'s state in raw units (copies)."""
        return RawState(**{name: getattr(state, name)[row].copy() for name in RawState.__dataclass_fields__
                           if name != "task"}, task=self.task_info(state, row))
