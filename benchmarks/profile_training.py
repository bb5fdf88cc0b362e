"""Where a training step's time goes: DQN-GNN, PPO-GNN and the hybrid, card hyperparameters.

Run with ``python benchmarks/profile_training.py``: it prints the markdown table committed in
``benchmarks/PROFILE.md`` (made with ``PYTHONPATH`` on the code before issue 27). Each run is timed by phase: the methods that make up a phase (SB3's
``_sample_action``, ``VecEnv.step``, ``ReplayBuffer.sample``, ``torch.autograd.backward``, ...)
are wrapped, for this run only, with a timer, and each phase's time is its own, without the
phases called inside it (exclusive time, as a profiler's "self" column): "gradient step:
forward and loss" is what is left of SB3's ``train`` once replay sampling, backward, gradient
clipping and the optimizer are taken out. What no wrapper covers is "SB3 loop and bookkeeping".

Why not cProfile: it counts every Python call, which inflates the Python-heavy phases (SB3's
loop, the wrappers) against the C++ ones (matrix arithmetic) by about 30 %; these timers sit on
some 20 functions only. Shares, not absolute times, are what to read: one torch thread, and the
machine's other core may be busy.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import torch
from stable_baselines3.common import buffers, on_policy_algorithm
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.dqn import dqn as sb3_dqn

import edge_rl.agents.baselines as baselines
import edge_rl.agents.hybrid.training as hybrid_training
from edge_rl.agents.hybrid.network import HybridNetwork
from edge_rl.config import TrainConfig


class PhaseTimer:
    """Exclusive wall time per phase: a phase called inside another is taken out of it."""

    def __init__(self, containers: frozenset[str]) -> None:
        self.containers = containers
        """Phases that others are taken out of; any other phase keeps what it calls (the
        forward passes inside validation or the TD targets are theirs)."""
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[tuple[str, list[float]]] = []  # (name, [start, time spent in children])

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self._stack and self._stack[-1][0] not in self.containers:
            yield  # inside a phase that keeps its callees' time
            return
        self._stack.append((name, [time.perf_counter(), 0.0]))
        try:
            yield
        finally:
            _, (start, children) = self._stack.pop()
            elapsed = time.perf_counter() - start
            self.seconds[name] += elapsed - children
            if self._stack:
                self._stack[-1][1][1] += elapsed

    def wrap(self, owner: Any, attribute: str, name: str | Callable[[], str]) -> Callable[[], None]:
        """Time ``owner.attribute`` (a class or module attribute) as ``name``; returns the undo."""
        original = getattr(owner, attribute)
        own = attribute in vars(owner)  # else inherited: undo by deleting the wrapper

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name() if callable(name) else name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)
        return (lambda: setattr(owner, attribute, original)) if own else (lambda: delattr(owner, attribute))


def _forward_name() -> str:
    return "acting forward (no grad)" if torch.is_inference_mode_enabled() or not torch.is_grad_enabled() \
        else "learning forward and loss"


# (owner, attribute, phase) for every algorithm; SB3's classes are patched where they are looked up.
COMMON = [
    (DummyVecEnv, "step", "environment (VecEnv step, Monitor)"),
    (torch.autograd, "backward", "backward"),
    (torch.nn.utils, "clip_grad_norm_", "gradient clipping"),
    (torch.optim.Adam, "step", "optimizer step (Adam)"),
    (torch.optim.Adam, "zero_grad", "optimizer step (Adam)"),
    (baselines._Validation, "_validate", "validation"),
]
DQN = [
    (baselines.MaskedDQN, "_sample_action", "acting (forward, epsilon-greedy)"),
    (baselines.MaskedDQN, "_store_transition", "replay add (with SB3's deepcopy)"),
    (baselines.MaskedDQN, "train", "gradient step: forward and loss"),
    (buffers.DictReplayBuffer, "sample", "replay sampling (to tensors)"),
    (sb3_dqn, "polyak_update", "target update"),
    (baselines.MaskedDQN, "_on_step", "exploration schedule, logger"),
    (baselines.MaskedDQN, "_dump_logs", "exploration schedule, logger"),
]
PPO = [
    (on_policy_algorithm, "obs_as_tensor", "acting: obs to tensors"),
    (baselines.GraphActorCriticPolicy, "forward", "acting (forward, sample)"),
    (baselines.GraphActorCriticPolicy, "predict_values", "acting (forward, sample)"),
    (buffers.DictRolloutBuffer, "add", "rollout buffer add"),
    (buffers.DictRolloutBuffer, "compute_returns_and_advantage", "rollout buffer add"),
    (buffers.DictRolloutBuffer, "_get_samples", "minibatch sampling (to tensors)"),
    (baselines.PPO, "train", "gradient step: forward and loss"),
]
HYBRID = [
    (HybridNetwork, "forward", _forward_name),
    (HybridNetwork, "value", _forward_name),
    (HybridNetwork, "q_values", _forward_name),
    (hybrid_training, "as_tensors", "acting: obs to tensors"),
    (hybrid_training, "bootstrap_time_limits", "time-limit bootstrap (value of last states)"),
    (hybrid_training, "td_targets", "TD targets (online and target nets on next states)"),
    (hybrid_training, "polyak_update", "target update"),
    (hybrid_training, "ppo_loss", "learning forward and loss"),
    (hybrid_training, "episode_returns", "validation"),
    (buffers.DictReplayBuffer, "add", "replay and rollout buffer add"),
    (buffers.DictRolloutBuffer, "add", "replay and rollout buffer add"),
    (buffers.DictRolloutBuffer, "compute_returns_and_advantage", "replay and rollout buffer add"),
    (buffers.DictReplayBuffer, "sample", "replay sampling (to tensors)"),
    (buffers.DictRolloutBuffer, "_get_samples", "minibatch sampling (to tensors)"),
]
OTHER = "SB3 loop and bookkeeping (not wrapped)"
CONTAINERS = frozenset({OTHER, "gradient step: forward and loss", "exploration schedule, logger"})


def profile(config: TrainConfig) -> tuple[dict[str, float], float, int]:
    """Seconds per phase, total seconds and environment steps of training ``config``."""
    timer = PhaseTimer(CONTAINERS)
    own = {"dqn": DQN, "ppo": PPO, "hybrid": HYBRID}[config.algo]
    undo = [timer.wrap(owner, attribute, name) for owner, attribute, name in COMMON + own]
    try:
        start = time.perf_counter()
        with timer.phase(OTHER):
            if config.algo == "hybrid":
                steps = hybrid_training.train_hybrid(config).trained["timesteps"]
            else:
                steps = baselines.train_baseline(config).trained["timesteps"]
        total = time.perf_counter() - start
    finally:
        for restore in reversed(undo):
            restore()
    return dict(timer.seconds), total, steps


def table(results: dict[str, tuple[dict[str, float], float, int]]) -> str:
    lines = ["| run | phase | share | ms per 1,000 env steps |", "|---|---|---:|---:|"]
    for name, (seconds, total, steps) in results.items():
        lines.append(f"| **{name}** | total: {steps:,} steps in {total:.1f} s, {steps / total:.0f} steps/s | "
                     f"100 % | {1e6 * total / steps:,.0f} |")
        for phase, value in sorted(seconds.items(), key=lambda item: -item[1]):
            lines.append(f"| | {phase} | {100 * value / total:.1f} % | {1e6 * value / steps:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dqn-steps", type=int, default=10_000, help="DQN-GNN steps (1,000 of warm-up)")
    parser.add_argument("--ppo-steps", type=int, default=8_192, help="PPO-GNN steps (one rollout of 8 x 1,024)")
    parser.add_argument("--hybrid-steps", type=int, default=4_096, help="hybrid steps (4 rollouts of 8 x 128)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    configs = {"dqn-gnn (card)": TrainConfig(algo="dqn", total_timesteps=args.dqn_steps),
               "ppo-gnn (card)": TrainConfig(algo="ppo", total_timesteps=args.ppo_steps),
               "hybrid (from scratch)": TrainConfig(algo="hybrid", total_timesteps=args.hybrid_steps)}
    results = {name: profile(config) for name, config in configs.items()}
    print(table(results))


if __name__ == "__main__":
    main()
