"""run_all: parallel, resumable, order-independent; hybrids reuse the baselines' pre-training."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from edge_rl.experiments import Run, run_all
from edge_rl.hybrid import pretrain_config

from tests.test_baselines import tiny
from tests.test_hybrid import tiny_hybrid

SEEDS = (10_000, 10_001)


def _runs() -> list[Run]:
    hybrid = tiny_hybrid(pretrain_steps=64, seed=1)
    return [
        Run("DQN-GNN", pretrain_config(hybrid, "dqn"), SEEDS),
        Run("PPO-GNN", pretrain_config(hybrid, "ppo"), SEEDS),
        Run("Hybrid", hybrid, SEEDS),
        Run("DQN-MLP", tiny("dqn", policy="mlp", seed=1), SEEDS),
    ]


def test_runs_write_checkpoints_and_rows_and_match_one_process(tmp_path: Path) -> None:
    runs = _runs()
    parallel = run_all(runs, tmp_path / "two", workers=2, progress=False)
    serial = run_all(runs, tmp_path / "one", workers=1, progress=False)
    pd.testing.assert_frame_equal(parallel, serial)
    assert set(parallel["policy"]) == {"DQN-GNN", "PPO-GNN", "Hybrid", "DQN-MLP"}
    assert (parallel["train_seed"] == 1).all()
    hybrid_steps = parallel.loc[parallel["policy"] == "Hybrid", "env_steps"].iloc[0]
    assert hybrid_steps == 64 + 64 + 128  # pre-training included
    for run in runs:
        assert (tmp_path / "two" / "models" / f"{run.stem}.safetensors").exists()
    # The hybrid started from the DQN-GNN and PPO-GNN runs instead of pre-training again.
    assert not list((tmp_path / "two" / "models").glob("*pretrain*"))


def test_a_rerun_skips_finished_runs_and_redoes_missing_ones(tmp_path: Path) -> None:
    runs = _runs()[-1:] + [Run("DQN-MLP b", replace(_runs()[-1].config, seed=2), SEEDS)]
    run_all(runs, tmp_path, workers=1, progress=False)
    first, second = (tmp_path / "runs" / f"{r.stem}.csv" for r in runs)
    before = first.stat().st_mtime_ns
    second.unlink()  # as if interrupted before this run finished
    rows = run_all(runs, tmp_path, workers=1, progress=False)
    assert first.stat().st_mtime_ns == before and second.exists()
    assert len(rows) == 2 * len(SEEDS)
    assert not list(tmp_path.rglob("*.tmp"))


def test_repeated_stems_are_refused(tmp_path: Path) -> None:
    run = _runs()[-1]
    with pytest.raises(ValueError, match="distinct labels per seed; repeated: \\['dqn-mlp-seed1'\\]"):
        run_all([run, run], tmp_path, progress=False)


def test_a_failing_run_is_named_and_leaves_no_rows(tmp_path: Path) -> None:
    bad = Run("Broken", tiny("dqn", policy="mlp", seed=4), eval_seeds=(5, 5))  # repeated seed
    with pytest.raises(RuntimeError, match="run broken-seed4 failed: seeds must be distinct"):
        run_all([bad], tmp_path, workers=1, progress=False)
    assert not (tmp_path / "runs" / "broken-seed4.csv").exists()


def test_a_run_whose_config_changed_is_stale_and_reruns(tmp_path: Path) -> None:
    run = _runs()[-1]
    run_all([run], tmp_path, workers=1, progress=False)
    rows = tmp_path / "runs" / f"{run.stem}.csv"
    before = rows.stat().st_mtime_ns
    run_all([run], tmp_path, workers=1, progress=False)
    assert rows.stat().st_mtime_ns == before  # same config: skipped
    changed = Run(run.label, replace(run.config, dqn=replace(run.config.dqn, learning_rate=1e-3)), run.eval_seeds)
    run_all([changed], tmp_path, workers=1, progress=False)
    assert rows.stat().st_mtime_ns != before  # same stem, new config: retrained
