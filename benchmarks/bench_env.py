"""Environment speed: steps per second of edge_rl/IoTEdge-v0 beside Gymnasium's CartPole-v1.

Run with ``make bench``. Every figure is measured in this run, on this machine; the ratio to
CartPole (a few microseconds of pure Python per step) makes runs on different machines
comparable. Target: one step of ``gymnasium.make("edge_rl/IoTEdge-v0")`` <= 50 us, so the
environment stays under 10 % of training time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

import edge_rl

TARGET_US_PER_STEP = 50.0


def _single(env_id: str, steps: int) -> Callable[[], float]:
    env = gym.make(env_id)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, size=steps)

    def run() -> float:
        env.reset(seed=0)
        start = time.perf_counter()
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return time.perf_counter() - start

    return run


def _vector(env_id: str, steps: int, n_envs: int, kind: str) -> Callable[[], float]:
    if kind == "gymnasium":
        envs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id) for _ in range(n_envs)])
    else:  # SB3's DummyVecEnv, which the training code uses
        envs = DummyVecEnv([lambda: gym.make(env_id) for _ in range(n_envs)])
    actions = np.random.default_rng(0).integers(0, 2, size=(steps // n_envs, n_envs))

    def run() -> float:
        envs.reset(seed=0) if kind == "gymnasium" else envs.reset()
        start = time.perf_counter()
        for action in actions:
            envs.step(action)
        return time.perf_counter() - start

    return run


def best_us_per_step(run: Callable[[], float], steps: int, repeats: int) -> float:
    return min(run() for _ in range(repeats)) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements; the best is kept")
    args = parser.parse_args()
    steps, repeats = args.steps, args.repeats

    cases = {
        "single env (gymnasium.make)": lambda env_id: _single(env_id, steps),
        "8 envs, gymnasium SyncVectorEnv": lambda env_id: _vector(env_id, steps, 8, "gymnasium"),
        "8 envs, SB3 DummyVecEnv": lambda env_id: _vector(env_id, steps, 8, "sb3"),
    }
    print(f"{'case':34s} {'IoTEdge us/step':>16s} {'steps/s':>10s} {'CartPole us/step':>17s} {'ratio':>7s}")
    single_us = None
    for label, make in cases.items():
        ours = best_us_per_step(make(edge_rl.ENV_ID), steps, repeats)
        cartpole = best_us_per_step(make("CartPole-v1"), steps, repeats)
        single_us = ours if single_us is None else single_us
        print(f"{label:34s} {ours:16.1f} {1e6 / ours:10.0f} {cartpole:17.1f} {ours / cartpole:6.1f}x")
    verdict = "PASS" if single_us <= TARGET_US_PER_STEP else "FAIL"
    print(f"\ntarget: one step <= {TARGET_US_PER_STEP:.0f} us -> {single_us:.1f} us: {verdict}")


if __name__ == "__main__":
    main()
