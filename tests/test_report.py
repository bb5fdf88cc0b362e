"""Tables and figures: the card's table, exact training-curve steps, budgets and plans."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from edge_rl.experiments.analyse.figures import plot_curves
from edge_rl.experiments.analyse.report import environment_spec, episode_table, markdown, results_table, save_table
from edge_rl.experiments.plan.suites import BUDGETS, baseline_runs, budget
from edge_rl.palette import colours


def _rows() -> pd.DataFrame:
    return pd.DataFrame({
        "policy": ["A"] * 6 + ["B"] * 2,
        "train_seed": [0, 0, 1, 1, 2, 2, 0, 0],
        "return": [1.0, 3.0, 5.0, 7.0, 100.0, 102.0, -1.0, 1.0],
        "deadline_success": [0.5] * 8, "latency_p95_ms": [10.0] * 8, "energy_per_task_j": [1.0] * 8,
        "env_steps": [10_000] * 6 + [31_504] * 2,
        "train_steps": [10_000] * 6 + [5_120] * 2,
    })


def test_results_table_has_the_cards_columns_and_the_seed_statistics() -> None:
    table = results_table(_rows())
    a = table.loc["A"]
    assert a["Mean Reward"] == pytest.approx(np.mean([1, 3, 5, 7, 100, 102]))
    assert (a["Min"], a["Max"]) == (1.0, 102.0)
    assert a["IQM over seeds"] == pytest.approx(np.mean([2.0, 6.0, 101.0]))  # 3 seeds: nothing trimmed
    assert a["Seeds"] == 3 and a["Episodes"] == 6 and a["Training Steps"] == 10_000
    b = table.loc["B"]
    assert (b["Training Steps"], b["Env steps (total)"]) == (5_120, 31_504)  # fine-tuning, and everything
    assert b["IQM 95% CI"] == "n/a (1 run)" and b["IQM over seeds"] == 0.0  # one run: its mean
    assert list(table.index) == ["A", "B"]  # best mean first


def test_learning_curves_draw_one_line_per_policy_in_its_colour_and_the_rules_as_lines() -> None:
    curves = pd.DataFrame({"policy": ["DQN-GNN"] * 4 + ["Hybrid (Best)"] * 4, "seed": [0, 0, 1, 1] * 2,
                           "step": [100, 200, 100, 200] * 2, "return": [1.0, 2.0, 1.5, 2.5, 0.0, 0.0, 1.0, 1.0]})
    ax = plot_curves(curves, {"greedy_earliest_finish": 3.0})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["DQN-GNN", "Hybrid (Best)",
                                                                    "greedy_earliest_finish (rule)"]
    assert "higher is better" in ax.get_ylabel() and ax.get_title()
    assert tuple(ax.get_lines()[0].get_color()) == tuple(colours(["DQN-GNN"])["DQN-GNN"])


def test_every_policy_keeps_one_colour_and_a_twin_shares_its_hue() -> None:
    first = colours(["DQN-GNN", "random"])
    again = colours(["Hybrid GAT", "random", "DQN-GNN + root", "DQN-GNN"])
    assert first["DQN-GNN"] == again["DQN-GNN"] and first["random"] == again["random"]
    assert again["DQN-GNN + root"] != again["DQN-GNN"]
    assert len(set(colours(["DQN-GNN", "PPO-GNN", "DQN Baseline", "Hybrid (Best)", "greedy_earliest_finish"]).values())) == 5


def test_tables_are_written_as_csv_and_markdown(tmp_path: Path) -> None:
    table = episode_table(_rows().drop(columns=["train_seed", "env_steps"]).assign(seed=0))
    save_table(table, tmp_path / "t")
    assert pd.read_csv(tmp_path / "t.csv", index_col=0).loc["A", "Episodes"] == 6
    text = (tmp_path / "t.md").read_text()
    assert text.startswith("| policy") and "|          6 |" in text  # integers stay integers


def test_environment_spec_names_its_sources() -> None:
    spec = environment_spec()
    assert set(spec["source"]) == {"original", "ours"}
    assert spec.loc["fog: compute", "value"] == "2800" and spec.loc["fog: compute", "source"] == "original"
    assert "| quantity" in markdown(spec)


def test_budgets_and_the_baseline_plan() -> None:
    assert budget("full").steps(10_000) == 10_000 and budget("quick").steps(10_000) == 1_000
    with pytest.raises(ValueError, match=r"unknown budget 'fast'; accepted: \['full', 'quick'\]"):
        budget("fast")
    runs = baseline_runs(BUDGETS["full"])
    # 10 seeds x (DQN and PPO on the flat observation + DQN-GNN and PPO-GNN in both encoder designs)
    assert len(runs) == 60 and {r.label for r in runs} == {"DQN Baseline", "PPO Baseline", "DQN-GNN", "PPO-GNN",
                                                           "DQN-GNN + root", "PPO-GNN + root"}
    assert len({r.stem for r in runs}) == 60
    assert all(len(r.eval_seeds) == 100 and r.config.total_timesteps == 10_000 for r in runs)


def test_the_hybrid_plan_reuses_the_baselines_and_matches_the_card() -> None:
    from edge_rl.agents import rollout_steps
    from edge_rl.experiments.plan.suites import ablation_runs, hybrid_runs

    full = BUDGETS["full"]
    runs = hybrid_runs(full)
    baselines = {run.stem: run.config for run in baseline_runs(full)}
    shared = [run for run in runs if run.stem in baselines]
    # notebook 01's graph runs, both designs
    assert len(shared) == 40 and all(baselines[run.stem] == run.config for run in shared)
    best = next(run.config for run in runs if run.label == "Hybrid (Best)")
    assert (best.pretrain_steps, best.total_timesteps, best.hybrid.fusion, best.encoder.kind) == (10_000, 5_000, "weighted_sum", "gcn")
    scratch = next(run.config for run in runs if run.label == "Hybrid (scratch)")
    assert scratch.pretrain_steps == 0 and scratch.total_timesteps == 10_000 + 16_384 + 5_120
    assert rollout_steps(10_000, 8 * 1024) == 16_384
    labels = [run.label for run in runs]
    assert labels.count("Hybrid (Best)") == 10 and labels.count("Hybrid (Final)") == full.our_seeds == 10
    assert all(labels.count(label) == 10 for label in ("Hybrid (Best) + root", "Hybrid (Final) + root",
                                                       "Hybrid (scratch) + root", "Hybrid Gating", "Hybrid SAGE + root"))
    assert len(ablation_runs(full)) == full.ablation_seeds * 2 * (4 * 2 + 4 * 3) < len(runs)


def test_the_ablation_grid_covers_every_encoder_and_fusion_and_reuses_notebook_02() -> None:
    from edge_rl.experiments.plan.suites import ablation_runs, designs, hybrid_runs
    from edge_rl.registry import FUSIONS, encoder_kinds

    full, quick = BUDGETS["full"], BUDGETS["quick"]
    runs = ablation_runs(full)
    cells = {(r.config.encoder.kind, r.config.hybrid.fusion, r.config.encoder.root_path): r.label
             for r in runs if r.config.algo == "hybrid"}
    assert set(cells) == {(e, f, d) for e in encoder_kinds() for f in FUSIONS for d in designs()}
    assert len({r.stem for r in runs}) == len(runs)
    earlier = {run.stem: run.config for run in hybrid_runs(full)}
    shared = [run for run in runs if run.stem in earlier]
    # The five cells notebook 02 trains, and the GCN/GAT/SAGE pre-training, in both designs: same stems, same configs.
    assert len(shared) == full.ablation_seeds * (5 + 6) * 2 and all(earlier[r.stem] == r.config for r in shared)
    assert cells[("hybrid", "gating", "none")] == "Hybrid GCN+GAT+SAGE gating"
    assert cells[("hybrid", "gating", "root")] == "Hybrid GCN+GAT+SAGE gating + root"
    assert {r.label for r in runs if r.config.encoder.kind == "hybrid" and r.config.algo != "hybrid"} == {
        "DQN-GNN (GCN+GAT+SAGE)", "PPO-GNN (GCN+GAT+SAGE)", "DQN-GNN (GCN+GAT+SAGE) + root",
        "PPO-GNN (GCN+GAT+SAGE) + root"}
    # The smoke budget's grid is the GCN's cells, each one that notebook 02 has trained with the same config.
    smoke = ablation_runs(quick)
    trained = {run.stem: run.config for run in hybrid_runs(quick)}
    assert {r.config.encoder.kind for r in smoke} == {"gcn"}
    assert {(r.config.hybrid.fusion, r.config.encoder.root_path) for r in smoke if r.config.algo == "hybrid"} == {
        (f, d) for f in FUSIONS for d in designs()}
    assert all(trained.get(r.stem) == r.config for r in smoke)


def test_ablation_table_gives_each_cell_its_iqm_and_draws_a_panel_per_encoder() -> None:
    from edge_rl.experiments.analyse.figures import plot_ablation
    from edge_rl.experiments.analyse.report import ablation_table

    rows = pd.DataFrame({
        "policy": ["a"] * 4 + ["b"] * 4 + ["other"] * 2,
        "train_seed": [0, 0, 1, 1] * 2 + [0, 1],
        "return": [1.0, 3.0, 5.0, 7.0, -1.0, -1.0, -3.0, -3.0, 100.0, 100.0],
    })
    table = ablation_table(rows, {"a": ("gcn", "gating", "none"), "b": ("sage", "attention", "root")})
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "IQM over seeds"] == pytest.approx(4.0) and table.loc["b", "Seeds"] == 2
    assert tuple(table.loc["b", ["encoder", "fusion", "design"]]) == ("sage", "attention", "root")
    figure = plot_ablation(table)
    assert [ax.get_title() for ax in figure.axes] == ["GCN", "SAGE"]
    assert [t.get_text() for t in figure.axes[1].get_xticklabels()] == ["attention"]


def test_only_the_chosen_design_s_ppo_runs_get_the_chosen_rollout_and_it_is_chosen_on_validation() -> None:
    from edge_rl.catalogue import DESIGN
    from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, SELECTION_SEEDS
    from edge_rl.experiments.plan.suites import ablation_runs, card_runs, design_runs, rollout_runs

    full = BUDGETS["full"]
    runs = card_runs(full) + ablation_runs(full)
    reads_ppo = [r for r in runs if r.config.algo == "ppo" or (r.config.algo == "hybrid" and r.config.pretrain_steps)]
    assert {r.config.ppo.n_steps for r in reads_ppo if r.config.encoder.root_path == DESIGN} == {full.design_rollout}
    assert {r.config.ppo.n_steps for r in reads_ppo if r.config.encoder.root_path != DESIGN} == {1024}  # the card's
    # DQN and the hybrid from scratch never run PPO: their configs keep the defaults (and their committed runs)
    assert {r.config.ppo.n_steps for r in runs if r not in reads_ppo} == {1024}
    scratch = next(r.config for r in runs if r.label == "Hybrid (scratch) + root")
    assert scratch.total_timesteps == 10_000 + 16_384 + 5_120  # the card's procedure's steps, its rollouts
    # the design comparison ran every design with the card's PPO settings
    assert {r.config.ppo.n_steps for r in design_runs(full)} == {1024}
    tuning = rollout_runs(full)
    assert len(tuning) == full.rollout_seeds * 3 * len(full.rollouts) and full.design_rollout in full.rollouts
    assert {r.config.ppo.n_steps for r in tuning} == set(full.rollouts)
    assert all(not r.eval_seeds and set(r.val_seeds) <= set(SELECTION_SEEDS) for r in tuning)
    assert not set(DEFAULT_EVAL_SEEDS) & {s for r in tuning for s in r.val_seeds}
