"""evaluate(): one tidy row per episode, reproducible, for any policy with SB3's predict."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import edge_rl
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.evaluation import COLUMNS, episode_returns, evaluate


def test_one_tidy_row_per_episode_with_every_metric() -> None:
    rows = evaluate(make_heuristic("nearest"), [3, 4, 5])
    assert list(rows.columns) == list(COLUMNS)
    assert rows["seed"].tolist() == [3, 4, 5] and rows["episode"].tolist() == [0, 1, 2]
    assert (rows["policy"] == "nearest").all() and (rows["steps"] == 100).all()
    assert rows["deadline_success"].between(0, 1).all() and rows["dropped"].between(0, 1).all()
    assert rows["return"].nunique() == 3  # three different episodes


def test_same_seeds_give_the_same_numbers_in_any_order() -> None:
    forward = evaluate(make_heuristic("random"), [1, 2, 3])
    backward = evaluate(make_heuristic("random"), [3, 2, 1])
    key = ["seed"]
    cols = [c for c in COLUMNS if c != "episode"]
    pd.testing.assert_frame_equal(
        forward.sort_values(key)[cols].reset_index(drop=True),
        backward.sort_values(key)[cols].reset_index(drop=True),
    )


def test_flat_observations_reach_a_flat_policy() -> None:
    class FirstFog:
        name = "first_fog"

        def predict(self, observation, state=None, episode_start=None, deterministic=False):
            assert observation.shape == (2, 17 * 7 + 17 * 17 + 17 + 4)  # the flattened vectors, a batch
            return np.full(len(observation), 10), state

    rows = evaluate(FirstFog(), [0, 1], flat=True)
    assert rows["policy"].tolist() == ["first_fog"] * 2


def _one_episode(policy, seed: int) -> float:
    """The return of one episode in a lone IoTEdgeEnv, one observation per predict (the reference)."""
    env = edge_rl.make_env()
    if hasattr(policy, "reset"):
        policy.reset(seed)
    obs, _ = env.reset(seed=seed)
    state, start, rewards, done = None, np.ones(1, dtype=bool), [], False
    while not done:
        action, state = policy.predict(obs, state=state, episode_start=start, deterministic=True)
        start = np.zeros(1, dtype=bool)
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward)
        done = terminated or truncated
    return float(np.sum(rewards))


@pytest.mark.parametrize("name", ["random", "round_robin", "greedy_earliest_finish"])
def test_episodes_side_by_side_are_the_episodes_of_a_lone_environment(name: str) -> None:
    """Batched, each episode is still its seed's: a stochastic rule draws from the episode's own
    generator, round robin keeps each episode's turn, and the numbers are the same bit for bit."""
    seeds = [10_000, 10_001, 10_005, 10_002]
    rows = evaluate(make_heuristic(name), seeds)
    assert rows["return"].tolist() == [_one_episode(make_heuristic(name), seed) for seed in seeds]
    assert episode_returns(make_heuristic(name), seeds).tolist() == rows["return"].tolist()


def test_an_episode_that_ends_early_is_not_counted_on() -> None:
    """Episodes that end before the others are left out of every later step."""

    class SeedLength(gym.vector.VectorWrapper):
        """Episode i ends after 3 + i steps."""

        def step(self, actions):
            obs, rewards, terminated, truncated, info = self.env.step(actions)
            self.count = getattr(self, "count", 0) + 1
            return obs, rewards, terminated, truncated | (self.count >= 3 + np.arange(len(rewards))), info

    import edge_rl.evaluation

    seeds = [10_000, 10_001, 10_002]
    full = evaluate(make_heuristic("nearest"), seeds)
    make = edge_rl.evaluation.make_vector_env
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(edge_rl.evaluation, "make_vector_env", lambda *args: SeedLength(make(*args)))
        short = evaluate(make_heuristic("nearest"), seeds)
    assert short["steps"].tolist() == [3, 4, 5]
    assert (short["return"] != full["return"]).all()


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ([], "at least one"),
        ([1, -2], "non-negative integers, got -2"),
        ([1, 1.5], "non-negative integers, got 1.5"),
        ([4, 4], "distinct"),
    ],
)
def test_bad_seeds_are_refused(seeds: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(make_heuristic("nearest"), seeds)
