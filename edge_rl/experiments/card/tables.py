"""The model card's tables, from evaluation rows: *Model Variants* and *Evaluation Results*,
with the fixed rules as rows, and the probability that the hybrid improves on each rival.
(:mod:`edge_rl.experiments.card.model_card` writes ``MODEL_CARD.md`` from them.)

Every row is named as the catalogue of variants (:mod:`edge_rl.catalogue`) names
it, with its type and description: the card's own names for the card's rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from edge_rl.catalogue import BY_LABEL, DESIGN, VARIANTS, card_name, with_root_path
from edge_rl.envs.heuristics import HEURISTICS
from edge_rl.experiments.analyse.report import results_table
from edge_rl.stats import Interval, improvement_interval, probability_of_improvement, run_scores

CARD_VARIANT_ROWS = ("Hybrid (Best)", "DQN Baseline", "PPO Baseline", "Hybrid GAT", "Hybrid Attention")
CARD_EVALUATION_ROWS = ("Hybrid (Best)", "DQN Baseline", "PPO Baseline", "Hybrid (Final)")
def _twin(label: str) -> str:
    """The root-path twin of a graph variant's label (itself if there is none)."""
    return with_root_path(BY_LABEL[label], DESIGN).label


CONTENDERS = tuple(dict.fromkeys(("Hybrid (Best)", _twin("Hybrid (Best)"), "Hybrid SAGE")))
"""Compared with every rival: the card's headline hybrid, its twin with the chosen root path,
and Hybrid SAGE. The last was chosen after the first reproduction's test results showed
GraphSAGE to be the best encoder: its comparisons are exploratory, not a pre-registered test
(the card says so)."""
RIVALS = ("DQN Baseline", "DQN-GNN", "PPO Baseline", "PPO-GNN")
OWN_RIVALS = {"Hybrid (Best)": ("Hybrid (scratch)", "Hybrid (Final)"),
              "Hybrid SAGE": ("DQN-GNN (SAGE)", "PPO-GNN (SAGE)")}
"""Rivals a contender is also compared with: what the warm start buys, and what fine-tuning
adds to the runs it started from. A root-path twin meets the twins of its rivals."""


def rivals_of(contender: str) -> tuple[str, ...]:
    """The rivals ``contender`` is compared with: the baselines and its own rivals, as twins
    with the contender's root path where they are graph models."""
    variant = BY_LABEL[contender]
    plain = next((v.label for v in VARIANTS if v.root_path == "none" and with_root_path(v, variant.root_path) == variant),
                 contender)
    return tuple(with_root_path(BY_LABEL[label], variant.root_path).label
                 for label in (*RIVALS, *OWN_RIVALS.get(plain, ())))
LEARNING_CURVES = ("DQN Baseline", "PPO Baseline", "DQN-GNN", "PPO-GNN", "Hybrid (Best)", "Hybrid (Final)", "Hybrid (scratch)")
"""The runs whose training curves notebook 03 draws: the card's baselines and hybrids."""
MIN_SEEDS = 5
"""Fewer training seeds than this on either side: no verdict, however narrow the interval."""


def _card_names(labels: Sequence[str]) -> list[str]:
    return [card_name(label) for label in labels]


def _missing(rows: pd.DataFrame, labels: Sequence[str]) -> None:
    missing = [label for label in labels if label not in set(rows["policy"])]
    if missing:
        raise ValueError(f"rows have no policy {missing}; accepted labels are those of the training runs")


def _ordered(labels: Sequence[str]) -> list[str]:
    """The catalogue's order (the card's rows first), then any other label, sorted."""
    known = [v.label for v in VARIANTS if v.label in labels]
    return known + sorted(set(labels) - set(known))


def _kind(label: str) -> str:
    """The *Type* column: the catalogue's type of a trained variant, ``rule`` or ``bound``."""
    return BY_LABEL[label].type if label in BY_LABEL else "bound" if label in BOUNDS_DOCS else "rule"


BOUNDS_DOCS = {"oracle_one_step": "bound: reads the simulator; the node with the best exact immediate reward",
               "oracle_rollout": "bound: reads the simulator and the future; rollout on greedy earliest-finish, "
                                 "10 steps ahead, every node tried",
               "rollout_sampled": "lookahead on a copy of the simulator with sampled futures (4, the same for "
                                  "every node); reads the state, not the future"}
"""How the tables describe the reference policies of :mod:`edge_rl.envs.oracles`."""


def model_variants(rows: pd.DataFrame, rule_rows: pd.DataFrame, bound_rows: pd.DataFrame | None = None
                   ) -> pd.DataFrame:
    """The card's *Model Variants* table (Model, Type, Mean Reward, Std Dev, Description): its
    five rows first, then every other trained variant, the fixed rules and the bounds, with the
    interquartile mean over training seeds and its interval."""
    _missing(rows, CARD_VARIANT_ROWS)
    trained = _ordered(list(rows["policy"].unique()))
    references = pd.concat([rule_rows, bound_rows], ignore_index=True) if bound_rows is not None else rule_rows
    rules = list(references.groupby("policy")["return"].mean().sort_values(ascending=False).index)
    table = results_table(pd.concat([rows, references], ignore_index=True)).reindex(trained + rules)
    table = table[["Mean Reward", "Std Dev", "IQM over seeds", "IQM 95% CI", "Seeds"]]
    table.insert(0, "Type", [_kind(p) for p in table.index])
    table["Description"] = [BY_LABEL[p].description if p in BY_LABEL else BOUNDS_DOCS.get(p, f"fixed rule: {_rule_doc(p)}")
                            for p in table.index]
    table.index = pd.Index(_card_names(table.index), name="Model")
    return table


