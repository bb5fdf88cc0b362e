"""The cost table (notebook 05): where a reproduction's CPU time went, with and without the
timing record that only ``make reproduce`` writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from edge_rl.experiments.analyse.costs import NOTEBOOK_SUITES, cost_table
from edge_rl.experiments.plan import suites


def _results(tmp_path: Path) -> Path:
    """A quick-budget results folder in which every run of the training notebooks took 1 s to
    train, 2 s of validation and 3 s of evaluation."""
    plan = suites.budget("quick")
    for names in NOTEBOOK_SUITES.values():
        for run in (run for name in names for run in getattr(suites, name)(plan)):
            logs = tmp_path / "logs" / run.stem
            logs.mkdir(parents=True, exist_ok=True)
            (logs / "timing.json").write_text(json.dumps({"train_s": 1.0, "validation_s": 2.0, "evaluation_s": 3.0}))
    return tmp_path


def test_each_notebook_is_charged_its_own_runs_and_the_remainder_of_its_cpu_time(tmp_path: Path) -> None:
    results = _results(tmp_path)
    (results / "tables").mkdir()
    plan = suites.budget("quick")
    baselines = len(suites.baseline_runs(plan))
    # 02's pre-training includes 01's graph runs: those are charged to 01 only.
    hybrids = len({r.stem for r in suites.hybrid_runs(plan)} - {r.stem for r in suites.baseline_runs(plan)})
    pd.DataFrame({"notebook": ["01_baselines.ipynb", "02_hybrid.ipynb", "07_generalisation.ipynb"],
                  "wall time (s)": [600.0, 1200.0, 300.0], "cores": [2, 2, 2],
                  "checkpoints written": [baselines, hybrids, 0]}
                 ).to_csv(results / "tables" / "timings.csv", index=False)
    table = cost_table(results, "quick")
    assert "07_generalisation.ipynb" not in table.index  # make study's, not the reproduction's
    assert table.loc["01_baselines.ipynb", "runs"] == baselines
    assert table.loc["02_hybrid.ipynb", "runs"] == hybrids
    assert table.loc["01_baselines.ipynb", "CPU (min)"] == pytest.approx(20.0)
    assert table.loc["01_baselines.ipynb", "training (min)"] == pytest.approx(baselines / 60)
    assert table.loc["02_hybrid.ipynb", "remainder (min)"] == pytest.approx(40.0 - hybrids * 6 / 60)
    assert table.loc["total", "runs"] == baselines + hybrids


def test_without_a_timing_record_the_runs_are_counted_and_the_wall_time_is_unknown(tmp_path: Path) -> None:
    """What nbval and a reader who runs the notebooks by hand get: no tables/timings.csv."""
    table = cost_table(_results(tmp_path), "quick")
    assert list(table.index) == [*NOTEBOOK_SUITES, "total"]
    assert all(math.isnan(v) for v in table["wall (min)"]) and math.isnan(table.loc["total", "CPU (min)"])
    plan = suites.budget("quick")
    every = {r.stem for names in NOTEBOOK_SUITES.values() for name in names for r in getattr(suites, name)(plan)}
    assert table.loc["total", "runs"] == len(every)
    assert table.loc["total", "evaluation (min)"] == pytest.approx(len(every) * 3 / 60)


def test_a_run_without_its_timing_is_named(tmp_path: Path) -> None:
    results = _results(tmp_path)
    missing = results / "logs" / suites.baseline_runs(suites.budget("quick"))[0].stem / "timing.json"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=str(missing)):
        cost_table(results, "quick")


def test_a_notebook_timed_on_a_rerun_of_some_of_its_runs_has_no_remainder(tmp_path: Path) -> None:
    """Its wall time paid for the runs that rerun only: CPU minus every run's time means nothing."""
    results = _results(tmp_path)
    (results / "tables").mkdir()
    pd.DataFrame({"notebook": ["01_baselines.ipynb"], "wall time (s)": [60.0], "cores": [2],
                  "checkpoints written": [3]}).to_csv(results / "tables" / "timings.csv", index=False)
    table = cost_table(results, "quick")
    assert table.loc["01_baselines.ipynb", "runs timed"] == 3
    assert math.isnan(table.loc["01_baselines.ipynb", "remainder (min)"])
    assert math.isnan(table.loc["total", "remainder (min)"]) and table.loc["total", "CPU (min)"] == pytest.approx(2.0)


def test_the_estimate_counts_the_runs_not_done_and_a_hybrids_pretraining_once(tmp_path: Path) -> None:
    from edge_rl.experiments.analyse.costs import _training_todo, run_costs

    todo, planned = _training_todo(tmp_path, ["01_baselines.ipynb", "03_evaluation.ipynb"])
    assert len(todo) == planned == len(suites.baseline_runs(suites.budget("full")))  # none done in an empty folder
    committed = Path(__file__).resolve().parents[1] / "results"
    assert _training_todo(committed, ["01_baselines.ipynb"])[0] == []  # all done in the committed results
    hybrid = next(run for run in suites.hybrid_runs(suites.budget("full")) if run.config.algo == "hybrid")
    pretraining = [run for run in suites.hybrid_runs(suites.budget("full"))
                   if run.config.algo != "hybrid" and run.config.seed == hybrid.config.seed
                   and run.config.encoder == hybrid.config.encoder]
    alone = run_costs([hybrid], committed).set_index("run")["estimate (min)"][hybrid.stem]
    beside = run_costs([hybrid, *pretraining], committed).set_index("run")["estimate (min)"][hybrid.stem]
    assert len(pretraining) == 2 and beside < alone / 2  # its pre-training is counted in its own runs
