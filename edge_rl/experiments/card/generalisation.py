"""The card's sentences on the generalisation study (notebook 07): each model's return against the
rule on networks and loads it was not trained on, what training on a mixture changed, and whether
what the budget study's models learnt with 200,000 steps transfers. Every number comes from the
zero-shot table (:func:`~edge_rl.experiments.studies.generalisation.zero_shot_table`); none is typed in."""

from __future__ import annotations

import pandas as pd

from edge_rl.catalogue import DESIGN, variant, with_root_path
from edge_rl.experiments.studies.generalisation import BOUND, CONDITIONS, MIXED, MODELS, RULES
from edge_rl.experiments.studies.search_spaces import MODELS as TUNED

UNMIXED = with_root_path(variant("DQN-GNN"), DESIGN).label
"""The mixed model's twin trained on the card's network alone."""

CARD_BUDGET_TWIN = {f"Tuned {model.label}": next(m for m in MODELS if m.startswith(model.label.split(" ")[0]))
                    for model in TUNED.values()}
"""Each tuned model of the budget study and the card's model of its algorithm (10,000 steps) it is
compared with: ``Tuned DQN-GNN`` -> ``DQN-GNN + root``, ``Tuned Hybrid (separated)`` ->
``Hybrid (Best) + root``."""


def sizes() -> str:
    """The span of network sizes the study runs, from its conditions (``9 to 200 nodes``)."""
    nodes = [c.config.n_nodes for c in CONDITIONS]
    return f"{min(nodes)} to {max(nodes)} nodes"


def models(table: pd.DataFrame) -> list[str]:
    """The trained models among the zero-shot table's columns (not the rules, not the bound)."""
    return [c for c in table.columns if c not in (*RULES, BOUND)]


def zero_shot_summary(table: pd.DataFrame) -> str:
    """What the zero-shot table says of each model: its difference to the rule across conditions."""
    return "; ".join(f"{model} from {table[model].min():+.1f} to {table[model].max():+.1f} (above the rule in "
                     f"{int((table[model] > 0).sum())} of {len(table)})" for model in models(table))


def best_zero_shot(table: pd.DataFrame) -> str:
    """The model with the best mean difference to the rule, and its span across conditions."""
    best = table[models(table)].mean().idxmax()
    values = table[best]
    return (f"{best}, the best of them there, lies {values.min():+.1f} to {values.max():+.1f} return points from the "
            f"rule across the conditions ({values.iloc[0]:+.1f} on the card's own network)")


def mixture_effect(table: pd.DataFrame) -> str:
    """What training on a mixture of networks and loads changed, across the zero-shot conditions."""
    if MIXED not in table.columns or UNMIXED not in table.columns:
        return "No model here was trained on a mix of networks or loads."
    difference = table[MIXED] - table[UNMIXED]
    return (f"Training on a mix of sizes and loads ({MIXED}) changed the return by {difference.mean():+.2f} on "
            f"average over the conditions ({difference.min():+.2f} to {difference.max():+.2f}).")


def budget_transfer(table: pd.DataFrame) -> str:
    """Per tuned model of the budget study: its mean difference to the rule over the conditions
    other than the card's own, against its card-budget twin's, and on the largest network."""
    pairs = [(tuned, twin) for tuned, twin in CARD_BUDGET_TWIN.items()
             if tuned in table.columns and twin in table.columns]
    if not pairs:
        return ""
    away = table.iloc[1:]  # the card's own network (the first row) is where both trained
    largest = max(CONDITIONS, key=lambda c: c.config.n_nodes).name
    parts = []
    for tuned, twin in pairs:
        part = (f"{tuned} {away[tuned].mean():+.2f} on average against {twin}'s {away[twin].mean():+.2f}, above the "
                f"rule in {int((away[tuned] > 0).sum())} of {len(away)} (the card-budget model in "
                f"{int((away[twin] > 0).sum())})")
        if largest in table.index:
            part += f", at {largest.split(' (')[0]} {table.loc[largest, tuned]:+.2f} against {table.loc[largest, twin]:+.2f}"
        parts.append(part)
    return ("Trained with budget (200,000 steps, tuned), away from the card's network, the difference to the rule "
            "is: " + "; ".join(parts) + ".")
