"""make compare: a rerun is checked file by file, and only where the numbers must not move."""

from __future__ import annotations

from pathlib import Path

from edge_rl.compare import compare, main


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
