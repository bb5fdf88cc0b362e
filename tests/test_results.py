"""What a reader of the committed results sees: executed notebooks without progress bars,
warnings or this machine's paths, and images that resolve, in the notebooks and in the card."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from edge_rl.experiments.run.notebooks import STUDY_NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
EXECUTED = sorted((RESULTS / "notebooks").glob("*.ipynb"))
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
ABSOLUTE = re.compile(r"(/tmp/|/work/|/home/|/root/|/Users/|site-packages)")


def _outputs(path: Path) -> list[dict]:
    return [output for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
            for output in cell.get("outputs", [])]


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(data[key]) for key in ("text/plain", "text/markdown", "text/html") if key in data)


STUDIES = STUDY_NOTEBOOKS  # make study's: committed once a study has run (the budget study takes hours)


def test_the_notebooks_were_executed() -> None:
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    executed = [p.name for p in EXECUTED]
    assert set(STUDIES) <= set(notebooks)
    assert [n for n in executed if n not in STUDIES] == [n for n in notebooks if n not in STUDIES]  # make reproduce's
    assert set(executed) <= set(notebooks)


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: p.name)
def test_an_executed_notebook_shows_no_stderr_no_progress_and_no_path_of_this_machine(path: Path) -> None:
    for output in _outputs(path):
        assert not (output.get("output_type") == "stream" and output.get("name") == "stderr"), _text(output)[:200]
        text = _text(output)
        assert "\r" not in text and "it/s]" not in text and "run/s]" not in text, text[:200]
        assert not ABSOLUTE.search(text), ABSOLUTE.search(text).group(0)
        assert output.get("output_type") != "error", text[:200]


@pytest.mark.parametrize("path", [*EXECUTED, RESULTS / "MODEL_CARD.md"], ids=lambda p: p.name)
def test_every_image_link_resolves(path: Path) -> None:
    if path.suffix == ".md":
        links = IMAGE.findall(path.read_text(encoding="utf-8"))
    else:
        links = [link for output in _outputs(path) for link in IMAGE.findall(output.get("data", {}).get("text/markdown", ""))]
    missing = [link for link in links if not (path.parent / link).is_file()]
    assert not missing, f"{path.name}: {missing}"
    if path.suffix == ".md":
        assert links  # the card shows its figures


def test_the_makefile_and_the_package_name_the_same_study_notebooks() -> None:
    line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("STUDIES"))
    assert tuple(Path(word).name for word in line.split(":=", 1)[1].split()) == STUDY_NOTEBOOKS


def test_the_committed_rollout_choice_is_what_the_chosen_design_s_runs_use() -> None:
    """Notebook 04 chooses PPO's rollout length on validation seeds; the card's runs of the chosen
    design were trained with the full budget's ``design_rollout``: they must agree."""
    import pandas as pd

    from edge_rl.experiments.plan.suites import BUDGETS

    table = pd.read_csv(RESULTS / "tables" / "ppo_rollout.csv", index_col=0)
    full = BUDGETS["full"]
    assert list(table.index) == list(full.rollouts)
    assert int(table["validation return (mean over seeds)"].idxmax()) == full.design_rollout


def test_every_run_make_reproduce_asks_for_is_committed_with_its_config() -> None:
    """``make reproduce`` skips a run whose committed config and seeds are its own: a change to how
    the suites (or the catalogue's variants) build a run's label or config would retrain it."""
    from edge_rl.experiments.plan import suites
    from edge_rl.experiments.run.runs import finished

    full = suites.budget("full")
    for runs in (suites.card_runs, suites.ablation_runs, suites.design_runs, suites.rollout_runs):
        assert [run.stem for run in runs(full) if not finished(RESULTS, run)] == [], runs.__name__


