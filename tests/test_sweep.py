"""python -m edge_rl sweep: a spec's axes become runs; errors name the key and what is accepted;
--dry-run estimates; a sweep writes the project's formats and an IQM table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from edge_rl.cli import main
from edge_rl.experiments.plan.sweep import SpecError, load_spec, runs_of
from tests.test_engine import TINY

ROOT = Path(__file__).resolve().parents[1]


def _spec(path: Path, text: str) -> Path:
    overrides = "\n".join(f'"{key}" = {json.dumps(value)}' for key, value in TINY.items())
    path.write_text(text + f"\n[set]\n{overrides}\n")
    return path


def test_every_combination_of_the_axes_is_a_run_labelled_by_what_varies() -> None:
    runs = runs_of({"algos": ["dqn", "ppo", "hybrid"], "policies": ["gnn", "mlp"], "encoders": ["gcn", "gat"],
                    "fusions": ["weighted_sum", "gating"], "seeds": "0-2", "env": {"n_sensors": [10, 20]}})
    # dqn/ppo: gnn x 2 encoders + mlp (no encoder); hybrid: 2 encoders x 2 fusions; x 2 topologies x 3 seeds
    assert len(runs) == (2 * (2 + 1) + 4) * 2 * 3
    assert len({run.stem for run in runs}) == len(runs)
    labels = {run.label for run in runs}
    assert "DQN-GNN GAT n_sensors=20" in labels and "DQN-MLP n_sensors=10" in labels
    assert "Hybrid GCN gating n_sensors=20" in labels
    hybrid = next(run for run in runs if run.label == "Hybrid GCN gating n_sensors=20")
    assert hybrid.config.env.n_sensors == 20 and hybrid.config.hybrid.fusion == "gating"
    assert hybrid.config.pretrain_steps == 10_000 and hybrid.config.total_timesteps == 5_000  # the card's


@pytest.mark.parametrize(("spec", "message"), [
    ({"algos": ["dqn"], "encoder": ["gat"]}, r"unknown key\(s\) \['encoder'\]; accepted: \['algos'"),
    ({"algos": ["a2c"]}, r"algos: unknown 'a2c'; accepted: \["),
    ({"algos": ["dqn"], "encoders": ["gin"]}, r"encoders: unknown 'gin'; accepted: \["),
    ({"seeds": [0]}, r"'algos' is required"),
    ({"algos": ["dqn"], "seeds": "0-x"}, r"seeds: expected seeds as '0-4', '0,2' or a list of integers"),
    ({"algos": ["dqn"], "set": {"dqn.learning_rat": 1e-3}}, r"\[set\] dqn.learning_rat: unknown field 'learning_rat'"),
    ({"algos": ["dqn"], "env": {"n_sensors": [0]}}, r"n_sensors"),
])
def test_a_bad_spec_is_refused_naming_the_key_and_what_is_accepted(spec: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        runs_of(spec, "sweep.toml")


def test_a_spec_that_is_not_toml_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("algos = [dqn")
    with pytest.raises(SpecError, match="bad.toml: not TOML"):
        load_spec(path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "bad.toml: not TOML" in capsys.readouterr().err


def test_dry_run_lists_the_runs_and_their_cost_from_the_committed_timings(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "sweep.toml"
    spec.write_text('algos = ["dqn", "hybrid"]\nseeds = "0-1"\n[env]\nn_sensors = [10, 20]\n')
    assert main(["sweep", str(spec), "--dry-run", "--reference", str(ROOT / "results"), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "dqn-gnn-n-sensors-20-seed1" in out and "hybrid-gcn-n-sensors-10-seed0" in out
    total = float(out.split("about ")[1].split(" CPU-minutes")[0])
    # From the committed checkpoints: a card-budget DQN-GNN trains in well under a minute, a
    # hybrid with its pre-training in under three; twice the nodes cost more.
    assert 0.5 < total < 8 * 3
    assert "on 2 CPUs" in out and not (tmp_path / "out").exists()


def test_a_sweep_writes_runs_models_and_an_iqm_table_and_a_rerun_skips_it(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    spec = _spec(tmp_path / "sweep.toml", 'algos = ["dqn"]\nseeds = "0-1"\nsteps = [128]\neval_seeds = "10000-10002"')
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    table = pd.read_csv(out / "tables" / "sweep.csv", index_col=0)
    assert list(table.index) == ["DQN-GNN 128 steps"] and table.loc["DQN-GNN 128 steps", "Seeds"] == 2
    assert {"IQM over seeds", "IQM 95% CI"} <= set(table.columns) and (out / "tables" / "sweep.md").exists()
    for seed in (0, 1):
        assert (out / "models" / f"dqn-gnn-128-steps-seed{seed}.safetensors").exists()
        assert len(pd.read_csv(out / "runs" / f"dqn-gnn-128-steps-seed{seed}.csv")) == 3
    assert (out / "sweep.toml").read_text() == spec.read_text()
    rows = out / "runs" / "dqn-gnn-128-steps-seed0.csv"
    before = rows.stat().st_mtime_ns
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    assert rows.stat().st_mtime_ns == before
    assert "2 runs in" in capsys.readouterr().out
