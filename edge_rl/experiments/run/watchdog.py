"""Ends an embedded Ray when its driver dies, however it dies (:func:`edge_rl.experiments.run.engine.session`).

Why: ``ray.shutdown()`` runs only if the driver lives to call it. A driver killed outright (a
SIGKILL of ``make``'s process group, or a notebook kernel, which ``os._exit``\\ s when papermill
is gone) left Ray's workers running their tasks for some 15 s and its dashboard and
runtime-env agents for minutes, their parent PID 1: no process group or parent link reaches
them any more.

How: before ``ray.init`` the engine puts ``EDGE_RL_RAY_SESSION=<random token>`` in its
environment, which every process Ray starts inherits, and starts this file as a process of its
own session (so that a signal to the driver's process group does not reach it), reading a
pipe whose write end the driver alone holds. Until the pipe closes, it notes every process
whose environment carries the token and every process those start (:class:`Ray`). When it
closes (the driver ended its session, or exited in any way), the watchdog sends SIGTERM to each
of them still alive, SIGKILL to those still there :data:`GRACE_S` later, and exits.

Run as a script (``python watchdog.py DRIVER_PID TOKEN``), on the standard library alone, so it
starts in milliseconds without importing ``edge_rl``. Processes are found in ``/proc`` (Linux)
or with psutil where it is installed (macOS); elsewhere the watchdog can only wait.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections.abc import Iterator

VARIABLE = "EDGE_RL_RAY_SESSION"
"""The environment variable that marks every process of one embedded Ray."""

GRACE_S = 2.0
"""How long a process of the Ray has between SIGTERM and SIGKILL."""

POLL_S = 0.5
"""How often the watchdog looks at the processes while the driver lives (a few ms of a core each time)."""


Process = tuple[int, int, int]
"""``(pid, parent pid, start time)``: the start time tells a process from a later one of the same pid."""


def _processes() -> Iterator[tuple[Process, bytes]]:
    """Every process that can be read, with its environment (NUL-separated bytes)."""
    if os.path.isdir("/proc/self"):
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat", "rb") as file:
                        stat = file.read()
                    with open(f"/proc/{name}/environ", "rb") as file:
                        environment = file.read()
                except OSError:  # gone meanwhile, or another user's
                    continue
                fields = stat[stat.rindex(b")") + 2:].split()  # after the command's name, which may hold spaces
                yield (int(name), int(fields[1]), int(fields[19])), environment
        return
    try:
        import psutil
    except ImportError:
        return
    for process in psutil.process_iter():
        try:
            environment = b"\0".join(f"{k}={v}".encode() for k, v in process.environ().items())
            yield (process.pid, process.ppid(), int(process.create_time() * 100)), environment
        except psutil.Error:
            pass


class Ray:
    """The processes of one embedded Ray: those whose environment carries the token, and every
    process they started. Ray's dashboard and runtime-env agents must be found the second way:
    ``setproctitle`` overwrites their environment with their title. So the watchdog looks every
    :data:`POLL_S` while the driver lives, and remembers what it saw."""

    def __init__(self, token: str, exclude: set[int]) -> None:
        self.entry, self.exclude = f"{VARIABLE}={token}".encode(), exclude
        self.seen: set[tuple[int, int]] = set()

    def look(self) -> set[tuple[int, int]]:
        """``(pid, start time)`` of every process of this Ray now alive, seen now or before."""
        table = dict(_processes())
        alive = set(table)
        found = {p for p, environment in table.items() if self.entry in environment.split(b"\0")}
        children: dict[int, list[Process]] = {}
        for process in table:
            children.setdefault(process[1], []).append(process)
        frontier = list(found)
        while frontier:  # their descendants, however deep
            for child in children.get(frontier.pop()[0], []):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
        # Known by pid and start time, not parent: an agent whose raylet died moves to PID 1.
        self.seen |= {(pid, start) for pid, _, start in found if pid not in self.exclude}
        self.seen &= {(pid, start) for pid, _, start in alive}  # gone is forgotten: the pid may come again
        return set(self.seen)


def _signal(processes: set[tuple[int, int]], signum: int) -> None:
    for pid, _ in processes:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def reap(ray: Ray) -> int:
    """SIGTERM to every process of ``ray``, SIGKILL to the rest after :data:`GRACE_S`; how many were found."""
    found = ray.look()
    _signal(found, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    left = found
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = ray.look() & found
    _signal(left, signal.SIGKILL)
    return len(found)


def main(argv: list[str]) -> None:
    driver, token = int(argv[0]), argv[1]
    ray = Ray(token, exclude={driver, os.getpid()})
    # The engine ends its session by closing the pipe, and the kernel closes it when the driver
    # dies: either way the pipe reads as closed. Signals a terminal sends (Ctrl-C) never reach a
    # process of another session; the driver's own handler stops Ray, and this ends the stragglers.
    while not select.select([sys.stdin], [], [], POLL_S)[0]:
        ray.look()
    reap(ray)


if __name__ == "__main__":
    main(sys.argv[1:])
