"""The catalogue of run variants: every kind of trained model, named once for every part of the
project. The experiment suites train them under their ``label``; the model card shows them
under their ``name`` with their ``type`` and ``description``; the API serves those with a
``model_type`` (and its schema lists them). A new variant is one :class:`Variant` here.

Variants that are not in the catalogue (the ablation's other encoder x fusion cells, the
pre-training runs of other encoders) get a generated one from :func:`find`, so every run has a
variant and a label.

It sits at the package's top, below both the study pipeline (``edge_rl.experiments``) and
serving (``edge_rl.serve``), which share it and import nothing of each other; it imports only
the configs and the registry, so the notebook runner (which starts without torch) reads it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol

from edge_rl.config import EncoderConfig, HybridConfig, PPOConfig, TrainConfig
from edge_rl.config.algorithms import algorithm_spec
from edge_rl.registry import HYBRID_DESIGNS

ENCODER_NAMES = {"gcn": "GCN", "gat": "GAT", "sage": "SAGE", "hybrid": "GCN+GAT+SAGE"}
"""How the encoders are named in labels and the card (another kind: its name in capitals)."""

PROCEDURES = ("card", "final", "scratch")
"""How a hybrid is trained: the card's procedure (pre-train, fine-tune, best on validation
seeds), ``final`` (a longer fine-tuning, last weights) or ``scratch`` (no pre-training)."""


CARD_STEPS = 10_000
"""The card's training steps of a baseline, and of each pre-training of its hybrid."""
CARD_FINE_TUNING = 5_000
"""The card's fine-tuning steps of its hybrid (after the two pre-trainings)."""
FINAL_FINE_TUNING = 20_000
"""The fine-tuning steps of ``Hybrid (Final)`` (``procedure="final"``)."""


class StepBudget(Protocol):
    """What a variant's config asks of a budget (:class:`edge_rl.experiments.plan.suites.Budget` is
    one): the steps it gives a run that the card trains for ``card_steps``, and PPO's settings
    for the run of ``config`` (the defaults for a run that never runs PPO)."""

    def steps(self, card_steps: int) -> int: ...

    def ppo(self, config: TrainConfig) -> PPOConfig: ...


def pretrains(algo: str) -> bool:
    """Whether ``algo`` starts from runs it trains first, as the hybrid starts from DQN-GNN and
    PPO-GNN (its spec says so): its variants have a fusion and a procedure (:data:`PROCEDURES`),
    and the card's procedure pre-trains it."""
    return algorithm_spec(algo).pretrains


def _with_ppo(config: TrainConfig, budget: StepBudget) -> TrainConfig:
    return replace(config, ppo=budget.ppo(config))


