"""Every default of the simulator lives here, in one place.

The numbers of the original system that we know (``shared/original-system.md``) are kept:
node capacities, link bandwidths and latencies, fog and cloud power, the Poisson rate of 5
background arrivals per step, 100-step episodes and the reward weights. Everything else
(the task distribution, the sensor's power, the access links, the background utilisations)
is our own reconstruction, tuned so that no fixed placement rule is best in every state; the
environment's docstring explains each quantity.

Configs are frozen dataclasses so that a config can be hashed, compared, written to JSON with
:func:`dataclasses.asdict` and rebuilt with :meth:`EnvConfig.from_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from edge_rl.checks import (
    check,
    check_at_least,
    check_at_most,
    check_fractions,
    check_non_negative,
    check_positive,
    check_types,
    from_dict,
)
from edge_rl.registry import ALGORITHMS, FUSIONS, encoder_kinds

NODE_TYPES: tuple[str, ...] = ("sensor", "fog", "cloud")
"""Node type names; a node's ``node_type`` feature is its index in this tuple."""

NODE_FEATURES: tuple[str, ...] = (
    "cpu_util",
    "mem_util",
    "energy",
    "latency",
    "bandwidth",
    "queue_len",
    "node_type",
)
"""Columns of the ``nodes`` observation, in the model card's order."""

TASK_FEATURES: tuple[str, ...] = ("demand", "input_size", "memory", "deadline")
"""Entries of the ``task`` observation."""

# Bounds on every size a config gives, far past anything a run needs (the card's network has 17
# nodes, its encoder 64-64-128), checked before anything is built: a config read from a
# checkpoint file or typed on a command line cannot ask for more memory or time than a machine
# has. Each error names the field and its bound.
MAX_ENV_NODES = 1_024
"""Most nodes of a topology (``n_sensors + n_fog + n_cloud``, and ``max_nodes``): the simulator
and the observation are dense, O(nodes^2); building a 1,024-node topology takes seconds."""
MAX_BACKGROUND_RATE = 10_000.0
"""Most background arrivals per step (each one is drawn and placed every step)."""
MAX_WARMUP_STEPS = 10_000
"""Most warm-up steps run at every reset."""
MAX_WIDTH = 4_096
"""Widest encoder or head layer (``hidden``, ``embed``, each of ``head_hidden``)."""
MAX_LAYERS = 32
"""Most graph layers (``layers``), and most hidden layers of the node-scoring heads."""
MAX_GAT_HEADS = 16
"""Most attention heads per GAT layer."""
MAX_ENVS = 256
"""Most environments trained side by side (``n_envs``)."""
MAX_BUFFER = 10_000_000
"""Most transitions a replay buffer (``buffer_size``) or a rollout (``n_steps x n_envs``) holds."""
MAX_BATCH_SIZE = 65_536
"""Largest minibatch (``batch_size``)."""
MAX_THREADS = 1_024
"""Most torch threads (``threads``)."""


@dataclass(frozen=True)
class NodeTypeSpec:
    """Capacities, power and background load of one node type.

    Attributes:
        mips: compute capacity in million instructions per second.
        memory_mb: memory capacity in MB.
        busy_power_w: power drawn while executing, in W (energy = power x execution time).
        ingress_mbps: capacity of the node's shared access link in Mbit/s; every transfer
            into the node queues on it (this is the cloud's WAN link, the one that saturates).
        bg_cpu_util: mean fraction of the node's compute taken by background work.
        bg_link_util: mean fraction of the access link taken by background transfers.
        bg_mem_util: mean fraction of memory held by queued background work, at the mean
            background backlog.
    """

    mips: float
    memory_mb: float
    busy_power_w: float
    ingress_mbps: float
    bg_cpu_util: float
    bg_link_util: float
    bg_mem_util: float

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("mips", "memory_mb", "busy_power_w", "ingress_mbps"):
            value = getattr(self, name)
            check(value > 0, name, "a finite number > 0", value)
        for name in ("bg_cpu_util", "bg_link_util", "bg_mem_util"):
            value = getattr(self, name)
            check(0.0 <= value < 1.0, name, "in [0, 1)", value)


@dataclass(frozen=True)
class LinkSpec:
    """A link's bandwidth (Mbit/s) and one-way latency (ms)."""

    bandwidth_mbps: float
    latency_ms: float

    def __post_init__(self) -> None:
        check_types(self)
        check(self.bandwidth_mbps > 0, "bandwidth_mbps", "> 0", self.bandwidth_mbps)
        check(self.latency_ms > 0, "latency_ms", "> 0", self.latency_ms)


