"""The budget study (notebook 06, ``make study``): does each algorithm beat the best fixed rule
when it trains long enough, and from what budget on?

The card trains each model for 10,000 environment steps (PPO makes 2 updates in that time). Here
DQN-GNN, PPO-GNN and the hybrid, each on the GCN and on the GraphSAGE encoder with the chosen
root path (:attr:`StudyPlan.encoders`), train for ``plan.steps`` environment steps each
(200,000 in full), the hybrid from scratch so that every algorithm uses the same environment
steps, and every one keeps its last weights (none is picked by its validation curve). What the study reads:

- each run's *validation curve* (greedy return on 5 validation episodes every 1,000 steps, the
  one every checkpoint records), at fixed budgets (:attr:`StudyPlan.checkpoints`): the last
  validation at or before each budget, with the rule and the bounds on the same episodes;
- the final weights on the test episodes, beside the rule and the one-step oracle.

PPO's rollout length (the one hyperparameter the card's budget decides for it: 8 x 1,024 steps
per update leaves 2 updates in 10,000 steps) is chosen first, on validation seeds only
(:func:`tuning_runs`, :func:`choose_rollout`, with the GCN encoder), and used by PPO and the
hybrid alike, on both encoders; every other hyperparameter is the card's (DQN's exploration
schedule is a fraction of the budget, so it scales with it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from edge_rl.catalogue import DESIGN, STUDY_ENCODERS, STUDY_VARIANTS
from edge_rl.config import EncoderConfig, TrainConfig
from edge_rl.config.algorithms import algorithm_spec
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, SELECTION_SEEDS
from edge_rl.experiments.analyse.report import results_table
from edge_rl.experiments.card.tables import BOUND
from edge_rl.experiments.run.runs import Run
from edge_rl.stats import (Interval, improvement_interval, interquartile_mean, iqm_interval,
                           probability_of_improvement, run_scores)


@dataclass(frozen=True)
class StudyPlan:
    """How much the budget study runs: ``full`` for ``make study``, ``quick`` for CI."""

    name: str
    steps: int  # environment steps of every run
    seeds: int  # training seeds per algorithm
    checkpoints: tuple[int, ...]  # the budgets read off the validation curves
    tune_steps: int  # environment steps of each rollout-length candidate
    tune_seeds: int  # training seeds per candidate
    rollouts: tuple[int, ...]  # PPO's candidate steps per environment per rollout (8 environments)
    encoders: tuple[str, ...] = STUDY_ENCODERS  # each algorithm is trained on each
    eval_episodes: int = 100  # test episodes per final model
    selection_episodes: int = 50  # validation episodes that choose the rollout length

    @property
    def selection_seeds(self) -> tuple[int, ...]:
        return SELECTION_SEEDS[: self.selection_episodes]

    @property
    def eval_seeds(self) -> tuple[int, ...]:
        return DEFAULT_EVAL_SEEDS[: self.eval_episodes]


STUDY_PLANS = {
    # About 5 CPU-hours per encoder: DQN-GNN ~27, PPO-GNN ~13, the hybrid ~37 CPU-minutes per 200,000-step
    # run with the other core busy (12.5, 6.3 and 12.7 on an idle machine).
    "full": StudyPlan("full", steps=200_000, seeds=5, checkpoints=(10_000, 20_000, 50_000, 100_000, 200_000),
                      tune_steps=50_000, tune_seeds=2, rollouts=(128, 1024)),
    "quick": StudyPlan("quick", steps=3_000, seeds=1, checkpoints=(1_000, 2_000, 3_000), tune_steps=1_500,
                       tune_seeds=1, rollouts=(32, 64), encoders=("gcn",), eval_episodes=10, selection_episodes=10),
}

def study_plan(name: str) -> StudyPlan:
    """The plan called ``name``: ``full`` or ``quick``."""
    if name not in STUDY_PLANS:
        raise ValueError(f"unknown study budget {name!r}; accepted: {sorted(STUDY_PLANS)}")
    return STUDY_PLANS[name]


def study_config(algo: str, seed: int, steps: int, rollout: int | None = None, kind: str = "gcn") -> TrainConfig:
    """The study's run of ``algo``: the chosen root path on encoder ``kind``, from scratch (the
    hybrid too), its last weights, ``rollout`` steps per environment per rollout (None: the
    card's for it), every other hyperparameter the card's (the tuning study starts from it too)."""
    spec = algorithm_spec(algo)
    config = spec.last_weights(TrainConfig(algo=algo, encoder=EncoderConfig(kind=kind, root_path=DESIGN), seed=seed,
                                           total_timesteps=steps))
    # Where its rollout length lies: PPO's section, or the hybrid's own. DQN collects no rollouts;
    # its runs carry the study's rollout in PPO's section, unread, as they always have (a run is
    # skipped as finished only with the same config).
    section = spec.rollout_section or "ppo"
    settings = getattr(config, section)
    return replace(config, **{section: replace(settings, n_steps=settings.n_steps if rollout is None else rollout)})


def tuning_runs(plan: StudyPlan) -> list[Run]:
    """PPO-GNN with each candidate rollout length, ``plan.tune_steps`` steps, evaluated on the
    model-selection seeds only (never test seeds)."""
    return [Run(f"Tune PPO-GNN rollout {rollout}", study_config("ppo", seed, plan.tune_steps, rollout), (),
                plan.selection_seeds)
            for seed in range(plan.tune_seeds) for rollout in plan.rollouts]


def choose_rollout(rows: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """The rollout length with the best mean validation return over its runs, and the table of
    every candidate's (``rows``: the tuning runs' validation rows, labelled ``<model> <rollout>``;
    with several models, a column per model too, and the mean is over every model's seeds)."""
    label = rows["policy"].str.rsplit(" ", n=1)
    runs = (rows.assign(model=label.str[0], rollout=label.str[1].astype(int))
            .groupby(["rollout", "model", "train_seed"])["return"].mean())
    per_model = runs.groupby(["rollout", "model"]).mean().unstack("model")
    table = pd.DataFrame({"validation return (mean over seeds)": runs.groupby("rollout").mean(),
                          "seeds": runs.groupby(["rollout", "model"]).size().groupby("rollout").min()})
    if per_model.shape[1] > 1:
        table = per_model.join(table)
    table.index.name = "PPO steps per environment per rollout"
    return int(table["validation return (mean over seeds)"].idxmax()), table


def budget_runs(plan: StudyPlan, rollout: int) -> list[Run]:
    """Every algorithm on every encoder of the plan, ``plan.seeds`` seeds, ``plan.steps`` steps,
    PPO and the hybrid with ``rollout`` steps per environment per rollout (chosen with the GCN
    encoder, and used with every encoder); evaluated on the test seeds, and on the
    model-selection seeds (which choose the seed a server would serve)."""
    return [Run(v.label, study_config(v.algo, seed, plan.steps, rollout, v.encoder), plan.eval_seeds, plan.selection_seeds)
            for seed in range(plan.seeds) for v in STUDY_VARIANTS.values() if v.encoder in plan.encoders]


def at_budgets(curves: pd.DataFrame, checkpoints: tuple[int, ...]) -> pd.DataFrame:
    """Each run's validation return at each budget: its last validation at or before it
    (``curves``: :func:`~edge_rl.experiments.run.runs.validation_curves`). A run with no validation
    by a budget has none there."""
    frames = []
    for budget in checkpoints:
        done = curves[curves["step"] <= budget].sort_values("step", kind="stable")
        last = done.groupby(["policy", "seed"], sort=False).tail(1).assign(budget=budget)
        # in policy and seed order, whatever order the curves came in: a bootstrap interval
        # depends on the order of its values
        frames.append(last.sort_values(["policy", "seed"], kind="stable"))
    return pd.concat(frames, ignore_index=True)


def budget_table(points: pd.DataFrame, rule: str, rule_return: float, bound_return: float) -> pd.DataFrame:
    """Per algorithm and budget: the IQM over seeds of the validation return, its 95 % bootstrap
    interval, and whether it passes ``rule`` (the interval's low end above the rule's return on
    the same episodes) and how far it lies below the one-step oracle there."""
    rows = []
    for (policy, budget), group in points.groupby(["policy", "budget"], sort=False):
        values = group["return"].to_numpy()
        interval = iqm_interval(values) if values.size >= 2 else None
        estimate = interval.estimate if interval else float(interquartile_mean(values)) if values.size else np.nan
        rows.append({"policy": policy, "budget (env steps)": budget, "seeds": values.size,
                     "IQM validation return": estimate,
                     "IQM 95% CI": f"[{interval.low:.2f}, {interval.high:.2f}]" if interval else "n/a (1 run)",
                     f"above {rule}": _verdict(interval, estimate, rule_return),
                     "gap to oracle_one_step": bound_return - estimate})
    return pd.DataFrame(rows).set_index(["policy", "budget (env steps)"])


def _verdict(interval: Interval | None, estimate: float, reference: float) -> str:
    if interval is None:
        return "higher (1 seed)" if estimate > reference else "lower (1 seed)"
    if interval.low > reference:
        return "yes"
    if interval.high < reference:
        return "no (below)"
    return "tie (interval contains it)"


def first_budget_above(table: pd.DataFrame, rule: str) -> pd.Series:
    """Per algorithm, the smallest budget from which every later budget passes ``rule``
    (``"not within <largest budget>"`` when the largest budget does not)."""
    column = f"above {rule}"
    out = {}
    for policy, group in table.groupby(level="policy", sort=False):
        verdicts = group[column].droplevel("policy").sort_index()
        passing = verdicts.eq("yes")
        budgets = verdicts.index.to_numpy()
        first = None
        for i, budget in enumerate(budgets):
            if passing.iloc[i:].all():
                first = int(budget)
                break
        out[policy] = f"{first:,}" if first is not None else f"not within {int(budgets.max()):,}"
    return pd.Series(out, name=f"passes {rule} from (env steps)")




def final_table(rows: pd.DataFrame, rules: pd.DataFrame, bounds: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The final weights on the test episodes (``rows``), beside ``rule`` and the bounds on the
    same episodes: the card's columns, the IQM over seeds, the probability that a training seed
    beats the rule, and the gap to the one-step oracle."""
    seeds = set(rows["seed"])
    references = pd.concat([rules[rules["policy"] == rule], bounds], ignore_index=True)
    references = references[references["seed"].isin(seeds)]
    table = results_table(pd.concat([rows, references], ignore_index=True))
    table = table[["Mean Reward", "Std Dev", "IQM over seeds", "IQM 95% CI", "Seeds", "Episodes",
                   "Deadline success", "Training Steps"]]
    rule_score = references.loc[references["policy"] == rule, "return"].mean()
    wins = {}
    for policy, group in run_scores(rows).groupby("policy", sort=False):
        scores = group["return"].to_numpy()
        wins[policy] = str(improvement_interval(scores, rule_score)) if scores.size >= 2 else "n/a (1 seed)"
    table["P(beats rule) [95% CI]"] = [wins.get(p, "") for p in table.index]
    table["Gap to bound"] = table.loc[BOUND, "Mean Reward"] - table["Mean Reward"]
    return table.sort_values("Mean Reward", ascending=False)


# ---------------------------------------------------------------------------- the tuned rows against the others

def y_is_one_run(policy: str, rows: pd.DataFrame) -> bool:
    """Whether ``policy`` trains nothing (a rule or a bound: one run by nature)."""
    return bool(rows.loc[rows["policy"] == policy, "algo"].isin(["rule", "bound"]).all())


def improvement_table(rows: pd.DataFrame, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """P(X > Y) over training seeds, with its 95 % bootstrap interval, for each ``(X, Y)`` pair
    of policies in ``rows`` (per-seed mean returns; a policy with one seed, a rule, is one run)."""
    scores = run_scores(rows)
    out = []
    for x, y in pairs:
        a = scores.loc[scores["policy"] == x, "return"].to_numpy()
        b = scores.loc[scores["policy"] == y, "return"].to_numpy()
        if a.size < 2 or b.size == 0 or (b.size == 1 and not y_is_one_run(y, rows)):
            # a bootstrap needs 2 runs of each side (a rule is one run by nature): the estimate alone
            estimate, ci = probability_of_improvement(a, b), "n/a (1 seed)"
        else:
            interval = improvement_interval(a, b if b.size > 1 else b.mean())
            estimate, ci = interval.estimate, f"[{interval.low:.2f}, {interval.high:.2f}]"
        out.append({"X": x, "Y": y, "P(X > Y)": estimate, "95% CI": ci, "seeds (X, Y)": f"{a.size}, {b.size}"})
    return pd.DataFrame(out).set_index(["X", "Y"])
