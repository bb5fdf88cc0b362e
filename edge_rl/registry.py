"""Registries: one per extension axis (encoder layer kinds, fusions, hybrid designs, algorithms,
fixed rules, bounds, load traces).

A :class:`Registry` maps a name to what it names, in the manner of Gymnasium's environment
registry: an entry is either the object itself or an entry point ``"module:attribute"`` that
is imported the first time it is used. So the names are known without importing what they
name: ``python -m edge_rl --help`` and the configs' validation list every encoder and fusion
without importing torch or PyTorch Geometric (seconds at every start).

Adding one is :meth:`Registry.register`, with the object (from any code, e.g. a test or a
notebook) or with its entry point (for the package's own, so they stay lazy).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from typing import Any


def load_entry_point(entry: str) -> Any:
    """What the entry point ``"module:attribute"`` names, its module imported now."""
    module, _, attribute = entry.partition(":")
    return getattr(importlib.import_module(module), attribute)


def lazy_exports(package: str, modules: dict[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """A package's ``__getattr__`` (PEP 562) for the names its submodules export (``{"base":
    ("Agent", ...)}``): each is imported the first time it is asked for, then kept in the
    package. So a package can offer its torch-backed parts while importing it, or a torch-free
    module in it, imports no torch (config validation reads the algorithms' specs from inside
    ``edge_rl.agents``)."""
    exports = {name: f"{package}.{module}:{name}" for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = load_entry_point(exports[name])
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


class Registry:
    """Names of one extension axis and what each is.

    Args:
        field: what the names are called where a user gives one (``encoder.kind``), for errors.
    """

    def __init__(self, field: str) -> None:
        self.field = field
        self._entries: dict[str, Any] = {}

    def register(self, name: str, entry: Any) -> Any:
        """Register ``entry`` (an object, or ``"module:attribute"``) as ``name``; return ``entry``.

        Raises:
            ValueError: ``name`` is not a non-empty string, or is taken by another entry.
        """
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ValueError(f"a {self.field} name must be a non-empty string without surrounding spaces, got {name!r}")
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.field} {name!r} is already registered; choose another name")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a toy entry remove it afterwards)."""
        self._entries.pop(self.check(name))

    def check(self, name: Any) -> str:
        """``name`` if it is registered, else a ValueError naming the field and the accepted names."""
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(f"{self.field} must be one of {list(self._entries)}, got {name!r}")
        return name

    def get(self, name: str) -> Any:
        """What ``name`` names, its entry point imported on first use."""
        entry = self._entries[self.check(name)]
        if isinstance(entry, str):
            entry = load_entry_point(entry)
            self._entries[name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.field!r}: {', '.join(self._entries)})"


# ------------------------------------------------------------------ the package's own entries

LAYERS = Registry("encoder layer kind")
"""Graph layer kinds (:mod:`edge_rl.nn.layers`): each a :class:`~edge_rl.nn.layers.LayerKind`, or
a PyTorch Geometric dense layer class ``(in_dim, out_dim)`` run by its own ``forward(x, adj)``."""
LAYERS.register("gcn", "edge_rl.nn.layers:GCN")
LAYERS.register("gat", "edge_rl.nn.layers:GAT")
LAYERS.register("sage", "edge_rl.nn.layers:SAGE")

ENCODER_COMBINATIONS: dict[str, tuple[str, ...]] = {"hybrid": ("gcn", "gat", "sage")}
"""Encoder kinds that are several layer kinds' stacks side by side, by name: ``hybrid`` is the
card's "hybrid GNN" (GCN, GAT and GraphSAGE). Another combination is one entry here."""


def encoder_kinds() -> tuple[str, ...]:
    """What ``EncoderConfig.kind`` accepts: every layer kind (one stack of it), and every
    combination of :data:`ENCODER_COMBINATIONS`."""
    return (*LAYERS.names(), *ENCODER_COMBINATIONS)


def encoder_layers(kind: str) -> tuple[str, ...]:
    """The layer kinds whose stacks the encoder ``kind`` runs side by side (one for a layer kind)."""
    return ENCODER_COMBINATIONS.get(kind, (kind,))


