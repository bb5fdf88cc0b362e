"""Training speed per CPU-second against the code this work started from, and the arithmetic rate.

Run with ``make bench``. Three parts, every figure measured in this run:

- ``speed``: environment steps per CPU-second of training (card hyperparameters, ``--steps``
  steps, validation included, one torch thread) for DQN-GNN, PPO-GNN and the hybrid, with this
  checkout and with the reference commit (``--reference``, default: the commit before the speed
  work, extracted with ``git archive`` beside it), each run in a process of its own (the two
  cannot share one ``import edge_rl``), the rounds interleaved; plus SB3's own DQN with its
  ``MultiInputPolicy`` MLP on the same environment, in the same rounds. CPU seconds are the
  child's ``time.process_time`` over training alone, so a busy other core counts for little.
  Graded on the median ratio: DQN-GNN >= 3x the reference, PPO-GNN >= 2x, the hybrid >= 2x,
  and DQN-GNN >= 0.6x SB3's MLP DQN (issue 27).
- ``flops``: the matrix arithmetic of one DQN-GNN gradient step (torch's ``FlopCounterMode``)
  and the rate it runs at, printed beside this core's matmul rate on the step's largest shape and
  on a 1024^3 product. The same count per environment step, divided by the matmul rate, is the
  fastest any implementation of the same arithmetic could train (printed as the ceiling): the
  targets above sit beyond it for DQN-GNN (see ``benchmarks/PROFILE.md``).
- ``identity``: short runs of each algorithm with both checkouts: the weights' digests must be
  equal (the speed work must not change a rounding; results would need a rerun otherwise).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import checkout  # benchmarks/checkout.py, beside this script

ROOT = checkout.ROOT
REFERENCE = "356f84463d2a75508c747aae6e925dece81c2c1d"
"""main when issue 27's work began: "today's code" of its targets."""
TARGETS = {"dqn": 3.0, "ppo": 2.0, "hybrid": 2.0}
TARGET_VS_SB3_MLP = 0.6

CHILD = r"""
import hashlib, json, sys, time
import torch
torch.set_num_threads(1)
what, steps = sys.argv[1], int(sys.argv[2])
from edge_rl.config import TrainConfig
if what == "sb3-mlp-dqn":  # SB3's DQN with its own MultiInputPolicy on the graph observation
    from stable_baselines3 import DQN
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv
    from edge_rl.config import DQNConfig
    from edge_rl.envs import make_env
    model = DQN("MultiInputPolicy", DummyVecEnv([lambda: Monitor(make_env())]), seed=0, device="cpu",
                verbose=0, **vars(DQNConfig()))
    start = time.process_time()
    model.learn(total_timesteps=steps)
    print(json.dumps({"steps": model.num_timesteps, "cpu_s": time.process_time() - start}))
    sys.exit()
from edge_rl.agents import train
config = TrainConfig(algo=what, total_timesteps=steps)
start = time.process_time()
agent = train(config)
cpu = time.process_time() - start
state = agent.network.state_dict()
digest = hashlib.sha256()
for key in sorted(state):
    digest.update(key.encode())
    digest.update(state[key].contiguous().numpy().tobytes())
print(json.dumps({"steps": agent.trained["timesteps"], "cpu_s": cpu, "digest": digest.hexdigest()}))
"""


def run_child(code: Path, what: str, steps: int) -> dict:
    return checkout.run_child(code, CHILD, what, str(steps))


def _median_and_range(values: Sequence[float]) -> str:
    return f"{np.median(values):5.2f} [{min(values):.2f}, {max(values):.2f}]"