def _sensor() -> NodeTypeSpec:
    # 100 MIPS / 128 MB are the original's; 2 W is a typical single-board computer under load.
    return NodeTypeSpec(100.0, 128.0, 2.0, 50.0, 0.5, 0.0, 0.1)


def _fog() -> NodeTypeSpec:
    # 2800 MIPS / 4000 MB / 107.3 W busy are the original's.
    return NodeTypeSpec(2800.0, 4000.0, 107.3, 100.0, 0.5, 0.1, 0.05)


def _cloud() -> NodeTypeSpec:
    # 40000 MIPS / 40000 MB / 200 W busy are the original's; the 40 Mbit/s WAN access link,
    # 40 % used by other tenants, is ours: it is what makes "always the cloud" saturate.
    return NodeTypeSpec(40000.0, 40000.0, 200.0, 40.0, 0.3, 0.4, 0.1)


@dataclass(frozen=True)
class EnvConfig:
    """Configuration of :class:`edge_rl.envs.IoTEdgeEnv`. Defaults reproduce the card's network.

    Topology: ``n_sensors`` sensors, ``n_fog`` fog nodes, ``n_cloud`` clouds. Each sensor is
    linked to one fog node (fog ``i mod n_fog`` when ``topology_seed`` is None, a random one
    otherwise); fog nodes are fully meshed; every fog node is linked to every cloud.
    ``max_nodes`` pads observations so one policy can run on topologies of several sizes.
    """

    n_sensors: int = 10
    n_fog: int = 6
    n_cloud: int = 1
    topology_seed: int | None = None
    max_nodes: int | None = None

    sensor: NodeTypeSpec = field(default_factory=_sensor)
    fog: NodeTypeSpec = field(default_factory=_fog)
    cloud: NodeTypeSpec = field(default_factory=_cloud)
    sensor_fog_link: LinkSpec = field(default_factory=lambda: LinkSpec(50.0, 6.0))
    fog_fog_link: LinkSpec = field(default_factory=lambda: LinkSpec(100.0, 5.0))
    fog_cloud_link: LinkSpec = field(default_factory=lambda: LinkSpec(200.0, 10.0))

    step_ms: float = 100.0
    background_rate: float = 5.0
    warmup_steps: int = 20
    tx_energy_j_per_mb: float = 0.5

    # Task distribution: log-uniform between the bounds (memory: uniform).
    demand_mi: tuple[float, float] = (1.0, 1000.0)
    input_kb: tuple[float, float] = (10.0, 1000.0)
    memory_mb: tuple[float, float] = (8.0, 256.0)
    deadline_ms: tuple[float, float] = (50.0, 500.0)

    # Reward weights (the card's) and the cap on latency / deadline.
    w_deadline: float = 2.0
    w_latency: float = 1.0
    w_energy: float = 0.5
    w_balance: float = 0.3
    latency_cap: float = 4.0

    def __post_init__(self) -> None:
        check_types(self)
        for name, low in (("n_sensors", 1), ("n_fog", 1), ("n_cloud", 0)):
            value = getattr(self, name)
            check(
                isinstance(value, int) and not isinstance(value, bool) and value >= low,
                name,
                f"an integer >= {low}",
                value,
            )
        check_at_most(self, MAX_ENV_NODES, "n_sensors", "n_fog", "n_cloud")
        check(self.n_nodes <= MAX_ENV_NODES, "n_sensors + n_fog + n_cloud",
              f"at most {MAX_ENV_NODES:,} (edge_rl's bound on it)", self.n_nodes)
        if self.topology_seed is not None:
            check(
                isinstance(self.topology_seed, int) and self.topology_seed >= 0,
                "topology_seed",
                "None or an integer >= 0",
                self.topology_seed,
            )
        if self.max_nodes is not None:
            check(
                isinstance(self.max_nodes, int) and self.max_nodes >= self.n_nodes,
                "max_nodes",
                f"None or an integer >= n_sensors + n_fog + n_cloud = {self.n_nodes}",
                self.max_nodes,
            )
            check_at_most(self, MAX_ENV_NODES, "max_nodes")
        check(self.step_ms > 0, "step_ms", "> 0", self.step_ms)
        check(self.background_rate >= 0, "background_rate", ">= 0", self.background_rate)
        check_at_most(self, MAX_BACKGROUND_RATE, "background_rate")
        check(
            isinstance(self.warmup_steps, int) and self.warmup_steps >= 0,
            "warmup_steps",
            "an integer >= 0",
            self.warmup_steps,
        )
        check_at_most(self, MAX_WARMUP_STEPS, "warmup_steps")
        check(self.tx_energy_j_per_mb >= 0, "tx_energy_j_per_mb", ">= 0", self.tx_energy_j_per_mb)
        for name in ("demand_mi", "input_kb", "memory_mb", "deadline_ms"):
            low, high = getattr(self, name)
            check(0 < low <= high, name, "a pair (low, high) with 0 < low <= high", (low, high))
        for name in ("w_deadline", "w_latency", "w_energy", "w_balance"):
            check(getattr(self, name) >= 0, name, ">= 0", getattr(self, name))
        check(self.latency_cap >= 1, "latency_cap", ">= 1", self.latency_cap)

    @property
    def n_nodes(self) -> int:
        """Number of real nodes."""
        return self.n_sensors + self.n_fog + self.n_cloud

    @property
    def padded_nodes(self) -> int:
        """Number of node slots in observations (``max_nodes`` or ``n_nodes``)."""
        return self.n_nodes if self.max_nodes is None else self.max_nodes

    def node_type_spec(self, node_type: int) -> NodeTypeSpec:
        """The spec of node type 0 (sensor), 1 (fog) or 2 (cloud)."""
        return (self.sensor, self.fog, self.cloud)[node_type]

    def replace(self, **changes: Any) -> EnvConfig:
        """A copy with ``changes`` applied; unknown names are refused with the accepted ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown EnvConfig field(s) {unknown}; accepted: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; :meth:`from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvConfig:
        """Rebuild a config from :meth:`to_dict`'s output, refusing unknown keys."""
        return from_dict(cls, data)


