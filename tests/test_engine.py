"""The experiment engine on Ray: the same numbers in this process, on an embedded Ray and on a
real two-node cluster; a worker killed mid-run is retried; a run that raises is named and the
others finish; a killed driver takes its tasks with it; the embedded engine listens on loopback
only. Every Ray here is stopped by the test that started it."""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from edge_rl.experiments.engine import session
from edge_rl.experiments.runs import Run, run_all
from edge_rl.experiments.sweep import runs_of
from tests import cluster

ROOT = Path(__file__).resolve().parents[1]

TINY = {"encoder.hidden": 16, "encoder.embed": 16, "encoder.head_hidden": [16],
        "dqn.learning_starts": 50, "dqn.buffer_size": 1000,
        "ppo.n_steps": 32, "ppo.n_envs": 2, "ppo.batch_size": 32, "ppo.n_epochs": 1,
        "hybrid.n_envs": 2, "hybrid.n_steps": 32, "hybrid.n_epochs": 2, "hybrid.batch_size": 32,
        "hybrid.learning_starts": 32, "hybrid.eval_every": 128, "hybrid.val_episodes": 1}
"""Overrides that make a run train in a second or two."""

SPEC = {"algos": ["dqn", "hybrid"], "seeds": [0, 1], "steps": [128], "pretrain_steps": 64,
        "eval_seeds": "10000-10001", "val_seeds": "20100", "set": TINY}
"""A sweep of four tiny runs: DQN-GNN, and the hybrid with its own pre-training, on two seeds."""


def _outputs(folder: Path) -> dict[str, bytes]:
    """What must not depend on the engine: the rows, the weights, and the checkpoints'
    descriptions but for how long training took."""
    files = {}
    for pattern in ("runs/*.csv", "validation/*.csv", "models/*.safetensors"):
        files |= {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.glob(pattern))}
    for path in sorted(folder.glob("models/*.json")):
        document = json.loads(path.read_text())
        for key in ("wall_time_s", "validation_s"):
            document["trained"].pop(key, None)
        files[path.relative_to(folder).as_posix()] = json.dumps(document, sort_keys=True).encode()
    return files


def _tree() -> list[psutil.Process]:
    return [psutil.Process(), *psutil.Process().children(recursive=True)]


def _running(processes: list[psutil.Process], title: str) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE and " ".join(process.cmdline()).startswith(title):
                alive.append(process)
        except psutil.Error:
            pass
    return alive


def _working(tree: list[psutil.Process]) -> list[str]:
    """The processes of ``tree`` still alive that train or schedule (Ray's workers, raylet, GCS):
    all but its dashboard and runtime-env agents, which watch the raylet and exit on their own."""
    alive = []
    for process in tree:
        try:
            if process.status() != psutil.STATUS_ZOMBIE and not process.name().endswith("Agent"):
                alive.append(f"{process.pid} {' '.join(process.cmdline())[:60]}")
        except psutil.Error:
            pass
    return alive


@pytest.fixture(scope="module")
def embedded():
    """One embedded engine (two CPUs) for the tests of this module that need one."""
    with session(workers=2) as engine:
        assert engine.kind == "embedded"
        yield engine


def test_same_numbers_in_process_on_an_embedded_ray_and_on_a_two_node_cluster_whose_tasks_stop_with_their_driver(tmp_path: Path, embedded) -> None:
    runs = runs_of(SPEC)
    run_all(runs, tmp_path / "in-process", workers=0, progress=False)
    run_all(runs, tmp_path / "embedded", progress=False)
    reference = _outputs(tmp_path / "in-process")
    # 4 runs: test and validation rows, checkpoint (2 files), the hybrids' own pre-training (2 x 2 files).
    assert len(reference) == 4 * 4 + 2 * 4
    assert _outputs(tmp_path / "embedded") == reference
    reason = cluster.available()
    if reason:
        pytest.skip(f"the two-node cluster: {reason}")
    long_spec = _long_sweep(tmp_path / "long.toml")
    result = cluster.run_in_cluster([sys.executable, str(ROOT / "tests" / "cluster_driver.py"), json.dumps(SPEC),
                                     str(tmp_path / "cluster"), str(long_spec), str(tmp_path / "killed")],
                                    tmp_path / "logs", timeout=480, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["nodes"] == 2  # a task ran on each node
    # Its driver killed, a sweep's tasks stop on every node: no worker trains, no CPU stays taken.
    assert report["stopped_after_s"] is not None and report["cpus_free"] and not report["killed_wrote_runs"]
    assert _outputs(tmp_path / "cluster") == reference


def test_a_worker_killed_mid_run_is_retried_and_each_run_is_written_once_whole(tmp_path: Path, embedded) -> None:
    runs = runs_of({**SPEC, "algos": ["dqn"], "steps": [2000], "val_seeds": ""})
    killed: list[int] = []

    def kill_a_training_worker() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            training = _running(_tree(), "ray::_execute")
            if training:
                time.sleep(0.5)  # in the middle of its run
                killed.append(training[0].pid)
                training[0].send_signal(signal.SIGKILL)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_a_training_worker)
    killer.start()
    rows = run_all(runs, tmp_path / "ray", progress=False)
    killer.join()
    assert killed, "no worker was seen training"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    assert sorted(rows["train_seed"]) == [0, 0, 1, 1]  # each run's test episodes, once
    run_all(runs, tmp_path / "in-process", workers=0, progress=False)
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "in-process")  # the retried run: same numbers
    written = sorted(p.relative_to(tmp_path / "ray").as_posix() for p in (tmp_path / "ray").rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(tmp_path / "in-process").as_posix()
                             for p in (tmp_path / "in-process").rglob("*") if p.is_file())
    assert not [name for name in written if name.endswith(".tmp")]


