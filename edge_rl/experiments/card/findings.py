"""What the model card reads and concludes: everything it reads from ``results/``
(:class:`CardInputs`), its *Key Findings* (:func:`key_findings`), and the section on the
encoder's design (:func:`design_section`), each sentence built from the tables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from edge_rl.agents.checkpoint import read_description
from edge_rl.catalogue import DESIGN, card_name
from edge_rl.config import TrainConfig
from edge_rl.experiments.analyse.report import markdown
from edge_rl.experiments.card.tables import CONTENDERS, design_effect
from edge_rl.experiments.card.tuning import tuning_finding
from edge_rl.registry import FUSIONS

HEADLINE_CHECKPOINT = "hybrid-best-seed0"
"""The checkpoint whose settings the card's *Training Procedure* lists (any seed has the same)."""


def _table(results: Path, name: str) -> pd.DataFrame:
    path = results / "tables" / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the notebooks before 05 first (make reproduce)")
    return pd.read_csv(path, index_col=0)


def training_cost(results: str | os.PathLike) -> pd.DataFrame:
    """Training wall time (one torch thread) per run label (the checkpoint's name without its
    seed), from every checkpoint in ``results/models``: models, mean seconds, total minutes."""
    records = []
    for path in sorted((Path(results) / "models").glob("*.json")):
        document = read_description(path)
        config = TrainConfig.from_dict(document["config"])
        label = re.sub(r"-seed\d+$", "", path.name.removesuffix(".json"))
        records.append({"run": label, "model": config.name, "seconds": document["trained"]["wall_time_s"]})
    if not records:
        raise FileNotFoundError(f"{results}/models has no checkpoint: run make reproduce first")
    frame = pd.DataFrame(records)
    by_run = frame.groupby("run")["seconds"]
    return pd.DataFrame({"models": by_run.size(), "mean (s)": by_run.mean(), "total (min)": by_run.sum() / 60})


@dataclass(frozen=True)
class CardInputs:
    """Everything the card reads from ``results/``, and what follows from it."""

    results: Path
    variants: pd.DataFrame
    evaluation: pd.DataFrame
    wins: pd.DataFrame
    ablation: pd.DataFrame
    timings: pd.DataFrame | None
    cost: pd.DataFrame
    headline: dict[str, Any]  # the card hybrid's checkpoint description
    config: TrainConfig  # its training config
    designs: pd.DataFrame  # the encoder-design comparison on validation seeds
    distances: pd.DataFrame  # MAD between node embeddings, per model, design and layer
    placements: pd.DataFrame  # where each graph policy puts the tasks
    rollouts: pd.DataFrame  # PPO's rollout lengths for the chosen design, on validation seeds

    @classmethod
    def read(cls, results: Path) -> CardInputs:
        tables = [_table(results, name) for name in ("model_variants", "evaluation_results",
                                                     "probability_of_improvement", "ablation")]
        timings = _table(results, "timings") if (results / "tables" / "timings.csv").exists() else None
        cost = training_cost(results)
        headline = read_description(results / "models" / f"{HEADLINE_CHECKPOINT}.json")
        diagnostics = [_table(results, name)
                       for name in ("encoder_designs", "over_smoothing", "policy_choices", "ppo_rollout")]
        diagnostics[1] = pd.read_csv(results / "tables" / "over_smoothing.csv")
        return cls(results, *tables, timings, cost, headline, TrainConfig.from_dict(headline["config"]), *diagnostics)

    @property
    def headline_model(self) -> str:
        return CONTENDERS[0]

    @property
    def trained(self) -> pd.DataFrame:
        return self.evaluation[~self.evaluation["Type"].isin(("rule", "bound"))]

    @property
    def rules(self) -> pd.DataFrame:
        return self.evaluation[self.evaluation["Type"] == "rule"]

    @property
    def bounds(self) -> pd.DataFrame:
        return self.evaluation[self.evaluation["Type"] == "bound"]

    @property
    def episodes(self) -> int:
        """Test episodes per model."""
        row = self.evaluation.loc[self.headline_model]
        return int(row["Episodes"] / row["Seeds"])

    @property
    def seeds_text(self) -> str:
        counts = self.trained["Seeds"]
        fewer_seeds = sorted(self.trained.index[counts < counts.max()])
        return f"{int(counts.max())} training seeds per variant" + (
            f" ({int(counts.min())} for {', '.join(fewer_seeds)})" if fewer_seeds else "")

    def iqm(self) -> pd.Series:
        """Every trained model of notebooks 01-04 by IQM over seeds, best first."""
        ablation = self.ablation["IQM over seeds"]
        iqm = pd.concat([self.trained["IQM over seeds"],
                         ablation.rename(index=card_name)])
        return iqm[~iqm.index.duplicated()].sort_values(ascending=False)


