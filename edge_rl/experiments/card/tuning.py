"""The card's section on equal tuning (notebooks 08 and 06): what each model's tuning found, the
tuned models at budget on the test episodes, whether combining DQN and PPO helps, and which of
the hybrid's heads carries its skill. Every sentence is built from the tables; a folder without
them gets no section."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from edge_rl.experiments.analyse.report import markdown

RULE = "greedy_earliest_finish"


def _read(results: Path, name: str, index: int | list[int] = 0) -> pd.DataFrame | None:
    path = results / "tables" / f"{name}.csv"
    return pd.read_csv(path, index_col=index) if path.is_file() else None


def _interval(text: str) -> tuple[float, float]:
    low, high = text.strip("[]").split(",")
    return float(low), float(high)


def combination_verdict(improvement: pd.DataFrame, hybrid: str, dqn: str) -> str:
    """Whether the tuned hybrid beats the tuned DQN-GNN, from P(hybrid > DQN-GNN) and its interval."""
    row = improvement.loc[(hybrid, dqn)]
    estimate = row["P(X > Y)"]
    if not str(row["95% CI"]).startswith("["):
        return f"one seed cannot tell whether combining DQN and PPO helps (P({hybrid} > {dqn}) = {estimate:.2f})"
    low, high = _interval(row["95% CI"])
    if low > 0.5:
        verdict = "combining DQN and PPO helps: the hybrid beats its DQN part"
    elif high < 0.5:
        verdict = "combining DQN and PPO does not help: the hybrid loses to its DQN part"
    else:
        verdict = "combining DQN and PPO neither clearly helps nor clearly hurts: the interval contains 0.5"
    return f"{verdict} (P({hybrid} > {dqn}) = {estimate:.2f} [{low:.2f}, {high:.2f}])"


def _seeds(final: pd.DataFrame, tuned: list[str]) -> str:
    """How many training seeds the tuned rows of ``final`` have: ``5 seeds each``."""
    counts = sorted({int(final.loc[policy, "Seeds"]) for policy in tuned})
    return f"{counts[0]} seeds each" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} seeds"


def heads_sentence(heads: pd.DataFrame) -> str:
    """Per hybrid of the heads table: the mean over seeds acting by each head, and which is best."""
    means = heads.groupby(level="policy")[["fused", "Q head", "policy head"]].mean()
    parts = []
    for policy, row in means.iterrows():
        best = HEAD_NAMES[row.idxmax()]
        parts.append(f"{policy}: fused {row['fused']:.2f}, Q head {row['Q head']:.2f}, policy head "
                     f"{row['policy head']:.2f} (best: {best})")
    return "; ".join(parts)


HEAD_NAMES = {"fused": "the fused scores", "Q head": "its Q head", "policy head": "its policy head"}


def tuning_finding(results: str | os.PathLike) -> str | None:
    """The card's *Key Findings* line on equal tuning: whether the tuned hybrid beats tuned
    DQN-GNN, and which of its heads carries its skill; None without the tuned tables."""
    results = Path(results)
    final = _read(results, "budget_tuned_final")
    improvement = _read(results, "budget_tuned_improvement", [0, 1])
    if final is None or improvement is None:
        return None
    tuned = [p for p in final.index if str(p).startswith("Tuned ")]
    hybrid = next(p for p in tuned if "Hybrid" in p)
    dqn = next(p for p in tuned if "DQN" in p)
    iqm, steps = final["IQM over seeds"], int(final.loc[dqn, "Training Steps"])
    text = (f"**Under equal tuning** (*Beyond the card*: {_seeds(final, tuned)}, {steps:,} steps), "
            f"{combination_verdict(improvement, hybrid, dqn)}: {hybrid} IQM {iqm[hybrid]:.2f} against {dqn}'s "
            f"{iqm[dqn]:.2f}")
    heads = _read(results, "budget_heads", [0, 1])
    if heads is not None and hybrid in heads.index.get_level_values("policy"):
        means = heads.xs(hybrid, level="policy")[list(HEAD_NAMES)].mean()
        text += (f". Acting by each of its outputs it scores {', '.join(f'{means[h]:.2f} by {HEAD_NAMES[h]}' for h in HEAD_NAMES)}: "
                 f"{HEAD_NAMES[means.idxmax()]} carries its skill")
    return text + "."


def tuning_section(results: str | os.PathLike) -> list[str]:
    """The card's *Equal tuning* section, or nothing when the tuning or the tuned budget runs are missing."""
    results = Path(results)
    summary = _read(results, "tuning_summary")
    final = _read(results, "budget_tuned_final")
    improvement = _read(results, "budget_tuned_improvement", [0, 1])
    heads = _read(results, "budget_heads", [0, 1])
    if summary is None:
        return []
    trials = int(summary["trials"].iloc[0])
    records = sorted((results / "tuning" / "trials").glob("*.json"))
    steps = json.loads(records[0].read_text())["config"]["total_timesteps"] if records else None
    budget = f"{steps:,} environment steps" if steps else "the same environment steps"
    lines = [
        "### Equal tuning (tuning study)",
        f"DQN-GNN, PPO-GNN and each hybrid design had the same tuning budget (notebook 08, `make tune`): "
        f"{trials} Optuna trials each (TPE sampler, a median pruner on the validation curve), each trial a "
        f"training run of {budget} from the budget study's setting, scored by its mean greedy "
        "return on 50 model-selection episodes (seeds 20100-20149); no test seed is read. Per model:",
        markdown(summary),
        "![Hyperparameter importance](figures/tuning_importance.png)",
    ]
    if final is None or improvement is None:
        return lines + ["The tuned models have not trained at budget in this folder: `make study` trains them."]
    tuned = [p for p in final.index if str(p).startswith("Tuned ")]
    hybrid = next(p for p in tuned if "Hybrid" in p)
    dqn = next(p for p in tuned if "DQN" in p)
    lines += [
        f"The tuned DQN-GNN, the tuned PPO-GNN and the hybrid design whose best trial scored highest ({hybrid}) "
        f"then trained for the budget study's full budget, {_seeds(final, tuned)}, last weights, scored on the "
        f"{int(final.loc[dqn, 'Episodes'])} test episodes beside the untuned rows "
        "(notebook 06):",
        markdown(final.loc[[p for p in final.index if p in tuned or p in (RULE, "oracle_one_step")]]),
        markdown(improvement),
        f"On this task, under equal tuning, {combination_verdict(improvement, hybrid, dqn)}.",
    ]
    if heads is not None:
        lines.append("Acting greedily by each of its outputs on the test episodes (mean over seeds): "
                     f"{heads_sentence(heads)}.")
    lines.append("`make serve` offers them as `dqn_tuned`, `ppo_tuned` and `hybrid_tuned` (the design the tuning "
                 "chose), each the training seed that scores best on the model-selection episodes; the unsuffixed "
                 "`hybrid` serves whichever hybrid, tuned or not, scores best there (`GET /models` says which, and why).")
    return lines
