"""The suites of runs the notebooks train, built from the catalogue of variants
(:mod:`edge_rl.catalogue`), at a :class:`Budget`.

- :func:`baseline_runs` (notebook 01): the card's DQN and PPO, on the flat observation and on
  the graph.
- :func:`hybrid_runs` (notebook 02): the card's hybrid procedure and its variants, with the
  baseline runs they start from.
- :func:`ablation_runs` (notebook 04): every encoder x every fusion.
- :func:`card_runs`: every run of notebooks 01 and 02, once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge_rl.agents.hybrid import pretrain_config
from edge_rl.catalogue import BY_LABEL, DESIGN, ENCODER_NAMES, VARIANTS, Variant, find, pretrains
from edge_rl.config import ROOT_PATHS, EncoderConfig, HybridConfig, PPOConfig, TrainConfig
from edge_rl.config.algorithms import unread_setting
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, SELECTION_SEEDS
from edge_rl.experiments.run.runs import Run
from edge_rl.registry import FUSIONS, encoder_kinds


@dataclass(frozen=True)
class Budget:
    """How much a reproduction runs: ``full`` for ``make reproduce``, ``quick`` for
    ``make reproduce QUICK=1`` and for the notebooks' checks in CI. Each variant builds its run's
    config from the budget's :meth:`steps` and :meth:`ppo` (:meth:`edge_rl.catalogue.Variant.config`)."""

    name: str
    eval_episodes: int  # test episodes per policy (and per trained model)
    train_seeds: int  # training seeds per variant
    our_seeds: int  # training seeds of our hybrid rows, not the card's: Final, scratch, Gating, SAGE
    step_scale: float  # fraction of the card's training steps
    ppo_rollout: int | None = None  # steps per environment per PPO rollout; None: PPOConfig's
    # PPO's rollout with the chosen encoder design (None: as every other run's), chosen among
    # ``rollouts`` on validation seeds at the card's budget (:func:`rollout_runs`, notebook 04)
    design_rollout: int | None = None
    rollouts: tuple[int, ...] = ()
    rollout_seeds: int = 2  # training seeds per rollout candidate
    design_encoders: tuple[str, ...] = ("gcn", "gat", "sage")  # the layer kinds of those two comparisons
    ablation_seeds: int = 3  # training seeds per cell of the encoder x fusion x design ablation
    # the encoders of that ablation (None: every kind; the smoke budget's GCN only, whose cells
    # notebook 02 has trained, so that make test's notebooks train no run of their own there)
    ablation_encoders: tuple[str, ...] | None = None
    design_seeds: int = 3  # training seeds per cell of the encoder-design comparison
    selection_episodes: int = 50  # validation episodes that choose between trained models

    @property
    def selection_seeds(self) -> tuple[int, ...]:
        """The validation seeds that choose between trained models (never test seeds)."""
        return SELECTION_SEEDS[: self.selection_episodes]

    def steps(self, card_steps: int) -> int:
        """The training steps this budget gives a run the card trains for ``card_steps``."""
        return max(1, round(card_steps * self.step_scale))

    def ppo(self, config: TrainConfig) -> PPOConfig:
        """PPO's settings for the run of ``config``: the card's but for the rollout length (a smoke
        run of a tenth of the steps would otherwise still collect one full 8,192-step rollout;
        the chosen encoder design's runs use the length chosen for them). A run that never runs
        PPO (DQN, a hybrid without pre-training) keeps the defaults."""
        if unread_setting(config, "ppo.n_steps"):
            return PPOConfig()
        if config.encoder.root_path == DESIGN and self.design_rollout is not None:
            return PPOConfig(n_steps=self.design_rollout)
        return PPOConfig() if self.ppo_rollout is None else PPOConfig(n_steps=self.ppo_rollout)