def slug(label: str) -> str:
    """A label made safe for file names: ``Hybrid (Best)`` -> ``hybrid-best``."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


@dataclass(frozen=True)
class Variant:
    """One kind of trained model.

    Attributes:
        label: its name everywhere: the ``policy`` column of every result row, the model card's
            row (the card's own names for the card's rows), figures, the file stem
            (``results/models/<slug(label)>-seed<k>``).
        name: the same as ``label`` (kept for the card's tables, which say *Model*).
        type: the card's *Type* column.
        description: one line for the card and the API's ``GET /models``.
        algo, policy, encoder, fusion, procedure: what is trained (``fusion`` and
            ``procedure`` for hybrids only).
        root_path: the encoder's root path (:data:`edge_rl.config.ROOT_PATHS`; ``none``: the
            card's plain stack).
        model_type: the API's name for it, if the API serves it.
        folder: where its runs live under ``results/``: ``""`` for the card's (``make
            reproduce``), :data:`STUDY` for the studies' (``make study``).
    """

    label: str
    name: str
    type: str
    description: str
    algo: str
    policy: str = "gnn"
    encoder: str = "gcn"
    fusion: str | None = None
    procedure: str = "card"
    model_type: str | None = None
    root_path: str = "none"
    folder: str = ""

    @property
    def stem(self) -> str:
        """The file stem of its runs, without the seed: ``hybrid-best``."""
        return slug(self.label)

    def config(self, seed: int, budget: StepBudget) -> TrainConfig:
        """The config of its run with training seed ``seed`` at ``budget``: what it trains, by
        its procedure, for the budget's share of the card's steps. The variant builds it, so a
        run's label and its config come from one place (no config is matched back to a label).

        A baseline trains :data:`CARD_STEPS`; a hybrid by the card's procedure pre-trains
        DQN-GNN and PPO-GNN as long each (the baseline runs of the same encoder and seed, config
        for config) and fine-tunes :data:`CARD_FINE_TUNING`, best on validation seeds; ``final``
        fine-tunes :data:`FINAL_FINE_TUNING` and keeps its last weights; ``scratch`` takes no
        pre-training and as many environment steps as the card's whole procedure with the card's
        PPO rollouts (its plain stack's).

        Raises:
            ValueError: a study's variant (``folder``): the studies build their own runs
                (``edge_rl.experiments.studies.budget``), at the study's steps and rollout length.
        """
        if self.folder:
            raise ValueError(f"{self.label!r} is a variant of the studies in results/{self.folder}/, whose runs the "
                             "budget study builds (edge_rl.experiments.studies.budget.study_config)")
        encoder = EncoderConfig(kind=self.encoder, root_path=self.root_path)
        if not pretrains(self.algo):
            return _with_ppo(TrainConfig(algo=self.algo, policy=self.policy, encoder=encoder, seed=seed,
                                         total_timesteps=budget.steps(CARD_STEPS)), budget)
        spec = algorithm_spec(self.algo)
        card = _with_ppo(TrainConfig(algo=self.algo, encoder=encoder, seed=seed,
                                     hybrid=HybridConfig(fusion=self.fusion or "weighted_sum"),
                                     pretrain_steps=budget.steps(CARD_STEPS),
                                     total_timesteps=budget.steps(CARD_FINE_TUNING)), budget)
        if self.procedure == "final":
            return spec.last_weights(replace(card, total_timesteps=budget.steps(FINAL_FINE_TUNING)))
        if self.procedure == "scratch":
            # torch from here: the catalogue itself loads without it
            plain = _with_ppo(replace(card, encoder=replace(encoder, root_path="none")), budget)
            steps = sum(spec.agent_class().planned_steps(replace(card, ppo=plain.ppo)).values())
            return _with_ppo(replace(card, pretrain_steps=0, total_timesteps=steps), budget)
        return card


def with_root_path(variant: Variant, root_path: str) -> Variant:
    """``variant`` with another encoder root path: ``DQN-GNN (GAT) + residual``; the same
    variant for ``none`` (its plain stack). Served under its model type without a suffix."""
    if root_path == "none" or variant.policy != "gnn":
        return variant
    return replace(variant, label=f"{variant.label} + {root_path}", name=f"{variant.name} + {root_path}",
                   description=f"{variant.description}; encoder design: {root_path}",
                   root_path=root_path, model_type=None)


_CARD_FUSION = HybridConfig()


def _hybrid(label: str, description: str, encoder: str = "gcn", fusion: str = "weighted_sum",
            procedure: str = "card", model_type: str | None = None) -> Variant:
    kind = "GNN" if encoder == "gcn" else ENCODER_NAMES.get(encoder, encoder.upper())
    return Variant(label, label, f"DQN+PPO+{kind}", description, "hybrid", "gnn", encoder, fusion, procedure,
                   model_type)


def _baseline(algo: str, encoder: str, description: str, model_type: str | None = None) -> Variant:
    kind = "GNN" if encoder == "gcn" else ENCODER_NAMES.get(encoder, encoder.upper())
    suffix = "" if encoder == "gcn" else f" ({kind})"
    label = f"{algo.upper()}-GNN{suffix}"
    return Variant(label, label, f"{algo.upper()}+{kind}", description, algo, "gnn", encoder, model_type=model_type)


CARD_VARIANTS: tuple[Variant, ...] = (
    # The card's five Model Variants rows, in its order, and its fourth Evaluation Results row ...
    _hybrid("Hybrid (Best)", f"GCN encoder, weighted-sum fusion ({_CARD_FUSION.q_weight:g} Q + "
            f"{_CARD_FUSION.policy_weight:g} logits), card's procedure, best fine-tuning step on validation seeds",
            model_type="hybrid"),
    Variant("DQN Baseline", "DQN Baseline", "DQN", "SB3 DQN, MlpPolicy on the flat observation (the card's form)",
            "dqn", "mlp"),
    Variant("PPO Baseline", "PPO Baseline", "PPO", "SB3 PPO, MlpPolicy on the flat observation (the card's form)",
            "ppo", "mlp"),
    _hybrid("Hybrid GAT", "GAT encoder, weighted-sum fusion", encoder="gat", model_type="hybrid_gat"),
    _hybrid("Hybrid Attention", "GCN encoder, attention fusion",
            fusion="attention", model_type="hybrid_attention"),
    _hybrid("Hybrid (Final)", "GCN, weighted sum, longer fine-tuning, last weights", procedure="final"),
    # ... then ours: every other run of notebooks 01 and 02.
    _hybrid("Hybrid (scratch)", "no pre-training, as many environment steps as the card's whole procedure",
            procedure="scratch"),
    _baseline("dqn", "gcn", "SB3 DQN on the GCN encoder (the card's hybrid's DQN pre-training)", model_type="dqn"),
    _baseline("ppo", "gcn", "SB3 PPO on the GCN encoder (the card's hybrid's PPO pre-training)", model_type="ppo"),
    _hybrid("Hybrid Gating", "GCN encoder, learned per-node gate", fusion="gating", model_type="hybrid_gating"),
    _hybrid("Hybrid SAGE", "GraphSAGE encoder, weighted-sum fusion", encoder="sage", model_type="hybrid_sage"),
    _baseline("dqn", "gat", "SB3 DQN on the GAT encoder (Hybrid GAT's pre-training)"),
    _baseline("ppo", "gat", "SB3 PPO on the GAT encoder (Hybrid GAT's pre-training)"),
    _baseline("dqn", "sage", "SB3 DQN on the GraphSAGE encoder (Hybrid SAGE's pre-training)"),
    _baseline("ppo", "sage", "SB3 PPO on the GraphSAGE encoder (Hybrid SAGE's pre-training)"),
)
"""The card's rows and ours, in the card's order, with the card's plain encoder stack."""

DESIGN = EncoderConfig().root_path
"""The encoder design of new training (``EncoderConfig``'s default root path), chosen on
validation seeds by the encoder-design comparison of notebook 04."""

def _served(variant: Variant) -> tuple[Variant, ...]:
    """A card row and its root-path twin, with the API's model types: the twin (new training's
    design) takes the plain name (``hybrid_gat``, ``dqn``), the card's plain one is ``_plain``;
    the card's own hybrid is ``hybrid_card``, its twin ``hybrid_gcn`` (``hybrid`` itself names the
    best hybrid by validation score, chosen by the server)."""
    twin = with_root_path(variant, DESIGN)
    if twin is variant:
        return (variant,)
    if variant.model_type is None:
        return variant, twin
    card, new = {"hybrid": ("hybrid_card", "hybrid_gcn")}.get(variant.model_type,
                                                              (f"{variant.model_type}_plain", variant.model_type))
    return replace(variant, model_type=card), replace(twin, model_type=new)


VARIANTS: tuple[Variant, ...] = tuple(v for card in CARD_VARIANTS for v in _served(card))
"""Every card row with the plain stack (the card's), each graph model followed by its twin
with the chosen root path (``Hybrid (Best) + residual``): the card's tables show both."""

BY_LABEL: dict[str, Variant] = {v.label: v for v in VARIANTS}


def variant(label: str) -> Variant:
    """The catalogue's variant with this label."""
    if label not in BY_LABEL:
        raise ValueError(f"no variant labelled {label!r}; the catalogue has {list(BY_LABEL)}")
    return BY_LABEL[label]


def find(algo: str, policy: str = "gnn", encoder: str = "gcn", fusion: str | None = None,
         procedure: str = "card", root_path: str = "none") -> Variant:
    """The variant that trains this, from the catalogue, or a generated one if it has none
    (``Hybrid GAT attention``, ``DQN-GNN (GCN+GAT+SAGE)``, ``Hybrid SAGE + root``)."""
    if not pretrains(algo):
        encoder = encoder if policy == "gnn" else "gcn"
        fusion, procedure = None, "card"
    if policy != "gnn":
        root_path = "none"
    for v in VARIANTS:
        if (v.algo, v.policy, v.encoder, v.fusion, v.procedure, v.root_path) == (
                algo, policy, encoder, fusion, procedure, root_path):
            return v
    if root_path != "none":
        return with_root_path(find(algo, policy, encoder, fusion, procedure), root_path)
    if pretrains(algo) and procedure == "card":
        label = f"Hybrid {ENCODER_NAMES.get(encoder, encoder.upper())} {(fusion or '').replace('_', ' ')}"
        return _hybrid(label, f"{ENCODER_NAMES.get(encoder, encoder)} encoder, {fusion} fusion", encoder, fusion)
    if not pretrains(algo) and policy == "gnn":
        return _baseline(algo, encoder, f"SB3 {algo.upper()} on the {ENCODER_NAMES.get(encoder, encoder)} encoder")
    raise ValueError(f"no variant for algo={algo!r}, policy={policy!r}, encoder={encoder!r}, fusion={fusion!r}, "
                     f"procedure={procedure!r}: add one to edge_rl.catalogue.VARIANTS")


def card_name(label: str) -> str:
    """The card's name for a run label (the label itself if the catalogue has no other)."""
    return BY_LABEL[label].name if label in BY_LABEL else label


STUDY = "study"
"""The folder under ``results/`` of the studies' runs (``make study``), apart from the card's."""


def _budget(algo: str, name: str, encoder: str) -> Variant:
    hybrid = pretrains(algo)  # trained from scratch here, with the card's fusion
    kind = "DQN+PPO+GNN" if hybrid else f"{algo.upper()}+GNN"
    how = "from scratch, " if hybrid else ""
    # the GCN runs keep the names they had before the GraphSAGE arm joined them
    label, model_type = ((f"Budget {name} + {DESIGN}", f"{algo}_budget") if encoder == "gcn" else
                         (f"Budget {name} ({ENCODER_NAMES[encoder]}) + {DESIGN}", f"{algo}_budget_{encoder}"))
    return Variant(label, label, kind,
                   f"{name} on the {'GraphSAGE' if encoder == 'sage' else ENCODER_NAMES[encoder]} encoder (root "
                   f"path), trained {how}for the budget study's whole budget (make study: 200,000 environment steps), "
                   "last weights",
                   algo, "gnn", encoder, _CARD_FUSION.fusion if hybrid else None,
                   "scratch" if hybrid else "card", model_type, DESIGN, STUDY)


STUDY_ENCODERS = ("gcn", "sage")
"""The budget study's encoders: the card's GCN and GraphSAGE, each with the chosen root path
(GraphSAGE has a root weight of its own, so the path adds nothing to it)."""

STUDY_VARIANTS: dict[str, Variant] = {
    v.model_type: v for encoder in STUDY_ENCODERS  # type: ignore[misc]
    for v in (_budget(algo, name, encoder) for algo, name in (("dqn", "DQN-GNN"), ("ppo", "PPO-GNN"),
                                                                 ("hybrid", "Hybrid")))}
"""The budget study's models (:mod:`edge_rl.experiments.studies.budget`), in ``results/study/``,
by the API's name for each: ``<algo>_budget`` (GCN) and ``<algo>_budget_sage``."""


def _tuned(algo: str, name: str, model_type: str | None, design: str = "") -> Variant:
    label = f"Tuned {name}"
    how = (f"the {design} hybrid design, from scratch; make study trains it only if the tuning chose it (the "
           "best hybrid design on the model-selection episodes)" if design else "")
    return Variant(label, label, "DQN+PPO+GNN" if design else f"{algo.upper()}+GNN",
                   f"{name.split(' (')[0]} with the settings the tuning study chose (make tune, validation seeds), "
                   f"trained for the budget study's whole budget (200,000 environment steps), last weights"
                   + (f"; {how}" if how else ""),
                   algo, "gnn", "gcn", _CARD_FUSION.fusion if design else None, "scratch" if design else "card",
                   model_type, DESIGN, STUDY)


TUNED_VARIANTS: dict[str, Variant] = {v.model_type: v for v in (  # type: ignore[misc]
    _tuned("dqn", "DQN-GNN", "dqn_tuned"), _tuned("ppo", "PPO-GNN", "ppo_tuned"))}
"""The budget study's tuned DQN-GNN and PPO-GNN (:mod:`edge_rl.experiments.studies.tuned`), in
``results/study/``, by the API's name for each."""

TUNED_HYBRIDS = tuple(_tuned("hybrid", f"Hybrid ({design})", None, design) for design in HYBRID_DESIGNS)
"""The budget study's tuned hybrid, one variant per design: the study trains the one the tuning
chose, so none is a model type of its own; the API's :data:`BEST_TUNED_HYBRID` answers with it."""


def served() -> tuple[Variant, ...]:
    """The variants the API serves: the catalogue's, then the budget study's (untuned, then tuned)."""
    return (*(v for v in VARIANTS if v.model_type is not None), *STUDY_VARIANTS.values(), *TUNED_VARIANTS.values())


BEST_HYBRID = "hybrid"
"""The API's model type for the best hybrid by validation score (the server picks which),
unless a served variant has that name itself."""


BEST_TUNED_HYBRID = "hybrid_tuned"
"""The API's model type for the budget study's tuned hybrid, whichever design it trained."""


def model_types() -> tuple[str, ...]:
    """The API's learned model types, in order: the best hybrid, every served variant's, the tuned hybrid."""
    types = tuple(v.model_type for v in served())
    return (*(() if BEST_HYBRID in types else (BEST_HYBRID,)), *types, BEST_TUNED_HYBRID)  # type: ignore[return-value]

