"""python -m edge_rl: train and evaluate from the command line; bad input exits 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from edge_rl.cli import build_parser, main, parse_seeds
from edge_rl.config import EncoderConfig

TINY = ["--set", "dqn.learning_starts=50", "--set", "encoder.hidden=16", "--set", "encoder.embed=32"]


def test_train_then_evaluate_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    stem = tmp_path / "dqn"
    assert main(["train", "--algo", "dqn", "--encoder", "sage", "--steps", "200", "--seed", "2",
                 "--out", str(stem), "--no-progress", *TINY]) == 0
    document = json.loads((tmp_path / "dqn.json").read_text())
    assert document["config"]["encoder"] == {"kind": "sage", "hidden": 16, "layers": 3, "embed": 32,
                                             "gat_heads": 1, "head_hidden": [64],
                                             "root_path": EncoderConfig().root_path}
    assert document["config"]["seed"] == 2 and document["trained"]["timesteps"] == 200
    rows = tmp_path / "rows.csv"
    assert main(["evaluate", "--checkpoint", str(stem), "--seeds", "10000-10002", "--out", str(rows)]) == 0
    table = pd.read_csv(rows)
    assert table["seed"].tolist() == [10000, 10001, 10002] and (table["policy"] == "dqn-gnn-sage-root").all()
    assert "dqn-gnn-sage-root" in capsys.readouterr().out


def test_evaluate_a_heuristic_on_another_topology(capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", "--heuristic", "nearest", "--seeds", "1,2", "--env", "n_sensors=20"]) == 0
    assert "nearest" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--heuristic", "nearest", "--seeds", "a-b"], "--seeds: expected ranges and integers"),
        (["evaluate", "--heuristic", "nearest", "--env", "n_fogs=2"], "--env n_fogs: unknown field 'n_fogs' of EnvConfig"),
        (["evaluate", "--heuristic", "nearest", "--env", "n_fog=0"], "n_fog must be an integer >= 1"),
        (["evaluate", "--heuristic", "nearest", "--seeds", "3,3"], "seeds must be distinct"),
        (["evaluate", "--checkpoint", "/nonexistent/x"], "no such checkpoint description"),
        (["train", "--set", "dqn.gama=0.9"], "--set dqn.gama: unknown field 'gama' of DQNConfig"),
        (["train", "--set", "seed"], "--set: expected KEY=VALUE"),
        (["train", "--steps", "0"], "total_timesteps must be an integer >= 1"),
        (["train", "--set", "seed=true"], "--set seed: seed must be an integer, got True"),
        (["train", "--set", 'encoder="gat"'], "--set encoder: encoder must be an EncoderConfig"),
        (["train", "--set", "dqn.batch_size=0"], "--set dqn.batch_size: batch_size must be an integer >= 1, got 0"),
        (["evaluate", "--heuristic", "nearest", "--env", "sensor=5"], "--env sensor: sensor must be a NodeTypeSpec"),
        (["evaluate", "--heuristic", "nearest", "--env", "step_ms=abc"], "step_ms must be a finite number, got 'abc'"),
        # What a run would ignore is refused, not dropped silently.
        (["train", "--algo", "hybrid", "--policy", "mlp"], "--policy mlp: the hybrid is always a graph policy"),
        (["train", "--policy", "mlp", "--encoder", "gat"], "--encoder and --root-path apply to graph policies (--policy gnn)"),
        (["train", "--set", "hybrid.q_weight=0.9"], "--set hybrid.q_weight: never read in this run: hybrid settings apply"),
        (["train", "--algo", "ppo", "--set", "dqn.gamma=0.9"], "dqn settings apply to --algo dqn"),
        (["train", "--algo", "hybrid", "--from-scratch", "--set", "ppo.n_epochs=2"], "it trains from scratch here"),
        (["train", "--algo", "hybrid", "--fusion", "gating", "--set", "hybrid.q_weight=0.9"],
         "the weights apply to --fusion weighted_sum, not gating"),
        (["train", "--policy", "mlp", "--set", "encoder.hidden=8"], "encoder settings apply to graph policies"),
        # Output paths are checked before any work is done.
        (["train", "--out", "/"], "--out: / is a folder"),
        (["evaluate", "--heuristic", "nearest", "--seeds", "1", "--out", "/"], "--out: / is a folder"),
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


def test_checkpoint_paths_printed_are_the_files_written_and_folders_are_made(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    stem = tmp_path / "new" / "model.json"  # a .json path names the checkpoint too
    assert main(["train", "--steps", "8", "--out", str(stem), "--no-progress", *TINY]) == 0
    written = sorted(p.name for p in (tmp_path / "new").iterdir())
    assert written == ["model.json", "model.safetensors"]
    assert f"saved {tmp_path / 'new' / 'model.safetensors'}, {tmp_path / 'new' / 'model.json'} (8 steps" in capsys.readouterr().out
    rows = tmp_path / "more" / "rows.csv"
    assert main(["evaluate", "--heuristic", "nearest", "--seeds", "1,5,3", "--out", str(rows)]) == 0
    assert pd.read_csv(rows)["seed"].tolist() == [1, 5, 3]
    assert "seeds 1,5,3" in capsys.readouterr().out


def test_a_file_in_the_way_of_an_output_folder_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "afile").write_text("")
    assert main(["evaluate", "--heuristic", "nearest", "--seeds", "1", "--out", str(tmp_path / "afile" / "x.csv")]) == 2
    assert f"{tmp_path / 'afile'} is a file, not a folder" in capsys.readouterr().err


def test_a_whole_section_can_be_set_as_a_json_object() -> None:
    from edge_rl.cli import apply_overrides
    from edge_rl.config import EncoderConfig, TrainConfig

    config = apply_overrides(TrainConfig(), ['encoder={"kind": "gat", "hidden": 16}'], "--set")
    assert config.encoder == EncoderConfig(kind="gat", hidden=16)


def test_thread_counts_below_one_are_refused_by_the_parser(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--heuristic", "nearest", "--threads", "0"])
    assert exit_.value.code == 2 and "--threads: expected an integer >= 1, got '0'" in capsys.readouterr().err


def test_the_default_checkpoint_is_unique_per_config_under_runs_and_never_overwritten(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A from-scratch hybrid and a warm-started one never share a default name; an existing
    checkpoint is replaced only with --overwrite; PPO says before training that it rounds up."""
    from edge_rl.cli import default_stem
    from edge_rl.config import TrainConfig

    warm, scratch = TrainConfig(algo="hybrid", pretrain_steps=10_000), TrainConfig(algo="hybrid")
    assert default_stem(warm) != default_stem(scratch) and default_stem(warm).parent == Path("runs")
    assert default_stem(warm) == default_stem(TrainConfig(algo="hybrid", pretrain_steps=10_000))
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--algo", "ppo", "--steps", "8", "--no-progress", "--set", "ppo.n_steps=4", "--set", "ppo.n_envs=3",
            "--set", "ppo.batch_size=4", "--set", "encoder.hidden=16", "--set", "encoder.embed=32"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "8 steps asked, 12 run" in err
    [written] = (tmp_path / "runs").glob("ppo-gnn-gcn*seed0-*.json")
    before = written.read_bytes()
    assert main(argv) == 2 and "exists; pass --overwrite" in capsys.readouterr().err
    assert written.read_bytes() == before
    assert main([*argv, "--overwrite"]) == 0


