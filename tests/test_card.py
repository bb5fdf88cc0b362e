"""The model card: its two tables with the fixed rules as rows, the probability of improvement
and its verdicts, and MODEL_CARD.md, whose claims follow the results and which refuses to be
written from missing ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from edge_rl.catalogue import BY_LABEL
from edge_rl.experiments.analyse.report import save_table
from edge_rl.experiments.card.model_card import TEMPLATE, fill, model_card
from edge_rl.experiments.card.tables import (
    CONTENDERS,
    best_rule,
    evaluation_results,
    headline,
    improvement,
    model_variants,
    rivals_of,
)

ROOT = Path(__file__).resolve().parents[1]
METRICS = {"deadline_success": 0.5, "latency_mean_ms": 100.0, "latency_p95_ms": 200.0, "energy_per_task_j": 1.0}
LABELS = list(BY_LABEL)


def _rows(labels, score: dict[str, float], seeds: int = 5) -> pd.DataFrame:
    records = []
    for label in labels:
        for seed in range(seeds):
            for episode in range(2):
                records.append({"policy": label, "train_seed": seed, "seed": 10_000 + episode,
                                "return": score.get(label, 0.0) + seed + episode, "env_steps": 300,
                                "train_steps": 100, **METRICS})
    return pd.DataFrame(records)


def _rules(greedy: float = 50.0) -> pd.DataFrame:
    rows = _rows(["random", "greedy_earliest_finish"], {"random": -50.0, "greedy_earliest_finish": greedy}, seeds=1)
    return rows.assign(env_steps=0, train_steps=0)


def test_model_variants_put_the_cards_rows_first_then_ours_then_the_rules() -> None:
    table = model_variants(_rows(LABELS, {"Hybrid (Best)": 10.0}), _rules())
    plain = [label for label in table.index if "+" not in label]
    assert plain[:5] == ["Hybrid (Best)", "DQN Baseline", "PPO Baseline", "Hybrid GAT", "Hybrid Attention"]
    assert list(table.index[:2]) == ["Hybrid (Best)", "Hybrid (Best) + root"]  # each graph row beside its twin
    assert list(table.index[-2:]) == ["greedy_earliest_finish", "random"]
    assert table.loc["DQN Baseline", "Type"] == "DQN" and "MlpPolicy" in table.loc["DQN Baseline", "Description"]
    assert table.loc["random", "Type"] == "rule" and table.loc["random", "Description"].startswith("fixed rule: A node")
    assert table.loc["Hybrid (Best)", "Mean Reward"] == pytest.approx(10.0 + 2.0 + 0.5)
    assert "0.6 Q + 0.4 logits" in table.loc["Hybrid (Best)", "Description"]  # from HybridConfig


def test_evaluation_results_put_the_rules_among_the_models_by_mean_reward() -> None:
    table = evaluation_results(_rows(LABELS, {"Hybrid (Best)": 10.0}), _rules())
    assert table.index[0] == "greedy_earliest_finish" and table.index[-1] == "random"  # a rule that wins is on top
    assert table.loc["random", "Type"] == "rule" and table.loc["random", "Training Steps"] == 0
    assert table.loc["Hybrid (Final)", "Training Steps"] == 100 and table.loc["Hybrid (Final)", "Env steps (total)"] == 300
    assert {"Mean Reward", "Std Dev", "Min", "Max", "Training Steps"} <= set(table.columns)
    assert len(table) == len(LABELS) + 2
    assert list(headline(table).index) == list(table.index) and "Min" not in headline(table)


def test_improvement_over_each_rival_with_a_verdict() -> None:
    rows = _rows(LABELS, {"Hybrid (Best)": 10.0, "DQN Baseline": 100.0})
    rules = _rules()
    assert best_rule(rules) == "greedy_earliest_finish"
    table = improvement(rows, rules)
    expected = [f"{x} vs {BY_LABEL[y].name}" for x in CONTENDERS for y in rivals_of(x)]
    assert [c for c in table.index if not c.endswith("greedy_earliest_finish")] == expected
    best = "Hybrid (Best) vs "
    assert table.loc[best + "DQN Baseline", "P(X > Y)"] == 0.0 and table.loc[best + "DQN Baseline", "verdict"] == "loses"
    assert table.loc[best + "PPO-GNN", "P(X > Y)"] == 1.0 and table.loc[best + "PPO-GNN", "verdict"] == "wins"
    assert table.loc[best + "greedy_earliest_finish", "seeds Y"] == 1
    assert table.loc[best + "greedy_earliest_finish", "verdict"] == "loses"  # a rule: one run is enough
    assert table.loc["Hybrid SAGE vs DQN-GNN (SAGE)", "verdict"] == "cannot be told apart"  # same scores


def test_no_verdict_from_fewer_than_five_seeds() -> None:
    table = improvement(_rows(LABELS, {"Hybrid (Best)": 10.0}, seeds=2), _rules())
    assert table.loc["Hybrid (Best) vs PPO-GNN", "P(X > Y)"] == 1.0
    assert (table["verdict"] == "too few seeds to tell").all()


def test_missing_variants_and_missing_results_are_named(tmp_path: Path) -> None:
    rows = _rows(["Hybrid (Best)"], {})
    with pytest.raises(ValueError, match=r"no policy \['DQN Baseline'"):
        model_variants(rows, _rules())
    with pytest.raises(ValueError, match=r"no policy \[.*'Hybrid \(scratch\)'"):
        improvement(_rows([l for l in LABELS if l != "Hybrid (scratch)"], {}), _rules())
    with pytest.raises(FileNotFoundError, match="model_variants.csv is missing: run the notebooks before 05"):
        model_card(tmp_path)


def _results(tmp_path: Path, greedy: float) -> Path:
    """A results folder as notebooks 00-04 leave it, from synthetic rows."""
    rows, rules = _rows(LABELS, {"Hybrid (Best)": 10.0, "DQN Baseline": 60.0}), _rules(greedy)
    tables = tmp_path / "tables"
    save_table(model_variants(rows, rules), tables / "model_variants")
    save_table(evaluation_results(rows, rules), tables / "evaluation_results")
    save_table(improvement(rows, rules), tables / "probability_of_improvement")
    ablation = pd.DataFrame({"policy": ["Hybrid (Best)", "Hybrid GAT", "DQN-GNN"], "encoder": ["gcn", "gat", "gcn"],
                             "fusion": ["weighted_sum", "weighted_sum", "DQN-GNN alone"],
                             "IQM over seeds": [12.0, -5.0, 3.0], "IQM 95% CI": ["[1, 2]"] * 3, "Seeds": [5] * 3})
    save_table(ablation.set_index("policy"), tables / "ablation")
    save_table(pd.DataFrame({"design": ["root", "none"], "mean over cells": [80.0, -100.0]}).set_index("design"),
               tables / "encoder_designs")
    models = ["DQN-GNN", "PPO-GNN (GAT)", "DQN-GNN (SAGE)"]
    distances = pd.DataFrame([{"model": m, "design": d, "layer": layer, "MAD": mad} for m in models
                              for d in ("none", "root") for layer, mad in (("input", 0.45), ("layer 3", 0.01))])
    save_table(distances.set_index(["model", "design", "layer"]), tables / "over_smoothing")
    placements = pd.DataFrame({"on sensors": [1.0], "on its own sensor": [0.1], "on fog": [0.0], "on the cloud": [0.0],
                               "its share": [0.2], "entropy / uniform": [0.999], "largest probability": [0.066]},
                              index=pd.Index(["PPO-GNN (GAT)"], name="model"))
    save_table(placements, tables / "policy_choices")
    rollouts = pd.DataFrame({"validation return (mean over seeds)": [80.0, 50.0], "seeds": [2, 2]},
                            index=pd.Index([16, 1024], name="PPO steps per environment per rollout"))
    save_table(rollouts, tables / "ppo_rollout")
    (tmp_path / "models").mkdir()
    shutil.copy(ROOT / "results" / "models" / "hybrid-best-seed0.json", tmp_path / "models")
    return tmp_path


def test_the_card_says_a_rule_wins_only_when_one_does(tmp_path: Path) -> None:
    wins = model_card(_results(tmp_path / "a", greedy=100.0))
    assert "**A fixed rule wins.** `greedy_earliest_finish`" in wins and "TBD" not in wins
    assert "the best trained model is DQN Baseline" in wins
    assert "Hybrid (Best) against DQN Baseline: probability of improvement 0.00 [0.00, 0.00] (5 vs 5 seeds): loses." in wins
    assert "the best hybrid's encoder × fusion cell is Hybrid (Best)" in wins  # pre-training cells are not hybrid cells
    assert "Its greedy episodes put 100% of the tasks on sensors" in wins and "uniform over 17 nodes: 0.059" in wins
    assert "8 × 16 has the best mean" in wins and "2 seeds each" in wins  # the rollout chosen on validation
    loses = model_card(_results(tmp_path / "b", greedy=20.0))
    assert "A fixed rule wins" not in loses and "The best trained model is DQN Baseline" in loses
    assert "every trained model scores above it" in loses


def test_the_template_is_filled_every_name_or_not_at_all() -> None:
    """The card's prose is Markdown with ``${name}``s: a name without a value is an error, never a
    blank, and a paragraph whose value is empty (a study not run) leaves no gap."""
    text = "# Title\n\n${table}\n\n${studies}\n\nSeeds: ${seeds}.\n"
    assert fill(text, {"table": "| a |", "studies": "", "seeds": 10}) == "# Title\n\n| a |\n\nSeeds: 10.\n"
    with pytest.raises(KeyError, match="seeds"):
        fill(text, {"table": "| a |", "studies": ""})


def test_the_committed_card_is_what_the_template_writes_from_the_committed_results() -> None:
    """``MODEL_CARD.md`` and the template agree: every line of the template's prose (its lines
    without a ``${name}``) is in the committed card, in order, so the prose has one home."""
    card = (ROOT / "results" / "MODEL_CARD.md").read_text(encoding="utf-8")
    prose = [line for line in TEMPLATE.read_text(encoding="utf-8").splitlines() if line and "${" not in line]
    position = 0
    for line in prose:
        position = card.index(line, position) + len(line)  # ValueError: the card does not say it
    assert len(prose) > 90  # the prose is there, not only names
