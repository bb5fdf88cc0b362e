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


def test_the_levers_benchmark_prints_each_lever_against_the_written_out_step() -> None:
    output = _run("bench_levers.py", "--gradient-steps", "3", "--repeats", "1", "--steps", "1200")
    for row in ("SB3's DQN.train", "compile: Q networks", "compile: whole loss, one graph", "taken node only"):
        assert re.search(rf"^{re.escape(row)} +[0-9.]+ +[0-9.]+x +[0-9.]+x$", output, re.MULTILINE), (row, output)
    assert re.search(r"gradient steps are about [0-9]+% of it", output), output


def test_the_taken_node_pass_is_the_same_function_as_every_node_s_scores() -> None:
    """The lever the levers benchmark measures is worth measuring only if it computes the same
    Q(s, a) and the same gradients as the full pass, up to rounding."""
    import torch

    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_levers
    finally:
        sys.path.remove(str(BENCHMARKS))
    from edge_rl.agents.baselines import make_model

    model = make_model(bench_levers.CONFIG)
    model.learn(total_timesteps=bench_levers.CONFIG.dqn.learning_starts + 100)
    data = model.replay_buffer.sample(32)
    results = []
    for q in (bench_levers.full_q, bench_levers.taken_node_q):
        model.policy.optimizer.zero_grad()
        values = q(model.q_net, data.observations, data.actions)
        values.square().sum().backward()
        results.append((values.detach(), [p.grad.clone() for p in model.q_net.parameters()]))
    (full, full_grads), (taken, taken_grads) = results
    assert full.shape == taken.shape == (32, 1)
    torch.testing.assert_close(taken, full, rtol=1e-5, atol=1e-5)
    for a, b in zip(taken_grads, full_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
