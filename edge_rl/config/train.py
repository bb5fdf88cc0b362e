"""The training configuration: what to train (the encoder, DQN, PPO, the hybrid) on which
environment, with which seed and budget. Defaults are the original system's.

Configs are frozen dataclasses: hashed, compared, written to JSON with
:func:`dataclasses.asdict`, rebuilt with :meth:`TrainConfig.from_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

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
from edge_rl.config.algorithms import algorithm_spec, check_algorithm
from edge_rl.config.env import EnvConfig
from edge_rl.registry import ALGORITHMS, FUSIONS, HYBRID_DESIGNS, encoder_kinds

# Bounds on the agents' sizes, as on the environment's (edge_rl.config.env).
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
MAX_ENV_MIX = 64
"""Most environments a run trains on at once (``env_mix``): each is built, topology and all."""
DISTILL_TEMPERATURE_BOUNDS = (1e-3, 1e3)
"""``HybridConfig.distill_temperature`` lies in this closed range (in units of the state's
standardised Q spread: below 1e-3 the target is an argmax to float precision, above 1e3 uniform)."""


FUSION_SETTING = "hybrid.fusion"
"""The dotted key of the hybrid's fusion, which ``--fusion`` and a sweep's ``fusions`` set: refused,
or not multiplied into runs, where the algorithm never reads it."""

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

    @property
    def label(self) -> str:
        """Its part of run names: the kind, and the root path when it has one (``gcn-root``, ``gat``)."""
        return self.kind + ("" if self.root_path == "none" else f"-{self.root_path}")


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
        design: how the parts learn (:data:`edge_rl.registry.HYBRID_DESIGNS`): ``card`` (the
            card's: PPO on the fused distribution plus TD, both into the encoder), ``separated``
            (the PPO loss moves neither the Q head nor the encoder) or ``distill`` (``separated``
            plus a KL term pulling the policy toward ``softmax(Q_target / distill_temperature)``;
            acts by the policy head).
        distill_temperature, distill_coef: ``distill``'s temperature (on per-state standardised
            Q-values, :data:`DISTILL_TEMPERATURE_BOUNDS`) and the weight of its KL term.
        distill_target_tau: how far ``distill``'s target network moves toward the online
            encoder and Q head after each gradient step (in (0, 1]).
    """

    ADDED_FIELDS: ClassVar[tuple[str, ...]] = ("design", "distill_temperature", "distill_coef",
                                                  "distill_target_tau")
    """Fields added after checkpoints were first written: absent, they are the card's design."""

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
    design: str = "card"
    distill_temperature: float = 0.25
    distill_coef: float = 1.0
    distill_target_tau: float = 0.005

    def __post_init__(self) -> None:
        check_types(self)
        check(self.design in HYBRID_DESIGNS, "design", f"one of {list(HYBRID_DESIGNS.names())}", self.design)
        low, high = DISTILL_TEMPERATURE_BOUNDS
        check(low <= self.distill_temperature <= high, "distill_temperature", f"in [{low:g}, {high:g}]",
              self.distill_temperature)
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
        check_non_negative(self, "q_weight", "policy_weight", "td_coef", "ppo_coef", "ent_coef", "vf_coef",
                           "distill_coef")
        check_fractions(self, "gamma", "gae_lambda")
        check(0 < self.tau <= 1, "tau", "in (0, 1]", self.tau)
        check(0 < self.distill_target_tau <= 1, "distill_target_tau", "in (0, 1]", self.distill_target_tau)


@dataclass(frozen=True)
class TrainConfig:
    """One training run: what to train, on which environment, with which seed and budget.

    Which sections a run reads, what else its algorithm asks of it and how it is named are the
    algorithm's to say (:class:`~edge_rl.config.algorithms.AlgorithmSpec`, by ``algo``).

    Attributes:
        algo: an algorithm of :data:`edge_rl.registry.ALGORITHMS`: ``dqn``, ``ppo`` or ``hybrid``.
        policy: ``mlp`` (the card's: SB3's MlpPolicy on the flattened observation) or ``gnn``
            (a graph encoder and node-scoring heads on the graph observation).
        total_timesteps: environment steps (card: 10,000 for each baseline; for the hybrid,
            the fine-tuning steps, card: 5,000).
        pretrain_steps: for an algorithm that pre-trains (the hybrid): pre-train DQN-GNN and
            PPO-GNN for this many steps each and start from their weights (card: 10,000); 0
            trains it from scratch.
        threads: torch threads (1: parallelism comes from running seeds in processes).
        env_mix: train on these environments instead, one drawn per episode
            (:class:`~edge_rl.envs.mixture.EnvMixture`; all padded to the same ``max_nodes``);
            ``env`` stays the environment of validation while training. Empty: train on ``env``.
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
    env_mix: tuple[EnvConfig, ...] = ()

    ADDED_FIELDS: ClassVar[tuple[str, ...]] = ("env_mix",)
    """Fields added after checkpoints were first written (read as their defaults when absent)."""

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
        check_algorithm(self)  # pre-training only where the algorithm pre-trains; its own prerequisites
        if self.env_mix:
            check(self.policy == "gnn", "policy", "'gnn' to train on env_mix (its networks differ in size)",
                  self.policy)
            check(len(self.env_mix) <= MAX_ENV_MIX, "env_mix", f"at most {MAX_ENV_MIX} environments",
                  len(self.env_mix))
            slots = sorted({env.padded_nodes for env in self.env_mix})
            check(len(slots) == 1, "env_mix", "environments padded to one number of node slots (the same "
                  "max_nodes)", slots)
        if self.policy == "mlp":
            check(self.env.max_nodes is None, "env.max_nodes",
                   "None for an MLP policy (its input size is fixed by the topology)",
                   self.env.max_nodes)

    @property
    def name(self) -> str:
        """A short label, e.g. ``dqn-gnn-gcn``, ``ppo-mlp`` or ``hybrid-gat-root-gating`` (the
        encoder's root path named when it has one; the algorithm's own part, e.g. a hybrid
        design other than the card's, ``-distill``: :meth:`AlgorithmSpec.name
        <edge_rl.config.algorithms.AlgorithmSpec.name>`; ``-mix`` when it trains on ``env_mix``)."""
        return algorithm_spec(self.algo).name(self) + ("-mix" if self.env_mix else "")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return from_dict(cls, data)
