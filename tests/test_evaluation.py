"""evaluate(): one tidy row per episode, reproducible, for any policy with SB3's predict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edge_rl.evaluation import COLUMNS, episode_returns, evaluate
from edge_rl.heuristics import make_heuristic


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


@pytest.mark.parametrize("name", ["greedy_earliest_finish", "least_loaded"])
def test_episodes_side_by_side_return_what_evaluate_returns(name: str) -> None:
    # Episodes of different lengths (dropped tasks can end one early) must each keep their
    # own return; a batch-aware rule acts the same on the batch as on one observation.
    seeds = list(range(10_000, 10_006))
    expected = evaluate(make_heuristic(name), seeds)["return"].to_numpy()
    assert episode_returns(make_heuristic(name), seeds) == pytest.approx(expected, rel=1e-12)


def test_episodes_side_by_side_refuse_bad_seeds() -> None:
    with pytest.raises(ValueError, match="distinct"):
        episode_returns(make_heuristic("nearest"), [3, 3])
