"""The experiment engine: Ray, embedded on this machine by default, or an existing cluster.

:func:`session` yields an :class:`Engine` that runs functions as tasks, one CPU each (a run
asks for as many CPUs as its torch threads), and hands back their return values as they finish:

- **embedded** (no address, ``RAY_ADDRESS`` unset): a local Ray with ``workers`` CPUs (default:
  one per core) is started by the first session, kept for the next ones (a notebook kernel runs
  one Ray), and stopped when the process exits or by :func:`shutdown`. It listens on loopback only:
  ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (the mode Ray uses on laptops) keeps every process
  on ``127.0.0.1`` (a plain ``ray.init()`` advertises the machine's interface address and
  listens on all interfaces), and such a Ray refuses other nodes. Token authentication is on
  (Ray's default since 2.52; the token is ``~/.ray/auth_token``, made if missing);
- **cluster** (``address="<head>:6379"`` or ``RAY_ADDRESS``): connects to a cluster started
  with ``ray start --head`` and ``ray start --address=...``, with token authentication
  (``RAY_AUTH_MODE=token``; the token from ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
  ``~/.ray/auth_token``), and ships this copy of ``edge_rl`` to the workers (each machine
  needs the pinned environment, ``make setup``; no shared filesystem);
- **in-process** (``workers=0``): no Ray; the tasks run one after another in this process,
  in the order they were submitted. The same functions and return values: a reference for
  "same numbers on every engine", and a debugger's engine.

Faults: a task whose worker process dies is retried up to :data:`RETRIES` times; a task that
raises is not retried, and its error comes back as its result. When the session ends early
(an error, Ctrl-C, SIGTERM), its unfinished tasks are cancelled and their workers killed; a
driver killed outright (SIGKILL, of it or of its process group) takes its tasks with it: on a
cluster Ray ends the workers of a driver that is gone, and an embedded Ray's every process
(workers and agents too) is ended within a few seconds by :mod:`~edge_rl.experiments.run.watchdog`.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from edge_rl.experiments.run import watchdog as watchdog_module

# Imported in a notebook, Ray logs that ipywidgets is missing into the cell's output: it is not needed.
logging.getLogger("ray.widgets.util").setLevel(logging.WARNING)

RETRIES = 3
"""How many times a task whose worker died (killed, out of memory, node lost) is run again."""

LOOPBACK = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch for single-machine Ray: ``0`` keeps every process of a local Ray on loopback."""

OBJECT_STORE_BYTES = 256 * 2**20
"""The embedded engine's object store: results are a run's rows, logs and checkpoint, well under
a megabyte each (Ray's default would reserve 30 % of memory)."""


class TaskError(RuntimeError):
    """A task that raised (``cause``: its exception) or whose worker died more than
    :data:`RETRIES` times."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def cluster_address() -> str | None:
    """The cluster to run on: ``RAY_ADDRESS``, or None (an embedded engine)."""
    return os.environ.get("RAY_ADDRESS") or None


@dataclass(eq=False)
class _Call:
    """An in-process task: run when :meth:`Engine.completed` reaches it."""

    function: Callable
    args: tuple
    value: Any = None
    error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.function(*(_value(a) for a in self.args))
        except Exception as error:  # noqa: BLE001 - handed back as the task's result, as Ray does
            self.error = error


@dataclass
class Engine:
    """Runs tasks and hands back their results. ``kind``: ``"in-process"``, ``"embedded"`` or
    ``"cluster"``; ``cpus``: how many tasks of one CPU run at once."""

    kind: str
    cpus: int
    _pending: list = field(default_factory=list)

    def submit(self, function: Callable, *args: Any, cpus: int = 1) -> Any:
        """Start ``function(*args)`` as a task of ``cpus`` CPUs; return its handle. An argument
        that is another task's handle is replaced by that task's result (the task waits for it)."""
        if self.kind == "in-process":
            handle = _Call(function, args)
        else:
            handle = _remote(function).options(num_cpus=cpus).remote(*args)
        self._pending.append(handle)
        return handle

    def completed(self) -> Iterator[tuple[Any, Any]]:
        """``(handle, result)`` for every submitted task as it finishes, in no particular order;
        a failed task's result is a :class:`TaskError`."""
        while self._pending:
            if self.kind == "in-process":
                handle = self._pending.pop(0)
                handle.run()
                yield handle, handle.value if handle.error is None else TaskError(str(handle.error), handle.error)
                continue
            import ray

            [handle], self._pending = ray.wait(self._pending, num_returns=1)
            try:
                result = ray.get(handle)
            except ray.exceptions.RayTaskError as error:  # the task raised: its own exception, as it said it
                cause = error.cause if isinstance(error.cause, BaseException) else None
                result = TaskError(str(cause) if cause is not None else str(error), cause)
            except ray.exceptions.RayError as error:  # the worker died RETRIES + 1 times, or the node
                result = TaskError(f"{type(error).__name__}: {error}", error)
            yield handle, result

    def cancel(self) -> None:
        """Stop every unfinished task, killing its worker."""
        if self.kind == "in-process" or not self._pending:
            return
        import ray

        for handle in self._pending:
            ray.cancel(handle, force=True)
        self._pending = []


