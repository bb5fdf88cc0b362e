"""Atomic writes: a reader never sees half a file; a killed writer's temporary file is removed
by the next write into its folder; errors name the file the caller asked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_rl.files import atomic_write

KILLED_WRITE = (
    "import os, signal, sys\n"
    "from pathlib import Path\n"
    "from edge_rl.files import atomic_write\n"
    "def write(tmp):\n"
    "    Path(tmp).write_text('half a fi')\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
    "atomic_write(sys.argv[1], write)\n"
)


def _killed_write(path: Path) -> None:
    """Run an atomic write of ``path`` in a process that is SIGKILLed in the middle of it."""
    result = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(path)], capture_output=True)
    assert result.returncode == -9, result.stderr


def test_a_write_killed_midway_leaves_the_old_file_and_the_next_write_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    target.write_text("old\n")
    _killed_write(target)
    assert target.read_text() == "old\n"
    left = [p for p in tmp_path.iterdir() if p != target]
    assert len(left) == 1 and left[0].name.startswith(".rows.csv.")  # SIGKILL runs no cleanup
    atomic_write(tmp_path / "other.csv", lambda tmp: Path(tmp).write_text("new\n"))  # any later write here
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv", "rows.csv"]


def test_the_temporary_files_of_running_writers_and_of_other_hosts_are_left_alone(tmp_path: Path) -> None:
    from edge_rl.files import remove_stale_temporaries, temporary_name_prefix

    ours = tmp_path / f"{temporary_name_prefix(tmp_path / 'a.csv')}abcd1234.tmp"
    ours.write_text("")
    elsewhere = tmp_path / ".b.csv.000000-1~abcd1234.tmp"  # another host (its tag), pid 1
    elsewhere.write_text("")
    unrelated = tmp_path / ".hidden.tmp"
    unrelated.write_text("")
    assert remove_stale_temporaries(tmp_path) == []
    assert {p.name for p in tmp_path.iterdir()} == {ours.name, elsewhere.name, unrelated.name}


def test_a_write_that_fails_names_the_file_asked_for_not_the_temporary_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:  # /proc exists and looks writable to root, but is not
        atomic_write("/proc/edge-rl-test.json", lambda tmp: Path(tmp).write_text("{}"))
    assert "cannot write /proc/edge-rl-test.json" in str(error.value) and ".tmp" not in str(error.value)

    def fails(tmp: str) -> None:
        raise OSError(28, "No space left on device", tmp)

    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'x.csv'}: No space left on device") as error:
        atomic_write(tmp_path / "x.csv", fails)
    assert ".tmp" not in str(error.value) and not list(tmp_path.iterdir())


def test_a_write_is_whole_or_absent_and_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "folder" / "table.md"
    atomic_write(target, lambda tmp: Path(tmp).write_text("| a |\n"))
    assert target.read_text() == "| a |\n" and oct(target.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(ZeroDivisionError):
        atomic_write(target, lambda tmp: (Path(tmp).write_text("half"), 1 / 0))
    assert target.read_text() == "| a |\n" and os.listdir(target.parent) == ["table.md"]
