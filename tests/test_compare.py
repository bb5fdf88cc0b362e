"""make compare: a rerun is checked file by file, and only where the numbers must not move."""

from __future__ import annotations

from pathlib import Path

from edge_rl.compare import compare, conclusions, main


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_identical_results_pass_and_timings_and_logs_may_differ(tmp_path: Path, capsys) -> None:
    same = {"runs/a-seed0.csv": "return\n1.0\n", "tables/baselines.csv": "x\n", "figures/f.png": "png"}
    a = _write(tmp_path / "a", {**same, "tables/timings.csv": "1 s", "logs/a/0.monitor.csv": "t=1"})
    b = _write(tmp_path / "b", {**same, "tables/timings.csv": "2 s", "logs/a/0.monitor.csv": "t=2"})
    assert compare(a, b)["identical"] == ["runs/a-seed0.csv", "tables/baselines.csv", "figures/f.png"]
    assert main([str(a), str(b)]) == 0
    assert "3 identical, 0 different, 0 missing, 0 extra" in capsys.readouterr().out


def test_a_changed_number_or_a_missing_run_fails(tmp_path: Path, capsys) -> None:
    a = _write(tmp_path / "a", {"runs/a-seed0.csv": "return\n1.0\n", "runs/b-seed0.csv": "return\n2.0\n"})
    b = _write(tmp_path / "b", {"runs/a-seed0.csv": "return\n1.5\n"})
    found = compare(a, b)
    assert found["different"] == ["runs/a-seed0.csv"] and found["missing"] == ["runs/b-seed0.csv"]
    assert main([str(a), str(b)]) == 1
    assert "different: runs/a-seed0.csv" in capsys.readouterr().out
    assert main([str(a), str(tmp_path / "nowhere")]) == 1


EVALUATION = (
    "Model,Type,Mean Reward,IQM over seeds,IQM 95% CI,Seeds\n"
    "greedy,rule,90.0,90.0,n/a (1 run),1\n"
    "Hybrid (Best),DQN+PPO+GNN,-24.4,{best},\"[-31.69, -17.23]\",10\n"
    "DQN Baseline,DQN,51.9,{dqn},\"[47.01, 57.63]\",10\n"
)
VERDICTS = "comparison,P(X > Y),verdict\nHybrid (Best) vs DQN Baseline,0.0,{verdict}\n"
ABLATION = (
    "policy,encoder,fusion,IQM over seeds,IQM 95% CI,Seeds\n"
    "Hybrid (Best),gcn,weighted_sum,-25.29,\"[-31.69, -17.23]\",10\n"
    "Hybrid GAT gating,gat,gating,{gating},\"[-380.00, -200.00]\",10\n"
)


def test_a_rerun_whose_digits_differ_is_held_to_the_committed_intervals_and_verdicts(tmp_path: Path, capsys) -> None:
    a = _write(tmp_path / "a", {"tables/evaluation_results.csv": EVALUATION.format(best=-25.29, dqn=53.99),
                                "tables/ablation.csv": ABLATION.format(gating=-297.7),
                                "tables/probability_of_improvement.csv": VERDICTS.format(verdict="loses")})
    b = _write(tmp_path / "b", {"tables/evaluation_results.csv": EVALUATION.format(best=-20.0, dqn=45.5),
                                "tables/ablation.csv": ABLATION.format(gating=-250.0),
                                "tables/probability_of_improvement.csv":
                                    VERDICTS.format(verdict="cannot be told apart")})
    models, verdicts = conclusions(a, b)
    # The rule has no interval; the hybrid's rerun IQM is inside its interval, the DQN's is not;
    # the ablation's row of the same hybrid is not counted twice.
    assert models["model"].tolist() == ["Hybrid (Best)", "DQN Baseline", "Hybrid GAT gating, gat, gating"]
    assert models["inside"].tolist() == [True, False, True]
    assert verdicts["agree"].tolist() == [False]
    assert main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "inside the committed 95 % interval: 2 of 3 models" in out
    assert "outside: DQN Baseline (evaluation_results): 53.99 [47.01, 57.63], rerun 45.50" in out
    assert "verdicts agreeing: 0 of 1" in out and "'loses', rerun 'cannot be told apart'" in out


def test_identical_results_print_no_conclusions(tmp_path: Path, capsys) -> None:
    files = {"tables/evaluation_results.csv": EVALUATION.format(best=-25.29, dqn=53.99)}
    assert main([str(_write(tmp_path / "a", files)), str(_write(tmp_path / "b", files))]) == 0
    assert "held to" not in capsys.readouterr().out
