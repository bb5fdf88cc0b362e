"""``edge_rl/IoTEdge-v0`` vectorised: many episodes of the same network stepped together.

:class:`IoTEdgeVectorEnv` is to :class:`~edge_rl.envs.iot_edge.IoTEdgeEnv` what Gymnasium's
``CartPoleVectorEnv`` is to ``CartPoleEnv``: the same dynamics on arrays with a leading
episode axis, so that a policy scores every running episode in one batched call and the
simulator advances them all in one set of array operations. ``gymnasium.make_vec(
"edge_rl/IoTEdge-v0", num_envs=B)`` builds it.

Each episode draws from its own generator, seeded as ``IoTEdgeEnv.reset(seed=...)`` seeds
its own and drawn from in the same order, and every formula is the lone environment's, in
the same order of operations: an episode gives the same observations, rewards and ``info``
as ``IoTEdgeEnv`` on the same seed, bit for bit (``tests/test_vector_env.py`` checks it).
The two implementations are kept apart on purpose: one episode's numpy calls on rows of
length 1 cost 3x a scalar step, and training steps one environment at a time.

It reads its constants (capacities, paths, background loads, the observation's template) off
an ``IoTEdgeEnv`` of the same config, so the two never disagree on them.

Autoreset: Gymnasium's default, next step (``metadata["autoreset_mode"]``): the step after an
episode ends resets it, continuing its generator, and ignores its action.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from edge_rl.config import EnvConfig
from edge_rl.envs.iot_edge import ENERGY_CAP, ENERGY_SCALE_J, LATENCY_CAP, LATENCY_SCALE_MS, QUEUE_CAP_STEPS, IoTEdgeEnv

INFO_KEYS = ("latency_ms", "energy_j", "deadline_met", "dropped", "node", "node_type", "transfer_ms", "wait_ms",
             "execution_ms", "deadline_ms", "load_balance")
"""The ``info`` of a step, one array per key (``IoTEdgeEnv``'s keys but ``task``)."""


class IoTEdgeVectorEnv(VectorEnv):
    """``num_envs`` episodes of :class:`~edge_rl.envs.iot_edge.IoTEdgeEnv` side by side.

    Args:
        num_envs: episodes stepped together.
        config: the environment (the card's network by default); ``overrides`` change its fields.
        max_episode_steps: an episode's length (the time limit; the card's 100).
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, config: EnvConfig | None = None, max_episode_steps: int = 100,
                 **overrides: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int) or max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be an integer >= 1, got {max_episode_steps!r}")
        self.single = IoTEdgeEnv(config, **overrides)  # the constants, read off a lone environment
        self.config, self.topology = self.single.config, self.single.topology
        self.num_envs, self.max_episode_steps = num_envs, max_episode_steps
        self.n_nodes, self.max_nodes = self.single.n_nodes, self.single.max_nodes
        self.single_observation_space = self.single.observation_space
        self.single_action_space = self.single.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rows = np.arange(num_envs)
        self._rngs: list[np.random.Generator] | None = None
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._trace_at = np.zeros(num_envs, dtype=np.int64)  # each episode's place in the load trace
        self._done = np.zeros(num_envs, dtype=bool)
        n = self.n_nodes
        self._backlog_mi, self._mem_used_mb = np.zeros((num_envs, n)), np.zeros((num_envs, n))
        self._ingress_mbit, self._busy = np.zeros((num_envs, n)), np.zeros((num_envs, n))

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start every episode: ``seed`` an int (episode ``i`` gets ``seed + i``, as Gymnasium's
        vector environments do) or one seed per episode."""
        if options:
            raise ValueError(f"IoTEdgeVectorEnv.reset accepts no options, got {sorted(options)}")
        seeds = seed if isinstance(seed, (list, tuple)) else [None if seed is None else seed + i
                                                              for i in range(self.num_envs)]
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset needs one seed per episode ({self.num_envs}), got {len(seeds)}")
        # The generator IoTEdgeEnv.reset(seed=s) would make (gymnasium.Env.reset's).
        self._rngs = [seeding.np_random(s)[0] for s in seeds]
        self._start(self._rows)
        return self._observation(), {}

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray,
                                                  dict[str, np.ndarray]]:
        if self._rngs is None:
            raise RuntimeError("call reset() before step()")
        nodes = np.asarray(actions).reshape(-1)
        restart = self._done.copy()  # next-step autoreset: these episodes start again, their action unused
        live = self._rows if not restart.any() else np.flatnonzero(~restart)
        self._check(nodes, live)
        rewards, info = np.zeros(self.num_envs), {key: np.zeros(self.num_envs, dtype=np.float64) for key in INFO_KEYS}
        for key in ("deadline_met", "dropped"):
            info[key] = np.zeros(self.num_envs, dtype=bool)
        for key in ("node", "node_type"):
            info[key] = np.zeros(self.num_envs, dtype=np.int64)
        if live.size:
            rewards[live], placed = self._place(live, nodes[live])
            for key, value in placed.items():
                info[key][live] = value
            self._advance(live)
            self._draw_tasks(live)
            self._steps[live] += 1
        if restart.any():
            self._start(np.flatnonzero(restart))
        truncated = self._steps >= self.max_episode_steps
        self._done = truncated.copy()
        return self._observation(), rewards, np.zeros(self.num_envs, dtype=bool), truncated, info

    def action_masks(self) -> np.ndarray:
        """Boolean ``(num_envs, max_nodes)``: True for the nodes a task may be placed on."""
        return np.broadcast_to(self.single.action_masks(), (self.num_envs, self.max_nodes)).copy()

    def _check(self, nodes: np.ndarray, live: np.ndarray) -> None:
        valid = (nodes.shape == (self.num_envs,) and np.issubdtype(nodes.dtype, np.integer)
                 and bool(np.all((nodes[live] >= 0) & (nodes[live] < self.n_nodes))))
        if not valid:
            raise ValueError(f"actions must be {self.num_envs} node indices, integers in [0, {self.n_nodes - 1}] "
                             f"(see action_masks()), got {nodes!r}")

    # ------------------------------------------------------------------ the dynamics, by rows

    def _start(self, rows: np.ndarray) -> None:
        """Episodes ``rows`` from empty queues, through the warm-up, to their first task."""
        for array in (self._backlog_mi, self._mem_used_mb, self._ingress_mbit, self._busy):
            array[rows] = 0.0
        trace = self.single._trace
        if trace is not None:  # drawn first, as the lone environment's reset draws it
            self._trace_at[rows] = [self._rngs[row].integers(len(trace)) for row in rows]
        for _ in range(self.config.warmup_steps):
            self._advance(rows)
        if not hasattr(self, "_source"):  # the task arrays, made on the first start
            self._source = np.zeros(self.num_envs, dtype=np.intp)
            self._task = np.zeros((self.num_envs, 5))  # demand_mi, input_kb, input_mbit, memory_mb, deadline_ms
            self._costs = np.zeros((4, self.num_envs, self.n_nodes))  # net_latency, transfer, tx_energy, energy
        self._draw_tasks(rows)
        self._steps[rows] = 0
        self._done[rows] = False

    def _place(self, rows: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """IoTEdgeEnv.step's placement and reward, for episodes ``rows`` on ``nodes``."""
        env, cfg = self.single, self.config
        demand, _, input_mbit, memory, deadline = self._task[rows].T
        _, transfer_ms, tx_energy, energy_j = self._costs[:, rows]  # copies of these episodes' rows
        sub = np.arange(len(rows))
        transfer = transfer_ms[sub, nodes]
        fits = memory <= env._memory_mb[nodes] - self._mem_used_mb[rows, nodes]
        self._ingress_mbit[rows, nodes] += np.where(nodes != self._source[rows], input_mbit, 0.0)
        wait = np.where(fits, 1000.0 * self._backlog_mi[rows, nodes] / env._mips[nodes], 0.0)
        execution = np.where(fits, 1000.0 * demand / env._mips[nodes], 0.0)
        latency = np.where(fits, transfer + wait + execution, transfer + cfg.latency_cap * deadline)
        energy = np.where(fits, energy_j[sub, nodes], tx_energy[sub, nodes])
        met = fits & (latency <= deadline)
        self._backlog_mi[rows, nodes] += np.where(fits, demand, 0.0)
        self._mem_used_mb[rows, nodes] += np.where(fits, memory, 0.0)
        # Jain's fairness index of the servers' queued work; the dot product row by row, as the
        # lone environment takes it (a batched sum of squares would round differently).
        queued = self._backlog_mi[rows, env._servers] / env._step_mi[env._servers]
        total = queued.sum(axis=-1)
        squares = np.array([row @ row for row in queued])
        with np.errstate(divide="ignore", invalid="ignore"):
            balance = np.where(squares > 0, total * total / (queued.shape[-1] * squares), 1.0)
        energy_norm = energy / energy_j.max(axis=-1)
        rewards = (cfg.w_deadline * met - cfg.w_latency * np.minimum(latency / deadline, cfg.latency_cap)
                   - cfg.w_energy * energy_norm + cfg.w_balance * balance)
        info = {"latency_ms": latency, "energy_j": energy, "deadline_met": met, "dropped": ~fits, "node": nodes,
                "node_type": self.topology.node_type[nodes], "transfer_ms": transfer, "wait_ms": wait,
                "execution_ms": execution, "deadline_ms": deadline.copy(), "load_balance": balance}
        return rewards, info

    def _advance(self, rows: np.ndarray) -> None:
        """IoTEdgeEnv._advance for episodes ``rows``."""
        env = self.single
        backlog = self._backlog_mi[rows]
        self._busy[rows] = np.minimum(backlog / env._step_mi, 1.0)
        remaining = np.maximum(backlog - env._step_mi, 0.0)
        self._mem_used_mb[rows] *= remaining / np.maximum(backlog, 1e-12)
        self._backlog_mi[rows] = remaining
        self._ingress_mbit[rows] = np.maximum(self._ingress_mbit[rows] - env._ingress_step_mbit, 0.0)
        # Each episode's own stream, drawn as the lone environment draws: how many jobs, then
        # where they land, then their Exp(1) sizes.
        n, rngs = self.n_nodes, [self._rngs[row] for row in rows]
        rates = np.full(len(rows), self.config.background_rate * self.config.load_scale)
        trace = env._trace
        if trace is not None:
            rates = rates * trace[self._trace_at[rows] % len(trace)]
            self._trace_at[rows] += 1
        jobs = [rng.poisson(rate) for rng, rate in zip(rngs, rates)]
        where = [(rng.random(k) * n).astype(np.intp) + i * n for i, (rng, k) in enumerate(zip(rngs, jobs))]
        sizes = [rng.standard_exponential(k) for rng, k in zip(rngs, jobs)]
        # One bincount for all episodes (each bin sums its jobs in the same order as a lone one).
        sizes = np.bincount(np.concatenate(where), np.concatenate(sizes), len(rows) * n).reshape(len(rows), n)
        self._backlog_mi[rows] += sizes * env._bg_mi
        self._ingress_mbit[rows] += sizes * env._bg_mbit
        self._mem_used_mb[rows] += sizes * env._bg_mem

    def _draw_tasks(self, rows: np.ndarray) -> None:
        """IoTEdgeEnv._draw_task for episodes ``rows``."""
        env, cfg = self.single, self.config
        u = np.stack([self._rngs[row].random(5) for row in rows])
        drawn = env._log_low * np.exp(u[:, 1:4] * env._log_span)  # demand, input size, deadline
        demand, input_kb, deadline = drawn.T
        input_mbit = 8.0 * input_kb / 1000.0
        source = (u[:, 0] * cfg.n_sensors).astype(np.intp)
        memory = cfg.memory_mb[0] + u[:, 4] * (cfg.memory_mb[1] - cfg.memory_mb[0])
        self._source[rows] = source
        self._task[rows] = np.stack([demand, input_kb, input_mbit, memory, deadline], axis=-1)
        latency = env._path_latency[source] + self._ingress_mbit[rows] * env._ms_per_mbit
        latency[np.arange(len(rows)), source] = 0.0
        tx_energy = (cfg.tx_energy_j_per_mb * input_kb / 1000.0)[:, None] * env._hops[source]
        self._costs[0, rows] = latency
        self._costs[1, rows] = latency + 1000.0 * input_mbit[:, None] / env._bandwidth[source]
        self._costs[2, rows] = tx_energy
        self._costs[3, rows] = demand[:, None] * env._j_per_mi + tx_energy

    def _observation(self) -> dict[str, np.ndarray]:
        """IoTEdgeEnv._observation, one row per episode."""
        env, n, batch = self.single, self.n_nodes, self.num_envs
        nodes = env._node_template[self._source]  # fancy indexing: a copy
        nodes[:, :n, 0] = self._busy
        nodes[:, :n, 1] = np.minimum(self._mem_used_mb / env._memory_mb, 1.0)
        nodes[:, :n, 2] = np.minimum(self._costs[3] * (1.0 / ENERGY_SCALE_J), ENERGY_CAP)
        nodes[:, :n, 3] = np.minimum(self._costs[0] * (1.0 / LATENCY_SCALE_MS), LATENCY_CAP)
        nodes[:, :n, 5] = np.minimum(self._backlog_mi / env._step_mi, QUEUE_CAP_STEPS)
        demand, input_kb, _, memory, deadline = self._task.T
        raw_task = np.stack([demand, input_kb, memory, deadline], axis=-1).astype(np.float32)
        return {
            "nodes": nodes,
            "adjacency": np.broadcast_to(env._adjacency, (batch, *env._adjacency.shape)).copy(),
            "node_mask": np.broadcast_to(env._node_mask, (batch, self.max_nodes)).copy(),
            "task": np.minimum(raw_task / env._task_high, 1.0),
        }

    # ------------------------------------------------------------------ what-if, for the bounds

    def fork(self, index: np.ndarray, rngs: list[np.random.Generator]) -> IoTEdgeVectorEnv:
        """A new vector environment whose episodes are copies of episodes ``index`` (a row may
        repeat), each drawing its future from the matching generator of ``rngs``: copies of this
        one's generators for the true future, others for a sampled one. Nothing here changes."""
        index = np.asarray(index, dtype=np.intp)
        if len(rngs) != len(index):
            raise ValueError(f"fork needs one generator per copied episode ({len(index)}), got {len(rngs)}")
        twin = copy.copy(self)  # the constants are shared, the state is copied below
        twin.num_envs, twin._rows, twin._rngs = len(index), np.arange(len(index)), list(rngs)
        for name in ("_steps", "_done", "_trace_at", "_backlog_mi", "_mem_used_mb", "_ingress_mbit", "_busy", "_source",
                     "_task"):
            setattr(twin, name, getattr(self, name)[index].copy())
        twin._costs = self._costs[:, index].copy()
        twin.observation_space = batch_space(self.single_observation_space, len(index))
        twin.action_space = batch_space(self.single_action_space, len(index))
        return twin

    def immediate_rewards(self) -> np.ndarray:
        """``(num_envs, n_nodes)``: the reward placing each episode's current task on each node
        would give now (placing draws no random number: it is exact). Nothing here changes."""
        nodes = np.tile(np.arange(self.n_nodes), self.num_envs)
        copies = self.fork(np.repeat(self._rows, self.n_nodes), [None] * (self.num_envs * self.n_nodes))
        rewards, _ = copies._place(copies._rows, nodes)
        return rewards.reshape(self.num_envs, self.n_nodes)

    @property
    def generators(self) -> list[np.random.Generator]:
        """Each episode's generator (its future's arrivals and tasks): what only a bound may read."""
        if self._rngs is None:
            raise RuntimeError("call reset() first")
        return self._rngs

    @property
    def episode_steps(self) -> np.ndarray:
        """How many steps each episode has taken."""
        return self._steps.copy()
