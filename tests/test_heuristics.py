"""The heuristics, and the trade-off they reveal: no fixed rule is best in every state."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from edge_rl.config import EnvConfig
from edge_rl.envs.heuristics import HEURISTICS, GreedyEarliestFinishPolicy, HeuristicPolicy, make_heuristic
from edge_rl.envs.iot_edge import IoTEdgeEnv, make_env
from edge_rl.evaluation import evaluate
from edge_rl.registry import HEURISTICS as REGISTERED

EVAL_SEEDS = list(range(10_000, 10_020))  # evaluation seeds, apart from any training seed


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rows = pd.concat([evaluate(make_heuristic(name), EVAL_SEEDS) for name in HEURISTICS])
    return rows.groupby("policy").mean(numeric_only=True)


def test_every_heuristic_beats_random_on_return(table: pd.DataFrame) -> None:
    for name in HEURISTICS:
        if name != "random":
            assert table.loc[name, "return"] > table.loc["random", "return"], name


@pytest.mark.parametrize("name", ["all_cloud", "nearest", "least_loaded"])
def test_each_simple_rule_is_beaten_by_another_on_some_metric(table: pd.DataFrame, name: str) -> None:
    higher_is_better = {"return": True, "deadline_success": True, "latency_mean_ms": False, "energy_per_task_j": False}
    beaten_on = set()
    for other in HEURISTICS:
        for metric, higher in higher_is_better.items():
            mine, theirs = table.loc[name, metric], table.loc[other, metric]
            if other != name and (theirs > mine if higher else theirs < mine):
                beaten_on.add(metric)
    assert beaten_on


def test_all_cloud_uses_the_least_energy_but_is_not_the_best_on_return(table: pd.DataFrame) -> None:
    assert table["energy_per_task_j"].idxmin() == "all_cloud"
    assert table["return"].idxmax() != "all_cloud"


def test_no_fixed_rule_is_best_in_every_state() -> None:
    """Replay each heuristic's choice from the same states and compare the rewards.

    For every rule there are states where another rule's choice earns more; and the best node
    by hindsight is sometimes a sensor, sometimes a fog node, sometimes the cloud.
    """
    env = IoTEdgeEnv()
    policies = {name: make_heuristic(name) for name in HEURISTICS if name != "random"}
    beaten = {name: 0 for name in policies}
    best_types: set[int] = set()
    greedy = policies["greedy_earliest_finish"]
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        state = None
        for _ in range(100):
            rewards = {}
            for node in range(env.n_nodes):
                rewards[node] = copy.deepcopy(env).step(node)[1]
            best_types.add(int(env.topology.node_type[max(rewards, key=rewards.get)]))
            chosen = {name: int(p.predict(obs)[0]) for name, p in policies.items() if name != "round_robin"}
            for name, node in chosen.items():
                if any(rewards[other] > rewards[node] for other in chosen.values()):
                    beaten[name] += 1
            obs, *_ = env.step(greedy.predict(obs, state)[0])
    assert best_types == {0, 1, 2}
    assert all(count > 0 for name, count in beaten.items() if name != "round_robin"), beaten


def test_greedy_estimate_equals_the_environments_latency() -> None:
    env = IoTEdgeEnv()
    greedy = GreedyEarliestFinishPolicy()
    obs, _ = env.reset(seed=4)
    checked = 0
    for _ in range(50):
        estimate = greedy.scores({k: v[None] for k, v in obs.items()})[0]
        for node in range(env.n_nodes):
            if np.isfinite(estimate[node]) and obs["nodes"][node, 3] < 10 and obs["nodes"][node, 5] < 20:
                info = copy.deepcopy(env).step(node)[4]
                assert estimate[node] == pytest.approx(info["latency_ms"], rel=1e-4)
                checked += 1
        obs, *_ = env.step(greedy.predict(obs)[0])
    assert checked > 500


def test_offloading_rules_choose_servers_and_all_cloud_the_cloud() -> None:
    env = make_env()
    obs, _ = env.reset(seed=0)
    node_type = obs["nodes"][:, 6]
    for name in ("round_robin", "least_loaded", "nearest"):
        assert node_type[make_heuristic(name).predict(obs)[0]] >= 1
    assert node_type[make_heuristic("all_cloud").predict(obs)[0]] == 2


def test_round_robin_cycles_through_the_servers_and_restarts_each_episode() -> None:
    policy = make_heuristic("round_robin")
    obs, _ = make_env().reset(seed=0)
    state, chosen = None, []
    for t in range(9):
        action, state = policy.predict(obs, state, episode_start=np.array([t == 0]))
        chosen.append(int(action))
    assert chosen == [10, 11, 12, 13, 14, 15, 16, 10, 11]
    action, _ = policy.predict(obs, state, episode_start=np.array([True]))
    assert action == 10


def test_batched_predictions_equal_single_ones() -> None:
    env = make_env()
    observations = [env.reset(seed=s)[0] for s in range(6)]
    batch = {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    for name in HEURISTICS:
        if name == "random":
            continue
        single = [int(make_heuristic(name).predict(o)[0]) for o in observations]
        batched = make_heuristic(name).predict(batch, state=np.zeros(6, dtype=np.int64))[0]
        assert batched.tolist() == single, name


def test_random_is_reproducible_per_seed_and_only_picks_real_nodes() -> None:
    env = IoTEdgeEnv(n_sensors=3, n_fog=2, max_nodes=10)
    obs, _ = env.reset(seed=0)
    first = make_heuristic("random", env.config)
    picks = [int(first.predict(obs)[0]) for _ in range(200)]
    assert set(picks) == set(range(6))
    first.reset(7)
    again = make_heuristic("random", env.config)
    again.reset(7)
    assert [first.predict(obs)[0] for _ in range(20)] == [again.predict(obs)[0] for _ in range(20)]


def test_bad_heuristic_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"unknown heuristic 'fastest'; accepted: \["):
        make_heuristic("fastest")
    obs, _ = IoTEdgeEnv(n_cloud=0).reset(seed=0)
    with pytest.raises(ValueError, match="all_cloud: an observation has no node this rule may choose"):
        make_heuristic("all_cloud", EnvConfig(n_cloud=0)).predict(obs)
    flat, _ = make_env(flat=True).reset(seed=0)
    with pytest.raises(ValueError, match="must be the dict of edge_rl/IoTEdge-v0"):
        make_heuristic("nearest").predict(flat)


def test_the_rules_are_registered_under_their_own_names_in_the_tables_order() -> None:
    """The rules are a registry axis (:data:`edge_rl.registry.HEURISTICS`): every entry's class
    carries the name it is registered under, and the card's strongest rule comes last (the
    palette's darkest, the tables' reference)."""
    assert HEURISTICS is REGISTERED
    for name in HEURISTICS:
        assert issubclass(HEURISTICS.get(name), HeuristicPolicy) and HEURISTICS.get(name).name == name
    assert HEURISTICS.names()[-1] == "greedy_earliest_finish" and HEURISTICS.names()[0] == "random"
