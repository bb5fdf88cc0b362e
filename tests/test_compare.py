"""make compare: a rerun is checked file by file, and only where the numbers must not move."""

from __future__ import annotations

from pathlib import Path

from edge_rl.experiments.analyse.compare import compare, conclusions, main


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_identical_results_pass_and_timings_and_logs_may_differ(tmp_path: Path, capsys) -> None:
    same = {"runs/a-seed0.csv": "return\n1.0\n", "tables/baselines.csv": "x\n", "figures/f.png": "png"}
    a = _write(tmp_path / "a", {**same, "tables/timings.csv": "1 s", "tables/costs.md": "1 min", "logs/a/0.monitor.csv": "t=1"})
    b = _write(tmp_path / "b", {**same, "tables/timings.csv": "2 s", "tables/costs.md": "2 min", "logs/a/0.monitor.csv": "t=2"})
    assert compare(a, b)["identical"] == ["runs/a-seed0.csv", "tables/baselines.csv", "figures/f.png"]
    assert main([str(a), str(b)]) == 0
    assert "3 identical, 0 different, 0 missing, 0 extra" in capsys.readouterr().out


def test_a_changed_number_or_a_missing_run_fails(tmp_path: Path, capsys) -> None:
    a = _write(tmp_path / "a", {"runs/a-seed0.csv": "return\n1.0\n", "runs/b-seed0.csv": "return\n2.0\n",
                                "study/runs/c-seed0.csv": "return\n3.0\n"})
    b = _write(tmp_path / "b", {"runs/a-seed0.csv": "return\n1.5\n", "study/runs/c-seed0.csv": "return\n3.5\n"})
    found = compare(a, b)
    assert found["different"] == ["runs/a-seed0.csv", "study/runs/c-seed0.csv"] and found["missing"] == ["runs/b-seed0.csv"]
    assert main([str(a), str(b)]) == 1
    assert "different: runs/a-seed0.csv" in capsys.readouterr().out
    assert main([str(a), str(tmp_path / "nowhere")]) == 1


TRIALS = "model,trial,selection return,seconds\nDQN-GNN,0,{ret},{seconds}\n"
SUMMARY_MD = ("| model   |   best selection return |   CPU-seconds |\n|:--------|------------------------:|--------------:|\n"
              "| DQN-GNN |                 {ret} | {seconds:>13} |\n")


def test_the_tuning_tables_are_compared_without_how_long_each_trial_took(tmp_path: Path) -> None:
    def results(name: str, ret: str, seconds: str) -> Path:
        return _write(tmp_path / name, {"tables/tuning_trials.csv": TRIALS.format(ret=ret, seconds=seconds),
                                        "tables/tuning_summary.md": SUMMARY_MD.format(ret=ret, seconds=seconds)})
    committed = results("a", "-333.19", "4.039")
    assert compare(committed, results("b", "-333.19", "0.96"))["identical"] == ["tables/tuning_trials.csv",
                                                                              "tables/tuning_summary.md"]
    assert compare(committed, results("c", "-333.18", "4.039"))["different"] == ["tables/tuning_trials.csv",
                                                                               "tables/tuning_summary.md"]


EVALUATION = (
    "Model,Type,Mean Reward,IQM over seeds,IQM 95% CI,Seeds\n"
    "greedy,rule,90.0,{rule},n/a (1 run),1\n"
    "Hybrid (Best),DQN+PPO+GNN,-24.4,{best},\"[-31.69, -17.23]\",10\n"
    "DQN Baseline,DQN,51.9,{dqn},\"[47.01, 57.63]\",10\n"
)
VERDICTS = "comparison,P(X > Y),verdict\nHybrid (Best) vs DQN Baseline,0.0,{verdict}\n"
ABLATION = (
    "policy,encoder,fusion,IQM over seeds,IQM 95% CI,Seeds\n"
    "Hybrid (Best),gcn,weighted_sum,-25.29,\"[-31.69, -17.23]\",10\n"
    "Hybrid GAT gating,gat,gating,{gating},\"[-380.00, -200.00]\",10\n"
)


def _tables(rule: float = 89.99, best: float = -25.29, dqn: float = 53.99, gating: float = -297.7,
            verdict: str = "loses") -> dict[str, str]:
    return {"tables/evaluation_results.csv": EVALUATION.format(rule=rule, best=best, dqn=dqn),
            "tables/ablation.csv": ABLATION.format(gating=gating),
            "tables/probability_of_improvement.csv": VERDICTS.format(verdict=verdict)}


def test_a_rerun_whose_digits_differ_is_held_to_the_committed_intervals_and_verdicts(tmp_path: Path, capsys) -> None:
    a = _write(tmp_path / "a", _tables())
    b = _write(tmp_path / "b", _tables(rule=89.99 + 1e-12, best=-20.0, dqn=45.5, gating=-250.0,
                                       verdict="cannot be told apart"))
    models, verdicts = conclusions(a, b)
    # The rule moved in its last digits only; the hybrid's rerun IQM is inside its interval, the
    # DQN's is not; the ablation's row of the same hybrid is not counted twice.
    assert models["model"].tolist() == ["greedy", "Hybrid (Best)", "DQN Baseline", "Hybrid GAT gating, gat, gating"]
    assert models["held"].tolist() == [True, True, False, True]
    assert verdicts["held"].tolist() == [False]
    assert main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "inside the committed 95 % interval: 2 of 3" in out and "committed return (to 1e-9): 1 of 1" in out
    assert "not held: DQN Baseline (evaluation_results): 53.99 [47.01, 57.63], rerun 45.50" in out
    assert "verdicts unchanged: 0 of 1" in out and "'loses', rerun 'cannot be told apart'" in out


def test_a_rule_that_moved_or_a_model_the_rerun_lacks_is_not_held(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", _tables())
    tables = _tables(rule=89.5)
    tables["tables/evaluation_results.csv"] = "\n".join(
        line for line in tables["tables/evaluation_results.csv"].splitlines() if not line.startswith("DQN Baseline"))
    tables["tables/probability_of_improvement.csv"] = "comparison,P(X > Y),verdict\n"
    models, verdicts = conclusions(a, _write(tmp_path / "b", tables))
    assert models.set_index("model")["held"].to_dict() == {
        "greedy": False, "Hybrid (Best)": True, "DQN Baseline": False, "Hybrid GAT gating, gat, gating": True}
    assert verdicts["held"].tolist() == [False]


def test_identical_results_print_no_conclusions_and_a_broken_table_is_named(tmp_path: Path, capsys) -> None:
    files = _tables()
    assert main([str(_write(tmp_path / "a", files)), str(_write(tmp_path / "b", files))]) == 0
    assert "conclusions" not in capsys.readouterr().out
    broken = {**files, "tables/ablation.csv": "policy,score\nx,1\n"}
    assert main([str(tmp_path / "a"), str(_write(tmp_path / "c", broken))]) == 1
    assert "conclusions not compared: tables/ablation.csv has no 'IQM over seeds'" in capsys.readouterr().out
