"""examples/: the CleanRL-style single-file script runs as a user would run it, and what it
feeds its network is what the project's evaluation feeds a flat policy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

import edge_rl

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "cleanrl_style_dqn.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, whatever is installed
    return subprocess.run([sys.executable, "-W", "error", str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_the_cleanrl_style_script_trains_briefly_and_reports_its_test_episodes() -> None:
    result = _run("--total-timesteps", "400", "--learning-starts", "100", "--num-envs", "2", "--eval-episodes", "3")
    assert result.returncode == 0, result.stderr
    returns = [float(r) for r in re.findall(r"episodic_return=(-?[\d.]+)", result.stdout)]
    assert len(returns) == 2  # two environments, one 100-step episode each in 400 steps
    assert re.search(r"td_loss=\d+\.\d+", result.stdout), "it learned from the replay buffer"
    final = re.search(r"test episodes 10000-10002: mean return (-?[\d.]+) ± ([\d.]+)", result.stdout.splitlines()[-1])
    assert final and np.isfinite(float(final.group(1)))


def test_a_bad_setting_is_refused_naming_it() -> None:
    result = _run("--num-envs", "0")
    assert result.returncode == 2 and "--num-envs must be at least 1, got 0" in result.stderr


def test_flatten_observation_gives_what_the_evaluation_gives_a_flat_policy() -> None:
    envs = gym.wrappers.vector.FlattenObservation(gym.make_vec(edge_rl.ENV_ID, num_envs=3))
    flat, _ = envs.reset(seed=[10000, 10001, 10002])
    raw, _ = gym.make_vec(edge_rl.ENV_ID, num_envs=3).reset(seed=[10000, 10001, 10002])
    keys = list(envs.env.single_observation_space.spaces)  # the order evaluate(..., flat=True) concatenates in
    assert np.array_equal(flat, np.concatenate([raw[k].reshape(3, -1) for k in keys], axis=1))
    assert flat.shape == (3, envs.single_observation_space.shape[0])
