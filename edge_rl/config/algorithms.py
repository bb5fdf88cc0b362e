"""What an algorithm says about its runs before anything trains: :class:`AlgorithmSpec`.

Every :class:`~edge_rl.config.TrainConfig` carries the DQN, PPO and hybrid sections (checkpoints
store all three), but each algorithm reads only some of them, has its own card budget, may need
a graph policy, may pre-train, and names its runs its own way. Each algorithm says so once, in
its spec; the configs' validation, the CLI, the sweeps and the experiments ask the spec of
``config.algo`` (:func:`algorithm_spec`) instead of testing for algorithm names.

A spec is torch-free (it is data and a few pure methods), so validating a config, listing the
CLI's choices or planning a sweep imports no torch: the registry
(:data:`edge_rl.registry.ALGORITHMS`) records a spec's entry point, and the spec names its
:class:`~edge_rl.agents.base.Agent` subclass, imported only to train or load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge_rl.checks import check
from edge_rl.registry import ALGORITHMS, load_entry_point

# ``TrainConfig`` in the annotations is edge_rl.config.train's, named but not imported (not even for
# type checkers): the config validates itself by asking this module, which must not import it back.


@dataclass(frozen=True)
class AlgorithmSpec:
    """One algorithm's part in configs and runs. The defaults describe an algorithm that reads
    none of the DQN / PPO / hybrid sections, trains any policy from scratch for the card's
    10,000 steps and is named ``<algo>-<policy>[-<encoder>]``; a subclass overrides the methods
    where its runs differ.

    Attributes:
        agent: its :class:`~edge_rl.agents.base.Agent` subclass, or that class's entry point
            ``"module:Class"`` (imported only when it trains or loads).
        sections: the ``TrainConfig`` sections every run of it reads (``("dqn",)``).
        pretrain_sections: the sections it reads only when it pre-trains (``pretrain_steps > 0``).
        pretrains: whether it accepts ``pretrain_steps > 0`` (starts from other runs).
        default_steps: the card's ``total_timesteps`` for it (the CLI's and sweeps' default).
        default_pretrain_steps: the card's ``pretrain_steps`` for it.
        graph_only: why it always needs ``policy = "gnn"`` (empty: it trains either policy).
        rollout_section: the section whose ``n_steps`` is its rollout length (per environment),
            if it collects rollouts.
    """

    agent: str | type | None = None
    sections: tuple[str, ...] = ()
    pretrain_sections: tuple[str, ...] = ()
    pretrains: bool = False
    default_steps: int = 10_000
    default_pretrain_steps: int = 0
    graph_only: str = ""
    rollout_section: str | None = None

    def agent_class(self) -> type:
        """Its Agent subclass (imports it: torch)."""
        return load_entry_point(self.agent) if isinstance(self.agent, str) else self.agent  # type: ignore[return-value]

    def sections_read(self, config: TrainConfig) -> tuple[str, ...]:
        """The sections the run of ``config`` reads (the pre-training ones only if it pre-trains)."""
        return self.sections + (self.pretrain_sections if config.pretrain_steps else ())

    def unread_field(self, config: TrainConfig, key: str) -> str | None:
        """Why the dotted ``key`` of a section this run reads is still never read (a setting of
        another variant of the algorithm), or None. None by default: every field is read."""
        return None

    def check(self, config: TrainConfig) -> None:
        """Refuse, naming the field and what it accepts, a config this algorithm cannot train."""
        if self.graph_only:
            check(config.policy == "gnn", "policy", f"'gnn' for the {config.algo} ({self.graph_only})", config.policy)

    def name(self, config: TrainConfig) -> str:
        """The run's name (``TrainConfig.name`` before its ``-mix`` suffix), e.g. ``dqn-gnn-gcn-root``
        or ``ppo-mlp``: part of every file stem of its runs, so it never changes for a config."""
        return "-".join([config.algo, config.policy] + ([config.encoder.label] if config.policy == "gnn" else []))

    def label(self, config: TrainConfig, encoder: bool) -> str:
        """What a table calls its runs: ``DQN-GNN``, with the encoder (``DQN-GNN GAT``) when
        ``encoder`` (the encoder varies among the runs compared)."""
        named = encoder and config.policy == "gnn"
        return f"{config.algo.upper()}-{config.policy.upper()}" + (f" {config.encoder.kind.upper()}" if named else "")

    def last_weights(self, config: TrainConfig) -> TrainConfig:
        """``config`` keeping its last weights rather than the best on validation seeds (an
        algorithm that selects by validation says how to turn that off); ``config`` by default."""
        return config


def algorithm_spec(algo: str) -> AlgorithmSpec:
    """The spec of the algorithm registered as ``algo`` (an Agent subclass registered itself
    gives its ``spec``). Imports no torch for the package's own algorithms.

    Raises:
        ValueError: ``algo`` is not registered (naming the registered ones).
        TypeError: it is registered as something that has no spec.
    """
    entry = ALGORITHMS.get(algo)
    spec = entry if isinstance(entry, AlgorithmSpec) else getattr(entry, "spec", None)
    if not isinstance(spec, AlgorithmSpec):
        raise TypeError(f"algo {algo!r} is registered as {entry!r}, which is neither an AlgorithmSpec nor an "
                        "Agent subclass")
    return spec


def algorithms_where(predicate: Callable[[AlgorithmSpec], bool]) -> tuple[str, ...]:
    """The registered algorithms whose spec satisfies ``predicate``, in registration order."""
    return tuple(algo for algo in ALGORITHMS if predicate(algorithm_spec(algo)))


def algorithm_sections() -> tuple[str, ...]:
    """Every ``TrainConfig`` section some algorithm reads (``dqn``, ``ppo``, ``hybrid``), in order."""
    specs = [algorithm_spec(algo) for algo in ALGORITHMS]
    return tuple(dict.fromkeys(section for spec in specs for section in spec.sections + spec.pretrain_sections))


def _either(names: tuple[str, ...], quote: bool = False) -> str:
    return " or ".join(repr(n) if quote else n for n in names)


def check_algorithm(config: TrainConfig) -> None:
    """What ``config.algo`` asks of the rest of ``config``: no pre-training unless it pre-trains,
    and its own prerequisites (:meth:`AlgorithmSpec.check`). Each error names the field."""
    spec = algorithm_spec(config.algo)
    if config.pretrain_steps and not spec.pretrains:  # (the accepted ones are listed only when refused)
        check(False, "pretrain_steps", f"0 unless algo is {_either(pretraining(), quote=True)}", config.pretrain_steps)
    spec.check(config)


def pretraining() -> tuple[str, ...]:
    """The algorithms that accept ``pretrain_steps`` (start from runs they train first)."""
    return algorithms_where(lambda spec: spec.pretrains)


def unread_setting(config: TrainConfig, key: str) -> str | None:
    """Why the dotted setting ``key`` is never read when training ``config`` (None: it is read).

    A setting given and then ignored would be lost silently: the run would look configured, so
    the CLI refuses it with this reason (and a sweep multiplies runs only by settings they read)."""
    section = key.partition(".")[0]
    if section == "encoder" and config.policy == "mlp":
        return "encoder settings apply to graph policies (--policy gnn)"
    if section not in algorithm_sections():
        return None
    spec = algorithm_spec(config.algo)
    if section not in spec.sections_read(config):
        if section in spec.pretrain_sections:
            return f"the {config.algo} reads {section} settings only to pre-train; it trains from scratch here"
        readers = algorithms_where(lambda other: section in other.sections)
        also = " and the ".join(f"{algo}'s" for algo in algorithms_where(lambda other: section in other.pretrain_sections))
        return f"{section} settings apply to --algo {_either(readers)}" + (f" (and the {also} pre-training)" if also else "")
    return spec.unread_field(config, key)