def test_evaluating_a_crafted_checkpoint_exits_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A copy of a committed checkpoint whose JSON asks for a 160 GB network: one line, no traceback."""
    models = Path(__file__).resolve().parents[1] / "results" / "models"
    for suffix in (".json", ".safetensors"):
        (tmp_path / f"hybrid-best-seed0{suffix}").write_bytes((models / f"hybrid-best-seed0{suffix}").read_bytes())
    description = tmp_path / "hybrid-best-seed0.json"
    document = json.loads(description.read_text())
    document["config"]["encoder"]["hidden"] = 200_000
    description.write_text(json.dumps(document))
    assert main(["evaluate", "--checkpoint", str(description), "--seeds", "1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {description}: incompatible config: hidden must be at most 4,096")
    assert error.count("\n") == 1


@pytest.mark.parametrize("out", ["/proc/edge-rl-model", "/proc/edge-rl-folder/model"])
def test_an_output_path_no_file_can_be_created_in_is_refused_before_training(
        out: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc exists, is a folder, and os.access says root may write there: only creating a file
    tells. Refused before training, naming the user's folder, not a temporary file."""
    import edge_rl.cli

    monkeypatch.setattr(edge_rl.cli, "_train_and_save", lambda *a, **k: pytest.fail("training started"), raising=False)
    assert main(["train", "--steps", "8", "--out", out, "--no-progress", *TINY]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --out: cannot create files in /proc (") and ".tmp" not in error


def test_a_save_that_fails_after_training_keeps_the_trained_model(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    import edge_rl.agents.checkpoint
    from edge_rl.agents import load

    save = edge_rl.agents.checkpoint.save
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("system-tmp")))  # not the real /tmp

    def disk_full_in_tmp_path(path, *args):  # noqa: ANN001, ANN002, ANN202
        if Path(path).parent == tmp_path:
            raise OSError(28, f"cannot write {path}.safetensors: No space left on device")
        return save(path, *args)

    monkeypatch.setattr(edge_rl.agents.checkpoint, "save", disk_full_in_tmp_path)
    assert main(["train", "--steps", "8", "--out", str(tmp_path / "model"), "--no-progress", *TINY]) == 2
    error = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'model'}.safetensors: No space left on device" in error
    kept = error.split("it is saved as ", 1)[1].split(".safetensors and ", 1)[0]
    assert load(kept).config.total_timesteps == 8 and error.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_the_cli_trains_the_hybrid_bit_for_bit_as_train_does(tmp_path: Path) -> None:
    """The CLI trains the prerequisites first (to keep each if its save fails); the same runs."""
    import hashlib

    from edge_rl.agents import train
    from edge_rl.cli import apply_overrides
    from edge_rl.config import TrainConfig

    sets = ["--set", "encoder.hidden=8", "--set", "encoder.embed=8", "--set", "dqn.learning_starts=32",
            "--set", "ppo.n_steps=32", "--set", "ppo.n_envs=2", "--set", "hybrid.n_steps=32", "--set", "hybrid.n_envs=2",
            "--set", "hybrid.learning_starts=32", "--set", "hybrid.eval_every=64", "--set", "hybrid.val_episodes=1"]
    assert main(["train", "--algo", "hybrid", "--steps", "64", "--pretrain-steps", "64", "--out", str(tmp_path / "cli"),
                 "--no-progress", *sets]) == 0
    config = apply_overrides(TrainConfig(algo="hybrid", total_timesteps=64, pretrain_steps=64), sets[1::2], "--set")
    train(config, tmp_path / "lib")
    for suffix in (".safetensors", "-pretrain-dqn.safetensors", "-pretrain-ppo.safetensors"):
        digests = {hashlib.sha256((tmp_path / f"{name}{suffix}").read_bytes()).digest() for name in ("cli", "lib")}
        assert len(digests) == 1, suffix
