"""The catalogue of variants: each variant builds its own run's config, so a run's label and its
config come from one place, and the configs are those the committed results were trained with
(``tests/test_results.py`` checks the committed runs themselves)."""

from __future__ import annotations

import pytest

from edge_rl.agents.hybrid import HybridAgent
from edge_rl.catalogue import BY_LABEL, STUDY_VARIANTS, TUNED_HYBRIDS, TUNED_VARIANTS, VARIANTS, find
from edge_rl.experiments.plan.suites import BUDGETS, designs
from edge_rl.registry import FUSIONS, encoder_kinds


def _hybrids() -> list:
    """Every hybrid the suites train: the catalogue's and the ablation grid's other cells."""
    grid = [find("hybrid", encoder=encoder, fusion=fusion, root_path=root_path)
            for encoder in encoder_kinds() for fusion in FUSIONS for root_path in designs()]
    return list({v.label: v for v in [*VARIANTS, *grid] if v.algo == "hybrid"}.values())


@pytest.mark.parametrize("budget", BUDGETS.values(), ids=list(BUDGETS))
def test_a_pre_trained_hybrid_starts_from_the_baseline_runs_of_its_encoder_and_seed(budget) -> None:
    # The hybrid's pre-training runs are the DQN-GNN and PPO-GNN baseline runs, config for config:
    # a hybrid would refuse to start from them otherwise (and they would be trained twice).
    for variant in _hybrids():
        config = variant.config(3, budget)
        baselines = tuple(find(algo, encoder=variant.encoder, root_path=variant.root_path).config(3, budget)
                          for algo in ("dqn", "ppo"))
        assert HybridAgent.prerequisites(config) == (baselines if variant.procedure != "scratch" else ()), variant.label


def test_each_procedure_trains_the_steps_its_description_says() -> None:
    full, quick = BUDGETS["full"], BUDGETS["quick"]
    best, final = BY_LABEL["Hybrid (Best)"].config(0, full), BY_LABEL["Hybrid (Final)"].config(0, full)
    assert (best.pretrain_steps, best.total_timesteps, best.hybrid.select_best) == (10_000, 5_000, True)
    assert (final.pretrain_steps, final.total_timesteps, final.hybrid.select_best) == (10_000, 20_000, False)
    for budget in (full, quick):  # as many environment steps as the card's whole procedure, its plain rollouts
        card, scratch = BY_LABEL["Hybrid (Best)"].config(1, budget), BY_LABEL["Hybrid (scratch) + root"].config(1, budget)
        assert scratch.pretrain_steps == 0 and scratch.total_timesteps == sum(HybridAgent.planned_steps(card).values())
    mlp = BY_LABEL["DQN Baseline"].config(2, quick)
    assert (mlp.policy, mlp.seed, mlp.total_timesteps, mlp.encoder.root_path) == ("mlp", 2, 1_000, "none")


def test_a_studys_variant_builds_no_card_config_and_says_who_does() -> None:
    for variant in (*STUDY_VARIANTS.values(), *TUNED_VARIANTS.values(), *TUNED_HYBRIDS):
        with pytest.raises(ValueError, match=r"edge_rl\.experiments\.studies\.budget\.study_config"):
            variant.config(0, BUDGETS["full"])
