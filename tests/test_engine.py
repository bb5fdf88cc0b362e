"""The experiment engine on Ray: the same numbers in this process, on an embedded Ray and on a
real two-node cluster; a worker killed mid-run is retried; a run that raises is named and the
others finish; a killed driver (its whole process group) takes every Ray process with it; the embedded engine listens on loopback
only. Every Ray here is stopped by the test that started it."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from edge_rl.experiments.plan.sweep import runs_of
from edge_rl.experiments.run.engine import session
from edge_rl.experiments.run.runs import Run, run_all
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


def _family(root: subprocess.Popen) -> list[psutil.Process]:
    """``root`` and every process under it now (a driver: its Ray's GCS, raylet, workers, agents)."""
    try:
        process = psutil.Process(root.pid)
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def _alive(processes: list[psutil.Process]) -> list[str]:
    """Those of ``processes`` still running, wherever they moved in the process tree since (Ray's
    agents and workers outlive their raylet with parent PID 1)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline())[:60]}")
        except psutil.Error:
            pass
    return alive


def _wait_for_tasks(root: subprocess.Popen, title: str) -> list[psutil.Process]:
    """Until the tasks run and Ray's agents have been up a while (agents killed while starting
    exit at once; those that are up waited minutes for a raylet that is gone); then the family."""
    deadline = time.monotonic() + 180
    wanted = (title, "ray::DashboardAgent", "ray::RuntimeEnvAgent")

    def started() -> bool:
        titles = _alive(_family(root))
        return all(any(w in t for t in titles) for w in wanted)

    while not started() and time.monotonic() < deadline and root.poll() is None:
        time.sleep(0.2)
    assert started(), f"the tasks ({title}) or Ray's agents never started"
    time.sleep(5)
    return _family(root)


def _stopped_within(processes: list[psutil.Process], seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while _alive(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _alive(processes)


def _kill(processes: list[psutil.Process]) -> None:
    for process in processes:  # a failed test leaves nothing running either
        try:
            if process.is_running():
                process.kill()
        except psutil.Error:
            pass


def test_a_driver_killed_outright_leaves_no_ray_process_behind(tmp_path: Path) -> None:
    """SIGKILL of the driver alone (as a notebook kernel dies when its papermill is gone): 10 s
    later no process of its Ray is left (workers, raylet, GCS, the dashboard and runtime-env
    agents), and nothing more was written."""
    spec = _long_sweep(tmp_path / "sweep.toml")
    out = tmp_path / "out"
    driver = subprocess.Popen([sys.executable, "-m", "edge_rl", "sweep", str(spec), "--out", str(out), "--workers", "2",
                               "--no-progress"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    family: list[psutil.Process] = []
    try:
        family = _wait_for_tasks(driver, "ray::_execute")
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert _stopped_within(family, 10) == [], "still running 10 s after the driver was killed"
        files = sorted((p, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file())
        time.sleep(2)
        assert sorted((p, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()) == files
        assert not (out / "runs").exists()  # nothing was written for the runs it never finished
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        _kill(family)


NOTEBOOK = {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": [
    "import time\n",
    "from edge_rl.experiments.run.engine import session\n",
    "def waits():\n",
    "    time.sleep(600)\n",
    "with session(workers=1) as engine:\n",
    "    engine.submit(waits)\n",
    "    list(engine.completed())\n"]}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5}


def test_killing_makes_process_group_stops_the_notebooks_ray(tmp_path: Path) -> None:
    """`kill -9 -- -PGID` of a `make reproduce`: papermill dies with the group, but its kernel,
    and the Ray the kernel started, live in a session of their own, out of the signal's reach.
    The kernel exits when it sees papermill gone; 10 s later no process of its Ray is left."""
    notebook = tmp_path / "waits.ipynb"
    notebook.write_text(json.dumps(NOTEBOOK))
    make = subprocess.Popen([sys.executable, "-m", "papermill", str(notebook), str(tmp_path / "out.ipynb"), "-k", "python3"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    family: list[psutil.Process] = []
    try:
        family = _wait_for_tasks(make, "ray::waits")
        assert any(p.pid != make.pid and os.getsid(p.pid) != make.pid for p in family)  # the kernel's own session
        os.killpg(make.pid, signal.SIGKILL)
        make.wait()
        assert _stopped_within(family, 10) == [], "still running 10 s after make's process group was killed"
    finally:
        if make.poll() is None:
            make.kill()
            make.wait()
        _kill(family)


def _gcs_pids() -> set[int]:
    return {p.pid for p in _running(_tree(), "/") if "gcs_server" in " ".join(p.cmdline())}


def test_one_embedded_ray_serves_every_session_of_a_process_until_shutdown(embedded) -> None:
    """A notebook kernel opens a session per step: Ray starts once, not each time."""
    from edge_rl.experiments.run import engine as engine_module

    first = _gcs_pids()
    assert first  # the module's engine is up
    with session(workers=2) as engine:
        assert engine.kind == "embedded"
        handle = engine.submit(json.dumps, [3])  # a function the workers import by name
        assert [result for _, result in engine.completed()] == ["[3]"]
    assert _gcs_pids() == first  # the same Ray, kept after the session
    loopback = os.environ.get(engine_module.LOOPBACK)
    with session(workers=1) as engine:  # another size: a new Ray
        assert engine.cpus == 1 and _gcs_pids() != first
    engine_module.shutdown()
    assert not _gcs_pids() and os.environ.get(engine_module.LOOPBACK) != loopback  # stopped, its setting undone
    engine_module.shutdown()  # nothing to stop: no error
    del handle


def test_a_driver_that_exits_leaves_no_ray_process_behind(tmp_path: Path) -> None:
    """The kept Ray ends with its process (atexit), as a session's did when it closed."""
    script = ("import os, psutil\nfrom edge_rl.experiments.run.engine import session\n"
              "import json\nwith session(workers=1) as engine:\n    engine.submit(json.dumps, 1); list(engine.completed())\n"
              "print(' '.join(str(p.pid) for p in psutil.Process().children(recursive=True)))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    children = [int(pid) for pid in result.stdout.split()]
    assert children  # Ray's processes were up when the session ended
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(psutil.pid_exists(pid) and psutil.Process(pid).status() !=
                                              psutil.STATUS_ZOMBIE for pid in children):
        time.sleep(0.5)
    assert not [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
