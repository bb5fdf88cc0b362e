"""IQM, stratified bootstrap intervals and probability of improvement, on known data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edge_rl.stats import (
    improvement_interval,
    interquartile_mean,
    iqm_interval,
    probability_of_improvement,
    run_scores,
)


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert interquartile_mean([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx((3 + 4 + 5 + 6) / 4)
    assert interquartile_mean([-1000, 1, 2, 3]) == pytest.approx(1.5)


def test_iqm_interval_contains_the_estimate_and_narrows_with_more_runs() -> None:
    rng = np.random.default_rng(0)
    few, many = rng.normal(10, 2, 10), rng.normal(10, 2, 200)
    a, b = iqm_interval(few), iqm_interval(many)
    assert a.low <= a.estimate <= a.high and b.low <= b.estimate <= b.high
    assert (b.high - b.low) < (a.high - a.low)
    assert b.low < 10 < b.high
    assert iqm_interval(few, seed=3) == iqm_interval(few, seed=3)


def test_stratified_bootstrap_resamples_within_each_task() -> None:
    # Two tasks on very different scales: if runs were pooled before resampling, a resample
    # could hold only runs of one task and the interval would span both scales.
    task_a, task_b = np.linspace(0, 1, 8), np.linspace(100, 101, 8)
    interval = iqm_interval([task_a, task_b])
    assert interval.estimate == pytest.approx(interquartile_mean(np.concatenate([task_a, task_b])))
    assert 30 < interval.low <= interval.high < 71


def test_probability_of_improvement_on_known_cases() -> None:
    assert probability_of_improvement([5, 6, 7], [1, 2, 3]) == 1.0
    assert probability_of_improvement([1, 2, 3], [5, 6, 7]) == 0.0
    assert probability_of_improvement([1, 2], [1, 2]) == 0.5
    assert probability_of_improvement([2, 4], [1, 3]) == pytest.approx(0.75)  # 3 wins of 4 pairs
    interval = improvement_interval([2, 4, 6, 8], [1, 3, 5, 7])
    assert interval.estimate == pytest.approx(10 / 16)
    assert 0 <= interval.low <= interval.estimate <= interval.high <= 1


def test_improvement_over_a_rule_resamples_only_the_trained_runs() -> None:
    interval = improvement_interval([1.0, 2.0, 3.0, 4.0], [2.5])  # a fixed rule: one score
    assert interval.estimate == pytest.approx(0.5)
    assert 0 <= interval.low < 0.5 < interval.high <= 1
    assert improvement_interval([5.0, 6.0, 7.0], [1.0]).low == 1.0
    with pytest.raises(ValueError, match="finite"):
        improvement_interval([1.0, 2.0], [np.inf])


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 run scores"):
        iqm_interval([1.0])
    with pytest.raises(ValueError, match="finite"):
        iqm_interval([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['train_seed'\]"):
        run_scores(pd.DataFrame({"policy": ["a"], "return": [1.0]}))


def test_run_scores_average_episodes_per_training_seed() -> None:
    rows = pd.DataFrame({"policy": ["a"] * 4 + ["b"] * 2, "train_seed": [0, 0, 1, 1, 0, 0],
                         "return": [1.0, 3.0, 5.0, 7.0, 2.0, 2.0]})
    scores = run_scores(rows)
    assert scores.to_dict("records") == [
        {"policy": "a", "train_seed": 0, "return": 2.0},
        {"policy": "a", "train_seed": 1, "return": 6.0},
        {"policy": "b", "train_seed": 0, "return": 2.0},
    ]
