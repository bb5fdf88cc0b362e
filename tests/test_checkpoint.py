"""Checkpoints: save -> load gives identical predictions; foreign or damaged files are refused."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import edge_rl
from edge_rl.agents import load, train
from edge_rl.agents.checkpoint import CheckpointError
from edge_rl.config import EnvConfig
from tests.test_baselines import tiny


def _configs() -> dict:
    """The checkpoints the tests read: two MLP and two graph policies (the graph ones with the
    default encoder design)."""
    return {"dqn-mlp": tiny("dqn", policy="mlp"), "dqn-gnn-gcn": tiny("dqn"), "ppo-mlp": tiny("ppo", policy="mlp"),
            "ppo-gnn-hybrid": tiny("ppo", kind="hybrid")}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    stems = {}
    for key, config in _configs().items():
        stems[key] = folder / config.name
        train(config, stems[key])
    return stems


def _observations(n: int = 8) -> list[dict]:
    env = edge_rl.make_env()
    obs, _ = env.reset(seed=11)
    out = []
    for i in range(n):
        out.append(obs)
        obs, *_ = env.step(10 + i % 7)
    return out


def test_save_then_load_gives_identical_predictions(saved: dict[str, Path]) -> None:
    for key, stem in saved.items():
        trained = train(_configs()[key])
        loaded = load(stem)
        assert loaded.name == trained.name and loaded.config == trained.config
        for obs in _observations():
            a, b = trained.node_scores(obs), loaded.node_scores(obs)
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
            assert trained.predict(obs)[0] == loaded.predict(obs)[0]


def test_the_description_records_what_a_reader_needs(saved: dict[str, Path]) -> None:
    document = json.loads(saved["dqn-gnn-gcn"].with_suffix(".json").read_text())
    assert document["format"] == "edge_rl.checkpoint"
    assert document["config"]["algo"] == "dqn" and document["config"]["encoder"]["kind"] == "gcn"
    assert document["trained"]["timesteps"] == 256 and document["trained"]["threads"] == 1
    assert document["trained"]["wall_time_s"] > 0
    assert {"python", "torch", "stable-baselines3", "torch-geometric"} <= set(document["versions"])
    assert len(document["weights"]["sha256"]) == 64


def test_load_accepts_the_stem_or_either_file(saved: dict[str, Path]) -> None:
    stem = saved["ppo-mlp"]
    for path in (stem, stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".safetensors")):
        assert load(path).name == "ppo-mlp"


def _copy(stem: Path, tmp_path: Path) -> Path:
    target = tmp_path / stem.name
    for suffix in (".json", ".safetensors"):
        Path(str(target) + suffix).write_bytes(Path(str(stem) + suffix).read_bytes())
    return target


def test_tampered_weights_are_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    stem = _copy(saved["dqn-gnn-gcn"], tmp_path)
    weights = Path(str(stem) + ".safetensors")
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match the checksum"):
        load(stem)


def test_truncated_weights_are_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    stem = _copy(saved["dqn-gnn-gcn"], tmp_path)
    weights = Path(str(stem) + ".safetensors")
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="modified or truncated"):
        load(stem)


def test_a_weights_file_that_is_not_safetensors_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    stem = _copy(saved["dqn-gnn-gcn"], tmp_path)
    weights = Path(str(stem) + ".safetensors")
    weights.write_bytes(pickle.dumps({"not": "weights"}))
    description = Path(str(stem) + ".json")
    document = json.loads(description.read_text())
    import hashlib

    document["weights"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    description.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load(stem)


def test_foreign_and_incompatible_descriptions_are_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    stem = _copy(saved["dqn-gnn-gcn"], tmp_path)
    description = Path(str(stem) + ".json")
    original = json.loads(description.read_text())

    description.write_text("{not json")
    with pytest.raises(CheckpointError, match="not JSON"):
        load(stem)

    description.write_text(json.dumps({"model": "something else"}))
    with pytest.raises(CheckpointError, match="not an edge_rl checkpoint"):
        load(stem)

    description.write_text(json.dumps({**original, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format version 99; this edge_rl reads versions 1 to 2"):
        load(stem)

    changed = json.loads(json.dumps(original))
    changed["config"]["encoder"]["hidden"] = 32  # the weights were trained with 16
    description.write_text(json.dumps(changed))
    with pytest.raises(CheckpointError, match="do not fit the network described by its config"):
        load(stem)

    changed = json.loads(json.dumps(original))
    changed["config"]["encoder"]["depth"] = 3
    description.write_text(json.dumps(changed))
    with pytest.raises(CheckpointError, match=r"incompatible config: unknown EncoderConfig field\(s\) \['depth'\]"):
        load(stem)

    changed = json.loads(json.dumps(original))
    changed["config"]["algo"] = "a2c"
    description.write_text(json.dumps(changed))
    with pytest.raises(CheckpointError, match="incompatible config: algo must be one of"):
        load(stem)


def test_a_config_that_is_incomplete_or_of_the_wrong_type_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    """Nothing is filled in with today's defaults, and no wrong type gets as far as the network."""
    stem = _copy(saved["dqn-gnn-gcn"], tmp_path)
    description = Path(str(stem) + ".json")
    original = json.loads(description.read_text())

    def refused(change, message: str) -> None:
        changed = json.loads(json.dumps(original))
        change(changed)
        description.write_text(json.dumps(changed))
        with pytest.raises(CheckpointError, match=message):
            load(stem)

    refused(lambda d: d.update(config={}), r"incompatible config: TrainConfig lacks field\(s\) \['algo', ")
    refused(lambda d: d["config"]["hybrid"].pop("q_weight"), r"HybridConfig lacks field\(s\) \['q_weight'\]")
    refused(lambda d: d["config"].update(encoder="gat"), "incompatible config: encoder must be an EncoderConfig")
    refused(lambda d: d["config"].update(seed=True), "incompatible config: seed must be an integer, got True")
    refused(lambda d: d["config"]["encoder"].update(hidden=True), "hidden must be an integer, got True")
    refused(lambda d: d.update(format_version=True), "format version True; this edge_rl reads versions 1 to 2")
    description.write_text('{"format": ' * 50_000 + "1" + "}" * 50_000)  # under the size bound, past the parser's depth
    with pytest.raises(CheckpointError, match="nested too deeply"):
        load(stem)


