"""python -m edge_rl: train and evaluate from the command line; bad input exits 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from edge_rl.cli import build_parser, main, parse_seeds

TINY = ["--set", "dqn.learning_starts=50", "--set", "encoder.hidden=16", "--set", "encoder.embed=32"]


def test_train_then_evaluate_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    stem = tmp_path / "dqn"
    assert main(["train", "--algo", "dqn", "--encoder", "sage", "--steps", "200", "--seed", "2",
                 "--out", str(stem), "--no-progress", *TINY]) == 0
    document = json.loads((tmp_path / "dqn.json").read_text())
    assert document["config"]["encoder"] == {"kind": "sage", "hidden": 16, "layers": 3, "embed": 32,
                                             "gat_heads": 1, "head_hidden": [64]}
    assert document["config"]["seed"] == 2 and document["trained"]["timesteps"] == 200
    rows = tmp_path / "rows.csv"
    assert main(["evaluate", "--checkpoint", str(stem), "--seeds", "10000-10002", "--out", str(rows)]) == 0
    table = pd.read_csv(rows)
    assert table["seed"].tolist() == [10000, 10001, 10002] and (table["policy"] == "dqn-gnn-sage").all()
    assert "dqn-gnn-sage" in capsys.readouterr().out


def test_evaluate_a_heuristic_on_another_topology(capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", "--heuristic", "nearest", "--seeds", "1,2", "--env", "n_sensors=20"]) == 0
    assert "nearest" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--heuristic", "nearest", "--seeds", "a-b"], "--seeds: expected ranges and integers"),
        (["evaluate", "--heuristic", "nearest", "--env", "n_fogs=2"], "--env: unknown field 'n_fogs' of EnvConfig"),
        (["evaluate", "--heuristic", "nearest", "--env", "n_fog=0"], "n_fog must be an integer >= 1"),
        (["evaluate", "--heuristic", "nearest", "--seeds", "3,3"], "seeds must be distinct"),
        (["evaluate", "--checkpoint", "/nonexistent/x"], "no such checkpoint description"),
        (["train", "--set", "dqn.gama=0.9"], "--set: unknown field 'gama' of DQNConfig"),
        (["train", "--set", "seed"], "--set: expected KEY=VALUE"),
        (["train", "--steps", "0"], "total_timesteps must be an integer >= 1"),
    ],
)
def test_bad_input_exits_2_with_a_one_line_message(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_every_option_is_explained_in_help() -> None:
    parser = build_parser()
    for command in ("train", "evaluate"):
        sub = parser._subparsers._group_actions[0].choices[command]
        for action in sub._actions:
            assert action.help, f"{command} {action.option_strings} has no help"


def test_seed_ranges_parse() -> None:
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
    assert parse_seeds("10000-10099")[-1] == 10099


def test_python_dash_m_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "edge_rl", "train", "--help"], capture_output=True, text=True, check=True)
    assert "--encoder" in result.stdout
