"""Episode replay: per-step rows whose totals are exactly what evaluate() reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_rl.agents import load
from edge_rl.config import EnvConfig
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.evaluation import evaluate
from edge_rl.serve.replay import COLUMNS, replay, summary

MODELS = Path(__file__).resolve().parents[1] / "results" / "models"


def test_replay_returns_are_the_evaluation_returns() -> None:
    policies = {
        "hybrid": load(MODELS / "hybrid-best-seed0"),
        "greedy": make_heuristic("greedy_earliest_finish"),
        "round_robin": make_heuristic("round_robin"),
        "random": make_heuristic("random"),
    }
    frame = replay(policies, seed=10_003)
    assert list(frame.columns) == list(COLUMNS)
    for name, policy in policies.items():
        steps = frame[frame["policy"] == name]
        assert len(steps) == 100 and steps["step"].tolist() == list(range(100))
        expected = evaluate(policy, [10_003])
        assert steps["return"].iloc[-1] == pytest.approx(expected["return"].iloc[0], abs=1e-9)
        assert steps["deadline_met"].mean() == pytest.approx(expected["deadline_success"].iloc[0])
    table = summary(frame)
    assert table["return"].is_monotonic_decreasing and set(table.index) == set(policies)


def test_every_policy_sees_the_same_episode() -> None:
    frame = replay({"a": make_heuristic("all_cloud"), "b": make_heuristic("all_cloud")}, seed=4)
    a, b = (frame[frame["policy"] == p].drop(columns="policy").reset_index(drop=True) for p in "ab")
    assert a.equals(b)


def test_replay_on_another_network_and_a_short_horizon() -> None:
    frame = replay({"least_loaded": make_heuristic("least_loaded")}, seed=1,
                   config=EnvConfig(n_sensors=3, n_fog=2, n_cloud=0), steps=7)
    assert len(frame) == 7 and frame["queue_cloud"].isna().all() and frame["node_type"].eq("fog").all()


def test_replay_refuses_nothing_to_run() -> None:
    with pytest.raises(ValueError, match="at least one policy"):
        replay({}, seed=0)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        replay({"r": make_heuristic("random")}, seed=0, steps=0)
