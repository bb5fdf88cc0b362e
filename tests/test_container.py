"""The Containerfile's essentials, checked without a container engine (make image builds it; README, Docker)."""

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of every line of the Containerfile, continuations joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Containerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def pip_installs() -> list[str]:
    return [args for op, args in instructions() if op == "RUN" and "pip install" in args]


def test_runs_as_a_non_root_user_set_before_the_command():
    ops = instructions()
    users = [i for i, (op, _) in enumerate(ops) if op == "USER"]
    assert users, "no USER: the container would run as root"
    assert ops[users[-1]][1] not in ("root", "0", "0:0")
    assert users[-1] < max(i for i, (op, _) in enumerate(ops) if op == "CMD")


def test_has_a_healthcheck_that_asks_the_server():
    checks = [args for op, args in instructions() if op == "HEALTHCHECK"]
    assert len(checks) == 1 and "CMD" in checks[0]
    script = (ROOT / "container" / "healthcheck.py").read_text()
    assert "8000/health" in script and "8501/_stcore/health" in script


def test_torch_first_alone_and_pinned_as_pyproject_pins_it():
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = next(p for p in pins if p.startswith("torch=="))
    first, *rest = pip_installs()
    first = first.replace("pip install --quiet pip==", "")  # pip's own upgrade is not a package
    if "torch" not in first:
        first, *rest = rest
    packages = [w.strip('"') for w in first.split("&&")[0].split()[2:] if not w.startswith("-") and w != "/tmp/wheels"]
    assert packages == [f"{torch}+cpu"], packages
    assert rest and all("torch" not in r for r in rest)
    assert any('".[serve]"' in r or ".[serve]" in r for r in rest)


def test_every_copied_path_exists_and_nothing_serving_does_not_need():
    sources = [args.split()[:-1] for op, args in instructions() if op == "COPY"]
    paths = [s for srcs in sources for s in srcs if not s.startswith("--")]
    for path in paths:
        assert (ROOT / path).exists(), f"COPY {path}: no such path"
    assert "results/models/" in paths and "results/tables/" in paths
    assert not any(p.startswith(("notebooks", ".venv", "results/logs", ".")) and p != ".streamlit/" for p in paths)


def test_serves_on_every_interface_inside_the_container():
    cmd = [args for op, args in instructions() if op == "CMD"][-1]
    assert "edge_rl.serve.api" in cmd and '"--host", "0.0.0.0"' in cmd


def test_make_image_is_documented_and_builds_this_file():
    help_text = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "make image" in help_text
    dry = subprocess.run(["make", "-n", "image"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "container/base-image.sh" in dry and "-f Containerfile" in dry and "--format docker" in dry
