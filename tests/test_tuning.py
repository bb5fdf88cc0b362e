"""The tuning study (edge_rl.experiments.studies.tuning): the pruner inside a task is Optuna's, a stopped
trial stops, a trial that is not stopped trains as without the rule, a rerun reads the records
back, and no test seed is ever evaluated."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from edge_rl import evaluation
from edge_rl.agents import algorithm
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, evaluate
from edge_rl.experiments.studies import tuning
from edge_rl.experiments.studies.search_spaces import MODELS
from edge_rl.experiments.studies.tuned import best_trials, tuned_config, write_hyperparams
from edge_rl.experiments.studies.tuning import TuningPlan, should_stop, thresholds, tune

optuna.logging.set_verbosity(optuna.logging.WARNING)

SMALL = TuningPlan("test", trials=4, steps=1_024, rollouts=(16,), batch=2, startup_trials=1, prune_after=1,
                   prune_at=(0.5,), selection_episodes=3)


def test_the_rule_inside_a_task_decides_as_optunas_median_pruner() -> None:
    rng = np.random.default_rng(0)
    plan = TuningPlan("p", trials=1, steps=4_000, rollouts=(16,), prune_after=2, prune_at=(0.25, 0.5, 0.75))
    for case in range(40):
        study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(
            n_startup_trials=plan.prune_after, n_warmup_steps=0))
        for _ in range(int(rng.integers(0, 5))):  # finished trials, each with a value at every checkpoint
            trial = study.ask()
            for checkpoint in plan.checkpoints:
                trial.report(float(rng.normal()), checkpoint)
            study.tell(trial, float(rng.normal()))
        medians = thresholds(study, plan)
        # a validation every 700 steps: checkpoints fall between validations
        curve = [[step, float(rng.normal())] for step in range(700, 4_001, 700)]
        trial, expected = study.ask(), None
        for checkpoint, value in tuning.intermediate_values(curve, plan.checkpoints).items():
            trial.report(value, checkpoint)
            if trial.should_prune():
                expected = checkpoint
                break
        assert should_stop(curve, plan.checkpoints, medians) == expected, case


def _config(algo: str, steps: int = 2_048):
    config = MODELS[{"dqn": "dqn-gnn", "hybrid": "hybrid-card"}[algo]].base(SMALL.steps, SMALL.train_seed)
    config = replace(config, total_timesteps=steps)
    if algo == "hybrid":
        config = replace(config, hybrid=replace(config.hybrid, n_steps=16))
    return config


@pytest.mark.parametrize("algo", ["dqn", "hybrid"])
def test_a_trial_below_the_median_stops_training_at_that_checkpoint(algo: str) -> None:
    config = _config(algo, steps=3_000)
    record = tuning.run_trial(config, (1_000,), {1_000: float("inf")}, (20_100,))
    assert record["pruned_at"] == 1_000 and record["value"] is None
    # stopped at its first validation past 1,000 steps, not at the end of its 3,000
    assert record["timesteps"] == record["curve"][-1][0] < 2_000


def test_a_trial_the_rule_does_not_stop_trains_as_without_it() -> None:
    config = _config("dqn", steps=1_024)
    record = tuning.run_trial(config, (512,), {512: float("-inf")}, (20_100, 20_101))
    agent = algorithm(config).train(config)
    assert record["pruned_at"] is None
    assert record["value"] == float(evaluate(agent, (20_100, 20_101), config.env)["return"].mean())
    assert record["curve"] == [[int(s), float(v)] for s, v in agent.trained["validation_returns"]]


def test_tuning_reads_no_test_seed_and_a_rerun_reads_its_records_back(tmp_path, monkeypatch) -> None:
    evaluated: set[int] = set()
    check = evaluation._check_seeds

    def recording(seeds):
        seeds = check(seeds)
        evaluated.update(seeds)
        return seeds

    monkeypatch.setattr(evaluation, "_check_seeds", recording)
    first = tune(SMALL, tmp_path, models=["ppo-gnn"], workers=0, report=None)["ppo-gnn"]
    assert evaluated and not evaluated & set(DEFAULT_EVAL_SEEDS)
    assert evaluated >= set(SMALL.selection_seeds)
    records = sorted(tmp_path.glob("trials/ppo-gnn-*.json"))
    assert len(records) == SMALL.trials
    assert all(json.loads(p.read_text())["config"]["seed"] == SMALL.train_seed for p in records)

    def no_training(*args):
        raise AssertionError("a told trial was trained again")

    monkeypatch.setattr(tuning, "run_trial", no_training)
    again = tune(SMALL, tmp_path, models=["ppo-gnn"], workers=0, report=None)["ppo-gnn"]
    assert [(t.params, t.value, t.state) for t in again.trials] == [(t.params, t.value, t.state) for t in first.trials]

    # what it chose: a hyperparameter file that rebuilds the best trial's config
    (path,) = write_hyperparams(tmp_path, SMALL)
    best = best_trials(tmp_path, SMALL).loc[MODELS["ppo-gnn"].label]
    record = json.loads((tmp_path / "trials" / f"ppo-gnn-{int(best['trial']):03d}.json").read_text())
    rebuilt = tuned_config("ppo-gnn", tmp_path, SMALL.steps, SMALL.train_seed, SMALL)
    assert json.loads(json.dumps(rebuilt.to_dict())) == record["config"]
    assert "edge_rl/IoTEdge-v0" in path.read_text()


def test_an_unknown_model_is_refused_by_name(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown model.*'dqn'.*accepted"):
        tune(SMALL, tmp_path, models=["dqn"], workers=0)


@pytest.mark.parametrize("interval, says", [("[0.60, 0.90]", "helps: the hybrid beats"),
                                            ("[0.10, 0.40]", "does not help"),
                                            ("[0.30, 0.70]", "neither clearly helps"),
                                            ("n/a (1 seed)", "one seed cannot tell")])
def test_the_card_says_whether_combining_helps_from_the_interval(interval: str, says: str) -> None:
    import pandas as pd

    from edge_rl.experiments.card.tuning import combination_verdict

    table = pd.DataFrame({"X": ["Tuned Hybrid"], "Y": ["Tuned DQN-GNN"], "P(X > Y)": [0.5],
                          "95% CI": [interval]}).set_index(["X", "Y"])
    assert says in combination_verdict(table, "Tuned Hybrid", "Tuned DQN-GNN")


def test_the_cards_tuning_section_says_the_seeds_and_episodes_its_tables_have(tmp_path: Path) -> None:
    """Nothing typed in: the seeds and episodes of the tuned rows come from the tables."""
    from edge_rl.experiments.card.tuning import tuning_section

    tables = tmp_path / "tables"
    tables.mkdir()
    assert tuning_section(tmp_path) == []
    pd.DataFrame({"model": ["DQN-GNN"], "trials": [12], "finished": [8]}).to_csv(tables / "tuning_summary.csv",
                                                                                index=False)
    pd.DataFrame({"policy": ["greedy_earliest_finish", "Tuned DQN-GNN", "Tuned Hybrid (separated)"],
                  "Mean Reward": [90.0, 95.0, 92.0], "Seeds": [1, 3, 3], "Episodes": [40, 40, 40],
                  "IQM over seeds": [90.0, 95.5, 92.5], "Training Steps": [0, 200_000, 200_704]}).to_csv(
        tables / "budget_tuned_final.csv", index=False)
    pd.DataFrame({"X": ["Tuned Hybrid (separated)"], "Y": ["Tuned DQN-GNN"], "P(X > Y)": [0.0],
                  "95% CI": ["[0.00, 0.00]"]}).to_csv(tables / "budget_tuned_improvement.csv", index=False)
    text = "\n".join(tuning_section(tmp_path))
    assert "12 Optuna trials each" in text and "3 seeds each" in text and "the 40 test episodes" in text
    assert "does not help" in text and "`hybrid_tuned`" in text
    from edge_rl.experiments.card.tuning import tuning_finding

    pd.DataFrame({"policy": ["Tuned Hybrid (separated)"] * 2, "seed": [0, 1], "fused": [92.0, 93.0],
                  "Q head": [94.0, 95.0], "policy head": [91.0, 90.0]}).to_csv(tables / "budget_heads.csv", index=False)
    assert tuning_finding(tmp_path) == (
        "**Under equal tuning** (*Beyond the card*: 3 seeds each, 200,000 steps), combining DQN and PPO does not help: "
        "the hybrid loses to its DQN part (P(Tuned Hybrid (separated) > Tuned DQN-GNN) = 0.00 [0.00, 0.00]): Tuned Hybrid "
        "(separated) IQM 92.50 against Tuned DQN-GNN's 95.50. Acting by each of its outputs it scores 92.50 by the fused "
        "scores, 94.50 by its Q head, 90.50 by its policy head: its Q head carries its skill.")
    assert tuning_finding(tmp_path / "elsewhere") is None
