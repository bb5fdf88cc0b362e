"""The experiment engine's speed: a sweep of card-budget runs on an embedded Ray, 2 workers against 1.

Run with ``make bench`` (about 8 minutes on 2 cores: the sweep twice). Every figure is measured
in this run, on this machine. Targets (ratios, so machines compare):

- parallel efficiency on 2 workers at least 0.9: the sum of the runs' training and evaluation
  time (each run's ``logs/<stem>/timing.json``) over 2 x the sweep's wall time (worker start-up,
  scheduling and the driver's writes are what it loses);
- the same sweep's wall time on 1 worker at least 1.8x its wall time on 2.

The engine's start-up (``ray.init`` until a first task has returned) is printed beside them,
and kept out of the walls: it is paid once per ``run_all``, not per run. The machine must be
otherwise idle: another process on the cores takes its share out of the 2-worker wall.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from edge_rl.config import TrainConfig
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS
from edge_rl.experiments.run.engine import session
from edge_rl.experiments.run.runs import Run, run_all

TARGET_EFFICIENCY = 0.9
TARGET_RATIO = 1.8


def _sweep(runs: int, episodes: int) -> list[Run]:
    """DQN-GNN at the card's budget (10,000 steps), one seed a run, ``episodes`` test episodes."""
    return [Run("DQN-GNN", TrainConfig(algo="dqn", policy="gnn", seed=seed, total_timesteps=10_000),
                DEFAULT_EVAL_SEEDS[:episodes]) for seed in range(runs)]


def _timed(runs: list[Run], workers: int, folder: Path) -> tuple[float, float, float]:
    """(engine start-up, the sweep's wall time, the runs' own time summed), in seconds."""
    import ray

    start = time.perf_counter()
    with session(workers=workers):
        ray.get(ray.remote(lambda: None).remote())
        ready = time.perf_counter()
        run_all(runs, folder, progress=False)  # uses the engine started here
        wall = time.perf_counter() - ready
    spent = sum(sum(json.loads((folder / "logs" / run.stem / "timing.json").read_text()).values()) for run in runs)
    return ready - start, wall, spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="card-budget runs in the sweep (default: 8)")
    parser.add_argument("--episodes", type=int, default=10, help="test episodes per run (default: 10)")
    args = parser.parse_args()
    runs = _sweep(args.runs, args.episodes)
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        results = {workers: _timed(runs, workers, Path(tmp) / f"workers-{workers}") for workers in (2, 1)}
    (start2, wall2, spent2), (start1, wall1, spent1) = results[2], results[1]
    efficiency, ratio = spent2 / (2 * wall2), wall1 / wall2
    print(f"{len(runs)} card-budget DQN-GNN runs (10,000 steps, {args.episodes} test episodes each), embedded Ray")
    print(f"engine start-up: {start2:.1f} s (2 workers), {start1:.1f} s (1 worker)")
    print(f"2 workers: wall {wall2:.1f} s, runs' own time {spent2:.1f} s; 1 worker: wall {wall1:.1f} s, "
          f"runs' own time {spent1:.1f} s")
    failed = []
    for name, value, target in (("parallel efficiency on 2 workers", efficiency, TARGET_EFFICIENCY),
                                ("wall time 1 worker / 2 workers", ratio, TARGET_RATIO)):
        verdict = "ok" if value >= target else "MISSED"
        print(f"{name:34s} {value:5.2f}  target >= {target}  {verdict}")
        if value < target:
            failed.append(name)
    if failed:
        print(f"\nmissed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