POLICIES: tuple[str, ...] = ("mlp", "gnn")
"""``mlp``: SB3's MlpPolicy on the flattened observation (the card's); ``gnn``: a graph encoder."""

ROOT_PATHS: tuple[str, ...] = ("none", "root", "residual", "jk", "heads")
"""How a node's own features reach its embedding past the neighbourhood averages of the graph
layers (:class:`~edge_rl.nn.encoders.DenseGraphStack`): ``none`` (the plain stack, the card's),
``root`` (a root weight in every layer, as GraphConv and GraphSAGE have), ``residual``
(residual connections between layers, after an input projection), ``jk`` (jumping knowledge:
every layer's output, concatenated and projected) or ``heads`` (the raw node inputs beside the
embedding in the node-scoring heads, ``[x_i || h_i || g]``)."""


@dataclass(frozen=True)
class EncoderConfig:
    """The graph encoder and the node-scoring heads. Defaults are the card's.

    Attributes:
        kind: a layer kind of :data:`edge_rl.registry.LAYERS` (``gcn``, ``gat``, ``sage``: one
            stack of it), or ``hybrid`` (the three stacks side by side, concatenated and
            projected back).
        hidden: width of the hidden graph layers (card: 64).
        layers: number of graph layers (card: 3; the last one outputs ``embed``).
        embed: width of node and graph embeddings (card: 128).
        gat_heads: attention heads of GAT layers (averaged, so widths stay as above; PyG's
            default of 1).
        head_hidden: hidden widths of the MLP that scores each node from ``[h_i || g]``.
        root_path: how a node's own features reach its embedding (:data:`ROOT_PATHS`);
            ``none`` is the card's plain stack.
    """

    kind: str = "gcn"
    hidden: int = 64
    layers: int = 3
    embed: int = 128
    gat_heads: int = 1
    head_hidden: tuple[int, ...] = (64,)
    root_path: str = "root"

    def __post_init__(self) -> None:
        check_types(self)
        check(self.kind in encoder_kinds(), "encoder", f"one of {list(encoder_kinds())}", self.kind)
        check(self.root_path in ROOT_PATHS, "root_path", f"one of {list(ROOT_PATHS)}", self.root_path)
        for name in ("hidden", "layers", "embed", "gat_heads"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, name, "an integer >= 1", value)
        check_at_most(self, MAX_WIDTH, "hidden", "embed")
        check_at_most(self, MAX_LAYERS, "layers")
        check_at_most(self, MAX_GAT_HEADS, "gat_heads")
        check(all(isinstance(w, int) and w >= 1 for w in self.head_hidden), "head_hidden",
               "a tuple of integers >= 1", self.head_hidden)
        check(len(self.head_hidden) <= MAX_LAYERS and all(w <= MAX_WIDTH for w in self.head_hidden), "head_hidden",
              f"at most {MAX_LAYERS} widths of at most {MAX_WIDTH:,} each (edge_rl's bound on it)", self.head_hidden)


