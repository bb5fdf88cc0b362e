"""``MODEL_CARD.md``, written from what ``results/`` holds, in the original card's sections.

:func:`model_card` reads the tables the notebooks wrote, the card hybrid's checkpoint and the
timing record once (:class:`CardInputs`), then joins one function per part of the card: the
header, the description, the variants, intended use, the training procedure, the evaluation
results with the key findings, the ablation, the environmental impact, the technical
specifications, the limitations and what differs from the original card. Every number comes
from a file; none is typed in.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from edge_rl.agents.checkpoint import read_description
from edge_rl.config import NODE_FEATURES, TASK_FEATURES, TrainConfig
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, VALIDATION_SEEDS_START
from edge_rl.experiments.card import CONTENDERS
from edge_rl.experiments.catalogue import card_name
from edge_rl.experiments.report import markdown
from edge_rl.files import atomic_write
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

    variants: pd.DataFrame
    evaluation: pd.DataFrame
    wins: pd.DataFrame
    ablation: pd.DataFrame
    timings: pd.DataFrame | None
    cost: pd.DataFrame
    headline: dict[str, Any]  # the card hybrid's checkpoint description
    config: TrainConfig  # its training config

    @classmethod
    def read(cls, results: Path) -> CardInputs:
        tables = [_table(results, name) for name in ("model_variants", "evaluation_results",
                                                     "probability_of_improvement", "ablation")]
        timings = _table(results, "timings") if (results / "tables" / "timings.csv").exists() else None
        cost = training_cost(results)
        headline = read_description(results / "models" / f"{HEADLINE_CHECKPOINT}.json")
        return cls(*tables, timings, cost, headline, TrainConfig.from_dict(headline["config"]))

    @property
    def headline_model(self) -> str:
        return CONTENDERS[0]

    @property
    def trained(self) -> pd.DataFrame:
        return self.evaluation[self.evaluation["Type"] != "rule"]

    @property
    def rules(self) -> pd.DataFrame:
        return self.evaluation[self.evaluation["Type"] == "rule"]

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
    top_row, best_trained = evaluation.index[0], iqm.index[0]
    findings = []
    if top_row in rules.index and rules.loc[top_row, "Mean Reward"] > iqm.iloc[0]:
        findings.append(f"**A fixed rule wins.** `{top_row}` scores {evaluation.loc[top_row, 'Mean Reward']:.2f} ± "
                        f"{evaluation.loc[top_row, 'Std Dev']:.2f}, above every trained model; the best trained model "
                        f"is {best_trained} (IQM {iqm.iloc[0]:.2f} over seeds).")
    else:
        findings.append(f"The best trained model is {best_trained} (IQM {iqm.iloc[0]:.2f} over seeds); the best "
                        f"fixed rule, `{rules.index[0]}`, scores {rules.iloc[0]['Mean Reward']:.2f}.")
    findings += [_finding(card.wins, comparison) for comparison in card.wins.index]
    hybrid_cells = ablation[ablation["fusion"].isin(FUSIONS.names())]
    cell_best, cell_worst = hybrid_cells["IQM over seeds"].idxmax(), hybrid_cells["IQM over seeds"].idxmin()
    findings.append(f"Ablation: the best encoder × fusion cell is {cell_best} "
                    f"(IQM {ablation.loc[cell_best, 'IQM over seeds']:.2f} {ablation.loc[cell_best, 'IQM 95% CI']}), "
                    f"the worst {cell_worst} ({ablation.loc[cell_worst, 'IQM over seeds']:.2f} "
                    f"{ablation.loc[cell_worst, 'IQM 95% CI']}).")
    by_encoder = hybrid_cells.groupby("encoder")["IQM over seeds"].mean()
    by_fusion = hybrid_cells.groupby("fusion")["IQM over seeds"].mean()
    spread = {"encoder": by_encoder.max() - by_encoder.min(), "fusion": by_fusion.max() - by_fusion.min()}
    larger, smaller = sorted(spread, key=spread.get, reverse=True)
    findings.append(f"Averaged over the other factor, changing the {larger} moves the hybrid's IQM by up to "
                    f"{spread[larger]:.2f}, changing the {smaller} by up to {spread[smaller]:.2f}.")
    random_score = rules.loc["random", "Mean Reward"]
    below_random = list(iqm[iqm < random_score].index)
    findings.append(f"Random placement scores {random_score:.2f}; "
                    + (f"{', '.join(below_random)} score below it." if below_random
                       else "every trained model scores above it."))
    return findings


def _header(card: CardInputs) -> list[str]:
    return [
        "---\nlicense: mit\ntags:\n- reinforcement-learning\n- iot\n- edge-computing\n- resource-allocation\n"
        "- graph-neural-network\n- dqn\n- ppo\n- hybrid-model\nlibrary_name: pytorch\n"
        "pipeline_tag: reinforcement-learning\n---",
        "# AI Edge Allocator: Hybrid DQN-PPO-GNN for IoT Resource Allocation (edge-rl reproduction)",
        "*Generated by `notebooks/05_model_card.ipynb` from `results/`: every number below comes from a run "
        "of `make reproduce`; none is typed in or copied from the original card.*",
        "## Model Description",
        "A reinforcement-learning agent places each arriving task on one node of an IoT network (sensors, fog "
        "nodes, a cloud). The hybrid agent shares one graph encoder (PyTorch Geometric) between a double-DQN "
        "Q head and a PPO policy head, and acts with their fused distribution. It is compared with DQN and PPO "
        "(Stable-Baselines3, on the flat observation as in the original card and on the graph) and with fixed "
        "placement rules, on the same seeded test episodes.",
        "### Key Features\n\n"
        "- **Hybrid architecture**: double DQN (replay buffer, target network) and PPO (clipped objective, GAE) "
        "on one shared graph encoder; fusion by weighted sum, attention or a learned gate.\n"
        "- **Graph-aware**: GCN, GAT, GraphSAGE and a hybrid of the three; the node-scoring heads run on any "
        "network size.\n"
        "- **Serving**: a FastAPI server (`make serve`) and a Streamlit dashboard (`make dashboard`) on the "
        "committed models.\n"
        f"- **Statistics**: {card.seeds_text}, {card.episodes} test episodes per model, interquartile mean with a "
        "95 % bootstrap interval, probability of improvement.",
        "## Model Variants",
        markdown(card.variants),
        "*Mean Reward* and *Std Dev* are over every test episode of every training seed (the original card's "
        "style); *IQM over seeds* is the interquartile mean of the seeds' mean returns, with its 95 % "
        "interval: compare models by it.",
    ]


def _use() -> list[str]:
    return [
        "## Intended Use",
        "### Direct Use\n\n- Research: a benchmark for graph-based reinforcement learning in task placement, "
        "with its baselines and statistics.\n- Education: a hybrid value/policy agent that can be read top to "
        "bottom (`edge_rl/agents/hybrid/training.py`).",
        "### Out-of-Scope Use\n\n- Production placement: the environment is a simulator of our own design, "
        "not a measured network.\n- Safety-critical or real-time systems.",
        "## How to Use",
        "```bash\nmake setup        # .venv with the pinned environment (CPU torch)\n"
        "make reproduce    # every table and figure of this card, into results/\n"
        "make serve        # FastAPI on 127.0.0.1:8000 with the committed models\n"
        "make dashboard    # Streamlit dashboard\n```",
        "```python\nimport edge_rl\nfrom edge_rl.agents import load\n\n"
        f"agent = load(\"results/models/{HEADLINE_CHECKPOINT}\")\n"
        "obs, _ = edge_rl.make_env().reset(seed=0)\n"
        "node, _ = agent.predict(obs)\nscores = agent.node_scores(obs)  # q_values, logits, probabilities\n```",
    ]


def _training(card: CardInputs) -> list[str]:
    config, trained = card.config, card.headline["trained"]
    hybrid, encoder = config.hybrid, config.encoder
    return [
        "## Training Procedure",
        "### Training Hyperparameters\n\n"
        f"**{card.headline_model}** (from `results/models/{HEADLINE_CHECKPOINT}.json`):\n\n"
        f"- Fine-tuning steps: {trained['timesteps']:,} ({config.total_timesteps:,} asked, rounded up to "
        f"whole rollouts of {hybrid.n_envs} × {hybrid.n_steps})\n"
        f"- Pre-training: DQN-GNN {trained['pretrain_timesteps']['dqn']:,} steps, PPO-GNN "
        f"{trained['pretrain_timesteps']['ppo']:,} steps\n"
        f"- Learning rate (one optimizer for both losses): {hybrid.learning_rate:g}; DQN pre-training "
        f"{config.dqn.learning_rate:g}; PPO pre-training {config.ppo.learning_rate:g}\n"
        f"- Batch size: {hybrid.batch_size}; gamma: {hybrid.gamma}; GAE lambda: {hybrid.gae_lambda}; "
        f"clip: {hybrid.clip_range}\n"
        f"- Target network: tau {hybrid.tau}, every {hybrid.target_update_interval} steps\n"
        f"- GNN: {encoder.kind.upper()}, hidden {encoder.hidden}, {encoder.layers} layers, embedding {encoder.embed}\n"
        f"- Fusion: {hybrid.fusion.replace('_', ' ')} (Q: {hybrid.q_weight}, policy: {hybrid.policy_weight}), "
        "Q-values standardised per state\n"
        f"- Kept: the fine-tuning step that scores best on {hybrid.val_episodes} validation episodes (seeds "
        f"{VALIDATION_SEEDS_START}+); reported on the test episodes (seeds {DEFAULT_EVAL_SEEDS[0]}+), which no "
        "training or selection saw.",
        "### Training Data\n\n"
        "- Simulated: the environment `edge_rl/IoTEdge-v0`, our reconstruction (the original was never "
        "published); its constants are in `results/tables/environment.md`.\n"
        f"- Network: {config.env.n_nodes} nodes ({config.env.n_sensors} sensors, {config.env.n_fog} fog nodes, "
        f"{config.env.n_cloud} cloud), as in the original card.\n"
        f"- Evaluation: {card.episodes} test episodes per model, the same seeds for every model and rule.",
        "![The network](figures/topology.png)",
        "### Training Process\n\n"
        f"1. Pre-train DQN-GNN ({config.pretrain_steps:,} steps) and PPO-GNN ({config.pretrain_steps:,} steps, "
        "rounded up to whole rollouts).\n"
        "2. Copy their weights into the hybrid (`edge_rl.agents.hybrid.warm_start` says which weights come from "
        "where).\n"
        f"3. Fine-tune the hybrid {config.total_timesteps:,} steps, keeping the best step on validation seeds.\n"
        f"4. Evaluate on {card.episodes} test episodes, for each of "
        f"{int(card.evaluation.loc[card.headline_model, 'Seeds'])} training seeds.",
    ]


def _evaluation(card: CardInputs) -> list[str]:
    return [
        "## Evaluation Results",
        "### Performance Metrics",
        markdown(card.evaluation),
        "*Training Steps*: steps the model trained itself (a hybrid's fine-tuning); *Env steps (total)*: every "
        "environment step it used, pre-training included. Rules train nothing.",
        "### Does the hybrid improve on its rivals?",
        markdown(card.wins),
        "The chance that a random training seed of the hybrid beats a random seed of the rival (0.5: a tie), "
        "with a 95 % bootstrap interval.",
        "### Key Findings",
        "\n".join(f"- {finding}" for finding in key_findings(card)),
        "![Learning curves](figures/learning_curves.png)",
        "![Returns per test episode](figures/return_distributions.png)",
        "![Deadline success, latency and energy](figures/metrics.png)",
        "### Ablation: encoder × fusion",
        markdown(card.ablation),
        "![Ablation](figures/ablation.png)",
    ]


def _impact(card: CardInputs) -> list[str]:
    cost, timings = card.cost, card.timings
    hardware = (f"{timings['cpu'].iloc[0]}, {int(timings['cores'].iloc[0])} cores" if timings is not None
                else "the machine of the last run (no timing record)")
    sections = [
        "## Environmental Impact",
        f"- Hardware: {hardware}, no GPU; one torch thread per training process.\n"
        f"- Training time: {cost['total (min)'].sum():.1f} CPU-minutes for all {int(cost['models'].sum())} models "
        "(sum of their training wall times).",
        markdown(cost, 1),
    ]
    if timings is not None:
        sections += ["Wall time of each notebook of `make reproduce`: its last run that trained its models (a "
                     "rerun that finds every run done keeps that row), or, for notebooks that train nothing, its "
                     "last run. This card's own notebook is recorded after the card is written.",
                     markdown(timings[["wall time (s)", "checkpoints written", "budget", "finished (UTC)",
                                       "python", "torch", "torch-geometric", "stable-baselines3"]], 1)]
    return sections


def _technical(card: CardInputs) -> list[str]:
    hybrid, encoder = card.config.hybrid, card.config.encoder
    return [
        "## Technical Specifications",
        "### Model Architecture",
        f"```\nObservation: per node {len(NODE_FEATURES)} features (the node type as a one-hot) and the task's "
        f"{len(TASK_FEATURES)} features\n"
        "        ↓\n"
        f"GNN encoder (PyG dense layers): {encoder.layers} {encoder.kind.upper()} layers, "
        f"{encoder.hidden} → … → {encoder.embed}\n"
        "        ↓ node embeddings h_i, graph embedding g (masked mean)\n"
        "   /           |            \\\n"
        "Q head      policy head    value head\n"
        "MLP[h_i‖g]  MLP[h_i‖g]     MLP[g]\n"
        "   \\           /\n"
        f"  fusion ({hybrid.fusion.replace('_', ' ')}: {hybrid.q_weight} · std(Q) + {hybrid.policy_weight} · logits)\n"
        "        ↓ softmax over real nodes\n"
        "   the node that runs the task\n```",
        "### Input Format\n\nThe API (`POST /predict`) takes the original card's format: `network_state` with "
        "`nodes` (cpu_util, mem_util, energy, latency, bandwidth, queue_len, node_type) and `edges`, and a "
        "`model_type`. See `/docs` of `make serve`.",
        "### Output Format\n\n`selected_node`, `confidence` (its probability under the model's distribution), "
        "`q_values` (where the model has them), `node_scores`, `processing_time_ms`.",
    ]


def _limitations(card: CardInputs) -> list[str]:
    return [
        "## Limitations and Biases",
        "- **Our environment, not theirs**: the original environment was never published; ours is a "
        "reconstruction, so no number here is comparable with the original card's.\n"
        "- **Simulated data** only; no measured IoT traces.\n"
        "- **One topology trained**: the graph policies run on other sizes, but were trained and evaluated on "
        f"the card's {card.config.env.n_nodes} nodes.\n"
        "- **Short training**: the card's step counts are small; the learning curves show how far from "
        "converged each model is, and Hybrid (Final) what longer fine-tuning gives.\n"
        "- **Hybrid SAGE** is compared with every rival because notebook 02's test results showed GraphSAGE "
        "to be the best encoder: a choice made after seeing test results, so its comparisons are "
        "exploratory. The card's own hybrid, Hybrid (Best), was fixed in advance.",
    ]


def _differences(card: CardInputs) -> list[str]:
    return [
        "## What differs from the original card, and why",
        "- **The environment** is ours (the original's was never published), documented formula by formula "
        "in `edge_rl.envs.IoTEdgeEnv`; numbers are not comparable with the original card and do not try to be.\n"
        "- **The hybrid** is a real double-DQN + PPO agent. The original trainer bootstrapped its TD target "
        "from the same state, had no target network and no PPO, crashed with gating fusion, and never "
        "transferred the pre-trained weights; all of that works here and is tested.\n"
        "- **No selection bias**: \"Best\" is chosen on validation seeds and reported on separate test seeds; "
        "the original chose it on its own evaluation.\n"
        f"- **Statistics**: {card.seeds_text}, with intervals and probabilities of improvement, "
        "where the original reported single runs whose differences were within one standard error.\n"
        f"- **Rivals**: random and {len(card.rules) - 1} fixed rules are rows of the tables; the original compared "
        "with nothing but its own baselines.\n"
        "- **The rows the original left without numbers** (Hybrid GAT, Hybrid Attention) are filled by training; "
        "the original's GAT number came from a loop, not from training.\n"
        "- **Training Steps**: the original's hybrid column counted fine-tuning only; we show it and the total "
        "environment steps beside it.\n"
        "- **Serving**: the original API's hybrid `/predict` returned a random node, and its dashboards showed "
        "typed-in numbers; here both run the committed models.",
        "## Citation",
        "The original model card: Mohamed Ashwak, *DeepSea-IoT: Hybrid DQN-PPO-GNN for IoT Edge Resource "
        "Allocation*, 2025, https://github.com/Sirius-ashwak/DeepSea-IoT. This reproduction: edge-rl.",
        "## License",
        "MIT.",
    ]


def model_card(results: str | os.PathLike) -> str:
    """The model card, every number read from ``results`` (tables, checkpoints, timings) and
    every figure linked from it. Raises FileNotFoundError naming the missing table if a notebook
    before 05 has not run."""
    card = CardInputs.read(Path(results))
    parts = (_header(card), _use(), _training(card), _evaluation(card), _impact(card), _technical(card),
             _limitations(card), _differences(card))
    return "\n\n".join(section for part in parts for section in part) + "\n"


def write_model_card(results: str | os.PathLike) -> Path:
    """Write :func:`model_card` to ``results/MODEL_CARD.md`` (atomically) and return the path."""
    path = Path(results) / "MODEL_CARD.md"
    text = model_card(results)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path
