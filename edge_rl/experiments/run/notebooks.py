"""Run a notebook with papermill, strictly: ``python -m edge_rl.experiments.run.notebooks IN OUT -p NAME VALUE``.

Stricter than papermill alone, as a reproduction needs: a parameter the notebook does not
declare in its ``parameters`` cell is refused (papermill only warns); a failing cell stops the
run with the notebook's name and the cell's number; and the executed notebook is written to a
temporary file and renamed, so ``OUT`` is either complete or absent and ``make`` never takes a
half-run notebook for a finished one. With ``--record RESULTS``, each finished notebook's wall
time, the checkpoints it wrote, the machine and the package versions go to
``RESULTS/tables/timings.csv`` (and ``.md``), one row per notebook, replaced when it reruns.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import nbformat
import pandas as pd
import papermill
import yaml
from papermill.exceptions import PapermillExecutionError

from edge_rl.catalogue import STUDY
from edge_rl.files import atomic_write
from edge_rl.versions import package_versions

STUDY_NOTEBOOKS = ("06_budget.ipynb", "07_generalisation.ipynb")
"""``make study``'s notebooks (the Makefile's ``STUDIES``); every other numbered notebook is ``make reproduce``'s."""


class NotebookError(RuntimeError):
    """A notebook that could not be run; the message names it and, if it failed, the cell."""


PROGRESS_ENV = "EDGE_RL_PROGRESS"
"""The file a notebook's progress bars write to (:func:`progress_stream`) while the runner
copies it to the terminal: the terminal shows the progress, the saved notebook none of it."""


def progress_stream() -> TextIO:
    """Where a progress bar goes: the runner's progress file when a notebook runs under
    :func:`run_notebook`, else standard error."""
    path = os.environ.get(PROGRESS_ENV)
    return open(path, "a", buffering=1, encoding="utf-8") if path else sys.stderr  # noqa: SIM115


def _copy_until(path: Path, done: threading.Event, out: TextIO) -> None:
    """Copy what is appended to ``path`` to ``out`` until ``done`` (then what is left)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as source:  # keep the bars' carriage returns
        while True:
            finished = done.is_set()
            chunk = source.read()
            if chunk:
                out.write(chunk)
                out.flush()
            if finished:
                return
            time.sleep(0.2)


def run_notebook(source: str | os.PathLike, output: str | os.PathLike, parameters: dict[str, Any] | None = None,
                 echo: bool = False) -> Path:
    """Execute ``source`` with ``parameters`` (kernel ``python3``, in the notebook's folder).

    ``echo`` shows the notebook's progress bars on this process's stderr as they come, so
    ``make`` shows a long notebook's progress; they reach the terminal through a file of their
    own (:data:`PROGRESS_ENV`), never the saved notebook. The kernel logs errors only, and
    PyTorch Geometric's import-time tqdm warning (no ipywidgets) is not shown.
    """
    source, output, parameters = Path(source), Path(output), dict(parameters or {})
    if not source.is_file():
        raise NotebookError(f"{source}: no such notebook")
    declared = papermill.inspect_notebook(str(source))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise NotebookError(f"{source.name}: unknown parameter(s) {unknown}; it declares {sorted(declared)}")
    with tempfile.TemporaryDirectory() as scratch:
        progress = Path(scratch) / "progress.log"
        progress.touch()
        done = threading.Event()
        copier = threading.Thread(target=_copy_until, args=(progress, done, sys.stderr), daemon=True)
        environment = {PROGRESS_ENV: str(progress), "PYTHONWARNINGS": "ignore:IProgress not found"}
        saved = {key: os.environ.get(key) for key in environment}
        os.environ.update(environment)  # the kernel inherits this process's environment
        if echo:
            copier.start()
        try:
            atomic_write(output, lambda tmp: papermill.execute_notebook(
                str(source), tmp, parameters=parameters, kernel_name="python3", cwd=str(source.parent),
                progress_bar=False, extra_arguments=["--IPKernelApp.log_level=ERROR"]), suffix=".ipynb")
        except PapermillExecutionError as error:
            # papermill counts the cell it injects after the parameters cell; name the reader's own.
            index = error.cell_index
            if parameters and index > _parameters_cell(source):
                index -= 1
            first_line = error.source.strip().splitlines()[0] if error.source.strip() else ""
            raise NotebookError(
                f"{source.name}: cell {index + 1} ({first_line!r}) failed: {error.ename}: {error.evalue}"
            ) from None
        finally:
            done.set()
            if echo:
                copier.join()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return output


def _parameters_cell(source: Path) -> int:
    cells = nbformat.read(source, as_version=4).cells
    return next((i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", [])), -1)


def cpu_name() -> str:
    """The processor's model name (from ``/proc/cpuinfo`` on Linux), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def record_timing(results: str | os.PathLike, notebook: str, wall_s: float, checkpoints: int,
                  parameters: dict[str, Any]) -> pd.DataFrame:
    """Put one notebook's row in ``results/tables/timings.csv`` and ``.md`` and return the
    table: wall time, checkpoints written, budget, finish time, machine (CPU, cores, OS) and
    package versions.

    The row replaces the notebook's previous one, except that a rerun which trained nothing
    (every run was already done) does not replace a row that did train: the table keeps what
    each step costs when it does its work.
    """
    stem = Path(results) / "tables" / "timings"
    versions = package_versions()
    row = {
        "notebook": notebook, "wall time (s)": round(wall_s, 1), "checkpoints written": checkpoints,
        "budget": parameters.get("budget", ""),
        "finished (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_name(), "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
        **{name: versions[name] for name in ("python", "torch", "torch-geometric", "stable-baselines3", "gymnasium", "numpy")},
    }
    table = pd.read_csv(stem.with_suffix(".csv"), dtype=str) if stem.with_suffix(".csv").exists() else pd.DataFrame()
    if not table.empty:
        previous = table[table["notebook"] == notebook]
        if checkpoints == 0 and not previous.empty and int(previous["checkpoints written"].iloc[0]) > 0:
            return table
        table = table[table["notebook"] != notebook]
    table = pd.concat([table, pd.DataFrame([row]).astype(str)], ignore_index=True).sort_values("notebook")
    # Written here, not with report.save_table: its plotting imports would add seconds to every notebook.
    table = table.set_index("notebook")
    atomic_write(stem.with_suffix(".csv"), lambda tmp: table.to_csv(tmp))
    atomic_write(stem.with_suffix(".md"), lambda tmp: Path(tmp).write_text(table.to_markdown() + "\n"))
    return table.reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_rl.experiments.run.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the notebook to run")
    parser.add_argument("output", help="where the executed notebook goes")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter, its value read as YAML (as papermill's -p does); repeatable")
    parser.add_argument("--record", metavar="RESULTS",
                        help="record the wall time, machine and versions in RESULTS/tables/timings.csv")
    args = parser.parse_args(argv)
    parameters = {name: yaml.safe_load(value) for name, value in args.parameter}
    started, start = time.time(), time.perf_counter()
    try:
        run_notebook(args.source, args.output, parameters, echo=True)
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.record:
        folders = (Path(args.record) / "models", Path(args.record) / STUDY / "models")  # the card's, the studies'
        written = [p for folder in folders for p in folder.glob("*.json") if p.stat().st_mtime >= started]
        record_timing(args.record, Path(args.source).name, time.perf_counter() - start, len(written), parameters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