@dataclass(frozen=True)
class DQNConfig:
    """Stable-Baselines3 DQN hyperparameters: the original system's values.

    ``tau`` and ``target_update_interval`` are the original's: a soft update with tau 0.005
    every 500 steps, so the target network moves slowly (about 10 % of the way in 10,000 steps).
    """

    learning_rate: float = 1e-4
    buffer_size: int = 100_000
    learning_starts: int = 1_000
    batch_size: int = 64
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 4
    gradient_steps: int = 1
    target_update_interval: int = 500
    exploration_fraction: float = 0.3
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.05

    def __post_init__(self) -> None:
        check_types(self)
        check_at_least(self, 1, "buffer_size", "batch_size", "train_freq", "target_update_interval")
        check_at_most(self, MAX_BUFFER, "buffer_size")
        check_at_most(self, MAX_BATCH_SIZE, "batch_size")
        check_at_least(self, 0, "learning_starts")
        check(self.gradient_steps >= 1 or self.gradient_steps == -1, "gradient_steps",
               "an integer >= 1, or -1 (as many as environment steps since the last update)", self.gradient_steps)
        check_positive(self, "learning_rate")
        check_fractions(self, "gamma", "exploration_fraction", "exploration_initial_eps", "exploration_final_eps")
        check(0 < self.tau <= 1, "tau", "in (0, 1]", self.tau)


@dataclass(frozen=True)
class PPOConfig:
    """Stable-Baselines3 PPO hyperparameters: the original system's values, except the layout.

    The original collected ``n_steps`` 2048 on 4 environments (8192 transitions per update).
    We use 8 environments of 1024 steps: the same 8192 transitions per update, collected with
    twice the environment parallelism.
    """

    learning_rate: float = 3e-4
    n_steps: int = 1024
    n_envs: int = 8
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        check_types(self)
        check_at_least(self, 1, "n_steps", "n_envs", "n_epochs")
        # SB3's PPO normalises advantages per minibatch: a minibatch of one has no spread.
        check_at_least(self, 2, "batch_size")
        _check_rollout(self)
        check_positive(self, "learning_rate", "clip_range", "max_grad_norm")
        check_non_negative(self, "ent_coef", "vf_coef")
        check_fractions(self, "gamma", "gae_lambda")


def _check_rollout(config: PPOConfig | HybridConfig) -> None:
    """The bounds on a rollout's sizes (PPO's and the hybrid's)."""
    check_at_most(config, MAX_ENVS, "n_envs")
    check_at_most(config, MAX_BUFFER, "n_steps")
    check(config.n_steps * config.n_envs <= MAX_BUFFER, "n_steps x n_envs",
          f"at most {MAX_BUFFER:,} (edge_rl's bound on a rollout)", config.n_steps * config.n_envs)
    check_at_most(config, MAX_BATCH_SIZE, "batch_size")


@dataclass(frozen=True)
class HybridConfig:
    """The hybrid DQN-PPO agent (:mod:`edge_rl.agents.hybrid`).

    Card values: learning rate 3e-4 for both parts, batch 64, gamma 0.99, fusion
    ``0.6 * Q + 0.4 * logits``; the replay and target-network settings are the original's DQN
    ones, the clipping / GAE / entropy / value settings its PPO ones. Ours: the rollout is
    8 envs x 128 steps (1,024 transitions), so that a 5,000-step fine-tuning makes several
    updates, and each PPO minibatch step also takes one TD step on a replay minibatch: with
    10 epochs of 16 minibatches, one TD step per 6.4 environment steps (SB3's DQN: one per 4).

    Attributes:
        fusion: ``weighted_sum`` (fixed weights), ``attention`` (per-state weights from the
            graph embedding) or ``gating`` (a learned per-node gate).
        q_weight, policy_weight: the weights of ``weighted_sum``.
        td_coef, ppo_coef: weights of the TD loss and of the PPO loss in the joint loss.
        encoder_from: which pre-trained model's encoder the warm start copies.
        eval_every, val_episodes: validation during training (seeds apart from test seeds).
        select_best: keep the weights with the best validation return (else the last ones).
    """

    fusion: str = "weighted_sum"
    q_weight: float = 0.6
    policy_weight: float = 0.4
    n_envs: int = PPOConfig.n_envs
    n_steps: int = 128
    # PPO's settings (the card's hybrid learning rate, 3e-4, is PPO's too) ...
    learning_rate: float = PPOConfig.learning_rate
    batch_size: int = PPOConfig.batch_size
    n_epochs: int = PPOConfig.n_epochs
    gamma: float = PPOConfig.gamma
    gae_lambda: float = PPOConfig.gae_lambda
    clip_range: float = PPOConfig.clip_range
    ent_coef: float = PPOConfig.ent_coef
    vf_coef: float = PPOConfig.vf_coef
    max_grad_norm: float = PPOConfig.max_grad_norm
    # ... and DQN's, for the replay buffer and the target network.
    buffer_size: int = DQNConfig.buffer_size
    learning_starts: int = DQNConfig.learning_starts
    tau: float = DQNConfig.tau
    target_update_interval: int = DQNConfig.target_update_interval
    td_coef: float = 1.0
    ppo_coef: float = 1.0
    encoder_from: str = "dqn"
    eval_every: int = 1_000
    val_episodes: int = 5
    select_best: bool = True

    def __post_init__(self) -> None:
        check_types(self)
        check(self.fusion in FUSIONS, "fusion", f"one of {list(FUSIONS.names())}", self.fusion)
        check(self.encoder_from in ("dqn", "ppo"), "encoder_from", "'dqn' or 'ppo'", self.encoder_from)
        check_at_least(self, 1, "n_envs", "n_steps", "batch_size", "n_epochs", "buffer_size", "eval_every",
                        "target_update_interval")
        _check_rollout(self)
        check_at_most(self, MAX_BUFFER, "buffer_size")
        # Seeds 20000 + [0, val_episodes): below the model-selection seeds, which start at 20100.
        check(1 <= self.val_episodes <= 100, "val_episodes", "an integer in [1, 100]", self.val_episodes)
        check_at_least(self, 0, "learning_starts")
        check_positive(self, "learning_rate", "clip_range", "max_grad_norm")
        check_non_negative(self, "q_weight", "policy_weight", "td_coef", "ppo_coef", "ent_coef", "vf_coef")
        check_fractions(self, "gamma", "gae_lambda")
        check(0 < self.tau <= 1, "tau", "in (0, 1]", self.tau)