BUDGETS = {
    # A full run is about 3.5 hours on 2 cores: every row of the card's tables has 10 seeds; the
    # ablation grid's other cells get 3 (24 cells at 10 seeds would add about 3 hours). The card's
    # 8 x 1,024-step rollouts leave PPO 2 updates in its 10,000 steps; with the chosen design, PPO
    # collects 8 x 8, the best of ``rollouts`` on validation (results/tables/ppo_rollout.md). The
    # grid was widened downwards while its best was its shortest; 8 x 8 is one minibatch of 64.
    "full": Budget("full", eval_episodes=100, train_seeds=10, our_seeds=10, step_scale=1.0, ablation_seeds=3,
                   design_rollout=8, rollouts=(8, 16, 32, 64, 128, 256, 1024)),
    "quick": Budget("quick", eval_episodes=10, train_seeds=2, our_seeds=1, step_scale=0.1, ppo_rollout=128,
                    ablation_seeds=1, design_seeds=1, selection_episodes=10, design_rollout=8, rollouts=(8, 64),
                    rollout_seeds=1, design_encoders=("gcn",), ablation_encoders=("gcn",)),
}


def budget(name: str) -> Budget:
    """The budget called ``name``: ``full`` or ``quick``."""
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}; accepted: {sorted(BUDGETS)}")
    return BUDGETS[name]


def designs() -> tuple[str, ...]:
    """The encoder designs every graph row of the card is trained with: the card's plain stack,
    and the root path new training uses (:data:`~edge_rl.catalogue.DESIGN`)."""
    return tuple(dict.fromkeys(("none", DESIGN)))


def _run(budget: Budget, variant: Variant, seed: int) -> Run:
    """The run of ``variant`` with training seed ``seed``, its config the variant's own at this
    budget: evaluated on the budget's test seeds, and on the model-selection seeds (which choose
    the checkpoint the API serves)."""
    return Run(variant.label, variant.config(seed, budget), DEFAULT_EVAL_SEEDS[: budget.eval_episodes],
               budget.selection_seeds)


def baseline_runs(budget: Budget) -> list[Run]:
    """The card's four baselines, ``budget.train_seeds`` seeds each: DQN and PPO on the flat
    observation (SB3's MlpPolicy, the card's form) and on the graph (the card's GCN encoder),
    the graph ones with the card's plain stack and with the chosen root path (the catalogue's
    baselines on GCN, in its order)."""
    baselines = [v for v in VARIANTS if not pretrains(v.algo) and v.encoder == "gcn" and v.root_path in designs()]
    return [_run(budget, variant, seed) for seed in range(budget.train_seeds) for variant in baselines]


def _card_hybrid(budget: Budget, seed: int) -> TrainConfig:
    """The card's hybrid: its procedure (pre-train 10,000 steps each, fine-tune 5,000) on its plain
    encoder stack (the comparisons built from it set their own)."""
    return BY_LABEL["Hybrid (Best)"].config(seed, budget)


def _with(card: TrainConfig, encoder: str, root_path: str) -> TrainConfig:
    """``card`` with another encoder and root path, weighted-sum fusion and ``card``'s PPO settings."""
    return replace(card, encoder=EncoderConfig(kind=encoder, root_path=root_path), hybrid=HybridConfig())


def _pretraining(budget: Budget, seed: int, encoder: str, root_path: str) -> list[Run]:
    """DQN-GNN and PPO-GNN with ``encoder``: the hybrid's pre-training, and baselines in their own right."""
    return [_run(budget, find(algo, encoder=encoder, root_path=root_path), seed) for algo in ("dqn", "ppo")]


def hybrid_runs(budget: Budget) -> list[Run]:
    """The card's hybrid procedure and variants, with the baseline runs they start from, each
    with the card's plain encoder stack and with the chosen root path.

    Per seed: DQN-GNN and PPO-GNN for GCN and GAT (pre-training, 10,000 steps each), then the
    card's hybrids by its procedure, each fine-tuned for 5,000 steps: "Hybrid (Best)" (GCN,
    weighted sum, best on validation seeds), "Hybrid GAT", "Hybrid Attention". On ``our_seeds``
    seeds (and the ablation's), the rows that are ours: "Hybrid Gating" and "Hybrid SAGE" with
    its GraphSAGE pre-training (two cells of the grid that notebook 04 completes), "Hybrid
    (Final)", 20,000 fine-tuning steps, last weights, and "Hybrid (scratch)", no pre-training, as
    many environment steps as the card's whole procedure.
    """
    def in_grid_only(variant: Variant) -> bool:  # a grid cell of ours, not a card row
        return variant.encoder == "sage" or variant.fusion == "gating"

    runs = []
    for seed in range(budget.train_seeds):
        ours = seed < budget.our_seeds
        grid = ours or seed < budget.ablation_seeds
        for root_path in designs():
            hybrids = [v for v in VARIANTS if pretrains(v.algo) and v.root_path == root_path
                       and (grid or not in_grid_only(v))]
            for encoder in ("gcn", "gat", "sage") if grid else ("gcn", "gat"):
                runs += _pretraining(budget, seed, encoder, root_path)
            runs += [_run(budget, v, seed) for v in hybrids if v.procedure == "card"]
            if ours:
                runs += [_run(budget, v, seed) for v in hybrids if v.procedure != "card"]
    return runs


