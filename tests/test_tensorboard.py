"""--tensorboard: DQN, PPO and the hybrid write TensorBoard events that TensorBoard reads back,
one folder per run named as its checkpoint, in train and in sweeps; the weights do not change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from edge_rl.agents.tensorboard import EVENTS_FILE, events_files
from edge_rl.cli import main

SMALL = ["--set", "encoder.hidden=8", "--set", "encoder.embed=8", "--no-progress"]
# Runs of a few hundred steps that still reach every logged quantity: DQN learns from step 64
# and SB3 dumps after every 4th episode (step 400); PPO and the hybrid update every 64 steps on
# two environments, whose first episodes end at step 200.
ALGOS = {
    "dqn": (["--algo", "dqn", "--steps", "400", "--set", "dqn.learning_starts=64"],
            {"train/loss", "rollout/ep_rew_mean", "rollout/exploration_rate", "validation/return"}),
    "ppo": (["--algo", "ppo", "--steps", "256", "--set", "ppo.n_steps=32", "--set", "ppo.n_envs=2",
             "--set", "ppo.batch_size=32", "--set", "ppo.n_epochs=1"],
            {"train/entropy_loss", "train/value_loss", "train/policy_gradient_loss", "rollout/ep_rew_mean",
             "validation/return"}),
    "hybrid": (["--algo", "hybrid", "--from-scratch", "--steps", "256", "--set", "hybrid.n_steps=32",
                "--set", "hybrid.n_envs=2", "--set", "hybrid.batch_size=32", "--set", "hybrid.n_epochs=1",
                "--set", "hybrid.learning_starts=32", "--set", "hybrid.eval_every=128", "--set",
                "hybrid.val_episodes=1"],
               {"train/ppo_loss", "train/policy_loss", "train/value_loss", "train/entropy", "train/td_loss",
                "train/loss", "rollout/ep_rew_mean", "validation/return"}),
}


def _scalars(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder))
    events.Reload()
    return events


@pytest.mark.parametrize("algo", list(ALGOS))
def test_events_are_written_read_back_and_change_no_weight(algo: str, tmp_path: Path) -> None:
    args, tags = ALGOS[algo]
    tb = tmp_path / "tb"
    assert main(["train", *args, *SMALL, "--out", str(tmp_path / "with"), "--tensorboard", str(tb)]) == 0
    assert main(["train", *args, *SMALL, "--out", str(tmp_path / "without")]) == 0
    # The same config and seed with and without events: the same weights, byte for byte.
    assert (tmp_path / "with.safetensors").read_bytes() == (tmp_path / "without.safetensors").read_bytes()
    assert [p.name for p in tb.iterdir()] == ["with"]  # one folder, named as the checkpoint
    assert [p.name for p in events_files(tb / "with")] == [EVENTS_FILE]
    events = _scalars(tb / "with")
    assert tags <= set(events.Tags()["scalars"]), sorted(events.Tags()["scalars"])
    trained = json.loads((tmp_path / "with.json").read_text())["trained"]
    # validation/return is the learning curve the checkpoint records, step for step.
    curve = [(e.step, e.value) for e in events.Scalars("validation/return")]  # float32 in the file
    assert [step for step, _ in curve] == [step for step, _ in trained["validation_returns"]]
    assert [value for _, value in curve] == pytest.approx([value for _, value in trained["validation_returns"]],
                                                          abs=1e-4)
    assert all(e.step <= trained["timesteps"] for tag in tags for e in events.Scalars(tag))


def test_a_hybrid_s_pre_training_writes_beside_it_as_its_checkpoints_do(tmp_path: Path) -> None:
    args = ["--algo", "hybrid", "--steps", "64", "--pretrain-steps", "64", "--set", "dqn.learning_starts=32",
            "--set", "ppo.n_steps=32", "--set", "ppo.n_envs=2", "--set", "hybrid.n_steps=32", "--set",
            "hybrid.n_envs=2", "--set", "hybrid.learning_starts=32", "--set", "hybrid.val_episodes=1"]
    tb = tmp_path / "tb"
    assert main(["train", *args, *SMALL, "--out", str(tmp_path / "h"), "--tensorboard", str(tb)]) == 0
    assert sorted(p.name for p in tb.iterdir()) == ["h", "h-pretrain-dqn", "h-pretrain-ppo"]
    for run in tb.iterdir():
        assert "validation/return" in _scalars(run).Tags()["scalars"], run.name


def test_existing_events_need_overwrite_and_a_file_is_no_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "tb" / "m").mkdir(parents=True)
    (tmp_path / "tb" / "m" / EVENTS_FILE).write_bytes(b"")
    assert main(["train", "--steps", "8", "--out", str(tmp_path / "m"), "--tensorboard", str(tmp_path / "tb")]) == 2
    assert f"--tensorboard: {tmp_path / 'tb' / 'm'} already holds events ({EVENTS_FILE}); pass --overwrite" in \
        capsys.readouterr().err
    (tmp_path / "file").write_text("")
    (tmp_path / "spec.toml").write_text('algos = ["dqn"]\n')
    for command in (["train", "--steps", "8", "--out", str(tmp_path / "m")],
                    ["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "x")]):
        assert main([*command, "--tensorboard", str(tmp_path / "file")]) == 2
        assert f"--tensorboard: {tmp_path / 'file'} is a file; give a folder" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "x").exists()


def test_a_sweep_brings_each_run_s_events_back_and_a_retried_task_writes_them_once(tmp_path: Path) -> None:
    from edge_rl.experiments.run.runs import _execute_with_events, _store
    from edge_rl.experiments.plan.sweep import load_spec

    spec = tmp_path / "sweep.toml"
    spec.write_text('algos = ["dqn"]\nseeds = "0-1"\nsteps = [128]\neval_seeds = "10000-10001"\n[set]\n'
                    '"dqn.learning_starts" = 32\n"encoder.hidden" = 8\n"encoder.embed" = 8\n')
    out, tb = tmp_path / "out", tmp_path / "tb"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "--no-progress",
                 "--tensorboard", str(tb)]) == 0
    runs = load_spec(spec)
    assert sorted(p.name for p in tb.iterdir()) == sorted(run.stem for run in runs)
    assert not (out / "tensorboard").exists()  # the events go to --tensorboard, not into the results
    for run in runs:
        assert [p.name for p in events_files(tb / run.stem)] == [EVENTS_FILE]
        assert "validation/return" in _scalars(tb / run.stem).Tags()["scalars"]
    # A task retried after its worker died returns its files again: they replace the first ones.
    files = _execute_with_events(runs[0])
    assert f"tensorboard/{runs[0].stem}/{EVENTS_FILE}" in files
    _store(out, runs[0], files, tb)
    _store(out, runs[0], files, tb)
    assert [p.name for p in events_files(tb / runs[0].stem)] == [EVENTS_FILE]
    assert (tb / runs[0].stem / EVENTS_FILE).read_bytes() == files[f"tensorboard/{runs[0].stem}/{EVENTS_FILE}"]