def _value(argument: Any) -> Any:
    if isinstance(argument, _Call):
        if argument.error is not None:
            raise argument.error
        return argument.value
    return argument


_REMOTES: dict[Callable, Any] = {}


def _remote(function: Callable) -> Any:
    import ray

    if function not in _REMOTES:
        # Worker deaths are retried; exceptions are the run's own and are reported, not retried.
        _REMOTES[function] = ray.remote(max_retries=RETRIES, retry_exceptions=False)(function)
    return _REMOTES[function]


@contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM (``kill``, make passing on its own) ends the session as Ctrl-C does: its tasks
    are cancelled. Python's default would exit without cleaning up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Watchdog:
    """The embedded Ray's :mod:`~edge_rl.experiments.run.watchdog`: marks this process's environment
    (so every Ray process started from now on inherits the mark) and starts the watchdog, which
    ends the marked processes when this process closes the pipe or dies."""

    def __init__(self) -> None:
        token = secrets.token_hex(16)
        read, self._pipe = os.pipe()  # not inherited by the processes Ray starts (PEP 446)
        environment = {k: v for k, v in os.environ.items() if k != watchdog_module.VARIABLE}
        self._process = subprocess.Popen(
            [sys.executable, watchdog_module.__file__, str(os.getpid()), token], stdin=read, env=environment,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(read)
        os.environ[watchdog_module.VARIABLE] = token

    def stop(self) -> None:
        """After ``ray.shutdown()``: the watchdog ends what is left of this Ray, and exits."""
        os.close(self._pipe)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@dataclass
class _Embedded:
    """The embedded Ray this process started: kept from one session to the next (Ray takes
    seconds to start; a notebook or a test run opens a session for every step), and stopped by
    :func:`shutdown` (at the latest when the process exits; the watchdog if it dies)."""

    cpus: int
    watchdog: _Watchdog
    saved: dict[str, str | None]  # the environment variables it set, as they were
    cluster_flag: bool


_KEPT: _Embedded | None = None


def _start_embedded(cpus: int) -> None:
    global _KEPT
    import ray
    from ray._private import ray_constants

    saved = {name: os.environ.get(name) for name in (LOOPBACK, "RAY_AUTH_MODE", watchdog_module.VARIABLE)}
    cluster_flag = ray_constants.ENABLE_RAY_CLUSTER
    _authenticate()
    os.environ[LOOPBACK] = "0"  # Ray's processes inherit it ...
    ray_constants.ENABLE_RAY_CLUSTER = False  # ... and this process read it when it imported ray
    watchdog = _Watchdog()  # before ray.init: Ray's processes inherit its mark
    _KEPT = _Embedded(cpus, watchdog, saved, cluster_flag)
    # "local": a new Ray of our own, never one that `ray start` left running on this machine.
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             object_store_memory=OBJECT_STORE_BYTES)