def ablation_runs(budget: Budget) -> list[Run]:
    """Every encoder (GCN, GAT, GraphSAGE, hybrid; ``budget.ablation_encoders`` when given) x
    every fusion (weighted sum, attention, gating) x the two encoder designs (plain, chosen root
    path), by the card's procedure,
    ``budget.ablation_seeds`` seeds each (the first of notebook 02's: 24 cells at 10 seeds would
    double a full reproduction's time), with their pre-training runs. Cells that notebook 02 trained
    keep its labels and are not retrained."""
    runs = []
    for seed in range(budget.ablation_seeds):
        for root_path in designs():
            for encoder in budget.ablation_encoders or encoder_kinds():
                runs += _pretraining(budget, seed, encoder, root_path)
                runs += [_run(budget, find("hybrid", encoder=encoder, fusion=fusion, root_path=root_path), seed)
                         for fusion in FUSIONS]
    return runs


def card_runs(budget: Budget) -> list[Run]:
    """Every run of notebooks 01 and 02, each once (02's pre-training includes 01's GNN runs)."""
    return list({run.stem: run for run in baseline_runs(budget) + hybrid_runs(budget)}.values())


def design_runs(budget: Budget) -> list[Run]:
    """The encoder-design comparison, on validation seeds only: every root path (the plain
    stack among them) x ``budget.design_encoders`` (GCN, GAT and GraphSAGE; the smoke budget's
    GCN only; the hybrid encoder stacks all three) x DQN-GNN, PPO-GNN and the card's hybrid (its
    procedure: pre-trained on those two, weighted sum), ``budget.design_seeds`` seeds each,
    evaluated on the model-selection seeds (:data:`~edge_rl.evaluation.SELECTION_SEEDS`), never
    on test seeds: this is what chooses the default design (notebook 04). Every design has the
    card's PPO settings here, the budget's rollout length (``ppo_rollout``) included."""
    runs = []
    for seed in range(budget.design_seeds):
        card = _card_hybrid(budget, seed)
        for encoder in budget.design_encoders:
            for root_path in ROOT_PATHS:
                config = _with(card, encoder, root_path)
                name = f"{ENCODER_NAMES[encoder]} {root_path}"
                runs += [Run(f"Design {algo.upper()}-GNN {name}", pretrain_config(config, algo), (),
                             budget.selection_seeds) for algo in ("dqn", "ppo")]
                runs.append(Run(f"Design Hybrid {name}", config, (), budget.selection_seeds))
    return runs


def rollout_runs(budget: Budget) -> list[Run]:
    """PPO-GNN with the chosen encoder design, ``budget.design_encoders``, at the card's budget, with
    each of ``budget.rollouts`` steps per environment per rollout (8 environments), on
    ``budget.rollout_seeds`` seeds, evaluated on the model-selection seeds only: this chooses
    ``budget.design_rollout`` (notebook 04;
    :func:`~edge_rl.experiments.studies.budget.choose_rollout`)."""
    runs = []
    for seed in range(budget.rollout_seeds):
        card = _card_hybrid(budget, seed)
        for encoder in budget.design_encoders:
            for rollout in budget.rollouts:
                config = replace(_with(card, encoder, DESIGN), ppo=PPOConfig(n_steps=rollout))
                runs.append(Run(f"Rollout PPO-GNN {ENCODER_NAMES[encoder]} {rollout}", pretrain_config(config, "ppo"),
                                (), budget.selection_seeds))
    return runs
