"""``make reproduce QUICK=1`` on an embedded Ray and on a real two-node cluster (``RAY_ADDRESS``)
gives identical runs/*.csv. Each reproduction takes about 12 minutes on 2 cores, so this runs
only when asked: ``EDGE_RL_REPRODUCE=1 .venv/bin/python -m pytest tests/test_reproduce_engines.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import cluster

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.environ.get("EDGE_RL_REPRODUCE") != "1",
                                reason="two quick reproductions (~25 min); set EDGE_RL_REPRODUCE=1 to run them")


def _runs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "runs").glob("*.csv"))}


def test_make_reproduce_quick_gives_the_same_runs_on_an_embedded_ray_and_on_a_cluster(tmp_path: Path) -> None:
    reason = cluster.available()
    if reason:
        pytest.skip(reason)
    embedded, clustered = "rerun-engine-embedded", "rerun-engine-cluster"  # OUT must be inside the project
    for out in (embedded, clustered):
        shutil.rmtree(ROOT / out, ignore_errors=True)
    command = ["make", "reproduce", "QUICK=1"]
    subprocess.run([*command, f"OUT={embedded}"], cwd=ROOT, check=True, timeout=3600)
    result = cluster.run_in_cluster([*command, f"OUT={clustered}"], tmp_path / "logs", timeout=3600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    ours, theirs = _runs(ROOT / embedded), _runs(ROOT / clustered)
    assert len(ours) > 50
    assert sorted(ours) == sorted(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []
    for out in (embedded, clustered):  # kept when they differ, to be looked at
        shutil.rmtree(ROOT / out)
