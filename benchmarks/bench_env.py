"""Environment speed: steps per second of edge_rl/IoTEdge-v0 beside Gymnasium's CartPole-v1, and
the simulator beside the code before it was made one (issue 29).

Run with ``make bench``. Every figure is measured in this run, on this machine, and each target
is a ratio to a reference measured beside it, so that a faster or busier machine moves both alike:

- ``cartpole``: CartPole (a few microseconds of pure Python per step) through the same wrappers.
  Target: one step of ``gymnasium.make("edge_rl/IoTEdge-v0")`` takes at most 5x a CartPole-v1
  step (so the environment stays a small part of training time).
- ``reference``: the lone ``IoTEdgeEnv`` (reset every 100 steps, as the time limit does) and
  ``IoTEdgeVectorEnv`` with 8 episodes, with this checkout and with the commit before issue 29
  (``--reference``; extracted with ``git archive`` beside it), each in a process of its own, the
  rounds interleaved, CPU time (``time.process_time``) so that a busy other core counts for
  little. Target: env steps per CPU-second at least the reference's, for both (median of the
  rounds): one implementation of the dynamics must cost the lone environment nothing.

The microseconds are printed as context.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

import checkout  # benchmarks/checkout.py, beside this script
import edge_rl

TARGET_RATIO = 5.0
"""Most IoTEdge steps per CartPole step, one environment through gymnasium.make."""
REFERENCE = "66defc2ed222561767ab11f84915a5e3e1638f00"
"""main when issue 29's work began: the simulator written three times."""
TARGET_VS_REFERENCE = 1.0
"""Fewest env steps per CPU-second, this checkout / the reference, for each of the two envs."""

SIMULATOR = r"""
import json, sys, time
import numpy as np
from edge_rl.envs.iot_edge import IoTEdgeEnv
from edge_rl.envs.vector import IoTEdgeVectorEnv
what, steps, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if what == "lone":
    env, actions = IoTEdgeEnv(), np.random.default_rng(0).integers(0, 17, steps).tolist()
    env.reset(seed=0)
    def run():
        start = time.process_time()
        for t, action in enumerate(actions):
            env.step(action)
            if t % 100 == 99:
                env.reset()
        return time.process_time() - start
else:
    envs, actions = IoTEdgeVectorEnv(8), np.random.default_rng(0).integers(0, 17, (steps // 8, 8))
    envs.reset(seed=0)
    def run():
        start = time.process_time()
        for action in actions:
            envs.step(action)
        return time.process_time() - start
print(json.dumps({"us_per_step": min(run() for _ in range(repeats)) / steps * 1e6}))
"""


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


def cartpole(steps: int, repeats: int) -> bool:
    """The CartPole table; whether its target is met."""
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
    met = single_ratio <= TARGET_RATIO
    print(f"\ntarget: one IoTEdge step <= {TARGET_RATIO:g}x a CartPole step (single env, measured together): "
          f"{single_ratio:.1f}x: {'PASS' if met else 'MISS'} (the microseconds are context: they depend on the CPU and "
          "its load)")
    return met


def against_reference(commit: str, steps: int, rounds: int) -> bool:
    """Both envs, this checkout and ``commit``, rounds interleaved; whether both targets are met."""
    met = True
    with tempfile.TemporaryDirectory(prefix="edge-rl-reference-") as folder:
        reference = checkout.reference_checkout(commit, Path(folder))
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(rounds):
            for what in ("lone", "vector"):
                for label, code in (("new", checkout.ROOT), ("reference", reference)):
                    run = checkout.run_child(code, SIMULATOR, what, str(steps), "3")
                    times.setdefault((what, label), []).append(run["us_per_step"])
    print(f"\nthe simulator against {commit[:8]} (before issue 29), CPU us per env step, {rounds} interleaved rounds:")
    print(f"{'env':32s} {'new':>6s} {'reference':>9s} {'new steps/s / reference: median [min, max]':>44s}")
    for what, label in (("lone", "IoTEdgeEnv (reset every 100)"), ("vector", "IoTEdgeVectorEnv, 8 episodes")):
        new, old = times[(what, "new")], times[(what, "reference")]
        ratios = [b / a for a, b in zip(new, old)]
        ok = statistics.median(ratios) >= TARGET_VS_REFERENCE
        met &= ok
        print(f"{label:32s} {statistics.median(new):6.1f} {statistics.median(old):9.1f} "
              f"{statistics.median(ratios):34.3f} [{min(ratios):.3f}, {max(ratios):.3f}]")
        print(f"target: {label} steps per CPU-second >= {TARGET_VS_REFERENCE:g}x the reference's: "
              f"{statistics.median(ratios):.3f}x: {'PASS' if ok else 'MISS'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements; the best is kept")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds against the reference; the median is graded")
    parser.add_argument("--reference", default=REFERENCE, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--only", choices=("cartpole", "reference"), action="append",
                        help="run only this part (repeatable; default: both)")
    args = parser.parse_args()
    parts = args.only or ["cartpole", "reference"]
    met = True
    if "cartpole" in parts:
        met &= cartpole(args.steps, args.repeats)
    if "reference" in parts:
        met &= against_reference(args.reference, args.steps, args.rounds)
    print("all targets met" if met else "target(s) missed")


if __name__ == "__main__":
    main()
