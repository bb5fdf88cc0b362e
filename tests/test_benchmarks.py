"""The benchmarks run, and grade ratios measured in the same run, never absolute times (the
figures themselves are not checked here: timed tests are flaky, and speed is make bench's)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                            timeout=600, cwd=BENCHMARKS.parent)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("script", "args", "targets"),
    [
        ("bench_env.py", ["--steps", "200", "--repeats", "1", "--rounds", "1"],
         [r"target: one IoTEdge step <= 5x a CartPole step \(single env, measured together\): [0-9.]+x: (PASS|MISS)",
          r"target: IoTEdgeEnv \(reset every 100\) steps per CPU-second >= 1x the reference's: [0-9.]+x: (PASS|MISS)",
          r"target: IoTEdgeVectorEnv, 8 episodes steps per CPU-second >= 1x the reference's: [0-9.]+x: (PASS|MISS)"]),
        ("bench_agents.py", ["--only", "predict", "--predicts", "100"],
         [r"dqn-gnn-gcn vs SB3 MlpPolicy.predict \(dqn-mlp\) on the same observation: p50 [0-9.]+x, p99 [0-9.]+x "
          r"\(target <= 2.5x each\): (PASS|FAIL)"]),
        ("bench_training.py", ["--only", "speed", "--steps", "1000", "--repeats", "1"],
         [r"dqn-gnn .* >= 3x: (PASS|FAIL)", r"ppo-gnn .* >= 2x: (PASS|FAIL)", r"hybrid .* >= 2x: (PASS|FAIL)",
          r"dqn-gnn \(new\) / SB3 DQN MultiInputPolicy MLP .* target >= 0.6x: (PASS|FAIL)"]),
        ("bench_api.py", ["--single", "30", "--requests", "100", "--batch", "8", "--batches", "2", "--forwards", "30"],
         [r"target: p99 at 32 clients <= 10x the 1-client p50, 0 errors over 10,000 requests: [0-9.]+ / [0-9.]+ ms = "
          r"[0-9.]+x, 0 errors: not graded \(32 clients, 100 requests\)",
          r"target: /batch-predict decisions/s >= 2x /predict requests/s at 32 clients: [0-9,]+ / [0-9,]+ = [0-9.]+x"]),
    ],
    ids=["env", "agents", "training", "api"],
)
def test_each_benchmark_grades_ratios_measured_in_the_same_run(script: str, args: list[str], targets: list[str]) -> None:
    output = _run(script, *args)
    for target in targets:
        assert re.search(target, output), (target, output)
    graded = [line for line in output.splitlines() if "target" in line]
    assert graded and not [line for line in graded if re.search(r"<= [0-9.]+ (us|ms)\b", line)], graded
