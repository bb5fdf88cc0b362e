"""The studies beyond the card (notebooks 06 and 07): what each trains or evaluates, and how
their tables read the runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, SELECTION_SEEDS
from edge_rl.experiments.run.runs import Run, run_all
from edge_rl.experiments.studies.budget import (
    STUDY_PLANS,
    at_budgets,
    budget_runs,
    budget_table,
    choose_rollout,
    first_budget_above,
    study_plan,
    tuning_runs,
)
from edge_rl.experiments.studies.generalisation import (
    CONDITIONS,
    MIXTURE,
    RULES,
    Condition,
    evaluate_conditions,
    generalisation_plan,
    in_mixture,
    mixed_runs,
    relative_table,
    zero_shot_table,
)
from tests.test_baselines import tiny


@pytest.mark.parametrize("name", list(STUDY_PLANS))
def test_every_algorithm_gets_the_same_steps_and_the_rollout_is_chosen_without_test_seeds(name: str) -> None:
    plan = study_plan(name)
    runs = budget_runs(plan, rollout=plan.rollouts[0])
    assert len(runs) == 3 * len(plan.encoders) * plan.seeds and len({run.stem for run in runs}) == len(runs)
    assert {(run.config.algo, run.config.encoder.kind) for run in runs} == {
        (algo, kind) for algo in ("dqn", "ppo", "hybrid") for kind in plan.encoders}
    assert {run.config.total_timesteps for run in runs} == {plan.steps}
    assert all(run.eval_seeds == plan.eval_seeds and run.val_seeds == plan.selection_seeds for run in runs)
    assert all(run.config.encoder.root_path == "root" for run in runs)
    hybrids = [run.config for run in runs if run.config.algo == "hybrid"]
    assert all(c.pretrain_steps == 0 and not c.hybrid.select_best for c in hybrids)  # last weights, as the others
    assert {run.config.ppo.n_steps for run in runs if run.config.algo == "ppo"} == {plan.rollouts[0]}
    assert {c.hybrid.n_steps for c in hybrids} == {plan.rollouts[0]}
    tuning = tuning_runs(plan)
    assert all(not run.eval_seeds and set(run.val_seeds) <= set(SELECTION_SEEDS) for run in tuning)
    assert not set(DEFAULT_EVAL_SEEDS) & {s for run in tuning for s in run.val_seeds}
    with pytest.raises(ValueError, match=r"unknown study budget 'huge'; accepted: \['full', 'quick'\]"):
        study_plan("huge")


def test_the_rollout_with_the_best_validation_mean_is_chosen() -> None:
    rows = pd.DataFrame({"policy": ["Tune PPO-GNN rollout 128"] * 4 + ["Tune PPO-GNN rollout 1024"] * 4,
                         "train_seed": [0, 0, 1, 1] * 2, "return": [80, 82, 90, 88, 95, 93, 60, 62]})
    rollout, table = choose_rollout(rows)
    assert rollout == 128 and table.loc[1024].iloc[0] == pytest.approx(77.5)


def _curves() -> pd.DataFrame:
    # Two seeds of "A" that pass 50 from step 2000; "B" never does; "C" passes, then falls back.
    rows = []
    for seed, shift in ((0, 0.0), (1, 2.0)):
        for step, a, b, c in ((1000, 40, 10, 60), (2000, 60, 20, 61), (3000, 70, 30, 40)):
            rows += [{"policy": p, "seed": seed, "step": step + 24 * seed, "return": v + shift}
                     for p, v in (("A", a), ("B", b), ("C", c))]
    return pd.DataFrame(rows)


def test_each_budget_reads_the_last_validation_at_or_before_it() -> None:
    points = at_budgets(_curves(), (1000, 2500, 3100))
    a = points[points["policy"] == "A"].set_index(["budget", "seed"])["return"]
    assert a[(1000, 0)] == 40 and (1000, 1) not in a.index  # seed 1 first validated at step 1024
    assert a[(2500, 1)] == 62 and a[(3100, 0)] == 70


def test_the_budget_table_does_not_depend_on_the_order_the_curves_came_in() -> None:
    curves = pd.concat([_curves()] + [_curves().assign(seed=s, step=lambda f: f["step"] + s, **{"return": lambda f, s=s:
                                                      f["return"] + s % 3}) for s in range(2, 6)], ignore_index=True)
    table = budget_table(at_budgets(curves, (1100, 2100, 3100)), "rule", 50.0, 100.0)
    shuffled = budget_table(at_budgets(curves.sample(frac=1.0, random_state=3), (1100, 2100, 3100)), "rule", 50.0, 100.0)
    pd.testing.assert_frame_equal(table, shuffled)  # the bootstrap intervals too, to the digit


def test_the_budget_table_says_from_which_budget_each_algorithm_stays_above_the_rule() -> None:
    table = budget_table(at_budgets(_curves(), (1100, 2100, 3100)), "rule", 50.0, 100.0)
    passes = first_budget_above(table, "rule")
    assert passes["A"] == "2,100" and passes["B"] == "not within 3,100" and passes["C"] == "not within 3,100"
    assert table.loc[("A", 3100), "gap to oracle_one_step"] == pytest.approx(100 - 71.0)


def test_every_condition_is_distinct_and_valid_and_the_card_comes_first() -> None:
    assert CONDITIONS[0].config.n_nodes == 17 and CONDITIONS[0].group == "card"
    assert len({c.name for c in CONDITIONS}) == len({c.config for c in CONDITIONS}) == len(CONDITIONS)
    sizes = {c.config.n_nodes for c in CONDITIONS}
    assert {9, 30, 50, 100, 200} <= sizes
    from edge_rl.serve.schemas import MAX_NODES

    assert max(sizes) <= MAX_NODES  # every network of the study is one the API serves


def test_zero_shot_runs_a_model_of_the_card_network_elsewhere_beside_the_rules(tmp_path: Path) -> None:
    run = Run("DQN-GNN", tiny("dqn", seed=0), eval_seeds=(10_000,))
    run_all([run], tmp_path, workers=0, progress=False)
    conditions = [c for c in CONDITIONS if c.config.n_nodes in (9, 100)][:2] + [
        Condition("tiny trace", "load", CONDITIONS[0].config.replace(load_trace="google2019"))]
    plan = generalisation_plan("quick")
    rows = evaluate_conditions([(run, tmp_path)], plan, conditions, workers=0, progress=False)
    assert set(rows["condition"]) == {c.name for c in conditions}
    assert set(rows["policy"]) == {*RULES, "oracle_one_step", "DQN-GNN"}
    assert (rows.groupby(["condition", "policy"]).size() == plan.episodes).all()
    relative = relative_table(rows)
    assert np.allclose(relative.xs(RULES[0], level="policy")[f"vs {RULES[0]}"], 0.0)
    zero_shot = zero_shot_table(relative, models=["DQN-GNN"])
    assert list(zero_shot.index) == [c.name for c in conditions] and RULES[0] not in zero_shot.columns
    assert list(zero_shot.columns) == ["DQN-GNN", *RULES[1:], "oracle_one_step"]  # the models first, the bound last
    # The bound is never below the rule's greedy choice on average here (it reads the simulator).
    assert (zero_shot["oracle_one_step"] > -1.0).all()


def test_a_missing_checkpoint_names_the_run_and_what_makes_it(tmp_path: Path) -> None:
    run = Run("DQN-GNN", tiny("dqn", seed=0), eval_seeds=(10_000,))
    with pytest.raises(FileNotFoundError, match=r"run dqn-gnn-seed0 has no checkpoint in .*make reproduce"):
        evaluate_conditions([(run, tmp_path)], generalisation_plan("quick"), CONDITIONS[:1], workers=0,
                            progress=False)


def test_the_mixed_model_trains_on_sizes_and_loads_and_knows_where_it_is_not_zero_shot() -> None:
    runs = mixed_runs(generalisation_plan("full"))
    assert len(runs) == 5 and all(run.config.env_mix == MIXTURE and run.config.total_timesteps == 10_000 for run in runs)
    assert {c.n_nodes for c in MIXTURE} == {9, 17, 30} and {c.load_scale for c in MIXTURE} == {0.5, 1.0, 1.5, 2.0}
    inside = {c.name for c in CONDITIONS if in_mixture(c)}
    assert inside == {"card: 17 nodes (10/6/1)", "9 nodes (5/3/1)", "30 nodes (20/9/1)", "load x0.5", "load x1.5",
                      "load x2"}


def test_the_card_reports_each_study_only_where_its_tables_exist(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from edge_rl.config import TrainConfig
    from edge_rl.experiments.card.model_card import _studies, _topology

    tables = tmp_path / "tables"
    tables.mkdir()
    card = SimpleNamespace(results=tmp_path, config=TrainConfig())
    assert _studies(card) == []
    assert "**One topology trained**" in _topology(card)

    pd.DataFrame({"DQN-GNN + root": [-2.0, 5.0], "DQN-GNN + root, mixed": [-3.0, 7.0], "least_loaded": [-40.0, -9.0]},
                 index=pd.Index(["card: 17 nodes", "load x2"], name="condition")).to_csv(tables / "zero_shot.csv")
    text = "\n".join(_studies(card))
    assert "### Other networks and loads, zero-shot" in text and "is not complete in this folder" in text
    assert "DQN-GNN + root from -2.0 to +5.0 (above the rule in 1 of 2)" in text
    assert "Trained with budget" not in text  # no tuned model in this table
    assert "changed the return by +0.50 on average over the conditions (-1.00 to +2.00)" in _topology(card)

    pd.DataFrame({"DQN-GNN + root": [-2.0, 5.0, -1.0], "Tuned DQN-GNN": [1.0, 6.0, 2.5],
                  "oracle_one_step": [3.0, 9.0, 4.0]},
                 index=pd.Index(["card: 17 nodes", "load x2", "200 nodes (140/54/6)"], name="condition")).to_csv(
        tables / "zero_shot.csv")
    text = "\n".join(_studies(card))
    assert "Tuned DQN-GNN from +1.0 to +6.0 (above the rule in 3 of 3)" in text and "oracle_one_step from" not in text
    assert ("Tuned DQN-GNN +4.25 on average against DQN-GNN + root's +2.00, above the rule in 2 of 2 (the card-budget "
            "model in 1), at 200 nodes +2.50 against -1.00") in text
    assert "networks of 9 to 200 nodes" in text

    rule, dqn, ppo = "greedy_earliest_finish", "Budget DQN-GNN + root", "Budget PPO-GNN + root"
    pd.DataFrame({f"passes {rule} from (env steps)": ["50,000", "not within 200,000"]},
                 index=pd.Index([dqn, ppo], name="policy")).to_csv(tables / "budget_passes.csv")
    pd.DataFrame({"Mean Reward": [95.5, 94.0, 90.0, 88.5], "Gap to bound": [0.0, 1.5, 5.5, 7.0]},
                 index=pd.Index(["oracle_one_step (bound)", dqn, rule, ppo], name="Model")).to_csv(
        tables / "budget_final.csv")
    text = "\n".join(_studies(card))
    assert "### Training longer (budget study)" in text and "not complete" not in text
    assert (f"{dqn} stays above {rule} from 50,000 steps on the validation episodes; its final weights score 94.00 "
            "on the test episodes (+4.00 against the rule, 1.50 below the one-step oracle)") in text
    assert f"{ppo} does not stay above {rule} not within 200,000 steps" not in text
    assert f"{ppo} does not stay above {rule} within 200,000 steps" in text and "(-1.50 against the rule" in text
    assert "`hybrid_budget`" in text


def test_with_several_models_the_rollout_with_the_best_mean_over_all_their_runs_is_chosen() -> None:
    rows = pd.DataFrame({"policy": ["R GCN 128"] * 2 + ["R GAT 128"] * 2 + ["R GCN 1024"] * 2 + ["R GAT 1024"] * 2,
                         "train_seed": [0, 1] * 4, "return": [80, 90, 50, 60, 70, 72, 75, 77]})
    rollout, table = choose_rollout(rows)
    # GCN prefers 128 (85 against 71), but over both models 1024 is better (73.5 against 70)
    assert rollout == 1024 and list(table.columns) == ["R GAT", "R GCN", "validation return (mean over seeds)", "seeds"]
    assert table.loc[128, "R GCN"] == 85 and table.loc[128].iloc[2] == 70 and (table["seeds"] == 2).all()