def test_a_checkpoint_from_before_the_load_fields_reads_them_as_the_card_load(saved: dict[str, Path],
                                                                              tmp_path: Path) -> None:
    """Fields added later (EnvConfig.ADDED_FIELDS) may be absent, meaning their defaults; any other
    missing field is still refused."""
    stem = _copy(saved["dqn-gnn-gcn"], tmp_path)
    description = Path(str(stem) + ".json")
    document = json.loads(description.read_text())
    for name in EnvConfig.ADDED_FIELDS:
        del document["config"]["env"][name]
    description.write_text(json.dumps(document))
    assert load(stem).config == load(saved["dqn-gnn-gcn"]).config
    del document["config"]["env"]["background_rate"]
    description.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match=r"EnvConfig lacks field\(s\) \['background_rate'\]"):
        load(stem)


def test_missing_files_are_named(tmp_path: Path, saved: dict[str, Path]) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint description"):
        load(tmp_path / "nothing")
    stem = _copy(saved["ppo-mlp"], tmp_path)
    Path(str(stem) + ".safetensors").unlink()
    with pytest.raises(CheckpointError, match="the weights file is missing"):
        load(stem)


def test_loading_never_unpickles(saved: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    for stem in saved.values():
        load(stem)


def test_the_same_weights_give_the_same_bytes_in_any_process(tmp_path: Path) -> None:
    """PPO's extractors share one encoder: the file must not depend on Python's hash seed."""
    import hashlib
    import os
    import subprocess
    import sys

    script = (
        "import sys, torch; torch.manual_seed(0)\n"
        "from edge_rl.agents import load\n"
        "from edge_rl.agents.baselines import BaselineAgent\n"
        "from edge_rl.config import TrainConfig\n"
        "config = TrainConfig(algo='ppo')\n"
        "agent = BaselineAgent(config, BaselineAgent.build_network(config), {'timesteps': 0})\n"
        "agent.save(sys.argv[1]); load(sys.argv[1])\n"
    )
    digests = []
    for seed in ("1", "2"):
        stem = tmp_path / f"ppo-{seed}"
        subprocess.run([sys.executable, "-c", script, str(stem)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        digests.append(hashlib.sha256(stem.with_suffix(".safetensors").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_a_version_1_checkpoint_is_read_as_the_plain_stack_and_nothing_else(saved: dict[str, Path],
                                                                               tmp_path: Path) -> None:
    """Checkpoints written before root paths (format 1, no ``encoder.root_path``) load as the
    plain stack they were; a version 2 file that lacks the field is refused, not defaulted."""
    from dataclasses import replace

    config = tiny("dqn")
    stem = tmp_path / "plain"
    train(replace(config, encoder=replace(config.encoder, root_path="none")), stem)
    description = Path(str(stem) + ".json")
    original = json.loads(description.read_text())
    assert original["format_version"] == 2 and original["config"]["encoder"]["root_path"] == "none"
    old = json.loads(json.dumps(original))
    old["format_version"] = 1
    del old["config"]["encoder"]["root_path"]
    description.write_text(json.dumps(old))
    assert load(stem).config.encoder.root_path == "none"
    old["format_version"] = 2
    description.write_text(json.dumps(old))
    with pytest.raises(CheckpointError, match=r"EncoderConfig lacks field\(s\) \['root_path'\]"):
        load(stem)



# ---------------------------------------------------------------------- crafted files

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "models" / "hybrid-best-seed0"


def _crafted(tmp_path: Path, change, stem: Path = COMMITTED) -> Path:
    """A copy of a checkpoint whose JSON ``change`` edits (the weights and their checksum kept)."""
    target = _copy(stem, tmp_path)
    description = Path(str(target) + ".json")
    document = json.loads(description.read_text())
    change(document)
    description.write_text(json.dumps(document))
    return target


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Each of these built (or tried to build) a network or an environment from the JSON before
        # anything was checked: a 160 GB allocation, 2.8 GB and 33 s, a numpy MemoryError after 16 s.
        (lambda d: d["config"]["encoder"].update(hidden=200_000), "hidden must be at most 4,096"),
        (lambda d: d["config"]["encoder"].update(layers=100_000), "layers must be at most 32"),
        (lambda d: d["config"]["env"].update(n_sensors=10**7), "n_sensors must be at most 1,024"),
        # Within every field's bound, but a network of billions of values: counted, not built.
        (lambda d: d["config"]["encoder"].update(kind="gat", hidden=4096, embed=4096, layers=32, gat_heads=16),
         "describes a network of [0-9,]+ values; edge_rl loads at most 268,435,456"),
        # Small enough to build, but larger than the weights file: refused before it is built.
        (lambda d: d["config"]["encoder"].update(hidden=512), "but hybrid-best-seed0.safetensors holds 54,723: the weights do not fit"),
    ],
    ids=["hidden", "layers", "n_sensors", "billions", "larger than the weights"],
)
def test_a_crafted_config_is_refused_before_anything_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               change, message: str) -> None:
    from edge_rl.agents.hybrid import HybridAgent

    build = HybridAgent.build_network

    def only_counted(config):  # noqa: ANN001, ANN202 - built on the meta device (no memory) only
        if not torch.empty(0).is_meta:
            raise AssertionError("the network was built")
        return build(config)

    monkeypatch.setattr(HybridAgent, "build_network", staticmethod(only_counted))
    stem = _crafted(tmp_path, change)
    with pytest.raises(CheckpointError, match=message) as error:
        load(stem)
    assert str(stem) in str(error.value)


def test_the_checksum_is_checked_before_the_network_is_built(saved: dict[str, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_rl.agents.baselines import BaselineAgent

    stem = _copy(saved["dqn-gnn-gcn"], tmp_path)
    weights = Path(str(stem) + ".safetensors")
    weights.write_bytes(weights.read_bytes()[:-10])
    built = []
    monkeypatch.setattr(BaselineAgent, "build_network", staticmethod(lambda config: built.append(config)))
    with pytest.raises(CheckpointError, match="modified or truncated"):
        load(stem)
    assert not built


def test_any_failure_while_building_or_loading_the_network_names_the_file(saved: dict[str, Path], tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_rl.agents.baselines import BaselineAgent, build_policy

    stem = _copy(saved["dqn-gnn-gcn"], tmp_path)
    calls = []

    def fails_when_real(config):  # noqa: ANN001, ANN202 - counting builds on the meta device; then a real failure
        calls.append(config)
        if len(calls) > 1:
            raise RuntimeError("DefaultCPUAllocator: not enough memory")
        return build_policy(config)

    monkeypatch.setattr(BaselineAgent, "build_network", staticmethod(fails_when_real))
    with pytest.raises(CheckpointError, match=r"dqn-gnn-gcn-root.json: the network its config describes could not be "
                                              r"built and loaded \(RuntimeError: DefaultCPUAllocator"):
        load(stem)


def test_a_description_without_a_checksum_says_so(saved: dict[str, Path], tmp_path: Path) -> None:
    stem = _crafted(tmp_path, lambda d: d["weights"].pop("sha256"), saved["dqn-gnn-gcn"])
    with pytest.raises(CheckpointError, match=r"records no checksum of its weights \('weights.sha256' is missing\)"):
        load(stem)
    stem = _crafted(tmp_path, lambda d: d["weights"].update(sha256=7), saved["dqn-gnn-gcn"])
    with pytest.raises(CheckpointError, match="is 7, not a SHA-256 hex digest"):
        load(stem)


def test_an_oversized_description_is_refused_unread(saved: dict[str, Path], tmp_path: Path) -> None:
    stem = _copy(saved["dqn-gnn-gcn"], tmp_path)
    Path(str(stem) + ".json").write_text(" " * (2**20 + 1))
    with pytest.raises(CheckpointError, match="1,048,577 bytes, more than the 1,048,576"):
        load(stem)


@pytest.mark.parametrize("algo, policy", [("dqn", "mlp"), ("ppo", "mlp"), ("dqn", "gnn"), ("ppo", "gnn"), ("hybrid", "gnn")])
def test_the_size_counted_without_memory_is_the_built_networks(algo: str, policy: str) -> None:
    """``network_size`` builds on the meta device; it must count what the real build holds."""
    from edge_rl.agents.base import algorithm
    from edge_rl.agents.checkpoint import _unshared, network_size
    from edge_rl.config import ROOT_PATHS, EncoderConfig
    from edge_rl.registry import encoder_kinds

    variants = [EncoderConfig()] if policy == "mlp" else [
        EncoderConfig(kind=kind, root_path=root, gat_heads=2, hidden=8, embed=16)
        for kind in encoder_kinds() for root in ROOT_PATHS]
    for encoder in variants:
        config = tiny(algo, policy).__class__(**{**vars(tiny(algo, policy)), "encoder": encoder})
        cls = algorithm(config)
        real = sum(t.numel() for t in _unshared(cls.build_network(config).state_dict()).values())
        assert network_size(lambda: cls.build_network(config)) == real, encoder
        assert torch.zeros(2).to("cpu").device.type == "cpu"  # the counting leaves torch as it was


# ---------------------------------------------------------------------- interrupted saves

SAVE = (
    "import os, signal, sys, torch\n"
    "from edge_rl.agents.baselines import BaselineAgent\n"
    "from edge_rl.config import EncoderConfig, TrainConfig\n"
    "stem, seed, kill_before = sys.argv[1], int(sys.argv[2]), sys.argv[3]\n"
    "replace = os.replace\n"
    "def killing_replace(src, dst):\n"
    "    if kill_before and str(dst).endswith(kill_before):\n"
    "        os.kill(os.getpid(), signal.SIGKILL)\n"
    "    replace(src, dst)\n"
    "os.replace = killing_replace\n"
    "torch.manual_seed(seed)\n"
    "config = TrainConfig(encoder=EncoderConfig(hidden=8, embed=8, head_hidden=(8,)))\n"
    "BaselineAgent(config, BaselineAgent.build_network(config), {'timesteps': seed}).save(stem)\n"
)


def _save(stem: Path, seed: int, kill_before: str = "") -> int:
    """Save an untrained agent (weights drawn with ``seed``), here, or with ``kill_before`` in a
    process SIGKILLed when it is about to rename a file onto a name ending so; the exit status."""
    if kill_before:
        return subprocess.run([sys.executable, "-c", SAVE, str(stem), str(seed), kill_before]).returncode
    from edge_rl.agents.baselines import BaselineAgent
    from edge_rl.config import EncoderConfig, TrainConfig

    torch.manual_seed(seed)
    config = TrainConfig(encoder=EncoderConfig(hidden=8, embed=8, head_hidden=(8,)))
    BaselineAgent(config, BaselineAgent.build_network(config), {"timesteps": seed}).save(stem)
    return 0


def test_a_save_killed_between_the_weights_and_the_json_is_reported_as_such(tmp_path: Path) -> None:
    stem = tmp_path / "agent"
    assert _save(stem, 0) == 0
    assert _save(stem, 1, kill_before=".json") == -9
    with pytest.raises(CheckpointError, match=r"agent.safetensors: the weights do not match the checksum in "
                                              r"agent.json: a save of this checkpoint was interrupted after it "
                                              r"wrote agent.safetensors and before it wrote agent.json") as error:
        load(stem)
    assert "modified or truncated" not in str(error.value)
    pending = tmp_path / ".agent.json.pending.tmp"
    assert str(pending) in str(error.value)
    pending.rename(tmp_path / "agent.json")  # as the message says: the new pair, complete
    assert load(stem).trained == {"timesteps": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.json", "agent.safetensors"]


def test_a_save_killed_before_the_weights_leaves_the_old_pair_and_the_next_save_cleans_up(tmp_path: Path) -> None:
    stem = tmp_path / "agent"
    assert _save(stem, 0) == 0
    assert _save(stem, 1, kill_before=".safetensors") == -9
    assert load(stem).trained == {"timesteps": 0}  # the old pair, whole
    assert _save(stem, 2) == 0
    assert load(stem).trained == {"timesteps": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.json", "agent.safetensors"]


def test_a_first_save_killed_before_its_json_says_so(tmp_path: Path) -> None:
    stem = tmp_path / "agent"
    assert _save(stem, 1, kill_before=".json") == -9
    with pytest.raises(CheckpointError, match="no such checkpoint description .*: a save of this checkpoint was "
                                              "interrupted after it wrote agent.safetensors"):
        load(stem)


def test_a_save_that_cannot_write_names_the_checkpoint_not_a_temporary_file() -> None:
    from edge_rl.agents.checkpoint import save

    with pytest.raises(FileNotFoundError, match=r"cannot write /proc/edge-rl-model.json: No such file") as error:
        save("/proc/edge-rl-model", torch.nn.Linear(2, 2), {}, {})
    assert ".tmp" not in str(error.value)