FUSIONS = Registry("fusion")
"""How the hybrid fuses Q-values and policy logits (:mod:`edge_rl.nn.fusions`): each a module."""
FUSIONS.register("weighted_sum", "edge_rl.nn.fusions:WeightedSum")
FUSIONS.register("attention", "edge_rl.nn.fusions:Attention")
FUSIONS.register("gating", "edge_rl.nn.fusions:Gating")

HYBRID_DESIGNS = Registry("design")
"""How the hybrid learns from its Q head and its policy head (:mod:`edge_rl.agents.hybrid.designs`),
for ``HybridConfig.design``: ``card`` (PPO on the fused distribution plus TD into one encoder, the
card's), ``separated`` (the encoder and Q head learn by TD alone) and ``distill`` (the policy also
learns toward ``softmax(Q_target / tau)``)."""
HYBRID_DESIGNS.register("card", "edge_rl.agents.hybrid.designs:Card")
HYBRID_DESIGNS.register("separated", "edge_rl.agents.hybrid.designs:Separated")
HYBRID_DESIGNS.register("distill", "edge_rl.agents.hybrid.designs:Distill")

ALGORITHMS = Registry("algo")
"""Learning algorithms: each an :class:`~edge_rl.config.algorithms.AlgorithmSpec` (torch-free:
which config sections it reads, its defaults, its prerequisites, its run names; it names its
:class:`~edge_rl.agents.base.Agent` subclass, imported only to train or load), or an ``Agent``
subclass itself (its ``spec`` says the same). The configs, the CLI and the experiments ask the
spec (:func:`~edge_rl.config.algorithms.algorithm_spec`); :func:`edge_rl.agents.load`,
:func:`edge_rl.agents.train` and the experiment runner dispatch to the agent through this table."""
ALGORITHMS.register("dqn", "edge_rl.agents.baseline_specs:DQN")
ALGORITHMS.register("ppo", "edge_rl.agents.baseline_specs:PPO")
ALGORITHMS.register("hybrid", "edge_rl.agents.hybrid.spec:HYBRID")

LOAD_TRACES = Registry("load_trace")
"""Background-load patterns from real utilisation traces (:mod:`edge_rl.envs.traces`), for
``EnvConfig.load_trace``: each a function returning the per-step multipliers of the background
arrival rate (mean 1)."""
LOAD_TRACES.register("alibaba2018", "edge_rl.envs.traces:alibaba2018")
LOAD_TRACES.register("google2019", "edge_rl.envs.traces:google2019")
LOAD_TRACES.register("azure_v2", "edge_rl.envs.traces:azure_v2")

HEURISTICS = Registry("heuristic")
"""Fixed placement rules (:mod:`edge_rl.envs.heuristics`): each a
:class:`~edge_rl.envs.heuristics.HeuristicPolicy` subclass built from an ``EnvConfig`` (or None),
registered under its ``name``. Tables, the CLI's ``--heuristic``, the API's model types and the
palette take them in this order: the weakest first, the card's strongest rule last."""
HEURISTICS.register("random", "edge_rl.envs.heuristics:RandomPolicy")
HEURISTICS.register("round_robin", "edge_rl.envs.heuristics:RoundRobinPolicy")
HEURISTICS.register("least_loaded", "edge_rl.envs.heuristics:LeastLoadedPolicy")
HEURISTICS.register("nearest", "edge_rl.envs.heuristics:NearestPolicy")
HEURISTICS.register("all_cloud", "edge_rl.envs.heuristics:AllCloudPolicy")
HEURISTICS.register("greedy_earliest_finish", "edge_rl.envs.heuristics:GreedyEarliestFinishPolicy")

BOUNDS = Registry("bound")
"""Reference policies that read the simulator rather than observations (:mod:`edge_rl.envs.oracles`),
which the tables show as bounds: each a class built without arguments, with ``privileged = True``
(so :func:`edge_rl.evaluation.evaluate` hands it the environment)."""
BOUNDS.register("oracle_one_step", "edge_rl.envs.oracles:OneStepOracle")
BOUNDS.register("oracle_rollout", "edge_rl.envs.oracles:RolloutOracle")
