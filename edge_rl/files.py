"""Writing files so that a reader never sees half of one, and a killed writer leaves nothing behind.

:func:`atomic_write` writes into a temporary file beside the target, then renames it over the
target. A writer killed before the rename (SIGKILL, a power cut of the job) cannot remove its
temporary file, so the name says whose it is: ``.<name>.<host>-<pid>~<random><suffix>``. Every
later write into the same folder removes the temporary files of writers on this host that are
no longer running; those of running writers, and of other hosts sharing the folder, are left
alone (and are ignored by every reader: they start with a dot, end in ``.tmp`` or the writer's
suffix, and no reader looks for those names).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
"""This host's tag in temporary names (a folder may be shared with other machines, whose
process ids mean nothing here)."""

_TEMPORARY = re.compile(r"^\..+\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)~[a-z0-9_]{8}(\.[A-Za-z0-9]+)?$")


def temporary_name_prefix(path: Path) -> str:
    """The start of the temporary files' names for ``path``, with this host and process in it."""
    return f".{path.name}.{_HOST}-{os.getpid()}~"


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of :func:`atomic_write` in ``folder`` whose writer (on this
    host) is no longer running; return them. A process id reused since keeps its file until
    that process ends too: left, never removed from under a live writer."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match or match["host"] != _HOST or _running(int(match["pid"])):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # removed meanwhile by another writer, or not ours to remove
            continue
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[str], object], suffix: str = ".tmp",
                 reported_as: str | os.PathLike | None = None) -> None:
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then rename it to ``path``:
    an interrupted write leaves the old file (or none), never half a new one. ``suffix`` is
    the temporary file's (for writers that insist on an extension); ``reported_as`` the file
    errors name, if not ``path`` (a step of writing another file the user did ask for).

    Raises:
        OSError: naming ``path`` (not the temporary file, which the caller never chose) when the
            folder cannot be made or written into, or the write or the rename fails.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_name_prefix(path), suffix=suffix)
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are meant to be shared
        os.replace(tmp, path)
    except OSError as error:
        raise _naming(error, Path(reported_as) if reported_as is not None else path) from error
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` about ``path``, as the user named it: a message naming our temporary file
    would point at a file that no longer exists and that they never asked for. (``OSError``
    with an errno gives back its subclass: ``FileNotFoundError``, ``PermissionError``, ...)"""
    message = f"cannot write {path}: {error.strerror or error}"
    return OSError(error.errno, message) if error.errno else OSError(message)
