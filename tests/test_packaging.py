"""The pinned environment: pyproject.toml and environment.yml must agree, pin for pin."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import gymnasium as gym
import pytest

import edge_rl

ROOT = Path(__file__).resolve().parents[1]


SEPARATE_VENVS = {"zoo"}
"""Extras installed in a venv of their own (make zoo: .venv-zoo), never beside the others: the
conda environment does not carry them."""


def _pyproject_pins(extras: bool | str = True) -> dict[str, str]:
    """The exact pins of the dependencies and of every extra but those of :data:`SEPARATE_VENVS`
    (``extras=False``: the dependencies only; a name: the dependencies and that extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for name, extra in project.get("optional-dependencies", {}).items():
        if extras is True and name not in SEPARATE_VENVS or extras == name:
            requirements += extra
    pins = {}
    for requirement in requirements:
        name, sep, version = requirement.partition("==")
        assert sep, f"pyproject.toml: {requirement!r} is not an exact pin (name==version)"
        pins[name.strip().lower()] = version.strip()
    return pins


def _environment_pins() -> dict[str, str]:
    text = (ROOT / "environment.yml").read_text()
    pins = {}
    for name, version in re.findall(r"^\s*-\s*([A-Za-z0-9_.\-]+)==(\S+)\s*$", text, re.M):
        pins[name.lower()] = version
    return pins


def test_pyproject_and_environment_yml_pin_the_same_versions() -> None:
    assert _pyproject_pins() == _environment_pins()


def test_the_zoo_extra_is_pinned_and_kept_out_of_the_conda_environment() -> None:
    zoo = set(_pyproject_pins("zoo")) - set(_pyproject_pins(False))
    assert zoo == {"rl_zoo3"} and _pyproject_pins("zoo")["rl_zoo3"] == "2.9.2"
    assert "rl_zoo3" not in _environment_pins() and "rl_zoo3" not in _pyproject_pins()
    # what make would run to create .venv-zoo (dry run: nothing is installed)
    plan = subprocess.run(["make", "-n", "-W", "pyproject.toml", ".venv-zoo/.installed"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    assert '.venv-zoo/bin/python -m pip install --quiet --disable-pip-version-check -e ".[zoo,tensorboard]"' in plan


def test_torch_is_pinned_exactly_to_the_cpu_build_version() -> None:
    assert _pyproject_pins()["torch"] == "2.13.0"


def test_environment_yml_pins_python_3_11() -> None:
    assert re.search(r"^\s*-\s*python=3\.11\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_importing_edge_rl_registers_the_environment() -> None:
    assert edge_rl.ENV_ID == "edge_rl/IoTEdge-v0"
    spec = gym.spec(edge_rl.ENV_ID)
    assert spec.max_episode_steps == 100
    assert isinstance(gym.make(edge_rl.ENV_ID).unwrapped, edge_rl.IoTEdgeEnv)


def _planned_notebook_runs(project: Path) -> list[str]:
    # Not the caller's make settings (this test may run inside `make test QUICK=1`).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "QUICK", "OUT")}
    plan = subprocess.run(["make", "-n", "reproduce"], cwd=project, capture_output=True, text=True, check=True, env=env)
    return [line for line in plan.stdout.splitlines() if "edge_rl.experiments.run.notebooks" in line]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_installing_the_environment_does_not_make_committed_results_stale(tmp_path: Path) -> None:
    # A fresh clone installs .venv after checking out results/: that must not rerun the
    # notebooks (50 minutes), while a change to the package or to the pins still must.
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    os.utime(tmp_path / "pyproject.toml", (900_000, 900_000))  # installed since: setup is done
    files = ["edge_rl/stats.py", "notebooks/00_environment.ipynb", "results/.budget-full",
             "results/notebooks/00_environment.ipynb", ".venv/.installed"]
    for age, name in enumerate(reversed(files)):  # oldest first in `files`
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    assert _planned_notebook_runs(tmp_path) == []
    for changed in ("edge_rl/stats.py", "pyproject.toml"):
        os.utime(tmp_path / changed, (2_000_000, 2_000_000))
        assert len(_planned_notebook_runs(tmp_path)) == 1, changed
        os.utime(tmp_path / changed, (900_000, 900_000))