def speed(args: argparse.Namespace, reference: Path) -> int:
    """Steps per CPU-second, new / reference, rounds interleaved; the number of targets missed."""
    failures = 0
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for algo in TARGETS:
            for label, code in (("new", ROOT), ("reference", reference)):
                run = run_child(code, algo, args.steps)
                rates.setdefault((algo, label), []).append(run["steps"] / run["cpu_s"])
        run = run_child(ROOT, "sb3-mlp-dqn", args.steps)
        rates.setdefault(("sb3-mlp-dqn", "new"), []).append(run["steps"] / run["cpu_s"])
    print(f"{'training, card config':22s} {'steps/CPU-s new':>15s} {'reference':>9s} "
          f"{'new / reference: median [min, max]':>36s}  target")
    for algo, target in TARGETS.items():
        new, old = rates[(algo, "new")], rates[(algo, "reference")]
        ratios = [a / b for a, b in zip(new, old)]
        ok = np.median(ratios) >= target
        failures += not ok
        print(f"{algo + '-gnn' if algo != 'hybrid' else 'hybrid':22s} {np.median(new):15.0f} {np.median(old):9.0f} "
              f"{_median_and_range(ratios):>36s}  >= {target:g}x: {'PASS' if ok else 'FAIL'}")
    mlp = rates[("sb3-mlp-dqn", "new")]
    for label in ("new", "reference"):
        ratios = [a / b for a, b in zip(rates[("dqn", label)], mlp)]
        graded = label == "new"
        ok = np.median(ratios) >= TARGET_VS_SB3_MLP
        failures += graded and not ok
        verdict = f"target >= {TARGET_VS_SB3_MLP:g}x: {'PASS' if ok else 'FAIL'}" if graded else "(context)"
        print(f"dqn-gnn ({label}) / SB3 DQN MultiInputPolicy MLP ({np.median(mlp):.0f} steps/CPU-s): "
              f"{_median_and_range(ratios).strip()}  {verdict}")
    return failures


def matmul_rate(m: int, k: int, n: int, seconds: float = 0.5) -> float:
    """FLOP/s of ``(m, k) @ (k, n)`` on this thread."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(5):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start)


def flops(args: argparse.Namespace) -> int:
    """The arithmetic rate of a DQN-GNN gradient step beside the matmul rate (context, not graded)."""
    from edge_rl.agents.baselines import make_model
    from edge_rl.config import DQNConfig, TrainConfig

    config = TrainConfig(algo="dqn")
    model = make_model(config)
    model.learn(total_timesteps=config.dqn.learning_starts + 200)  # a replay buffer to sample from
    batch = config.dqn.batch_size
    with FlopCounterMode(display=False) as counter:
        model.train(gradient_steps=10, batch_size=batch)
    per_step = counter.get_total_flops() / 10
    model.train(gradient_steps=20, batch_size=batch)  # warm up
    start = time.process_time()
    model.train(gradient_steps=args.gradient_steps, batch_size=batch)
    seconds = (time.process_time() - start) / args.gradient_steps
    nodes = batch * config.env.padded_nodes
    peak_shape = matmul_rate(nodes, 128, 128)
    peak_square = matmul_rate(1024, 1024, 1024)
    per_env_step = per_step / DQNConfig().train_freq  # the acting forward adds about 1 %
    print(f"\ndqn-gnn gradient step (batch {batch}, {nodes} node rows): {per_step / 1e6:.0f} MFLOP in "
          f"{seconds * 1e3:.2f} ms = {per_step / seconds / 1e9:.1f} GFLOP/s; this core's matmul: "
          f"{peak_shape / 1e9:.1f} GFLOP/s ({nodes}x128 @ 128x128), {peak_square / 1e9:.1f} GFLOP/s (1024^3)"
          f"\n  share of the matmul rate: {per_step / seconds / peak_shape:.0%}; ceiling for this arithmetic: "
          f"{per_env_step / 1e6:.0f} MFLOP per environment step at the matmul rate = "
          f"{peak_shape / per_env_step:.0f} steps/s, with nothing else (no environment, no Python)")
    return 0


def identity(args: argparse.Namespace, reference: Path) -> int:
    """Weights of short runs, new and reference: the number that differ."""
    failures = 0
    print()
    for algo, steps in (("dqn", 2_000), ("ppo", 2_048), ("hybrid", 1_024)):
        new, old = run_child(ROOT, algo, steps), run_child(reference, algo, steps)
        same = new["digest"] == old["digest"]
        failures += not same
        print(f"{algo} ({steps} steps): weights {'bit-identical to' if same else 'DIFFER from'} the reference "
              f"(sha256 {new['digest'][:12]} / {old['digest'][:12]}): {'PASS' if same else 'FAIL'}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="environment steps per training run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; medians are graded")
    parser.add_argument("--gradient-steps", type=int, default=200, help="DQN gradient steps timed for FLOP/s")
    parser.add_argument("--reference", default=REFERENCE, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--only", choices=("speed", "flops", "identity"), action="append",
                        help="run only this part (repeatable; default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = args.only or ["speed", "flops", "identity"]
    with tempfile.TemporaryDirectory(prefix="edge-rl-reference-") as folder:
        reference = checkout.reference_checkout(args.reference, Path(folder))
        failures = 0
        for part in parts:
            failures += speed(args, reference) if part == "speed" else \
                identity(args, reference) if part == "identity" else flops(args)
    print(f"{failures} target(s) missed" if failures else "all targets met")


if __name__ == "__main__":
    main()