@dataclass(frozen=True)
class TrainConfig:
    """One training run: what to train, on which environment, with which seed and budget.

    Attributes:
        algo: ``dqn``, ``ppo`` or ``hybrid``.
        policy: ``mlp`` (the card's: SB3's MlpPolicy on the flattened observation) or ``gnn``
            (a graph encoder and node-scoring heads on the graph observation).
        total_timesteps: environment steps (card: 10,000 for each baseline; for the hybrid,
            the fine-tuning steps, card: 5,000).
        pretrain_steps: hybrid only: pre-train DQN-GNN and PPO-GNN for this many steps each
            and start from their weights (card: 10,000); 0 trains the hybrid from scratch.
        threads: torch threads (1: parallelism comes from running seeds in processes).
    """

    algo: str = "dqn"
    policy: str = "gnn"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    hybrid: HybridConfig = field(default_factory=HybridConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    seed: int = 0
    total_timesteps: int = 10_000
    pretrain_steps: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        check_types(self)
        check(self.algo in ALGORITHMS, "algo", f"one of {list(ALGORITHMS.names())}", self.algo)
        check(self.policy in POLICIES, "policy", f"one of {list(POLICIES)}", self.policy)
        check(isinstance(self.seed, int) and self.seed >= 0, "seed", "an integer >= 0", self.seed)
        check(isinstance(self.total_timesteps, int) and self.total_timesteps >= 1,
               "total_timesteps", "an integer >= 1", self.total_timesteps)
        check(isinstance(self.threads, int) and self.threads >= 1, "threads", "an integer >= 1",
               self.threads)
        check_at_most(self, MAX_THREADS, "threads")
        check(isinstance(self.pretrain_steps, int) and self.pretrain_steps >= 0, "pretrain_steps",
               "an integer >= 0", self.pretrain_steps)
        if self.algo != "hybrid":
            check(self.pretrain_steps == 0, "pretrain_steps", "0 unless algo is 'hybrid'", self.pretrain_steps)
        if self.algo == "hybrid":
            check(self.policy == "gnn", "policy", "'gnn' for the hybrid (it shares a graph encoder)", self.policy)
        if self.policy == "mlp":
            check(self.env.max_nodes is None, "env.max_nodes",
                   "None for an MLP policy (its input size is fixed by the topology)",
                   self.env.max_nodes)

    @property
    def name(self) -> str:
        """A short label, e.g. ``dqn-gnn-gcn``, ``ppo-mlp`` or ``hybrid-gat-root-gating`` (the
        encoder's root path named when it has one)."""
        encoder = self.encoder.kind + ("" if self.encoder.root_path == "none" else f"-{self.encoder.root_path}")
        if self.algo == "hybrid":
            return f"hybrid-{encoder}-{self.hybrid.fusion}"
        parts = [self.algo, self.policy] + ([encoder] if self.policy == "gnn" else [])
        return "-".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return from_dict(cls, data)
