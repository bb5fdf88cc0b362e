"""``MODEL_CARD.md``, written from what ``results/`` holds, in the original card's sections.

The card's prose is Markdown, ``model_card.md`` beside this module, with a ``${name}`` wherever
``results/`` decides what it says. :func:`model_card` reads the tables the notebooks wrote, the
card hybrid's checkpoint and the timing record once
(:class:`~edge_rl.experiments.card.findings.CardInputs`) and fills the template: numbers and
settings, the tables, the key findings and the encoder's design (:mod:`.findings`), the studies
beyond the card (:mod:`.generalisation`, :mod:`.tuning`) and the environmental impact, each
built here or there from the tables. Every number comes from a file; none is typed in.
"""

from __future__ import annotations

import os
from pathlib import Path
from string import Template

import pandas as pd

from edge_rl.config import NODE_FEATURES, TASK_FEATURES
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, VALIDATION_SEEDS_START
from edge_rl.experiments.analyse.report import markdown
from edge_rl.experiments.card.findings import HEADLINE_CHECKPOINT, CardInputs, design_section, key_findings
from edge_rl.experiments.card.generalisation import (best_zero_shot, budget_transfer, mixture_effect, sizes,
                                                     zero_shot_summary)
from edge_rl.experiments.card.tuning import tuning_section
from edge_rl.experiments.studies.generalisation import MIXED
from edge_rl.files import atomic_write


TEMPLATE = Path(__file__).with_name("model_card.md")
"""The card's Markdown: its prose, with a ``${name}`` for every number, table and section that
is built from ``results/`` (:func:`fields`)."""


def _training(card: CardInputs) -> dict[str, object]:
    """The headline hybrid's settings, as its checkpoint records them."""
    config, trained = card.config, card.headline["trained"]
    hybrid, encoder, env = config.hybrid, config.encoder, config.env
    return {
        "headline_model": card.headline_model, "checkpoint": HEADLINE_CHECKPOINT,
        "trained_steps": f"{trained['timesteps']:,}", "fine_tuning_steps": f"{config.total_timesteps:,}",
        "n_envs": hybrid.n_envs, "n_steps": hybrid.n_steps, "pretrain_steps": f"{config.pretrain_steps:,}",
        "dqn_pretrained": f"{trained['pretrain_timesteps']['dqn']:,}",
        "ppo_pretrained": f"{trained['pretrain_timesteps']['ppo']:,}",
        "learning_rate": f"{hybrid.learning_rate:g}", "dqn_learning_rate": f"{config.dqn.learning_rate:g}",
        "ppo_learning_rate": f"{config.ppo.learning_rate:g}", "batch_size": hybrid.batch_size, "gamma": hybrid.gamma,
        "gae_lambda": hybrid.gae_lambda, "clip_range": hybrid.clip_range, "tau": hybrid.tau,
        "target_update_interval": hybrid.target_update_interval, "encoder_kind": encoder.kind.upper(),
        "hidden": encoder.hidden, "layers": encoder.layers, "embed": encoder.embed,
        "root_path": (f" (root path: {encoder.root_path})" if encoder.root_path != "none"
                      else " (the card's plain stack; its twins add a root path)"),
        "fusion": hybrid.fusion.replace("_", " "), "q_weight": hybrid.q_weight, "policy_weight": hybrid.policy_weight,
        "val_episodes": hybrid.val_episodes, "validation_start": VALIDATION_SEEDS_START,
        "test_start": DEFAULT_EVAL_SEEDS[0], "n_nodes": env.n_nodes, "n_sensors": env.n_sensors, "n_fog": env.n_fog,
        "n_cloud": env.n_cloud, "headline_seeds": int(card.evaluation.loc[card.headline_model, "Seeds"]),
        "node_features": len(NODE_FEATURES), "task_features": len(TASK_FEATURES),
    }


