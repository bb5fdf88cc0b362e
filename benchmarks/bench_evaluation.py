"""Evaluation speed: a policy's 100 test episodes side by side against one at a time.

Run with ``make bench``. Every figure is measured in this run, on this machine, one torch
thread. Targets (ratios, so machines compare):

- batched evaluation of 100 episodes at least 5x faster than one episode at a time for the
  graph policies, at least 3x for the fixed rules (the same rows, the same seeds);
- evaluation at most 10 % of a card-budget run's CPU time (DQN-GNN, 10,000 steps; its test and
  model-selection episodes);
- the full ``make reproduce``'s wall time at most 1.1x the sum of its CPU time over the cores
  (read from the committed results' cost table, ``results/tables/costs.csv``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import edge_rl
from edge_rl.agents import algorithm
from edge_rl.config import EncoderConfig, TrainConfig
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, SELECTION_SEEDS, evaluate

ROOT = Path(__file__).resolve().parents[1]
TARGET_GRAPH = 5.0
TARGET_RULE = 3.0
TARGET_EVALUATION_SHARE = 0.10
TARGET_WALL_OVER_CPU = 1.1


def _untrained(algo: str, kind: str = "gcn", **changes) -> object:
    """A graph policy with its initial weights: the same work per step as a trained one."""
    config = TrainConfig(algo=algo, encoder=EncoderConfig(kind=kind), **changes)
    cls = algorithm(config)
    return cls(config, cls.build_network(config), {})


def _one_at_a_time(policy: object, seeds: list[int]) -> list[float]:
    """The reference: one environment, one episode after another, one observation per predict
    (how evaluation ran before it ran episodes side by side)."""
    env, returns = edge_rl.make_env(), []
    for seed in seeds:
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
        returns.append(float(np.sum(rewards)))
    return returns


def _seconds(policy: object, seeds: list[int], one_at_a_time: bool) -> tuple[float, list[float]]:
    start = time.perf_counter()
    returns = _one_at_a_time(policy, seeds) if one_at_a_time else evaluate(policy, seeds)["return"].tolist()
    return time.perf_counter() - start, returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100, help="test episodes per measurement")
    parser.add_argument("--no-training", action="store_true", help="skip the card-budget training run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = list(DEFAULT_EVAL_SEEDS[: args.episodes])
    policies = {
        "DQN-GNN (GCN)": (_untrained("dqn"), TARGET_GRAPH),
        "PPO-GNN (GAT)": (_untrained("ppo", "gat"), TARGET_GRAPH),
        "Hybrid (GCN, weighted sum)": (_untrained("hybrid"), TARGET_GRAPH),
        "greedy_earliest_finish": (make_heuristic("greedy_earliest_finish"), TARGET_RULE),
        "round_robin": (make_heuristic("round_robin"), TARGET_RULE),
    }
    print(f"{'policy':28s} {'one at a time (s)':>18s} {'side by side (s)':>17s} {'speed-up':>9s}  target")
    failed = []
    for name, (policy, target) in policies.items():
        alone, alone_returns = _seconds(policy, seeds, one_at_a_time=True)
        batched, batched_returns = _seconds(policy, seeds, one_at_a_time=False)
        same = alone_returns == batched_returns
        ratio = alone / batched
        verdict = "PASS" if ratio >= target else "FAIL"
        failed += [name] if verdict == "FAIL" else []
        print(f"{name:28s} {alone:18.2f} {batched:17.2f} {ratio:8.1f}x  >= {target:.0f}x {verdict}"
              f"{'' if same else '  (rows differ: a near-tie rounded the other way)'}")

    if not args.no_training:
        config = TrainConfig(algo="dqn")  # the card's budget: 10,000 steps
        cls = algorithm(config)
        start = time.perf_counter()
        agent = cls.train(config)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        evaluate(agent, list(DEFAULT_EVAL_SEEDS))
        evaluate(agent, list(SELECTION_SEEDS[:50]))
        eval_s = time.perf_counter() - start
        share = eval_s / (train_s + eval_s)
        verdict = "PASS" if share <= TARGET_EVALUATION_SHARE else "FAIL"
        failed += ["evaluation share"] if verdict == "FAIL" else []
        print(f"\ncard-budget DQN-GNN: training {train_s:.1f} s (its validation curve included), evaluation "
              f"{eval_s:.1f} s (100 test + 50 model-selection episodes): {share:.1%} of the run, "
              f"target <= {TARGET_EVALUATION_SHARE:.0%}: {verdict}")

    costs = ROOT / "results" / "tables" / "costs.csv"
    total = pd.read_csv(costs, index_col="notebook").loc["total"] if costs.is_file() else None
    if total is not None and pd.isna(total["remainder (min)"]):
        print("\ncommitted make reproduce: its timing record covers only part of the runs (a rerun after an "
              "interruption): wall / CPU not graded")
    elif total is not None:
        timings = pd.read_csv(ROOT / "results" / "tables" / "timings.csv")
        cores = int(timings["cores"].iloc[0])
        run_cpu = total["training (min)"] + total["validation (min)"] + total["evaluation (min)"]
        ratio = total["wall (min)"] / (run_cpu / cores)
        print(f"\ncommitted make reproduce: {total['wall (min)']:.1f} min wall, the runs' CPU time "
              f"{run_cpu:.1f} min on {cores} cores: wall / (CPU / cores) = {ratio:.2f}, target <= "
              f"{TARGET_WALL_OVER_CPU}: {'PASS' if ratio <= TARGET_WALL_OVER_CPU else 'FAIL'}")
    if failed:
        print(f"\nmissed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
