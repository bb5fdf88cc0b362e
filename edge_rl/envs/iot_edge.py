"""The IoT edge task-placement environment, ``edge_rl/IoTEdge-v0``."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from edge_rl.config import NODE_FEATURES, TASK_FEATURES, EnvConfig
from edge_rl.envs.topology import Topology, make_topology
from edge_rl.registry import LOAD_TRACES

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


class IoTEdgeEnv(gym.Env[dict[str, np.ndarray], int]):
    """Place each arriving IoT task on a node of a sensor / fog / cloud network.

    ## Description

    A reconstruction: the original system's environment was never published, so every
    quantity below is our own design, built on the numbers of the original that are known
    (capacities, links, power, the Poisson rate, episode length, reward weights; see
    :mod:`edge_rl.config`). Time advances in steps of ``step_ms`` (100 ms). At each step one
    task arrives at a sensor (drawn uniformly) and the agent chooses the node that runs it.
    Every node runs a FIFO queue of work (in MI) that drains at its capacity, and has an access
    link whose queue (in Mbit) drains at ``ingress_mbps``. Background work from other users
    arrives as a Poisson process, so queues, memory and links change over time; its rate can be
    scaled (``load_scale``) or follow a real data-centre trace (``load_trace``,
    :mod:`edge_rl.envs.traces`).

    A task has a compute demand ``D`` (MI, log-uniform in ``demand_mi``), an input size ``S``
    (KB, log-uniform in ``input_kb``), a memory need ``M`` (MB, uniform in ``memory_mb``) and a
    deadline ``T`` (ms, log-uniform in ``deadline_ms``). Placing it from source ``s`` on node
    ``n`` gives, with ``b = 8 S / 1000`` Mbit:

    - transfer ``= 0`` if ``n == s``, else ``path_latency(s, n) + 1000 * ingress_queue(n) /
      ingress_mbps(n) + 1000 * b / min(path_bandwidth(s, n), ingress_mbps(n))`` ms
      (lowest-latency path, its narrowest link, and the wait behind data already queued on
      ``n``'s access link);
    - waiting ``= 1000 * backlog(n) / mips(n)`` ms and execution ``= 1000 * D / mips(n)`` ms;
    - latency ``= transfer + waiting + execution``; the deadline is met if latency ``<= T``;
    - energy ``= busy_power(n) * execution / 1000 + tx_energy_j_per_mb * (S / 1000) *
      hops(s, n)`` J.

    If ``M`` exceeds the node's free memory the task is dropped: it misses its deadline, its
    latency counts as ``transfer + latency_cap * T`` and its energy is the transmission only.

    The trade-off: the cloud computes 14x faster than a fog node and uses the least energy per
    MI, but it is the farthest and its shared WAN link (40 Mbit/s, 40 % busy with other traffic)
    saturates if every task goes there; fog nodes are near but their queues fill up; a sensor
    is slow (100 MIPS) and has little memory, but a task that stays there is not transferred.

    ## Action Space

    ``Discrete(max_nodes)``: the index of the node that runs the current task. Nodes are
    numbered sensors first, then fog nodes, then clouds. Slots past the real nodes are padding;
    choosing one raises ``ValueError``. :meth:`action_masks` gives the valid actions.

    ## Observation Space

    A ``Dict`` with

    - ``nodes``: ``(max_nodes, 7)`` float32, one row per node, columns in the card's order:

      | col | feature    | meaning (raw unit)                                               | range    |
      |-----|------------|------------------------------------------------------------------|----------|
      | 0   | cpu_util   | fraction of the last step the node's CPU was busy                | [0, 1]   |
      | 1   | mem_util   | memory in use / capacity                                         | [0, 1]   |
      | 2   | energy     | energy to run the current task there (J) / 10                    | [0, 10]  |
      | 3   | latency    | path latency + access-link wait from the task's source (ms) / 100 | [0, 10]  |
      | 4   | bandwidth  | min(path bandwidth, access link) from the source (Mbit/s) / 200; 1 at the source | [0, 1] |
      | 5   | queue_len  | queued work in steps of the node's compute (backlog / (mips * step)) | [0, 20] |
      | 6   | node_type  | 0 sensor, 1 fog, 2 cloud                                         | {0,1,2}  |

      Values beyond a cap are clipped. ``queue_len`` is measured in steps of work rather than
      in tasks (the card's unit) because nodes differ 400-fold in speed: a count of tasks
      would not say how long a new one waits.
    - ``adjacency``: ``(max_nodes, max_nodes)`` float32, 1 where a link joins two nodes.
    - ``node_mask``: ``(max_nodes,)`` float32, 1 for real nodes, 0 for padding.
    - ``task``: ``(4,)`` float32, ``[D, S, M, T]`` each divided by the upper bound of its
      distribution, in ``[0, 1]``.

    Padding rows are zero. Raw units are in ``info`` (``info["task"]`` at reset and each step).

    ## Rewards

    ``r = w_deadline * met - w_latency * min(latency / T, latency_cap) - w_energy * e
    + w_balance * balance`` with the card's weights 2.0, 1.0, 0.5, 0.3, where

    - ``met`` is 1 if the deadline is met, else 0;
    - ``latency_cap`` (4) bounds the penalty of a hopeless placement;
    - ``e`` is the task's energy divided by the largest energy any node would have used for it
      (in ``[0, 1]``, so energy weighs the same for small and large tasks);
    - ``balance = (sum q)^2 / (K * sum q^2)`` is Jain's fairness index of ``q_n = backlog_n /
      (mips_n * step)``, the work queued on each of the ``K`` servers (fog and cloud nodes)
      right after placement, in steps of that server's compute: 1 when every server has the
      same backlog (or none has any), ``1/K`` when one server holds it all.

    A step's reward therefore lies in ``[-4.5, 2.3]``.

    ## Starting State

    Queues start empty and background work runs for ``warmup_steps`` (20) steps before the
    first task, so the first observation already shows a loaded network.

    ## Episode End

    The environment never terminates by itself. ``gymnasium.make("edge_rl/IoTEdge-v0")``
    truncates after 100 steps (the card's episode length), set at registration.

    ## Arguments

    ``IoTEdgeEnv(config=None, **overrides)``: an :class:`~edge_rl.config.EnvConfig` and/or
    any of its fields, e.g. ``gym.make("edge_rl/IoTEdge-v0", n_sensors=20, n_fog=8)``.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, config: EnvConfig | None = None, **overrides: Any) -> None:
        config = config if config is not None else EnvConfig()
        if not isinstance(config, EnvConfig):
            raise TypeError(f"config must be an EnvConfig, got {type(config).__name__}")
        self.config = config.replace(**overrides) if overrides else config
        self.topology: Topology = make_topology(self.config)
        cfg, topo = self.config, self.topology
        n, m = cfg.n_nodes, cfg.padded_nodes
        self.n_nodes, self.max_nodes = n, m
        self._step_s = cfg.step_ms / 1000.0

        specs = [cfg.node_type_spec(int(t)) for t in topo.node_type]
        self._mips = np.array([s.mips for s in specs])
        self._memory_mb = np.array([s.memory_mb for s in specs])
        self._power_w = np.array([s.busy_power_w for s in specs])
        self._ingress_mbps = np.array([s.ingress_mbps for s in specs])
        self._step_mi = self._mips * self._step_s  # work a node does in one step
        self._servers = slice(cfg.n_sensors, n)  # fog and cloud nodes, numbered last
        # Background jobs: Poisson(rate) per step over the network, each on a uniform node with
        # an Exp(1)-distributed size times these per-node means, chosen so that the expected
        # load is bg_*_util of the capacity.
        jobs_per_node = cfg.background_rate / n
        scale = 1.0 / jobs_per_node if jobs_per_node > 0 else 0.0
        bg_cpu = np.array([s.bg_cpu_util for s in specs])
        self._bg_mi = bg_cpu * self._step_mi * scale
        self._bg_mbit = np.array([s.bg_link_util for s in specs]) * self._ingress_mbps
        self._bg_mbit *= self._step_s * scale
        # Memory held per MI of queued background work: bg_mem_util of capacity when the
        # queue holds one step of mean background work.
        mem_per_mi = np.divide(
            np.array([s.bg_mem_util for s in specs]) * self._memory_mb,
            bg_cpu * self._step_mi,
            out=np.zeros(n),
            where=bg_cpu > 0,
        )
        self._bg_mem = self._bg_mi * mem_per_mi
        # The arrival rate's pattern over time (EnvConfig.load_trace): per-step multipliers.
        self._trace = LOAD_TRACES.get(cfg.load_trace)() if cfg.load_trace is not None else None
        self._trace_at = 0

        # Per-source path tables (row = task source), precomputed once.
        self._path_latency = topo.path_latency_ms
        self._hops = topo.path_hops.astype(np.float64)
        self._bandwidth = np.minimum(topo.path_bandwidth_mbps, self._ingress_mbps[None, :])
        np.fill_diagonal(self._bandwidth, np.inf)  # a task that stays is not transferred
        self._ms_per_mbit = 1000.0 / self._ingress_mbps
        self._ingress_step_mbit = self._ingress_mbps * self._step_s
        self._j_per_mi = self._power_w / self._mips
        self._node_template = np.zeros((n, m, len(NODE_FEATURES)), dtype=np.float32)
        self._node_template[:, :n, 4] = np.minimum(self._bandwidth / BANDWIDTH_SCALE_MBPS, 1.0)
        self._node_template[:, :n, 6] = topo.node_type
        bounds = np.array([cfg.demand_mi, cfg.input_kb, cfg.deadline_ms])
        self._log_low, self._log_span = bounds[:, 0], np.log(bounds[:, 1] / bounds[:, 0])

        self._adjacency = np.zeros((m, m), dtype=np.float32)
        self._adjacency[:n, :n] = topo.adjacency
        self._node_mask = np.zeros(m, dtype=np.float32)
        self._node_mask[:n] = 1.0
        self._task_high = np.array(
            [cfg.demand_mi[1], cfg.input_kb[1], cfg.memory_mb[1], cfg.deadline_ms[1]],
            dtype=np.float32,
        )

        self.action_space = spaces.Discrete(m)
        self.observation_space = spaces.Dict(
            {
                "nodes": spaces.Box(
                    low=0.0, high=np.tile(NODE_FEATURE_HIGH, (m, 1)), dtype=np.float32
                ),
                "adjacency": spaces.Box(0.0, 1.0, shape=(m, m), dtype=np.float32),
                "node_mask": spaces.Box(0.0, 1.0, shape=(m,), dtype=np.float32),
                "task": spaces.Box(0.0, 1.0, shape=(len(TASK_FEATURES),), dtype=np.float32),
            }
        )
        self._task: dict[str, Any] | None = None

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if options:
            raise ValueError(f"IoTEdgeEnv.reset accepts no options, got {sorted(options)}")
        if self._trace is not None:  # where in the trace this episode starts
            self._trace_at = int(self.np_random.integers(len(self._trace)))
        n = self.n_nodes
        self._backlog_mi = np.zeros(n)
        self._mem_used_mb = np.zeros(n)
        self._ingress_mbit = np.zeros(n)
        self._busy = np.zeros(n)
        for _ in range(self.config.warmup_steps):
            self._advance()
        self._draw_task()
        return self._observation(), {"task": dict(self._task)}

    def step(
        self, action: int | np.integer | np.ndarray
    ) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        if self._task is None:
            raise RuntimeError("call reset() before step()")
        node = self._as_node(action)
        cfg, task = self.config, self._task
        deadline = task["deadline_ms"]
        transfer = self._transfer_ms[node]
        fits = task["memory_mb"] <= self._memory_mb[node] - self._mem_used_mb[node]
        if node != task["source"]:
            self._ingress_mbit[node] += task["input_mbit"]
        if fits:
            wait = 1000.0 * self._backlog_mi[node] / self._mips[node]
            execution = 1000.0 * task["demand_mi"] / self._mips[node]
            latency = transfer + wait + execution
            energy = self._energy_j[node]
            met = latency <= deadline
            self._backlog_mi[node] += task["demand_mi"]
            self._mem_used_mb[node] += task["memory_mb"]
        else:  # dropped for lack of memory: counted as a hopeless placement
            wait = execution = 0.0
            latency = transfer + cfg.latency_cap * deadline
            energy = self._tx_energy_j[node]
            met = False

        # Jain's fairness index of the servers' queued work, measured in steps of their compute.
        queued = self._backlog_mi[self._servers] / self._step_mi[self._servers]
        total, squares = queued.sum(), queued @ queued
        balance = float(total * total / (queued.size * squares)) if squares > 0 else 1.0
        energy_norm = energy / self._energy_j.max()
        reward = (
            cfg.w_deadline * met
            - cfg.w_latency * min(latency / deadline, cfg.latency_cap)
            - cfg.w_energy * energy_norm
            + cfg.w_balance * balance
        )
        info = {
            "latency_ms": latency,
            "energy_j": energy,
            "deadline_met": bool(met),
            "dropped": not fits,
            "node": node,
            "node_type": int(self.topology.node_type[node]),
            "transfer_ms": transfer,
            "wait_ms": wait,
            "execution_ms": execution,
            "deadline_ms": deadline,
            "load_balance": balance,
        }
        self._advance()
        self._draw_task()
        info["task"] = dict(self._task)
        return self._observation(), float(reward), False, False, info

    def action_masks(self) -> np.ndarray:
        """Boolean ``(max_nodes,)``: True for the nodes a task may be placed on."""
        return self._node_mask.astype(bool)

    # ------------------------------------------------------------------ dynamics

    def _as_node(self, action: int | np.integer | np.ndarray) -> int:
        try:
            node = int(action)
            valid = node == action and 0 <= node < self.n_nodes
        except (TypeError, ValueError):
            valid = False
        if not valid:
            padding = (
                f"; slots {self.n_nodes}..{self.max_nodes - 1} are padding"
                if self.max_nodes > self.n_nodes
                else ""
            )
            raise ValueError(
                f"invalid action {action!r}: the action is a node index, an integer in "
                f"[0, {self.n_nodes - 1}]{padding} (see action_masks())"
            )
        return node

    def _advance(self) -> None:
        """One step of time: queues drain at capacity, then background work arrives."""
        rng, backlog = self.np_random, self._backlog_mi
        self._busy = np.minimum(backlog / self._step_mi, 1.0)
        remaining = np.maximum(backlog - self._step_mi, 0.0)
        # Memory is released in proportion to the work done (a fluid model of the queue);
        # a node with no work holds no task memory, so an empty queue gives a ratio of 0.
        self._mem_used_mb *= remaining / np.maximum(backlog, 1e-12)
        self._backlog_mi = remaining
        self._ingress_mbit = np.maximum(self._ingress_mbit - self._ingress_step_mbit, 0.0)
        rate = self.config.background_rate * self.config.load_scale
        if self._trace is not None:
            rate *= self._trace[self._trace_at % len(self._trace)]
            self._trace_at += 1
        jobs = rng.poisson(rate)
        if jobs:
            # One draw for where the jobs land and one for their Exp(1) sizes.
            where = (rng.random(jobs) * self.n_nodes).astype(np.intp)
            sizes = np.bincount(where, rng.standard_exponential(jobs), self.n_nodes)
            self._backlog_mi += sizes * self._bg_mi
            self._ingress_mbit += sizes * self._bg_mbit
            self._mem_used_mb += sizes * self._bg_mem

    def _draw_task(self) -> None:
        cfg = self.config
        u = self.np_random.random(5)
        # Log-uniform draws: low * (high / low) ** u, for demand, input size and deadline.
        demand_mi, input_kb, deadline_ms = (self._log_low * np.exp(u[1:4] * self._log_span)).tolist()
        input_mbit = 8.0 * input_kb / 1000.0
        source = int(u[0] * cfg.n_sensors)
        self._task = {
            "source": source,
            "demand_mi": demand_mi,
            "input_kb": input_kb,
            "input_mbit": input_mbit,
            "memory_mb": cfg.memory_mb[0] + float(u[4]) * (cfg.memory_mb[1] - cfg.memory_mb[0]),
            "deadline_ms": deadline_ms,
        }
        # What placing this task on each node would cost in network time and energy.
        latency = self._path_latency[source] + self._ingress_mbit * self._ms_per_mbit
        latency[source] = 0.0
        self._net_latency_ms = latency
        self._transfer_ms = latency + 1000.0 * input_mbit / self._bandwidth[source]
        self._tx_energy_j = (cfg.tx_energy_j_per_mb * input_kb / 1000.0) * self._hops[source]
        self._energy_j = demand_mi * self._j_per_mi + self._tx_energy_j

    def _observation(self) -> dict[str, np.ndarray]:
        n, task = self.n_nodes, self._task
        # Per-source template: zero padding, bandwidth and node type already filled in.
        nodes = self._node_template[task["source"]].copy()
        nodes[:n, 0] = self._busy
        nodes[:n, 1] = np.minimum(self._mem_used_mb / self._memory_mb, 1.0)
        nodes[:n, 2] = np.minimum(self._energy_j * (1.0 / ENERGY_SCALE_J), ENERGY_CAP)
        nodes[:n, 3] = np.minimum(self._net_latency_ms * (1.0 / LATENCY_SCALE_MS), LATENCY_CAP)
        nodes[:n, 5] = np.minimum(self._backlog_mi / self._step_mi, QUEUE_CAP_STEPS)
        raw_task = (task["demand_mi"], task["input_kb"], task["memory_mb"], task["deadline_ms"])
        return {
            "nodes": nodes,
            # Copies: a caller may keep or modify what it is given (Gymnasium's checker asks).
            "adjacency": self._adjacency.copy(),
            "node_mask": self._node_mask.copy(),
            # min(): a log-uniform draw may land one rounding step above its upper bound.
            "task": np.minimum(np.array(raw_task, dtype=np.float32) / self._task_high, 1.0),
        }


def make_env(config: EnvConfig | None = None, *, flat: bool = False, **overrides: Any) -> gym.Env:
    """``gymnasium.make("edge_rl/IoTEdge-v0")`` with the 100-step limit.

    ``flat=True`` wraps it in Gymnasium's ``FlattenObservation``: the single float vector
    (nodes, adjacency, mask and task, concatenated) that the card's MLP baselines consume.
    """
    env = gym.make("edge_rl/IoTEdge-v0", config=config, **overrides)
    return gym.wrappers.FlattenObservation(env) if flat else env