def _finding(wins: pd.DataFrame, comparison: str) -> str:
    row = wins.loc[comparison]
    x_name, y_name = comparison.split(" vs ")
    return (f"{x_name} against {y_name}: probability of improvement {row['P(X > Y)']:.2f} "
            f"[{row['CI low']:.2f}, {row['CI high']:.2f}] ({int(row['seeds X'])} vs {int(row['seeds Y'])} "
            f"{'run' if row['Y is'] == 'rule' and row['seeds Y'] == 1 else 'seeds'}): {row['verdict']}.")


def key_findings(card: CardInputs) -> list[str]:
    """The card's *Key Findings*, each a sentence built from the tables."""
    evaluation, rules, ablation, iqm = card.evaluation, card.rules, card.ablation, card.iqm()
    # The best trained model of the Evaluation Results table, the one above these findings.
    trained = card.trained["IQM over seeds"].sort_values(ascending=False)
    top_row, best_trained, best_iqm = rules.index[0], trained.index[0], trained.iloc[0]
    findings = []
    if rules.loc[top_row, "Mean Reward"] > iqm.iloc[0]:  # above the ablation's models too
        findings.append(f"**A fixed rule wins.** `{top_row}` scores {evaluation.loc[top_row, 'Mean Reward']:.2f} ± "
                        f"{evaluation.loc[top_row, 'Std Dev']:.2f}, above every trained model; the best trained model "
                        f"is {best_trained} (IQM {best_iqm:.2f} over seeds).")
    else:
        findings.append(f"The best trained model is {best_trained} (IQM {best_iqm:.2f} over seeds); the best "
                        f"fixed rule, `{rules.index[0]}`, scores {rules.iloc[0]['Mean Reward']:.2f}.")
    bounds = card.bounds
    if len(bounds):
        bound = bounds["Mean Reward"].idxmax()
        best_row = evaluation.loc[best_trained]
        findings.append(
            "**How far from the best possible placement.** The bounds, which read the simulator (no deployed system "
            "could), score " + ", ".join(f"`{name}` {row['Mean Reward']:.2f}" for name, row in bounds.iterrows())
            + f": `{top_row}` leaves {bounds.loc[bound, 'Mean Reward'] - rules.loc[top_row, 'Mean Reward']:.2f} points "
            f"to `{bound}`, {best_trained} {bounds.loc[bound, 'Mean Reward'] - best_row['Mean Reward']:.2f} (mean "
            "rewards over the test episodes).")
    findings += [_finding(card.wins, comparison) for comparison in card.wins.index]
    hybrid_cells = ablation[ablation["fusion"].isin(FUSIONS.names())]
    cell_best, cell_worst = hybrid_cells["IQM over seeds"].idxmax(), hybrid_cells["IQM over seeds"].idxmin()
    findings.append(f"Ablation: the best hybrid's encoder × fusion cell is {cell_best} "
                    f"(IQM {ablation.loc[cell_best, 'IQM over seeds']:.2f} {ablation.loc[cell_best, 'IQM 95% CI']}), "
                    f"the worst {cell_worst} ({ablation.loc[cell_worst, 'IQM over seeds']:.2f} "
                    f"{ablation.loc[cell_worst, 'IQM 95% CI']}).")
    by_encoder = hybrid_cells.groupby("encoder")["IQM over seeds"].mean()
    by_fusion = hybrid_cells.groupby("fusion")["IQM over seeds"].mean()
    spread = {"encoder": by_encoder.max() - by_encoder.min(), "fusion": by_fusion.max() - by_fusion.min()}
    larger, smaller = sorted(spread, key=spread.get, reverse=True)
    findings.append(f"Averaged over the other factor, changing the {larger} moves the hybrid's IQM by up to "
                    f"{spread[larger]:.2f}, changing the {smaller} by up to {spread[smaller]:.2f}.")
    if DESIGN != "none":
        effect = design_effect(evaluation)
        findings.append(f"**A path for each node's own features** (the `{DESIGN}` root path, chosen on validation "
                        f"seeds) changes the card's graph models by {effect['change'].min():+.2f} to "
                        f"{effect['change'].max():+.2f} IQM points; the largest gain is {effect['change'].idxmax()} "
                        f"({effect.loc[effect['change'].idxmax(), 'plain: IQM']:.2f} → "
                        f"{effect.loc[effect['change'].idxmax(), f'+ {DESIGN}: IQM']:.2f}).")
        if "least_loaded" in rules.index:
            floor = rules.loc["least_loaded", "Mean Reward"]
            # The Evaluation Results table's rows, then the ablation's other cells, counted apart.
            shown = [name for name in trained.index if name.endswith(f"+ {DESIGN}")]
            cells = [name for name in iqm.index if name.endswith(f"+ {DESIGN}") and name not in shown]
            below = [name for name in shown + cells if iqm[name] < floor]
            findings.append(f"With it, {sum(iqm[n] >= floor for n in shown)} of the {len(shown)} graph models of "
                            "the Evaluation Results table score above the `least_loaded` rule "
                            f"({floor:.2f}), and {sum(iqm[n] >= floor for n in cells)} of the ablation's "
                            f"{len(cells)} other cells" + (f"; below it: {', '.join(below)}." if below else "."))
    random_score = rules.loc["random", "Mean Reward"]
    below_random = list(iqm[iqm < random_score].index)
    findings.append(f"Random placement scores {random_score:.2f}; "
                    + (f"{', '.join(below_random)} score below it." if below_random
                       else "every trained model scores above it."))
    tuned = tuning_finding(card.results)  # make study's tuned arm, where this folder has it
    return findings + ([tuned] if tuned else [])