def shutdown() -> None:
    """Stop the embedded Ray that :func:`session` keeps (nothing if none is running). Called when
    the process exits; call it to free its processes' memory sooner."""
    global _KEPT
    if _KEPT is None:
        return
    import ray
    from ray._private import ray_constants
    from ray._raylet import Config

    kept, _KEPT = _KEPT, None
    ray.shutdown()
    kept.watchdog.stop()
    ray_constants.ENABLE_RAY_CLUSTER = kept.cluster_flag
    _restore(kept.saved)
    Config.initialize("")


atexit.register(shutdown)


def _authenticate() -> None:
    """Token authentication, as Ray does when it turns it on (``RAY_AUTH_MODE=token``)."""
    from ray._raylet import Config

    if os.environ.get("RAY_AUTH_MODE", "token") != "token":
        raise ValueError(f"RAY_AUTH_MODE={os.environ['RAY_AUTH_MODE']}: edge_rl's engine runs with token "
                         "authentication only (unset it, or set RAY_AUTH_MODE=token)")
    os.environ["RAY_AUTH_MODE"] = "token"  # said, so Ray does not warn that it chose it
    Config.initialize("")  # as Ray does when it turns token authentication on: this process reads it again


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def _running(engine: Engine) -> Iterator[Engine]:
    """The ``with`` block of a session: SIGTERM ends it as Ctrl-C does; its unfinished tasks are cancelled."""
    with _stopped_by_sigterm():
        try:
            yield engine
        finally:
            engine.cancel()


@contextmanager
def session(address: str | None = None, workers: int | None = None) -> Iterator[Engine]:
    """An engine for the time of the ``with`` block (see the module's docstring).

    The embedded Ray is started by the first session that needs it and kept for the next ones
    (started again only for another number of CPUs), until :func:`shutdown` or the end of the
    process: a notebook kernel runs one Ray, however many steps it trains in.

    Args:
        address: a Ray cluster's ``<head>:<port>``; default ``RAY_ADDRESS``, else an embedded Ray.
        workers: CPUs of the embedded Ray (default: one per core); 0: in-process, no Ray.
            Ignored on a cluster, whose size is its own.

    Raises:
        ValueError: ``workers`` below 0, or 0 together with a cluster address.
    """
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 0):
        raise ValueError(f"workers must be None (one per core), 0 (in-process) or a positive integer, got {workers!r}")
    address = address or cluster_address()
    if workers == 0:
        if address:
            raise ValueError(f"workers=0 runs in this process; it cannot use the cluster at {address}")
        yield Engine("in-process", 1)
        return
    import ray

    if _KEPT is not None and (address or not ray.is_initialized() or _KEPT.cpus != (workers or os.cpu_count() or 1)):
        shutdown()  # a cluster asked for, another size, or stopped behind our back (ray.shutdown())
    if address is None and _KEPT is not None:
        with _running(Engine("embedded", _KEPT.cpus)) as engine:
            yield engine
        return
    if ray.is_initialized():  # the caller's own Ray (a test's, a notebook's): used, not stopped
        with _running(Engine("cluster", int(ray.cluster_resources().get("CPU", 1)))) as engine:
            yield engine
        return
    if not address:
        _start_embedded(workers or os.cpu_count() or 1)
        with _running(Engine("embedded", _KEPT.cpus)) as engine:  # type: ignore[union-attr]
            yield engine
        return
    saved = {name: os.environ.get(name) for name in ("RAY_AUTH_MODE",)}
    _authenticate()
    try:
        import edge_rl

        # The driver's edge_rl goes to every worker; the pinned dependencies are each node's own.
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR,
                 runtime_env={"py_modules": [os.path.dirname(edge_rl.__file__)]})
        with _running(Engine("cluster", int(ray.cluster_resources().get("CPU", 1)))) as engine:
            yield engine
    finally:
        from ray._raylet import Config

        ray.shutdown()
        _restore(saved)
        Config.initialize("")
