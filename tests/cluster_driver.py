"""The driver the two-node cluster test runs inside the cluster's network namespace:
``python tests/cluster_driver.py SPEC_JSON OUT LONG_SPEC_TOML KILLED_OUT``.

1. waits for both nodes and runs a task pinned to each (tasks run on both);
2. runs the sweep SPEC_JSON into OUT with run_all on the cluster (RAY_ADDRESS);
3. starts ``python -m edge_rl sweep LONG_SPEC_TOML --out KILLED_OUT`` (long runs), waits until
   its tasks hold both CPUs, SIGKILLs it, and measures how long until no worker of the
   cluster trains any more (and the cluster's CPUs are free again).

Prints one JSON line: ``nodes``, ``stopped_after_s`` (None: still training after 60 s),
``cpus_free`` and ``killed_wrote_runs``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from edge_rl.experiments.plan.sweep import runs_of
from edge_rl.experiments.run.runs import run_all


def _training() -> list[psutil.Process]:
    """The cluster's workers running a run: under the `ray start` processes this script's shell started."""
    found = []
    for process in psutil.Process(os.getppid()).children(recursive=True):
        try:
            if " ".join(process.cmdline()).startswith("ray::_execute") and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            pass
    return found


def _wait(condition, seconds: float) -> float | None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > seconds:
            return None
        time.sleep(0.2)
    return round(time.monotonic() - start, 1)


def main() -> None:
    spec, out, long_spec, killed_out = sys.argv[1:5]
    ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
    assert _wait(lambda: sum(n["Alive"] for n in ray.nodes()) >= 2, 60) is not None, "the second node did not join"
    where = ray.remote(num_cpus=1)(lambda: ray.get_runtime_context().get_node_id())
    alive = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    nodes = set(ray.get([where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
                         for n in alive]))
    ray.shutdown()
    run_all(runs_of(json.loads(spec)), out, progress=False)

    driver = subprocess.Popen([sys.executable, "-m", "edge_rl", "sweep", long_spec, "--out", killed_out,
                               "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait(lambda: len(_training()) >= 2, 180) is not None, "the long sweep never trained on both CPUs"
        time.sleep(1)
        driver.kill()
        driver.wait()
        stopped = _wait(lambda: not _training(), 60)
    finally:
        if driver.poll() is None:
            driver.kill()
    ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
    cpus_free = _wait(lambda: ray.available_resources().get("CPU", 0) >= 2, 30) is not None
    ray.shutdown()
    print(json.dumps({"nodes": len(nodes), "stopped_after_s": stopped, "cpus_free": cpus_free,
                      "killed_wrote_runs": (Path(killed_out) / "runs").exists()}))


if __name__ == "__main__":
    main()
