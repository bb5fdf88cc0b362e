"""Agent speed: training steps/s of DQN, PPO and the hybrid per encoder, and ``predict``.

Run with ``make bench``. Everything is measured in this run on one torch thread; ratios are
against the MLP policy of the same algorithm (baselines) or PPO-GNN with the same encoder
(hybrid), measured in the same run.
Targets: GNN policies train at >= 1/3 of the MLP policy's steps/s; the hybrid at >= 1/2 of
PPO-GNN's; the GCN policy's ``predict`` on one observation takes p50 <= 200 us, p99 <= 1 ms.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import edge_rl
import edge_rl.agent
from edge_rl.baselines import make_model, train
from edge_rl.config import DQNConfig, EncoderConfig, HybridConfig, TrainConfig
from edge_rl.hybrid import train_hybrid

TARGET_RATIO = 1 / 3
TARGET_HYBRID_RATIO = 1 / 2
TARGET_P50_US, TARGET_P99_US = 200.0, 1000.0


def training_steps_per_second(config: TrainConfig) -> float:
    model = make_model(config)
    start = time.perf_counter()
    model.learn(total_timesteps=config.total_timesteps)
    return model.num_timesteps / (time.perf_counter() - start)


def predict_latency_us(agent: edge_rl.agent.Agent, n: int) -> np.ndarray:
    env = edge_rl.make_env()
    obs, _ = env.reset(seed=0)
    observations = []
    for i in range(200):
        observations.append(obs)
        obs, *_ = env.step(10 + i % 7)
    for obs in observations:  # warm up
        agent.predict(obs)
    times = np.empty(n)
    for i in range(n):
        obs = observations[i % len(observations)]
        start = time.perf_counter()
        agent.predict(obs)
        times[i] = time.perf_counter() - start
    return times * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dqn-steps", type=int, default=4_000, help="DQN steps per run (1,000 of warm-up)")
    parser.add_argument("--ppo-steps", type=int, default=8_192, help="PPO steps per run (one rollout)")
    parser.add_argument("--predicts", type=int, default=5_000, help="single-observation predict calls")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"{'policy':16s} {'steps/s':>9s} {'vs MLP':>7s}  target >= {TARGET_RATIO:.2f}")
    failures = 0
    for algo, steps in (("dqn", args.dqn_steps), ("ppo", args.ppo_steps)):
        mlp_rate = None
        for policy, kind in (("mlp", "gcn"), ("gnn", "gcn"), ("gnn", "gat"), ("gnn", "sage"), ("gnn", "hybrid")):
            config = TrainConfig(algo=algo, policy=policy, encoder=EncoderConfig(kind=kind), total_timesteps=steps)
            rate = training_steps_per_second(config)
            mlp_rate = rate if policy == "mlp" else mlp_rate
            ratio = rate / mlp_rate
            verdict = "" if policy == "mlp" or kind == "hybrid" else ("PASS" if ratio >= TARGET_RATIO else "FAIL")
            failures += verdict == "FAIL"
            print(f"{config.name:16s} {rate:9.0f} {ratio:7.2f}  {verdict}")

    print(f"\n{'hybrid (from scratch)':34s} {'steps/s':>9s} {'vs PPO-GNN':>10s}  target >= {TARGET_HYBRID_RATIO:.2f}")
    for kind in ("gcn", "sage"):
        ppo = training_steps_per_second(TrainConfig(algo="ppo", encoder=EncoderConfig(kind=kind), total_timesteps=args.ppo_steps))
        for label, hybrid in (("", HybridConfig()), (", no validation", HybridConfig(eval_every=10**9))):
            config = TrainConfig(algo="hybrid", encoder=EncoderConfig(kind=kind), hybrid=hybrid, total_timesteps=args.ppo_steps)
            start = time.perf_counter()
            agent = train_hybrid(config)
            rate = agent.trained["timesteps"] / (time.perf_counter() - start)
            verdict = "PASS" if rate / ppo >= TARGET_HYBRID_RATIO else "FAIL"
            failures += verdict == "FAIL" and not label
            print(f"{config.name + label:34s} {rate:9.0f} {rate / ppo:10.2f}  {verdict if not label else ''}")

    agent = train(TrainConfig(algo="dqn", total_timesteps=1_100, dqn=DQNConfig(learning_starts=1_000)))
    latency = predict_latency_us(agent, args.predicts)
    p50, p99 = np.percentile(latency, [50, 99])
    ok = p50 <= TARGET_P50_US and p99 <= TARGET_P99_US
    failures += not ok
    print(f"\npredict, one observation, dqn-gnn-gcn: p50 {p50:.0f} us, p99 {p99:.0f} us "
          f"(targets {TARGET_P50_US:.0f} / {TARGET_P99_US:.0f} us): {'PASS' if ok else 'FAIL'}")
    print(f"{failures} target(s) missed" if failures else "all targets met")


if __name__ == "__main__":
    main()
