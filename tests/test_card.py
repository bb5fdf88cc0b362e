"""The model card: its two tables with the fixed rules as rows, the probability of improvement,
and MODEL_CARD.md, which refuses to be written from missing results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge_rl.card import (
    EVALUATED,
    MODEL_VARIANTS,
    best_rule,
    evaluation_results,
    headline,
    improvement,
    model_card,
    model_variants,
)

METRICS = {"deadline_success": 0.5, "latency_mean_ms": 100.0, "latency_p95_ms": 200.0, "energy_per_task_j": 1.0}


def _rows(labels, score: dict[str, float], seeds: int = 3) -> pd.DataFrame:
    records = []
    for label in labels:
        for seed in range(seeds):
            for episode in range(2):
                records.append({"policy": label, "train_seed": seed, "seed": 10_000 + episode,
                                "return": score.get(label, 0.0) + seed + episode, "env_steps": 300,
                                "train_steps": 100, **METRICS})
    return pd.DataFrame(records)


def _rules() -> pd.DataFrame:
    rows = _rows(["random", "greedy_earliest_finish"], {"random": -50.0, "greedy_earliest_finish": 50.0}, seeds=1)
    return rows.assign(env_steps=0, train_steps=0)


def test_model_variants_use_the_cards_names_and_order() -> None:
    rows = _rows(set(MODEL_VARIANTS) | set(EVALUATED), {"Hybrid (Best)": 10.0})
    table = model_variants(rows)
    assert list(table.index[:5]) == ["Hybrid (Best)", "DQN Baseline", "PPO Baseline", "Hybrid GAT", "Hybrid Attention"]
    assert table.loc["DQN Baseline", "Type"] == "DQN" and "MlpPolicy" in table.loc["DQN Baseline", "Description"]
    assert table.loc["Hybrid (Best)", "Mean Reward"] == pytest.approx(10.0 + 1.0 + 0.5)
    assert (table["Seeds"] == 3).all()


def test_evaluation_results_put_the_rules_among_the_models_by_mean_reward() -> None:
    rows = _rows(EVALUATED, {"Hybrid (Best)": 10.0})
    table = evaluation_results(rows, _rules())
    assert table.index[0] == "greedy_earliest_finish" and table.index[-1] == "random"  # a rule that wins is on top
    assert table.loc["random", "Type"] == "rule" and table.loc["random", "Training Steps"] == 0
    assert table.loc["Hybrid (Final)", "Training Steps"] == 100 and table.loc["Hybrid (Final)", "Env steps (total)"] == 300
    assert {"Mean Reward", "Std Dev", "Min", "Max", "Training Steps"} <= set(table.columns)
    assert list(headline(table).index) == list(table.index) and "Min" not in headline(table)


def test_improvement_over_each_rival_and_the_best_rule() -> None:
    rows = _rows(EVALUATED, {"Hybrid (Best)": 10.0, "DQN-MLP": 100.0})
    rules = _rules()
    assert best_rule(rules) == "greedy_earliest_finish"
    table = improvement(rows, rules, of=["Hybrid (Best)"])
    assert list(table.index) == [f"Hybrid (Best) vs {y}" for y in
                                 ("DQN Baseline", "DQN-GNN", "PPO Baseline", "PPO-GNN", "greedy_earliest_finish")]
    assert table.loc["Hybrid (Best) vs DQN Baseline", "P(X > Y)"] == 0.0  # every DQN seed is far above
    assert table.loc["Hybrid (Best) vs PPO-GNN", "P(X > Y)"] == 1.0
    assert table.loc["Hybrid (Best) vs greedy_earliest_finish", "P(X > Y)"] == 0.0
    assert len(improvement(rows, rules)) == 10  # the card's hybrid and ours, each against five


def test_missing_variants_and_missing_results_are_named(tmp_path: Path) -> None:
    rows = _rows(["Hybrid (Best)"], {})
    with pytest.raises(ValueError, match=r"no policy \['DQN-MLP'"):
        model_variants(rows)
    with pytest.raises(FileNotFoundError, match="model_variants.csv is missing: run the notebooks before 05"):
        model_card(tmp_path)


def test_the_card_states_each_verdict_from_its_interval() -> None:
    from edge_rl.card import _verdict

    assert _verdict(0.6, 0.9) == "wins" and _verdict(0.0, 0.2) == "loses"
    assert _verdict(*np.array([0.3, 0.7])) == "cannot be told apart"