def _impact(card: CardInputs) -> list[str]:
    cost, timings = card.cost, card.timings
    hardware = (f"{timings['cpu'].iloc[0]}, {int(timings['cores'].iloc[0])} cores" if timings is not None
                else "the machine of the last run (no timing record)")
    costs = card.results / "tables" / "costs.csv"
    sections = [
        f"- Hardware: {hardware}, no GPU; one torch thread per training process.\n"
        f"- Training time: {cost['total (min)'].sum():.1f} CPU-minutes for all {int(cost['models'].sum())} models "
        "(sum of their training wall times).",
        markdown(cost, 1),
    ]
    if costs.is_file():
        sections += ["Where the reproduction's time went: each notebook's CPU time (wall time × cores) in training, "
                     "in the validation recorded while training, in evaluation (test and model-selection episodes, run "
                     "side by side) and the rest (start-up, reading results, tables, figures); in minutes. *runs "
                     "timed*: the runs the recorded execution trained; where a rerun after an interruption trained "
                     "only some, its wall time paid for those alone and the rest is unknown.",
                     markdown(pd.read_csv(costs, index_col=0), 1)]
    if timings is not None:
        sections += ["Wall time of each notebook of `make reproduce`: its last run that trained its models (a "
                     "rerun that finds every run done keeps that row), or, for notebooks that train nothing, its "
                     "last run. This card's own notebook is recorded after the card is written.",
                     markdown(timings[["wall time (s)", "checkpoints written", "budget", "finished (UTC)",
                                       "python", "torch", "torch-geometric", "stable-baselines3"]], 1)]
    return sections


def _study_table(card: CardInputs, name: str) -> pd.DataFrame | None:
    path = card.results / "tables" / f"{name}.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, index_col=0)
    text = table.select_dtypes(exclude="number").columns  # a blank text cell (a rule's interval) stays blank
    table[text] = table[text].fillna("")
    return table


def _budget_summary(final: pd.DataFrame, passes: pd.DataFrame) -> str:
    """Per algorithm of the budget study: from which budget it stays above the rule on the
    validation episodes, and its final weights on the test episodes against the rule and the bound."""
    column = passes.columns[0]  # "passes <rule> from (env steps)"
    rule = column.removeprefix("passes ").removesuffix(" from (env steps)")
    parts = []
    for policy, first in passes[column].items():
        row = final.loc[policy]
        first = str(first)
        when = (f"does not stay above {rule} {first.removeprefix('not ')} steps" if first.startswith("not ") else
                f"stays above {rule} from {first} steps")
        parts.append(f"{policy} {when} on the validation episodes; its final weights score {row['Mean Reward']:.2f} "
                     f"on the test episodes ({row['Mean Reward'] - final.loc[rule, 'Mean Reward']:+.2f} against the "
                     f"rule, {row['Gap to bound']:.2f} below the one-step oracle)")
    return "; ".join(parts) + "."


