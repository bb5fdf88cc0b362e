"""run_all: parallel, resumable, order-independent; hybrids reuse the baselines' pre-training."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from edge_rl.agents.hybrid import pretrain_config
from edge_rl.experiments.run.runs import Run, run_all
from tests.test_baselines import tiny
from tests.test_hybrid import tiny_hybrid

SEEDS = (10_000, 10_001)


def _runs() -> list[Run]:
    hybrid = tiny_hybrid(pretrain_steps=64, seed=1)
    return [
        Run("DQN-GNN", pretrain_config(hybrid, "dqn"), SEEDS),
        Run("PPO-GNN", pretrain_config(hybrid, "ppo"), SEEDS),
        Run("Hybrid", hybrid, SEEDS),
        Run("DQN Baseline", tiny("dqn", policy="mlp", seed=1), SEEDS),
    ]


def test_runs_write_checkpoints_and_rows_and_match_one_process(tmp_path: Path) -> None:
    runs = _runs()
    parallel = run_all(runs, tmp_path / "two", workers=2, progress=False)
    serial = run_all(runs, tmp_path / "one", workers=0, progress=False)
    pd.testing.assert_frame_equal(parallel, serial)
    assert set(parallel["policy"]) == {"DQN-GNN", "PPO-GNN", "Hybrid", "DQN Baseline"}
    assert (parallel["train_seed"] == 1).all()
    hybrid_steps = parallel.loc[parallel["policy"] == "Hybrid", "env_steps"].iloc[0]
    assert hybrid_steps == 64 + 64 + 128  # pre-training included
    for run in runs:
        assert (tmp_path / "two" / "models" / f"{run.stem}.safetensors").exists()
    # The hybrid started from the DQN-GNN and PPO-GNN runs instead of pre-training again.
    assert not list((tmp_path / "two" / "models").glob("*pretrain*"))


def test_a_rerun_skips_finished_runs_and_redoes_missing_ones(tmp_path: Path) -> None:
    runs = _runs()[-1:] + [Run("DQN Baseline b", replace(_runs()[-1].config, seed=2), SEEDS)]
    run_all(runs, tmp_path, workers=0, progress=False)
    first, second = (tmp_path / "runs" / f"{r.stem}.csv" for r in runs)
    before = first.stat().st_mtime_ns
    second.unlink()  # as if interrupted before this run finished
    rows = run_all(runs, tmp_path, workers=0, progress=False)
    assert first.stat().st_mtime_ns == before and second.exists()
    assert len(rows) == 2 * len(SEEDS)
    assert not list(tmp_path.rglob("*.tmp"))


def test_repeated_stems_are_refused(tmp_path: Path) -> None:
    run = _runs()[-1]
    with pytest.raises(ValueError, match="distinct labels per seed; repeated: \\['dqn-baseline-seed1'\\]"):
        run_all([run, run], tmp_path, progress=False)


def test_a_failing_run_is_named_and_leaves_no_rows(tmp_path: Path) -> None:
    bad = Run("Broken", tiny("dqn", policy="mlp", seed=4), eval_seeds=(5, 5))  # repeated seed
    with pytest.raises(RuntimeError, match="run broken-seed4 failed: seeds must be distinct"):
        run_all([bad], tmp_path, workers=0, progress=False)
    assert not (tmp_path / "runs" / "broken-seed4.csv").exists()


def test_a_run_whose_config_changed_is_stale_and_reruns(tmp_path: Path) -> None:
    run = _runs()[-1]
    run_all([run], tmp_path, workers=0, progress=False)
    rows = tmp_path / "runs" / f"{run.stem}.csv"
    before = rows.stat().st_mtime_ns
    run_all([run], tmp_path, workers=0, progress=False)
    assert rows.stat().st_mtime_ns == before  # same config: skipped
    changed = Run(run.label, replace(run.config, dqn=replace(run.config.dqn, learning_rate=1e-3)), run.eval_seeds)
    run_all([changed], tmp_path, workers=0, progress=False)
    assert rows.stat().st_mtime_ns != before  # same stem, new config: retrained


def test_read_rows_reads_finished_runs_only_and_curves_start_after_pretraining(tmp_path: Path) -> None:
    from edge_rl.experiments.run.runs import read_rows, validation_curves

    runs = _runs()[:3]
    run_all(runs, tmp_path, workers=0, progress=False)
    rows = read_rows(runs, tmp_path)
    hybrid = rows[rows["policy"] == "Hybrid"]
    assert (hybrid["train_steps"] == 128).all() and (hybrid["env_steps"] == 64 + 64 + 128).all()
    assert (rows.loc[rows["policy"] == "DQN-GNN", "train_steps"] == 64).all()
    curves = validation_curves(runs, tmp_path)
    assert curves.loc[curves["policy"] == "DQN-GNN", "step"].tolist() == [64]  # validated at its end
    assert curves.loc[curves["policy"] == "Hybrid", "step"].min() > 64 + 64  # after its pre-training
    missing = Run("Never trained", replace(runs[0].config, seed=7), SEEDS)
    with pytest.raises(FileNotFoundError, match="run never-trained-seed7 has no up-to-date results"):
        read_rows([missing], tmp_path)


def test_validation_rows_and_the_cost_of_a_run_are_kept_apart_from_its_test_rows(tmp_path: Path) -> None:
    import json

    from edge_rl.experiments.run.runs import read_rows

    run = Run("DQN-GNN", _runs()[0].config, SEEDS, (20_100, 20_101))
    run_all([run], tmp_path, workers=0, progress=False)
    assert read_rows([run], tmp_path, split="validation")["seed"].tolist() == [20_100, 20_101]
    assert read_rows([run], tmp_path)["seed"].tolist() == list(SEEDS)
    timing = json.loads((tmp_path / "logs" / run.stem / "timing.json").read_text())
    assert set(timing) == {"train_s", "validation_s", "evaluation_s"} and timing["evaluation_s"] > 0
    with pytest.raises(ValueError, match="validation seeds must not be test seeds"):
        Run("x", run.config, SEEDS, SEEDS)
    (tmp_path / "validation" / f"{run.stem}.csv").unlink()
    with pytest.raises(FileNotFoundError, match="no up-to-date results"):  # a missing split is not done
        read_rows([run], tmp_path)


def test_rule_rows_come_from_notebook_00_or_name_it(tmp_path: Path) -> None:
    from edge_rl.experiments.run.runs import rule_rows

    with pytest.raises(FileNotFoundError, match="run notebooks/00_environment.ipynb first"):
        rule_rows(tmp_path)
    (tmp_path / "tables").mkdir()
    pd.DataFrame({"policy": ["random"], "seed": [10_000], "return": [-1.0]}).to_csv(
        tmp_path / "tables" / "heuristics_episodes.csv", index=False)
    rows = rule_rows(tmp_path)
    assert rows.loc[0, "train_seed"] == 0 and rows.loc[0, "train_steps"] == 0 and rows.loc[0, "algo"] == "rule"


def test_a_run_whose_prerequisite_failed_says_which(tmp_path: Path) -> None:
    dqn, ppo, hybrid = _runs()[:3]
    broken = Run(dqn.label, dqn.config, eval_seeds=(5, 5))  # trains, then its evaluation raises
    with pytest.raises(RuntimeError, match=r"2 of 3 runs failed .*run dqn-gnn-seed1 failed: .*seeds must be "
                                           r"distinct.*; run hybrid-seed1 failed: it starts from dqn-gnn-seed1, "
                                           r"which failed"):
        run_all([broken, ppo, hybrid], tmp_path, workers=0, progress=False)
    assert (tmp_path / "runs" / f"{ppo.stem}.csv").exists()


def test_seeds_added_to_a_trained_run_are_evaluated_without_retraining_it(tmp_path: Path) -> None:
    run = _runs()[0]
    run_all([run], tmp_path / "a", workers=0, progress=False)
    description = tmp_path / "a" / "models" / f"{run.stem}.json"
    before = description.stat().st_mtime_ns
    later = Run(run.label, run.config, run.eval_seeds, val_seeds=(20_100, 20_101))
    run_all([later], tmp_path / "a", workers=0, progress=False)
    assert description.stat().st_mtime_ns == before  # the checkpoint was not retrained
    run_all([later], tmp_path / "b", workers=0, progress=False)  # the same run, asked for both from the start
    for split in ("runs", "validation"):
        a, b = (pd.read_csv(tmp_path / f / split / f"{run.stem}.csv") for f in ("a", "b"))
        pd.testing.assert_frame_equal(a, b)


def test_a_hybrid_starts_from_a_pretraining_run_that_only_needed_new_seeds(tmp_path: Path) -> None:
    dqn, ppo, hybrid = _runs()[:3]
    run_all([dqn, ppo], tmp_path, workers=0, progress=False)
    topped = [Run(r.label, r.config, r.eval_seeds, val_seeds=(20_100,)) for r in (dqn, ppo)]
    rows = run_all([*topped, hybrid], tmp_path, workers=0, progress=False)
    assert set(rows["policy"]) == {"DQN-GNN", "PPO-GNN", "Hybrid"}
    assert (tmp_path / "validation" / f"{dqn.stem}.csv").exists()