def test_a_run_that_raises_is_named_the_others_finish_and_a_rerun_retries_only_it(tmp_path: Path, embedded) -> None:
    good = runs_of({**SPEC, "algos": ["dqn"], "seeds": [0]})
    bad = Run("Broken", good[0].config, eval_seeds=(5, 5))  # a repeated test seed: evaluation raises
    failure = r"1 of 2 runs failed .*: run broken-seed0 failed: .*seeds must be distinct"
    with pytest.raises(RuntimeError, match=failure):
        run_all([bad, *good], tmp_path, progress=False)
    finished = tmp_path / "runs" / f"{good[0].stem}.csv"
    before = finished.stat().st_mtime_ns
    assert not list(tmp_path.glob("*/broken-seed0*"))  # nothing of the failed run
    with pytest.raises(RuntimeError, match=failure):  # the rerun tries it again, and only it
        run_all([bad, *good], tmp_path, progress=False)
    assert finished.stat().st_mtime_ns == before
    fixed = Run("Broken", bad.config, eval_seeds=(5, 6))
    run_all([fixed, *good], tmp_path, progress=False)
    assert finished.stat().st_mtime_ns == before and (tmp_path / "runs" / "broken-seed0.csv").exists()


def test_the_embedded_engine_listens_on_loopback_only(embedded) -> None:
    import ray

    assert ray.get(ray.remote(lambda: 1).remote()) == 1  # a worker is up too
    listening = []
    for process in _tree():
        try:
            for connection in process.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN or connection.type == socket.SOCK_DGRAM:
                    listening.append((process.name(), connection.laddr.ip, connection.laddr.port))
        except psutil.Error:
            pass
    assert {"gcs_server", "raylet"} <= {name for name, _, _ in listening}, listening

    def loopback(ip: str) -> bool:
        address = ipaddress.ip_address(ip.split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        return address.is_loopback or bool(mapped and mapped.is_loopback)

    assert [s for s in listening if not loopback(s[1])] == []


def _long_sweep(path: Path) -> Path:
    """Two tiny-network runs of 100,000 steps: minutes each, for a driver to be killed during."""
    overrides = "\n".join(f'"{key}" = {json.dumps(value)}' for key, value in TINY.items())
    path.write_text(f'algos = ["dqn"]\nseeds = "0-1"\nsteps = [100000]\neval_seeds = "10000"\n[set]\n{overrides}\n')
    return path


def test_killing_the_driver_stops_its_tasks(tmp_path: Path) -> None:
    spec = _long_sweep(tmp_path / "sweep.toml")
    out = tmp_path / "out"
    driver = subprocess.Popen([sys.executable, "-m", "edge_rl", "sweep", str(spec), "--out", str(out), "--workers", "2",
                               "--no-progress"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180
        while not _running(tree, "ray::_execute") and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.2)
            tree = [psutil.Process(driver.pid), *psutil.Process(driver.pid).children(recursive=True)]
        assert _running(tree, "ray::_execute"), "the sweep's tasks never started"
        time.sleep(1)
        tree = [psutil.Process(driver.pid), *psutil.Process(driver.pid).children(recursive=True)]
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 30
        while _working(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _working(tree) == [], "still running 30 s after the driver was killed"
        files = sorted((p, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file())
        time.sleep(2)
        assert sorted((p, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()) == files
        assert not (out / "runs").exists()  # nothing was written for the runs it never finished
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for process in tree:  # Ray's agents end on their own within about a minute; ours go now
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    process.kill()
            except psutil.Error:
                pass
