"""The package's layers, read from its source (every import statement, those inside functions
too): serving imports nothing of the study pipeline, what both share sits below both, the core
imports neither, and no module imports itself round a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edge_rl"
SHARED = ("edge_rl.catalogue", "edge_rl.stats", "edge_rl.palette")
"""What serving and the study pipeline share: the variants, the statistics, the colours."""
CORE = ("edge_rl.config", "edge_rl.registry", "edge_rl.checks", "edge_rl.files", "edge_rl.versions",
        "edge_rl.evaluation", "edge_rl.envs", "edge_rl.nn", "edge_rl.agents")
"""What trains and acts (README: the core never imports experiments or serve)."""


def module_name(path: Path, root: Path = ROOT) -> str:
    """``edge_rl/serve/models.py`` -> ``edge_rl.serve.models``; a package is its folder's name."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: Path = PACKAGE, root: Path = ROOT) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(package.rglob("*.py"))}


def imported(path: Path, known: dict[str, Path], root: Path = ROOT) -> set[str]:
    """The modules of ``known`` that ``path`` imports anywhere in its body (at the top, in a
    function, under ``if``), relative imports resolved; ``from a import b`` imports ``a.b`` when
    that is a module, else ``a``; ``importlib.import_module("a.b")`` with a constant name counts."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = ".".join(part for part in (anchor, base) if part)
            targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            targets.add(node.args[0].value)
    found = set()
    for target in targets:
        while target and target not in known:  # edge_rl.envs.heuristics.HEURISTICS -> the module
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def graph(package: Path = PACKAGE, root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(package, root)
    return {name: imported(path, known, root) for name, path in known.items()}


def within(name: str, parts: tuple[str, ...]) -> bool:
    return any(name == part or name.startswith(f"{part}.") for part in parts)


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports (its modules, the first again at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


EDGES = graph()


def test_serving_imports_nothing_of_the_study_pipeline() -> None:
    offending = {name: sorted(t for t in targets if within(t, ("edge_rl.experiments",)))
                 for name, targets in EDGES.items() if within(name, ("edge_rl.serve",))}
    assert {name: targets for name, targets in offending.items() if targets} == {}
    assert any(within(name, ("edge_rl.serve.dashboard",)) for name in EDGES)  # the dashboard was read too


@pytest.mark.parametrize("layer", [SHARED, CORE], ids=["shared", "core"])
def test_what_lies_below_imports_neither_the_study_pipeline_nor_serving(layer: tuple[str, ...]) -> None:
    offending = {name: sorted(t for t in targets if within(t, ("edge_rl.experiments", "edge_rl.serve")))
                 for name, targets in EDGES.items() if within(name, layer)}
    assert {name: targets for name, targets in offending.items() if targets} == {}


def test_serving_and_the_study_pipeline_both_use_what_they_share() -> None:
    # Were one of them to stop, the module would belong to the other.
    for shared in SHARED:
        users = {name.split(".")[1] for name, targets in EDGES.items() if shared in targets}
        assert {"serve", "experiments"} <= users, shared


def test_nothing_in_the_package_imports_in_a_circle() -> None:
    assert cycle(EDGES) is None


def test_the_scan_finds_imports_inside_functions_relative_ones_and_circles(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "serve").mkdir(parents=True)
    (tmp_path / "pkg" / "experiments").mkdir()
    for package in ("pkg", "pkg/serve", "pkg/experiments"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "pkg" / "experiments" / "suites.py").write_text("from pkg.serve import api\n")
    (tmp_path / "pkg" / "serve" / "api.py").write_text(
        "def late():\n    from ..experiments import suites\n    return suites\n")
    edges = graph(tmp_path / "pkg", tmp_path)
    assert edges["pkg.serve.api"] == {"pkg.experiments.suites"}
    assert cycle(edges) == ["pkg.experiments.suites", "pkg.serve.api", "pkg.experiments.suites"]
    assert "edge_rl.experiments.plan.sweep" in EDGES["edge_rl.cli"]  # the CLI imports it inside a function
