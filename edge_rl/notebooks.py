"""Run a notebook with papermill, strictly: ``python -m edge_rl.notebooks IN OUT -p NAME VALUE``.

Stricter than papermill alone, as a reproduction needs: a parameter the notebook does not
declare in its ``parameters`` cell is refused (papermill only warns); a failing cell stops the
run with the notebook's name and the cell's number; and the executed notebook is written to a
temporary file and renamed, so ``OUT`` is either complete or absent and ``make`` never takes a
half-run notebook for a finished one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
import papermill
import yaml
from papermill.exceptions import PapermillExecutionError

from edge_rl.files import atomic_write


class NotebookError(RuntimeError):
    """A notebook that could not be run; the message names it and, if it failed, the cell."""


def run_notebook(source: str | os.PathLike, output: str | os.PathLike, parameters: dict[str, Any] | None = None) -> Path:
    """Execute ``source`` with ``parameters`` (kernel ``python3``, in the notebook's folder)."""
    source, output, parameters = Path(source), Path(output), dict(parameters or {})
    if not source.is_file():
        raise NotebookError(f"{source}: no such notebook")
    declared = papermill.inspect_notebook(str(source))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise NotebookError(f"{source.name}: unknown parameter(s) {unknown}; it declares {sorted(declared)}")
    try:
        atomic_write(output, lambda tmp: papermill.execute_notebook(
            str(source), tmp, parameters=parameters, kernel_name="python3", cwd=str(source.parent),
            progress_bar=False), suffix=".ipynb")
    except PapermillExecutionError as error:
        # papermill counts the cell it injects after the parameters cell; name the reader's own.
        index = error.cell_index
        if parameters and index > _parameters_cell(source):
            index -= 1
        first_line = error.source.strip().splitlines()[0] if error.source.strip() else ""
        raise NotebookError(
            f"{source.name}: cell {index + 1} ({first_line!r}) failed: {error.ename}: {error.evalue}"
        ) from None
    return output


def _parameters_cell(source: Path) -> int:
    cells = nbformat.read(source, as_version=4).cells
    return next((i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", [])), -1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_rl.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the notebook to run")
    parser.add_argument("output", help="where the executed notebook goes")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter, its value read as YAML (as papermill's -p does); repeatable")
    args = parser.parse_args(argv)
    parameters = {name: yaml.safe_load(value) for name, value in args.parameter}
    try:
        run_notebook(args.source, args.output, parameters)
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
