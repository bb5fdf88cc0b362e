"""The simulator exists once (issue 29): the lone environment, the vector environment and the
server all run edge_rl/envs/dynamics.py and edge_rl/envs/observation.py, and nothing outside
edge_rl/envs/ reads an environment's private attributes (it reads raw_state(), raw_nodes() and
the other public methods instead)."""

from __future__ import annotations

import ast
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edge_rl.envs import dynamics, iot_edge, observation, vector
from edge_rl.envs.dynamics import Simulator
from edge_rl.envs.iot_edge import IoTEdgeEnv, make_env
from edge_rl.envs.mixture import EnvMixture
from edge_rl.envs.observation import ObservationEncoder
from edge_rl.envs.vector import IoTEdgeVectorEnv
from edge_rl.serve import conversions

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "edge_rl" / "envs"


def _private_names() -> set[str]:
    """Every private attribute and method of the environment family: what edge_rl/envs/ defines
    on ``self`` or as a method (its classes' own and Gymnasium's, read off live instances too)."""
    names: set[str] = set()
    for path in ENVS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(node.attr)
            elif isinstance(node, ast.ClassDef):
                names |= {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
    lone, envs = IoTEdgeEnv(), IoTEdgeVectorEnv(2)
    lone.reset(seed=0)
    envs.reset(seed=0)
    for thing in (lone, envs, EnvMixture([lone.config]), lone.simulator, lone.encoder):
        names |= set(vars(thing)) | set(dir(type(thing)))
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def _sources() -> list[tuple[str, str]]:
    """Every Python source outside edge_rl/envs/: the package, benchmarks, examples, tests, and
    the notebooks' code cells (IPython magics left out)."""
    files = [p for folder in ("edge_rl", "benchmarks", "examples", "tests") for p in (ROOT / folder).rglob("*.py")
             if ENVS not in p.parents]
    sources = [(str(p.relative_to(ROOT)), p.read_text()) for p in files]
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(notebook.read_text())["cells"]):
            if cell["cell_type"] == "code":
                code = "".join(cell["source"])
                lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
                sources.append((f"{notebook.relative_to(ROOT)} cell {i}", "\n".join(lines)))
    return sources


def test_no_private_attribute_of_an_environment_is_read_outside_edge_rl_envs() -> None:
    private = _private_names()
    assert {"_state", "_rngs", "_np_random", "_observation", "_as_node"} <= private  # the scan sees them
    found = []
    for name, source in _sources():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and node.attr in private:
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                    continue
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "\n".join(found)


def test_the_scan_would_catch_a_private_read() -> None:
    tree = ast.parse("state = env._state\nsource = env.unwrapped._state.source")
    reads = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in _private_names()]
    assert reads == ["_state", "_state"]


def _methods(module: object, cls: str) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text())
    return {item.name for node in tree.body if isinstance(node, ast.ClassDef) and node.name == cls
            for item in node.body if isinstance(item, ast.FunctionDef)}


def test_neither_environment_has_dynamics_of_its_own() -> None:
    """What the vector env and the lone one once each had (_advance, _place, _draw_task(s),
    _start, _observation's arithmetic) is the Simulator's and the encoder's alone."""
    dynamics_methods = {"_advance", "_place", "_draw_task", "_draw_tasks", "_start", "advance", "place", "draw_tasks"}
    assert not dynamics_methods & _methods(iot_edge, "IoTEdgeEnv")
    assert not dynamics_methods & _methods(vector, "IoTEdgeVectorEnv")
    assert {"place", "advance", "draw_tasks", "start", "step"} <= _methods(dynamics, "Simulator")
    envs = IoTEdgeVectorEnv(3)
    assert envs.simulator is envs.single.simulator and envs.encoder is envs.single.encoder


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts the calls of the shared implementation's entry points."""
    counted: Counter = Counter()

    def counting(owner: object, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            counted[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    for name in ("place", "advance", "draw_tasks"):
        counting(Simulator, name)
    counting(ObservationEncoder, "__call__")
    counting(observation, "_encode_features")
    counting(observation, "encode_task")
    return counted


def test_the_lone_env_the_vector_env_and_the_server_run_the_shared_code(calls: Counter) -> None:
    env = IoTEdgeEnv(warmup_steps=0)
    env.reset(seed=0)
    calls.clear()
    env.step(0)
    assert calls == {"place": 1, "advance": 1, "draw_tasks": 1, "__call__": 1, "_encode_features": 1, "encode_task": 1}

    envs = IoTEdgeVectorEnv(4, warmup_steps=0)
    envs.reset(seed=0)
    calls.clear()
    envs.step(np.zeros(4, dtype=np.int64))
    envs.immediate_rewards()
    assert calls == {"place": 2, "advance": 1, "draw_tasks": 1, "__call__": 1, "_encode_features": 1, "encode_task": 1}

    calls.clear()
    served = make_env()
    obs, _ = served.reset(seed=3)
    converted = conversions.to_observation(*conversions.network_state_from_env(served))
    assert calls["_encode_features"] == 2  # the environment's observation at reset, and the server's
    assert all(np.array_equal(converted[key], obs[key]) for key in obs)


def test_the_server_encodes_with_the_environments_functions() -> None:
    assert conversions.encode_nodes is observation.encode_nodes and conversions.encode_task is observation.encode_task
    assert conversions.decode_nodes is observation.decode_nodes