def test_every_run_the_full_budget_study_asks_for_is_committed_with_its_config() -> None:
    """``make study`` skips a run whose committed config and seeds are its own: an edit to the
    study's configs (say, the GraphSAGE arm changing the GCN runs') would retrain them."""
    import pandas as pd

    from edge_rl.experiments.studies.budget import budget_runs, study_plan
    from edge_rl.experiments.run.runs import finished

    rollouts = pd.read_csv(RESULTS / "tables" / "budget_rollout.csv", index_col=0)
    rollout = int(rollouts["validation return (mean over seeds)"].idxmax())
    runs = budget_runs(study_plan("full"), rollout)
    assert [run.stem for run in runs if not finished(RESULTS / "study", run)] == []


def test_the_committed_tuning_study_is_complete_and_its_tuned_runs_are_committed(monkeypatch) -> None:
    """``make tune`` replays the committed trials without training one, and ``make study`` finds
    every tuned run it asks for finished with its config."""
    from edge_rl.experiments.studies import tuning
    from edge_rl.experiments.studies.budget import study_plan
    from edge_rl.experiments.studies.tuned import tuned_runs
    from edge_rl.experiments.run.runs import finished

    def no_training(*args):
        raise AssertionError("a committed trial would train again")

    monkeypatch.setattr(tuning, "run_trial", no_training)
    plan = tuning.tuning_plan("full")
    studies = tuning.tune(plan, RESULTS / "tuning", workers=0, report=None)
    assert {key: len(study.trials) for key, study in studies.items()} == {key: plan.trials for key in studies}
    runs = tuned_runs(study_plan("full"), RESULTS / "tuning", plan)
    assert [run.stem for run in runs if not finished(RESULTS / "study", run)] == []


def test_the_generalisation_study_evaluates_the_budget_studys_tuned_models_at_five_seeds() -> None:
    """Notebook 07 reads the tuned runs of notebook 06 (the committed tuning chose them): tuned
    DQN-GNN, the best hybrid design and tuned PPO-GNN, 5 seeds each, at the study's whole budget."""
    from edge_rl.experiments.studies.generalisation import generalisation_plan, tuned_models
    from edge_rl.experiments.studies.tuned import best_hybrid_design
    from edge_rl.experiments.studies.tuning import tuning_plan
    from edge_rl.experiments.studies.search_spaces import MODELS

    runs = tuned_models(generalisation_plan("full"), RESULTS / "tuning", "full")
    hybrid = MODELS[best_hybrid_design(RESULTS / "tuning", tuning_plan("full"))].label
    assert sorted({run.label for run in runs}) == sorted({"Tuned DQN-GNN", "Tuned PPO-GNN", f"Tuned {hybrid}"})
    assert sorted(run.config.seed for run in runs) == sorted(list(range(5)) * 3)
    assert {run.config.total_timesteps for run in runs} == {200_000}


def test_the_api_serves_the_tuned_models_and_its_hybrid_is_the_best_by_validation() -> None:
    """``hybrid_tuned`` answers with the design the tuning chose; ``hybrid`` with whichever hybrid,
    tuned or not, scores best on the model-selection episodes (here the tuned one: it is the best)."""
    from edge_rl.experiments.studies.tuned import best_hybrid_design
    from edge_rl.experiments.studies.tuning import tuning_plan
    from edge_rl.serve.models import MODEL_SPECS, SPECS, Predictor
    from edge_rl.serve.selection import rank_variants

    predictor = Predictor(results=RESULTS, lazy=True)
    design = best_hybrid_design(RESULTS / "tuning", tuning_plan("full"))
    assert predictor.checkpoint("hybrid_tuned").startswith(f"tuned-{design}-seed")
    (best, *_), _ = rank_variants({t: (SPECS[t].home(RESULTS), SPECS[t].checkpoint) for t in MODEL_SPECS["hybrid"].alias_of})
    assert predictor.checkpoint("hybrid").startswith(best)
    assert {"dqn_tuned", "ppo_tuned", "hybrid_tuned"} <= set(MODEL_SPECS)
    assert predictor.checkpoint("dqn_tuned").startswith("tuned-dqn-gnn-seed")