def _rule_doc(name: str) -> str:
    cls = HEURISTICS.get(name) if name in HEURISTICS else None
    # The docstring's first line, its reST literals (``x``) as Markdown's (`x`).
    return (cls.__doc__ or name).strip().splitlines()[0].rstrip(".").replace("``", "`") if cls else name


BOUND = "oracle_one_step"
"""The bound the tables measure every policy's gap to (*Gap to bound*)."""


def evaluation_results(rows: pd.DataFrame, rule_rows: pd.DataFrame, bound_rows: pd.DataFrame | None = None
                       ) -> pd.DataFrame:
    """The card's *Evaluation Results* table (Mean Reward, Std Dev, Min, Max, Training Steps)
    for every trained variant in ``rows``, with every environment step each used, the
    statistics over seeds, and the fixed rules (random among them) and the bounds as rows. With
    bounds, *Gap to bound*: how far each row's mean reward is below :data:`BOUND`'s. Sorted by
    mean reward: a rule that wins is on top."""
    _missing(rows, CARD_EVALUATION_ROWS)
    references = pd.concat([rule_rows, bound_rows], ignore_index=True) if bound_rows is not None else rule_rows
    table = results_table(pd.concat([rows, references], ignore_index=True))
    table = table[["Mean Reward", "Std Dev", "Min", "Max", "Training Steps", "Env steps (total)",
                   "IQM over seeds", "IQM 95% CI", "Seeds", "Episodes", "Deadline success",
                   "Latency p95 (ms)", "Energy / task (J)"]]
    if bound_rows is not None and BOUND in table.index:
        table.insert(3, "Gap to bound", table.loc[BOUND, "Mean Reward"] - table["Mean Reward"])
    table.insert(0, "Type", [_kind(p) for p in table.index])
    table.index = pd.Index(_card_names(table.index), name="Model")
    return table


def headline(evaluation: pd.DataFrame) -> pd.DataFrame:
    """The README's table: :func:`evaluation_results` cut to what a newcomer needs."""
    columns = ["Type", "Mean Reward", "Std Dev", "Gap to bound", "IQM over seeds", "IQM 95% CI", "Seeds",
               "Env steps (total)"]
    return evaluation[[c for c in columns if c in evaluation.columns]]


def best_rule(rule_rows: pd.DataFrame) -> str:
    """The fixed rule with the highest mean return."""
    return str(rule_rows.groupby("policy")["return"].mean().idxmax())


def verdict(row: pd.Series) -> str:
    """What a row of :func:`improvement` says: X ``wins`` (interval above 0.5), ``loses``
    (below), ``cannot be told apart``, or ``too few seeds to tell`` (below :data:`MIN_SEEDS`
    on either side; a fixed rule needs only its one run)."""
    if row["seeds X"] < MIN_SEEDS or (row["seeds Y"] < MIN_SEEDS and row["Y is"] != "rule"):
        return "too few seeds to tell"
    if row["CI low"] > 0.5:
        return "wins"
    if row["CI high"] < 0.5:
        return "loses"
    return "cannot be told apart"


def improvement(rows: pd.DataFrame, rule_rows: pd.DataFrame, of: Sequence[str] = CONTENDERS) -> pd.DataFrame:
    """Probability of improvement of each model in ``of`` over each of its rivals
    (:func:`rivals_of`) and over the best fixed rule: ``P(X > Y)`` for a random training seed
    of each, with a 95 % bootstrap interval (a rule has one run and is not resampled). Above
    0.5 means X tends to win. One row per ``X vs Y``, with both seed counts and the verdict."""
    _missing(rows, [*of, *(rival for contender in of for rival in rivals_of(contender))])
    scores = run_scores(pd.concat([rows, rule_rows], ignore_index=True))
    rules = set(rule_rows["policy"])
    records = []
    for contender in of:
        x = scores.loc[scores["policy"] == contender, "return"].to_numpy()
        for rival in [*rivals_of(contender), best_rule(rule_rows)]:
            y = scores.loc[scores["policy"] == rival, "return"].to_numpy()
            if x.size >= 2:  # (a rival of one seed is too few to tell: verdict() says so)
                interval = improvement_interval(x, y)
            else:  # one seed of X (a smoke run): the estimate, no interval, and no verdict
                interval = Interval(probability_of_improvement(x, y), float("nan"), float("nan"))
            x_name, y_name = _card_names([contender, rival])
            records.append({"comparison": f"{x_name} vs {y_name}", "P(X > Y)": interval.estimate,
                            "CI low": interval.low, "CI high": interval.high, "seeds X": x.size,
                            "seeds Y": y.size, "Y is": "rule" if rival in rules else "trained"})
    table = pd.DataFrame(records).set_index("comparison")
    table["verdict"] = [verdict(row) for _, row in table.iterrows()]
    return table


def design_effect(evaluation: pd.DataFrame) -> pd.DataFrame:
    """Each graph model of the card with the card's plain encoder stack and with the chosen root
    path, side by side: IQM over seeds with its 95 % interval (from :func:`evaluation_results`)."""
    records = []
    for variant in VARIANTS:
        twin = with_root_path(variant, DESIGN)
        if variant.root_path != "none" or twin is variant or not {variant.label, twin.label} <= set(evaluation.index):
            continue
        plain, rooted = evaluation.loc[variant.label], evaluation.loc[twin.label]
        records.append({"Model": variant.label, "plain: IQM": plain["IQM over seeds"], "plain: 95% CI": plain["IQM 95% CI"],
                        f"+ {DESIGN}: IQM": rooted["IQM over seeds"], f"+ {DESIGN}: 95% CI": rooted["IQM 95% CI"],
                        "change": rooted["IQM over seeds"] - plain["IQM over seeds"]})
    return pd.DataFrame(records).set_index("Model")
