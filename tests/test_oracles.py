"""The bounds: exact immediate rewards, a one-step oracle no rule beats in any state, and a
sampled lookahead that never reads the real future."""

from __future__ import annotations

import numpy as np
import pytest

from edge_rl.envs.heuristics import HEURISTICS, make_heuristic
from edge_rl.envs.oracles import OneStepOracle, RolloutOracle
from edge_rl.envs.vector import IoTEdgeVectorEnv
from edge_rl.evaluation import evaluate
from edge_rl.registry import BOUNDS

SEEDS = [10_000, 10_001, 10_002, 10_003]


def _envs(steps: int = 0) -> IoTEdgeVectorEnv:
    envs = IoTEdgeVectorEnv(len(SEEDS))
    envs.reset(seed=SEEDS)
    rule = make_heuristic("greedy_earliest_finish")
    obs = None
    for _ in range(steps):
        obs = envs.observation()
        envs.step(rule.predict(obs)[0])
    return envs


def test_immediate_rewards_are_the_rewards_a_step_gives_and_change_nothing() -> None:
    envs = _envs(steps=7)
    before = envs.observation()
    predicted = envs.immediate_rewards()
    assert all(np.array_equal(before[k], envs.observation()[k]) for k in before)  # nothing changed
    nodes = np.array([0, 16, 11, 5])
    _, rewards, _, _, _ = envs.step(nodes)
    assert rewards.tolist() == predicted[np.arange(len(SEEDS)), nodes].tolist()


def test_in_every_state_the_one_step_oracle_earns_at_least_what_any_rule_would() -> None:
    envs, oracle = _envs(), OneStepOracle()
    rules = {name: make_heuristic(name) for name in HEURISTICS if name not in ("random", "round_robin")}
    rules["random"] = make_heuristic("random")
    rules["random"].reset(SEEDS)
    for _ in range(100):
        obs, possible = envs.observation(), envs.immediate_rewards()
        chosen = possible[np.arange(len(SEEDS)), oracle.act(envs)]
        for name, rule in rules.items():
            theirs = possible[np.arange(len(SEEDS)), rule.predict(obs)[0]]
            assert (chosen >= theirs).all(), name
        envs.step(oracle.act(envs))


def test_the_sampled_lookahead_never_reads_the_real_future_and_the_bound_does() -> None:
    """Two copies of the same states whose real futures differ (other generators): the sampled
    rollout chooses the same nodes in both, so it cannot have read them; the known-future
    rollout, which does read them, chooses differently somewhere."""
    envs = _envs(steps=20)
    rows = np.arange(len(SEEDS))
    sampled, known = RolloutOracle(5, "sampled", samples=2), RolloutOracle(5)
    differs = False
    for step in range(15):  # at every state of one trajectory, a twin state with another future
        other_future = envs.fork(rows, [np.random.default_rng(999 + 7 * step + i) for i in rows])
        assert sampled.act(envs).tolist() == sampled.act(other_future).tolist()
        differs |= known.act(envs).tolist() != known.act(other_future).tolist()
        envs.step(sampled.act(envs))
    assert differs


def test_the_bounds_run_like_the_rules_and_bound_them() -> None:
    seeds = SEEDS[:2]
    greedy = evaluate(make_heuristic("greedy_earliest_finish"), seeds)["return"]
    one_step = evaluate(OneStepOracle(), seeds)
    assert one_step["policy"].tolist() == ["oracle_one_step"] * 2 and (one_step["steps"] == 100).all()
    assert (one_step["return"] > greedy).all()
    assert (evaluate(RolloutOracle(3), seeds)["return"] > greedy).all()
    with pytest.raises(ValueError, match="future must be 'known' or 'sampled'"):
        RolloutOracle(future="psychic")


def test_the_registered_bounds_are_the_oracles_and_evaluate_under_their_names() -> None:
    """Bounds are a registry axis like the rules: each entry builds without arguments, reads the
    simulator (``privileged``) and is reported under its registered name."""
    assert list(BOUNDS) == ["oracle_one_step", "oracle_rollout"]
    assert BOUNDS.get("oracle_one_step") is OneStepOracle and BOUNDS.get("oracle_rollout") is RolloutOracle
    for name in BOUNDS:
        bound = BOUNDS.get(name)()
        assert bound.privileged and bound.name == name
        assert set(evaluate(bound, SEEDS[:1])["policy"]) == {name}