def _mad(card: CardInputs, model: str, design: str, layer: str) -> float:
    frame = card.distances
    return float(frame.loc[(frame["model"] == model) & (frame["design"] == design) & (frame["layer"] == layer),
                           "MAD"].iloc[0])


def design_section(card: CardInputs) -> list[str]:
    """Why the card's GCN and GAT stacks collapse, and what the encoder design changes."""
    designs, placements, layers = card.designs, card.placements, list(dict.fromkeys(card.distances["layer"]))
    last = [layer for layer in layers if layer.startswith("layer")][-1]
    best = designs.index[0]
    chosen = (f"The default of new training is the `{DESIGN}` root path, the best mean over cells on the "
              "validation seeds." if best == DESIGN else
              f"The default of new training is the `{DESIGN}` root path; on this run's validation seeds `{best}` "
              "ranks first, so the choice would change on a rerun like this one.")
    ppo_gat = placements.loc["PPO-GNN (GAT)"]
    uniform = 1 / card.config.env.n_nodes
    sections = [
        "### The encoder's design: why the card's GCN and GAT collapse",
        "A placement turns on each node's *own* features (its latency from the task's source, its queue, the energy "
        "the task would cost there), and the heads score node *i* from its embedding. The card's plain GCN and GAT "
        "stacks have no path for a node's own features but one weighted self-loop among its neighbours: layer by "
        "layer the embeddings of different nodes become averages of the same neighbourhood (over-smoothing). The "
        "mean cosine distance between the embeddings of different nodes (MAD; 0: all alike), over each model's own "
        f"greedy episodes: DQN-GNN (GCN) goes from {_mad(card, 'DQN-GNN', 'none', 'input'):.3f} at its input to "
        f"{_mad(card, 'DQN-GNN', 'none', last):.3f} after {last}, PPO-GNN (GAT) to "
        f"{_mad(card, 'PPO-GNN (GAT)', 'none', last):.3f}; GraphSAGE, which has a root weight of its own, keeps "
        f"{_mad(card, 'DQN-GNN (SAGE)', 'none', last):.3f}"
        + (f", and with the `{DESIGN}` root path DQN-GNN (GCN) keeps {_mad(card, 'DQN-GNN', DESIGN, last):.3f}."
           if DESIGN != "none" else "."),
        "![Over-smoothing](figures/over_smoothing.png)",
        f"**Why PPO on the plain GAT stack is worse than random.** Its greedy episodes put {ppo_gat['on sensors']:.0%} "
        f"of the tasks on sensors, the slowest nodes ({ppo_gat['on its own sensor']:.0%} on the task's own sensor); "
        f"its distribution's entropy is {ppo_gat['entropy / uniform']:.1%} of the uniform one's and its largest "
        f"probability {ppo_gat['largest probability']:.3f} (uniform over {card.config.env.n_nodes} nodes: "
        f"{uniform:.3f}). Its nodes' embeddings are alike after {last} (MAD "
        f"{_mad(card, 'PPO-GNN (GAT)', 'none', last):.3f}), and one shared head gives nodes with the same embedding "
        "the same logit whatever its weights: no update can make one node likelier than another, so training "
        "samples a near-uniform policy and PPO's clipped objective has nothing to move. The greedy evaluation takes "
        "the argmax of logits that differ by what is left of the nodes' differences, and it lands on sensors; the "
        "random rule at least spreads the tasks over fog nodes and the cloud.",
        "Where every graph policy puts its tasks (mean over training seeds; greedy episodes on validation seeds):",
        markdown(placements, 3),
        "**Five designs**, compared on validation seeds only (the model-selection seeds, 20100+; each cell the IQM "
        "over training seeds of the validation return):",
        markdown(designs),
        chosen,
        "![Encoder designs](figures/encoder_designs.png)",
    ]
    rollouts = card.rollouts
    mean = "validation return (mean over seeds)"
    chosen_rollout = int(rollouts[mean].idxmax())
    sections += [
        f"**PPO's rollout length.** The card's rollouts of 8 × 1,024 steps leave PPO 2 updates in its 10,000 steps. "
        f"For the `{DESIGN}` design, PPO-GNN (GCN, GAT and GraphSAGE) was trained at the card's budget with each "
        f"length below, {int(rollouts['seeds'].min())} seeds each, and scored on the validation seeds; "
        f"8 × {chosen_rollout} has the best mean, and every run of the `{DESIGN}` design that trains PPO (PPO-GNN, "
        "the hybrid's PPO pre-training) uses it. The plain stack keeps the card's 8 × 1,024, so the PPO rows below "
        "change both the encoder and the rollout length; the DQN rows change the encoder only.",
        markdown(rollouts),
    ]
    if DESIGN != "none":
        sections += [f"Each graph model of the card, with the card's plain stack and with the `{DESIGN}` root path "
                     "(test episodes):", markdown(design_effect(card.evaluation))]
    if DESIGN == "root":
        sections.append("A GraphSAGE layer has a root weight of its own (`lin_root`), so the `root` path adds "
                        "nothing to it: DQN-GNN (SAGE) and its `+ root` twin are the same network trained the same "
                        "way, and their numbers are the same to the digit; the SAGE rows that train PPO (PPO-GNN, "
                        "the hybrid's pre-training) differ from their twins by PPO's rollout length alone. The twins "
                        "are kept so that every encoder has a row in both designs.")
    return sections


