"""evaluate(): one tidy row per episode, reproducible, for any policy with SB3's predict."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

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
            assert observation.ndim == 1  # the flattened vector
            return np.int64(10), state

    rows = evaluate(FirstFog(), [0], flat=True)
    assert rows.loc[0, "policy"] == "first_fog"


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


class Stateless:
    """A rule as a stateless batch policy (no ``reset``, no ``state``), as the agents are."""

    def __init__(self, name: str) -> None:
        self.rule = make_heuristic(name)
        self.name = name

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return self.rule.predict(observation)[0], None


class SeedLengthEpisodes(gym.Wrapper):
    """Episodes of 3 to 7 steps, the length set by the reset seed: side by side, some end first."""

    def reset(self, *, seed=None, options=None):
        self.left = 3 + seed % 5
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.left -= 1
        return obs, reward, terminated, truncated or self.left == 0, info


@pytest.mark.parametrize("name", ["greedy_earliest_finish", "least_loaded"])
def test_episodes_side_by_side_return_what_evaluate_returns(name: str, monkeypatch) -> None:
    import edge_rl.evaluation

    make_env = edge_rl.evaluation.make_env
    monkeypatch.setattr(edge_rl.evaluation, "make_env", lambda *a, **k: SeedLengthEpisodes(make_env(*a, **k)))
    seeds = [10_000, 10_001, 10_002, 10_003, 10_004, 10_007]
    expected = evaluate(Stateless(name), seeds)
    assert sorted(set(expected["steps"])) == [3, 4, 5, 6, 7]  # the batch shrinks as they end
    returns = episode_returns(Stateless(name), seeds)
    assert returns == pytest.approx(expected["return"].to_numpy(), rel=1e-12)


def test_episodes_side_by_side_refuse_what_they_would_run_wrongly() -> None:
    with pytest.raises(ValueError, match="distinct"):
        episode_returns(Stateless("nearest"), [3, 3])
    with pytest.raises(ValueError, match="cannot reset random for each episode"):
        episode_returns(make_heuristic("random"), [1, 2])

    class Counting(Stateless):
        def predict(self, observation, state=None, episode_start=None, deterministic=True):
            return self.rule.predict(observation)[0], 0

    with pytest.raises(ValueError, match="nearest keeps state between steps"):
        episode_returns(Counting("nearest"), [1, 2])
