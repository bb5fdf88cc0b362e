"""The README's *Layout* section against the package: every folder and module it names exists
where it says, and every module of ``edge_rl/`` is named there (in the name column, or, for a
folder whose files its line lists, in that line), so a newcomer's map is the package's."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edge_rl"
NAMES = re.compile(r"^(\s*)((?:[\w.-]+(?:\.py|/)(?:, )?)+)")
"""A layout line's name column: ``  envs/``, ``    engine.py, watchdog.py``, ``replay.py, dashboard/``."""
LISTED = re.compile(r"\b([a-z_0-9]+\.py)\b")


def _layout() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1].splitlines()[1:]
    return block[: next(i for i, line in enumerate(block) if i and not line.startswith(" "))]  # edge_rl/'s lines


def _entries() -> tuple[dict[Path, str], dict[Path, str]]:
    """What the layout names (path -> its line's text) and what each folder's lines list in prose."""
    named: dict[Path, str] = {}
    listed: dict[Path, str] = {}
    folders: list[tuple[int, Path]] = [(-1, ROOT)]
    last: Path = ROOT
    for line in _layout():
        match = NAMES.match(line)
        depth = len(line) - len(line.lstrip())
        if match is None or depth >= 26:  # a description's next line: it belongs to the line above
            listed[last] = listed.get(last, "") + " " + line
            continue
        while folders[-1][0] >= depth:
            folders.pop()
        parent = folders[-1][1]
        description = line[match.end():]
        for name in (part.strip() for part in match.group(2).split(",") if part.strip()):
            path = parent / name.rstrip("/")
            named[path] = description
            if name.endswith("/"):
                folders.append((depth, path))
                last = path
            else:
                last = parent
        listed[last] = listed.get(last, "") + " " + description
    return named, listed


def test_every_path_the_layout_names_exists() -> None:
    named, _ = _entries()
    assert PACKAGE in named
    missing = [str(p.relative_to(ROOT)) for p in named if not p.exists()]
    assert not missing, f"the README's layout names what the package does not have: {missing}"


def test_every_module_and_folder_of_the_package_is_in_the_layout() -> None:
    named, listed = _entries()
    absent = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py") or "__pycache__" in path.parts:
            continue
        folder = path.parent
        if path in named or path.name in LISTED.findall(listed.get(folder, "")):
            continue
        absent.append(str(path.relative_to(ROOT)))
    for folder in sorted(p.parent for p in PACKAGE.rglob("__init__.py")):
        if folder not in named:
            absent.append(str(folder.relative_to(ROOT)) + "/")
    assert not absent, f"add these to the README's layout: {absent}"
