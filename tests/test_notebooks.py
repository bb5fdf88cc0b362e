"""The notebook runner: strict parameters, failing cells named, no half-written output."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from edge_rl.experiments.run.notebooks import NotebookError, main, run_notebook


def _notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('value = 1  # a parameter')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters] + [nbformat.v4.new_code_cell(s) for s in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_a_notebook_runs_with_its_parameters_in_its_own_folder(tmp_path: Path) -> None:
    source = _notebook(tmp_path / "nb.ipynb", "from pathlib import Path\nPath('out.txt').write_text(str(value * 2))")
    output = run_notebook(source, tmp_path / "executed" / "nb.ipynb", {"value": 21})
    assert (tmp_path / "out.txt").read_text() == "42"
    assert nbformat.read(output, as_version=4).cells  # a complete notebook


def test_unknown_parameters_are_refused_before_anything_runs(tmp_path: Path) -> None:
    source = _notebook(tmp_path / "nb.ipynb", "open('ran', 'w')")
    with pytest.raises(NotebookError, match=r"nb.ipynb: unknown parameter\(s\) \['valu'\]; it declares \['value'\]"):
        run_notebook(source, tmp_path / "out.ipynb", {"valu": 2})
    assert not (tmp_path / "ran").exists()


def test_a_failing_cell_is_named_and_leaves_no_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = _notebook(tmp_path / "nb.ipynb", "x = 1", "raise ValueError('no results from 01')")
    output = tmp_path / "out.ipynb"
    with pytest.raises(NotebookError, match="nb.ipynb: cell 3 \\(.raise ValueError.*failed: ValueError: no results from 01"):
        run_notebook(source, output)
    assert not output.exists() and not list(tmp_path.glob(".*.ipynb"))
    assert main([str(source), str(output), "-p", "value", "3"]) == 1
    assert "cell 3 (" in capsys.readouterr().err  # counted in the reader's notebook, not papermill's


def test_a_missing_notebook_is_named(tmp_path: Path) -> None:
    with pytest.raises(NotebookError, match="no such notebook"):
        run_notebook(tmp_path / "missing.ipynb", tmp_path / "out.ipynb")


def test_record_keeps_one_timing_row_per_notebook_with_machine_and_versions(tmp_path: Path) -> None:
    import pandas as pd

    results = tmp_path / "results"
    (results / "models").mkdir(parents=True)
    (results / "models" / "old.json").write_text("{}")
    source = _notebook(tmp_path / "nb.ipynb", f"open({str(results / 'models' / 'new.json')!r}, 'w').write('{{}}')")
    for _ in range(2):  # a rerun replaces the row
        assert main([str(source), str(tmp_path / "out.ipynb"), "-p", "value", "2", "--record", str(results)]) == 0
    table = pd.read_csv(results / "tables" / "timings.csv")
    assert list(table["notebook"]) == ["nb.ipynb"]
    row = table.iloc[0]
    assert row["checkpoints written"] == 1 and float(row["wall time (s)"]) > 0
    assert row["cores"] >= 1 and row["torch"].startswith("2.13.0") and row["python"].startswith("3.11")
    assert (results / "tables" / "timings.md").read_text().startswith("| notebook")
    # A rerun that trains nothing keeps the row of the run that did the work.
    idle = _notebook(tmp_path / "nb.ipynb", "x = 1")
    assert main([str(idle), str(tmp_path / "out.ipynb"), "--record", str(results)]) == 0
    assert pd.read_csv(results / "tables" / "timings.csv").iloc[0]["checkpoints written"] == 1


def test_a_missing_earlier_result_stops_the_real_notebook_and_names_it(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    with pytest.raises(NotebookError, match=r"03_evaluation.ipynb: cell 3 .*FileNotFoundError: run dqn-baseline-seed0 "
                                            r"has no up-to-date results"):
        run_notebook(root / "notebooks" / "03_evaluation.ipynb", tmp_path / "out.ipynb",
                     {"results_dir": str(tmp_path / "empty")})
    assert not (tmp_path / "out.ipynb").exists()


def test_record_counts_the_study_s_checkpoints_too(tmp_path: Path) -> None:
    import pandas as pd

    results = tmp_path / "results"
    (results / "study" / "models").mkdir(parents=True)
    (results / "quick" / "models").mkdir(parents=True)  # another folder's: not this one's
    code = "; ".join(f"open({str(results / folder / 'models' / 'new.json')!r}, 'w').write('{{}}')"
                     for folder in ("study", "quick"))
    source = _notebook(tmp_path / "nb.ipynb", code)
    assert main([str(source), str(tmp_path / "out.ipynb"), "--record", str(results)]) == 0
    assert pd.read_csv(results / "tables" / "timings.csv").iloc[0]["checkpoints written"] == 1