def _studies(card: CardInputs) -> list[str]:
    """The studies of ``make study``, where their tables exist: the card's models zero-shot on
    other networks and loads (notebook 07), and training for longer (notebook 06)."""
    sections = ["## Beyond the card (`make study`)"]
    zero_shot = _study_table(card, "zero_shot")
    if zero_shot is not None:
        rule = "greedy_earliest_finish"
        sections += [
            "### Other networks and loads, zero-shot",
            f"The card's models (root path), trained on its {card.config.env.n_nodes}-node network only, and the "
            "budget study's tuned models (below), evaluated unchanged on networks of "
            f"{sizes()}, random links, scaled background load, halved deadlines "
            "and the load pattern of real data-centre traces (notebook 07). Each cell: the mean return minus "
            f"{rule}'s on the same test episodes (positive: better than the rule); per condition and policy, "
            "`tables/generalisation.csv` has the IQM over training seeds and its interval.",
            markdown(zero_shot),
            " ".join(part for part in (
                f"Difference to the rule across the {len(zero_shot)} conditions: {zero_shot_summary(zero_shot)}.",
                budget_transfer(zero_shot),
                "*DQN-GNN + root, mixed* is the one model trained for this: on a mixture of 9, 17 and 30 nodes "
                "under x0.5 to x2 the card's load, one drawn per episode, for the card's 10,000 steps; it is not "
                "zero-shot on the card's network, 9 and 30 nodes (the card's mix) or the scaled loads."
                if MIXED in zero_shot.columns else "") if part),
            "![Zero-shot](figures/zero_shot.png)",
        ]
    final, passes = _study_table(card, "budget_final"), _study_table(card, "budget_passes")
    if final is not None and passes is not None:
        sections += [
            "### Training longer (budget study)",
            "DQN-GNN, PPO-GNN and the hybrid (the hybrid from scratch) on two encoders, the card's GCN with the "
            "root path and GraphSAGE, trained for the same environment steps, PPO's rollout length chosen on "
            "validation seeds with GCN (notebook 06). From which budget each stays above the rule on the "
            "validation episodes, and the last weights on the test episodes:",
            markdown(passes), markdown(final), _budget_summary(final, passes),
            "![Budget study](figures/budget_learning_curves.png)",
            "`make serve` offers these final weights as `dqn_budget`, `ppo_budget` and `hybrid_budget` (GCN) and "
            "`dqn_budget_sage`, `ppo_budget_sage` and `hybrid_budget_sage` (each the training seed that scores best "
            "on the model-selection episodes), and the unsuffixed `hybrid` serves "
            "whichever hybrid scores best there, the card's or this one; `GET /models` says which, and why.",
        ]
        sections += tuning_section(card.results)
    elif zero_shot is not None:
        sections.append("The budget study (notebook 06) is not complete in this folder: `make study` runs it, and an "
                        "interrupted study resumes where it stopped (its finished runs are in `study/`).")
    return sections if len(sections) > 1 else []


def _topology(card: CardInputs) -> str:
    """The limitation on topologies: how far the models carry to other networks, if notebook 07 ran."""
    zero_shot = _study_table(card, "zero_shot")
    if zero_shot is None:
        return ("- **One topology trained**: the graph policies run on other sizes, but were trained and evaluated "
                f"on the card's {card.config.env.n_nodes} nodes.")
    return ("- **Trained on one topology**, but not limited to it (the original card: \"requires retraining for "
            f"different topologies\"): zero-shot on {sizes()} and other loads (*Beyond the card*), "
            f"{best_zero_shot(zero_shot)}. {mixture_effect(zero_shot)}")


def fields(card: CardInputs) -> dict[str, object]:
    """What fills the template's ``${name}``s: numbers, tables and the sections built from the tables."""
    return {
        **_training(card),
        "seeds_text": card.seeds_text, "episodes": card.episodes, "fixed_rules": len(card.rules) - 1,
        "variants": markdown(card.variants), "evaluation": markdown(card.evaluation), "wins": markdown(card.wins),
        "ablation": markdown(card.ablation),
        "key_findings": "\n".join(f"- {finding}" for finding in key_findings(card)),
        "design_section": "\n\n".join(design_section(card)), "studies": "\n\n".join(_studies(card)),
        "impact": "\n\n".join(_impact(card)), "topology": _topology(card),
    }


def fill(template: str, values: dict[str, object]) -> str:
    """``template`` with every ``${name}`` replaced; a paragraph that fills with nothing (a section
    whose tables are absent) is left out.

    Raises:
        KeyError: the template names a value ``values`` does not have (so none is left blank).
    """
    paragraphs = (Template(paragraph).substitute(values) for paragraph in template.split("\n\n"))
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph.strip())


def model_card(results: str | os.PathLike) -> str:
    """The model card, every number read from ``results`` (tables, checkpoints, timings) and
    every figure linked from it. Raises FileNotFoundError naming the missing table if a notebook
    before 05 has not run."""
    card = CardInputs.read(Path(results))
    return fill(TEMPLATE.read_text(encoding="utf-8"), fields(card))


def write_model_card(results: str | os.PathLike) -> Path:
    """Write :func:`model_card` to ``results/MODEL_CARD.md`` (atomically) and return the path."""
    path = Path(results) / "MODEL_CARD.md"
    text = model_card(results)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path
