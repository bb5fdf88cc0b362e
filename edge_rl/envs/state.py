"""A batch of episodes' state, laid out for the shared dynamics (:mod:`edge_rl.envs.dynamics`).

One row of one float64 array per episode (:class:`SimState`): channels of ``n`` values side by
side, then the current task's fields. Why one row: on a batch of one numpy costs per call, not
per element, so quantities updated alike sit in adjacent channels and are updated in one call, a
placement reads all it needs in one ``take`` and writes in one ``put``, and copying an episode (a
fork, an autoreset) copies one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Channels of SimState.values, n values each. The state proper: memory held, queued work, queued
# input on the access link (each drains or fills per step), the CPU's busy fraction of the last
# step. Then what the current task would meet on each node (set when the task is drawn): the
# energy it would use, the network latency from its source; its source's row of the path tables
# (bandwidth, access-link wait per Mbit, hops), copied in by one gather; the energy of
# transmitting its input. Energy, latency and bandwidth are what the observation shows, side by
# side as in its columns. Last the nodes' constants (memory, speed, index, type), the same in
# every row, so that a placement's one read gathers them with the rest.
(MEM, BACKLOG, INGRESS, BUSY, ENERGY, LATENCY, BANDWIDTH, MS_PER_MBIT, HOPS, TX_ENERGY, CAPACITY, MIPS, INDEX,
 TYPE) = range(14)
CHANNELS = ("mem_used_mb", "backlog_mi", "ingress_mbit", "busy", "energy_j", "latency_ms", "bandwidth_mbps",
            "ms_per_mbit", "hops", "tx_energy_j", "memory_capacity_mb", "mips", "node_index", "node_type")
TASK_FIELDS = ("demand_mi", "input_kb", "memory_mb", "deadline_ms", "input_mbit")
"""The task's fields after the channels: the observation's four first, in its order."""
DEMAND, INPUT_KB, MEMORY, DEADLINE, INPUT_MBIT = range(len(TASK_FIELDS))
OBSERVED_TASK_FIELDS = 4

INFO_KEYS = ("latency_ms", "energy_j", "deadline_met", "dropped", "node", "node_type", "transfer_ms", "wait_ms",
             "execution_ms", "deadline_ms", "load_balance")
"""What a placement reports per episode: a step's ``info`` (the envs add the next task)."""


@dataclass
class SimState:
    """What changes in ``B`` episodes: one row of :attr:`values` per episode, and two integers.

    Attributes:
        values: ``(B, 14 n + 5)`` float64: the channels (``CHANNELS``, ``n`` values each) then the
            task's fields (``TASK_FIELDS``). ``channels`` ``(B, 14, n)``, each channel by its name,
            ``loads``, ``queues``, ``held``, ``observed``, ``paths``, ``task`` and ``observed_task``
            are views of it.
        source: ``(B,)`` the sensor the current task arrived at.
        trace_at: ``(B,)`` each episode's place in the load trace (``EnvConfig.load_trace``).
    """

    values: np.ndarray
    source: np.ndarray
    trace_at: np.ndarray

    def __post_init__(self) -> None:
        if not self.values.flags.c_contiguous:  # place() reads and writes it by flat indices
            raise ValueError("SimState.values must be C-contiguous")
        self.batch = batch = self.values.shape[0]
        n = (self.values.shape[1] - len(TASK_FIELDS)) // len(CHANNELS)
        self.channels = self.values[:, : len(CHANNELS) * n].reshape(batch, len(CHANNELS), n)  # a view
        for index, name in enumerate(CHANNELS):
            setattr(self, name, self.channels[:, index])
        self.loads = self.channels[:, MEM:INGRESS + 1]  # what background work adds to
        self.queues = self.channels[:, BACKLOG:INGRESS + 1]  # what drains at a node's capacity
        self.held = self.channels[:, MEM:BACKLOG + 1]  # memory and work a node holds
        self.observed = self.channels[:, ENERGY:BANDWIDTH + 1]  # energy, latency, bandwidth: observed as they are
        self.paths = self.channels[:, LATENCY:HOPS + 1]  # where its source's path tables are copied
        self.task = self.values[:, len(CHANNELS) * n:]
        self.observed_task = self.task[:, :OBSERVED_TASK_FIELDS]

    def take(self, rows: np.ndarray) -> SimState:
        """A copy of episodes ``rows`` (a row may repeat)."""
        return SimState(self.values[rows], self.source[rows], self.trace_at[rows])

    def put(self, rows: np.ndarray, other: SimState) -> None:
        """Episodes ``rows`` become ``other``'s."""
        self.values[rows], self.source[rows], self.trace_at[rows] = other.values, other.source, other.trace_at


@dataclass(frozen=True)
class RawState:
    """One episode's simulator state in raw units (copies): what the server and the checks read.

    ``busy`` to ``ingress_mbit`` are the network's state, per node; ``energy_j`` and ``latency_ms``
    what the current task would meet on each node (the energy placing it there would use; the
    network latency and access-link wait from its source); ``task`` is ``info["task"]``.
    """

    busy: np.ndarray
    mem_used_mb: np.ndarray
    backlog_mi: np.ndarray
    ingress_mbit: np.ndarray
    energy_j: np.ndarray
    latency_ms: np.ndarray
    task: dict[str, Any]
