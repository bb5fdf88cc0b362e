"""Environment speed: steps per second of edge_rl/IoTEdge-v0 beside Gymnasium's CartPole-v1.

Run with ``make bench``. Every figure is measured in this run, on this machine, and the target
is a ratio to a reference measured beside it: CartPole (a few microseconds of pure Python per
step) through the same wrappers, so that a faster or busier machine moves both alike. Target:
one step of ``gymnasium.make("edge_rl/IoTEdge-v0")`` takes at most 5x a CartPole-v1 step (so the
environment stays a small part of training time). The microseconds are printed as context.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

import edge_rl

TARGET_RATIO = 5.0
"""Most IoTEdge steps per CartPole step, one environment through gymnasium.make."""


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
    single_ratio = None
    for label, make in cases.items():
        # Interleaved, best of `repeats` each: a slow spell of the machine hits both alike.
        ours, cartpole = [], []
        for _ in range(repeats):
            ours.append(best_us_per_step(make(edge_rl.ENV_ID), steps, 1))
            cartpole.append(best_us_per_step(make("CartPole-v1"), steps, 1))
        ratio = min(ours) / min(cartpole)
        single_ratio = ratio if single_ratio is None else single_ratio
        print(f"{label:34s} {min(ours):16.1f} {1e6 / min(ours):10.0f} {min(cartpole):17.1f} {ratio:6.1f}x")
    verdict = "PASS" if single_ratio <= TARGET_RATIO else "MISS"
    print(f"\ntarget: one IoTEdge step <= {TARGET_RATIO:g}x a CartPole step (single env, measured together): "
          f"{single_ratio:.1f}x: {verdict} (the microseconds are context: they depend on the CPU and its load)")


if __name__ == "__main__":
    main()
