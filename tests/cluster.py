"""A real two-node Ray cluster on this machine, in a private network namespace whose only
address is loopback: nothing it does reaches any other address.

``python tests/cluster.py COMMAND ...`` (as root: ``unshare -n``) starts a head node and a second
node with ``ray start`` (one CPU each, token authentication with a fresh token), runs COMMAND
inside the namespace with ``RAY_ADDRESS`` pointing at the head, then stops both nodes, e.g.::

    python tests/cluster.py make reproduce QUICK=1 OUT=results/quick-cluster

The tests use :func:`run_in_cluster`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import psutil

PORT = 6379  # the namespace's own port space: no clash with anything outside it

SCRIPT = r"""
set -eu
ip link set lo up
ray="$(dirname "$PYTHON")/ray"
"$ray" start --head --port "$PORT" --num-cpus 1 --include-dashboard=false --disable-usage-stats --block \
    --temp-dir "$RAY_TMP" >"$LOGS/head.log" 2>&1 &
head=$!
until "$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$PORT" \
    2>/dev/null; do sleep 0.5; done
"$ray" start --address "127.0.0.1:$PORT" --num-cpus 1 --disable-usage-stats --block >"$LOGS/node.log" 2>&1 &
node=$!
set +e
RAY_ADDRESS="127.0.0.1:$PORT" "$@"
status=$?
kill -TERM "$node"; wait "$node"
kill -TERM "$head"; wait "$head"
exit $status
"""


def available() -> str | None:
    """Why a cluster cannot be made here (None: it can)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    return None if probe.returncode == 0 else "unshare -n is not permitted here (needs root)"


def _watch(root: psutil.Process, seen: dict[int, float], done: threading.Event) -> None:
    """Remember every process of the cluster's tree (``ray start`` daemons leave it)."""
    while not done.wait(0.5):
        try:
            for process in [root, *root.children(recursive=True)]:
                seen.setdefault(process.pid, process.create_time())
        except psutil.Error:
            pass


def _stop(seen: dict[int, float]) -> None:
    """End what is left of the processes the cluster started, each by its id (and start time)."""
    for pid, started in seen.items():
        try:
            process = psutil.Process(pid)
            if process.create_time() == started:
                process.kill()
        except psutil.Error:
            pass


def run_in_cluster(command: Sequence[str], logs: Path, timeout: float, cwd: str | os.PathLike | None = None,
                   env: dict[str, str] | None = None, capture: bool = True) -> subprocess.CompletedProcess:
    """Run ``command`` against a fresh two-node cluster (see the module's docstring); stop it
    after, and after ``timeout`` seconds at the latest. ``logs``: the nodes' output."""
    logs.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **(env or {}), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
                   "PORT": str(PORT), "PYTHON": sys.executable, "LOGS": str(logs)}
    environment.pop("RAY_ADDRESS", None)
    environment.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # an embedded engine's, running beside it
    # The cluster's own temporary folder (short: it holds Unix sockets), so the address file that
    # `ray start` leaves is not /tmp/ray's, where a later ray.init() would find it.
    environment["RAY_TMP"] = tempfile.mkdtemp(prefix="edge-rl-ray-")
    process = subprocess.Popen(["unshare", "-n", "bash", "-c", SCRIPT, "cluster", *command], cwd=cwd,
                               env=environment, text=True,
                               **({"stdout": subprocess.PIPE, "stderr": subprocess.PIPE} if capture else {}))
    seen: dict[int, float] = {}
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(psutil.Process(process.pid), seen, done), daemon=True)
    watcher.start()
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        done.set()
        watcher.join()
        _stop(seen)
        process.wait()
        shutil.rmtree(environment["RAY_TMP"], ignore_errors=True)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


if __name__ == "__main__":
    reason = available()
    if reason:
        sys.exit(f"error: a cluster cannot be made here: {reason}")
    sys.exit(run_in_cluster(sys.argv[1:], Path("/tmp/edge-rl-cluster-logs"), timeout=6 * 3600, capture=False).returncode)
