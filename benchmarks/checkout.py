"""An earlier commit of the package beside this checkout, for the benchmarks that grade "today's
code against the code a piece of work started from" (``bench_training.py``, ``bench_env.py``).

Each extracts ``edge_rl/`` at a commit with ``git archive`` into a temporary folder (no worktree to
clean up) and runs it in child processes of their own with ``PYTHONPATH`` pointing there: the
two versions cannot share one ``import edge_rl``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def reference_checkout(commit: str, folder: Path) -> Path:
    """The package at ``commit``, extracted into ``folder`` (``git archive``; no worktree to clean up)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "edge_rl"], capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run_child(code: Path, script: str, *args: str) -> dict:
    """``script`` (Python source) run with the package at ``code``, one thread; its last line, as JSON."""
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, cwd=code,
                            check=False)
    if result.returncode:
        raise RuntimeError(f"{' '.join(args)} with {code} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])
