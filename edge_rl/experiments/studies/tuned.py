"""What the tuning study chose (:mod:`edge_rl.experiments.studies.tuning`), and the runs that use it: each
model's best trial, its settings as a hyperparameter file keyed by environment id (RL Zoo's
form), the config that file describes, the hyperparameters' importance, and the budget study's
tuned arm (notebook 06): tuned DQN-GNN, tuned PPO-GNN and the best hybrid design.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from edge_rl.config import TrainConfig
from edge_rl.config.algorithms import algorithm_sections
from edge_rl.experiments.run.runs import Run
from edge_rl.experiments.studies.budget import StudyPlan
from edge_rl.experiments.studies.search_spaces import MODELS
from edge_rl.experiments.studies.tuning import TuningPlan, trials_table
from edge_rl.files import atomic_write

ENV_ID = "edge_rl/IoTEdge-v0"
"""The key of the hyperparameter files, as RL Zoo keys its files by environment id."""


def best_trials(folder: str | os.PathLike, plan: TuningPlan) -> pd.DataFrame:
    """Per model, its best finished trial by selection return (ties: the earlier trial)."""
    table = trials_table(folder, plan)
    done = table[table["state"] == "complete"].sort_values(["model", "selection return", "trial"],
                                                           ascending=[True, False, True], kind="stable")
    return done.groupby("model", sort=False).head(1).set_index("model")


def chosen_settings(record: dict[str, Any], plan: TuningPlan) -> dict[str, Any]:
    """What a trial changed of its model's base config: ``{"section.field": value}``, every
    field whose value differs (a drawn value as the config holds it, and what follows from it,
    e.g. the card's ``policy_weight`` = 1 - ``q_weight``)."""
    base = MODELS[record["model"]].base(plan.steps, plan.train_seed).to_dict()
    chosen = record["config"]
    return {f"{section}.{name}": value
            for section in algorithm_sections() for name, value in chosen[section].items()
            if base[section][name] != value}


def write_hyperparams(folder: str | os.PathLike, plan: TuningPlan) -> list[Path]:
    """One file per model, ``folder/hyperparams/<model>.yml``, keyed by environment id as RL Zoo's
    files are: the best trial's settings (``python -m edge_rl train --set`` assignments), the
    trial it came from and its selection return. Returns the files written."""
    import yaml

    folder = Path(folder)
    written = []
    for key in MODELS:
        records = [json.loads(p.read_text()) for p in sorted((folder / "trials").glob(f"{key}-[0-9]*.json"))]
        records = [r for r in records if r["value"] is not None and r["config"]["total_timesteps"] == plan.steps]
        if not records:
            continue
        best = max(records, key=lambda r: (r["value"], -r["number"]))
        model = MODELS[key]
        document = {ENV_ID: {"algo": model.algo, **dict(model.settings), **chosen_settings(best, plan)}}
        header = (f"# {model.label}: the best of {len(records)} finished trials ({plan.trials} drawn, "
                  f"{plan.steps:,} environment steps each) by mean return on model-selection seeds "
                  f"{plan.selection_seeds[0]}-{plan.selection_seeds[-1]}: trial {best['number']}, "
                  f"{best['value']:.2f}. Written by make tune (edge_rl.experiments.studies.tuning).\n")
        path = folder / "hyperparams" / f"{key}.yml"
        text = header + yaml.safe_dump(document, sort_keys=False)
        atomic_write(path, lambda tmp, text=text: Path(tmp).write_text(text))
        written.append(path)
    return written


def tuned_config(key: str, folder: str | os.PathLike, steps: int, seed: int, plan: TuningPlan) -> TrainConfig:
    """Model ``key``'s config with the settings its hyperparameter file holds, at ``steps``
    environment steps and training seed ``seed`` (e.g. the budget study's rerun).

    Raises:
        FileNotFoundError: the file is missing (run ``make tune``).
    """
    import yaml

    from edge_rl.config.overrides import apply_overrides

    path = Path(folder) / "hyperparams" / f"{key}.yml"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the tuning study first (make tune)")
    settings = dict(yaml.safe_load(path.read_text())[ENV_ID])
    settings.pop("algo")
    base = MODELS[key].base(steps, seed)
    return apply_overrides(base, [f"{name}={json.dumps(value)}" for name, value in settings.items()], str(path))


def importance_table(studies: dict[str, Any]) -> pd.DataFrame:
    """Each hyperparameter's importance per model (PED-ANOVA: no model fitted, so no scikit-learn),
    over the finished trials of each study."""
    import warnings

    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    columns = {}
    for key, study in studies.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            columns[MODELS[key].label] = pd.Series(get_param_importances(study, evaluator=PedAnovaImportanceEvaluator()))
    table = pd.DataFrame(columns)
    table.index = table.index.str.split(".", n=1).str[1]  # learning_rate, not dqn.learning_rate
    return table.groupby(level=0).sum(min_count=1)


def summary_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per model (``trials``: :func:`trials_table`): trials drawn, finished and pruned, the best
    and median selection return of the finished ones, the environment steps and CPU-seconds spent."""
    groups = trials.groupby("model", sort=False)
    return pd.DataFrame({
        "trials": groups.size(), "finished": groups["state"].apply(lambda s: int((s == "complete").sum())),
        "pruned": groups["state"].apply(lambda s: int((s == "pruned").sum())),
        "best selection return": groups["selection return"].max(),
        "median selection return (finished)": groups["selection return"].median(),
        "env steps": groups["env steps"].sum(), "CPU-seconds": groups["seconds"].sum()})


# ---------------------------------------------------------------------------- the budget study's tuned arm

TUNED_BASELINES = ("dqn-gnn", "ppo-gnn")
"""The tuned models the study always trains at budget; the best hybrid design joins them."""

TUNED_SEEDS = 5
"""Training seeds of each tuned model at budget (0-4), as many as the untuned rows have."""


def best_hybrid_design(tuning_folder: str | Path, tuning: TuningPlan) -> str:
    """The hybrid design (its :data:`~edge_rl.experiments.studies.search_spaces.MODELS` key) whose best
    tuning trial scored highest on the model-selection seeds."""
    best = best_trials(tuning_folder, tuning)
    labels = {model.label: key for key, model in MODELS.items() if key not in TUNED_BASELINES}  # the designs
    hybrids = best[best.index.isin(list(labels))]
    if hybrids.empty:
        raise ValueError(f"no hybrid design has a finished tuning trial in {tuning_folder}: run make tune")
    return labels[hybrids["selection return"].idxmax()]


def tuned_runs(plan: StudyPlan, tuning_folder: str | Path, tuning: TuningPlan) -> list[Run]:
    """Tuned DQN-GNN, the best tuned hybrid design and tuned PPO-GNN (the longest first), at most
    :data:`TUNED_SEEDS` seeds of ``plan.steps`` steps each with the settings of their
    hyperparameter files; evaluated on the test seeds and on the model-selection seeds, as the
    untuned runs are."""
    keys = (TUNED_BASELINES[0], best_hybrid_design(tuning_folder, tuning), *TUNED_BASELINES[1:])
    return [Run(f"Tuned {MODELS[key].label}", tuned_config(key, tuning_folder, plan.steps, seed, tuning),
                plan.eval_seeds, plan.selection_seeds)
            for key in keys for seed in range(min(plan.seeds, TUNED_SEEDS))]
