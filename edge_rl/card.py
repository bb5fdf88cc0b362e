"""The model card: its tables, from evaluation rows (*Model Variants* and *Evaluation Results*,
with the fixed rules as rows, and the probability that the hybrid improves on each rival), and
``MODEL_CARD.md`` itself, written from what ``results/`` holds.

The card names its rows after models ("DQN Baseline"); our runs have labels ("DQN-MLP").
:data:`CARD_ROWS` is the one place that maps the two, with each model's type and description.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from edge_rl.checkpoint import read_description
from edge_rl.config import NODE_FEATURES, TASK_FEATURES, HybridConfig, TrainConfig
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS
from edge_rl.experiments import FUSIONS
from edge_rl.hybrid import VALIDATION_SEEDS_START
from edge_rl.files import atomic_write
from edge_rl.heuristics import HEURISTICS
from edge_rl.report import results_table
from edge_rl.stats import improvement_interval, run_scores


class CardRow(NamedTuple):
    """How a run label appears in the card."""

    name: str
    type: str
    description: str


_FUSION = HybridConfig()
CARD_ROWS: dict[str, CardRow] = {
    "Hybrid (Best)": CardRow("Hybrid (Best)", "DQN+PPO+GNN",
                             f"GCN encoder, weighted-sum fusion ({_FUSION.q_weight:g} Q + {_FUSION.policy_weight:g} "
                             "logits), card's procedure, best fine-tuning step on validation seeds"),
    "DQN-MLP": CardRow("DQN Baseline", "DQN", "SB3 DQN, MlpPolicy on the flat observation (the card's form)"),
    "PPO-MLP": CardRow("PPO Baseline", "PPO", "SB3 PPO, MlpPolicy on the flat observation (the card's form)"),
    "Hybrid GAT": CardRow("Hybrid GAT", "DQN+PPO+GAT", "GAT encoder, weighted-sum fusion"),
    "Hybrid Attention": CardRow("Hybrid Attention", "DQN+PPO+GNN", "GCN encoder, attention fusion"),
    "Hybrid (Final)": CardRow("Hybrid (Final)", "DQN+PPO+GNN", "GCN, weighted sum, longer fine-tuning, last weights"),
    "Hybrid (scratch)": CardRow("Hybrid (scratch)", "DQN+PPO+GNN",
                                "no pre-training, as many environment steps as the card's whole procedure"),
    "DQN-GNN": CardRow("DQN-GNN", "DQN+GNN", "SB3 DQN on the GCN encoder (the card's hybrid's DQN pre-training)"),
    "PPO-GNN": CardRow("PPO-GNN", "PPO+GNN", "SB3 PPO on the GCN encoder (the card's hybrid's PPO pre-training)"),
    "Hybrid Gating": CardRow("Hybrid Gating", "DQN+PPO+GNN", "GCN encoder, learned per-node gate"),
    "Hybrid SAGE": CardRow("Hybrid SAGE", "DQN+PPO+SAGE", "GraphSAGE encoder, weighted-sum fusion"),
    "DQN-GNN (GAT)": CardRow("DQN-GNN (GAT)", "DQN+GAT", "SB3 DQN on the GAT encoder (Hybrid GAT's pre-training)"),
    "PPO-GNN (GAT)": CardRow("PPO-GNN (GAT)", "PPO+GAT", "SB3 PPO on the GAT encoder (Hybrid GAT's pre-training)"),
    "DQN-GNN (SAGE)": CardRow("DQN-GNN (SAGE)", "DQN+SAGE", "SB3 DQN on the GraphSAGE encoder (Hybrid SAGE's pre-training)"),
    "PPO-GNN (SAGE)": CardRow("PPO-GNN (SAGE)", "PPO+SAGE", "SB3 PPO on the GraphSAGE encoder (Hybrid SAGE's pre-training)"),
}
"""Our run label -> the card's row: the card's five *Model Variants* rows (in its order) and its
fourth *Evaluation Results* row (``Hybrid (Final)``), then ours: every run of notebooks 01 and 02."""

CARD_VARIANT_ROWS = ("Hybrid (Best)", "DQN-MLP", "PPO-MLP", "Hybrid GAT", "Hybrid Attention")
CARD_EVALUATION_ROWS = ("Hybrid (Best)", "DQN-MLP", "PPO-MLP", "Hybrid (Final)")
CONTENDERS = ("Hybrid (Best)", "Hybrid SAGE")
"""Compared with every rival: the card's headline hybrid, and Hybrid SAGE. The second was chosen
after notebook 02's test results showed GraphSAGE to be the best encoder: its comparisons are
exploratory, not a pre-registered test (the card says so)."""
RIVALS = ("DQN-MLP", "DQN-GNN", "PPO-MLP", "PPO-GNN")
OWN_RIVALS = {"Hybrid (Best)": ("Hybrid (scratch)", "Hybrid (Final)"),
              "Hybrid SAGE": ("DQN-GNN (SAGE)", "PPO-GNN (SAGE)")}
"""Rivals a contender is also compared with: what the warm start buys, and what fine-tuning
adds to the runs it started from."""
LEARNING_CURVES = ("DQN-MLP", "PPO-MLP", "DQN-GNN", "PPO-GNN", "Hybrid (Best)", "Hybrid (Final)", "Hybrid (scratch)")
"""The runs whose training curves notebook 03 draws: the card's baselines and hybrids."""
MIN_SEEDS = 5
"""Fewer training seeds than this on either side: no verdict, however narrow the interval."""


def _card_names(labels: Sequence[str]) -> list[str]:
    return [CARD_ROWS[label].name if label in CARD_ROWS else label for label in labels]


def _missing(rows: pd.DataFrame, labels: Sequence[str]) -> None:
    missing = [label for label in labels if label not in set(rows["policy"])]
    if missing:
        raise ValueError(f"rows have no policy {missing}; accepted labels are those of the training runs")


def _ordered(labels: Sequence[str]) -> list[str]:
    """:data:`CARD_ROWS`' order (the card's rows first), then any other label, sorted."""
    known = [label for label in CARD_ROWS if label in labels]
    return known + sorted(set(labels) - set(known))


def model_variants(rows: pd.DataFrame, rule_rows: pd.DataFrame) -> pd.DataFrame:
    """The card's *Model Variants* table (Model, Type, Mean Reward, Std Dev, Description): its
    five rows first, then every other trained variant and the fixed rules, with the
    interquartile mean over training seeds and its interval."""
    _missing(rows, CARD_VARIANT_ROWS)
    trained = _ordered(list(rows["policy"].unique()))
    rules = list(rule_rows.groupby("policy")["return"].mean().sort_values(ascending=False).index)
    table = results_table(pd.concat([rows, rule_rows], ignore_index=True)).reindex(trained + rules)
    table = table[["Mean Reward", "Std Dev", "IQM over seeds", "IQM 95% CI", "Seeds"]]
    table.insert(0, "Type", [CARD_ROWS[p].type if p in CARD_ROWS else "rule" for p in table.index])
    table["Description"] = [CARD_ROWS[p].description if p in CARD_ROWS else f"fixed rule: {_rule_doc(p)}"
                            for p in table.index]
    table.index = pd.Index(_card_names(table.index), name="Model")
    return table


def _rule_doc(name: str) -> str:
    cls = HEURISTICS.get(name)
    return (cls.__doc__ or name).strip().splitlines()[0].rstrip(".") if cls else name


def evaluation_results(rows: pd.DataFrame, rule_rows: pd.DataFrame) -> pd.DataFrame:
    """The card's *Evaluation Results* table (Mean Reward, Std Dev, Min, Max, Training Steps)
    for every trained variant in ``rows``, with every environment step each used, the
    statistics over seeds, and the fixed rules (random among them) as rows. Sorted by mean
    reward: a rule that wins is on top."""
    _missing(rows, CARD_EVALUATION_ROWS)
    table = results_table(pd.concat([rows, rule_rows], ignore_index=True))
    table = table[["Mean Reward", "Std Dev", "Min", "Max", "Training Steps", "Env steps (total)",
                   "IQM over seeds", "IQM 95% CI", "Seeds", "Episodes", "Deadline success",
                   "Latency p95 (ms)", "Energy / task (J)"]]
    table.insert(0, "Type", [CARD_ROWS[p].type if p in CARD_ROWS else "rule" for p in table.index])
    table.index = pd.Index(_card_names(table.index), name="Model")
    return table


def headline(evaluation: pd.DataFrame) -> pd.DataFrame:
    """The README's table: :func:`evaluation_results` cut to what a newcomer needs."""
    return evaluation[["Type", "Mean Reward", "Std Dev", "IQM over seeds", "IQM 95% CI", "Seeds", "Env steps (total)"]]


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


def improvement(rows: pd.DataFrame, rule_rows: pd.DataFrame, of: Sequence[str] = CONTENDERS,
                rivals: Sequence[str] = RIVALS) -> pd.DataFrame:
    """Probability of improvement of each model in ``of`` over each rival, over its own rivals
    (:data:`OWN_RIVALS`) and over the best fixed rule: ``P(X > Y)`` for a random training seed
    of each, with a 95 % bootstrap interval (a rule has one run and is not resampled). Above
    0.5 means X tends to win. One row per ``X vs Y``, with both seed counts and the verdict."""
    own = [r for contender in of for r in OWN_RIVALS.get(contender, ())]
    _missing(rows, [*of, *rivals, *own])
    scores = run_scores(pd.concat([rows, rule_rows], ignore_index=True))
    rules = set(rule_rows["policy"])
    records = []
    for contender in of:
        x = scores.loc[scores["policy"] == contender, "return"].to_numpy()
        for rival in [*rivals, *OWN_RIVALS.get(contender, ()), best_rule(rule_rows)]:
            y = scores.loc[scores["policy"] == rival, "return"].to_numpy()
            interval = improvement_interval(x, y)
            x_name, y_name = _card_names([contender, rival])
            records.append({"comparison": f"{x_name} vs {y_name}", "P(X > Y)": interval.estimate,
                            "CI low": interval.low, "CI high": interval.high, "seeds X": x.size,
                            "seeds Y": y.size, "Y is": "rule" if rival in rules else "trained"})
    table = pd.DataFrame(records).set_index("comparison")
    table["verdict"] = [verdict(row) for _, row in table.iterrows()]
    return table


# ---------------------------------------------------------------------------- MODEL_CARD.md

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
    by = frame.groupby("run")["seconds"]
    return pd.DataFrame({"models": by.size(), "mean (s)": by.mean(), "total (min)": by.sum() / 60})


def model_card(results: str | os.PathLike) -> str:
    """The model card, in the original card's sections, every number read from ``results``
    (tables, checkpoints, timings) and every figure linked from it. Raises FileNotFoundError
    naming the missing table if a notebook before 05 has not run."""
    from edge_rl.report import markdown

    results = Path(results)
    variants = _table(results, "model_variants")
    evaluation = _table(results, "evaluation_results")
    wins = _table(results, "probability_of_improvement")
    ablation = _table(results, "ablation")
    timings = _table(results, "timings") if (results / "tables" / "timings.csv").exists() else None
    cost = training_cost(results)
    best = read_description(results / "models" / "hybrid-best-seed0.json")
    config = TrainConfig.from_dict(best["config"])
    hp, enc = config.hybrid, config.encoder
    of = CONTENDERS[0]

    top = evaluation.index[0]
    trained = evaluation[evaluation["Type"] != "rule"]
    rules = evaluation[evaluation["Type"] == "rule"]
    hybrid_cells = ablation[ablation["fusion"].isin(FUSIONS)]
    # Every trained model of notebooks 01-04, by IQM over seeds (a rule's one run: its mean).
    iqm = pd.concat([trained["IQM over seeds"], ablation["IQM over seeds"].rename(index=dict(
        zip(ablation.index, _card_names(list(ablation.index)))))])
    iqm = iqm[~iqm.index.duplicated()].sort_values(ascending=False)
    best_trained = iqm.index[0]
    random_score = rules.loc["random", "Mean Reward"]
    below_random = list(iqm[iqm < random_score].index)
    cell_best = hybrid_cells["IQM over seeds"].idxmax()
    cell_worst = hybrid_cells["IQM over seeds"].idxmin()
    seed_counts = trained["Seeds"]
    few = sorted(trained.index[seed_counts < seed_counts.max()])
    seeds_text = f"{int(seed_counts.max())} training seeds per variant" + (
        f" ({int(seed_counts.min())} for {', '.join(few)})" if few else "")
    episodes = int(evaluation.loc[of, "Episodes"] / evaluation.loc[of, "Seeds"])

    def finding(comparison: str) -> str:
        row = wins.loc[comparison]
        x_name, y_name = comparison.split(" vs ")
        return (f"{x_name} against {y_name}: probability of improvement {row['P(X > Y)']:.2f} "
                f"[{row['CI low']:.2f}, {row['CI high']:.2f}] ({int(row['seeds X'])} vs {int(row['seeds Y'])} "
                f"{'run' if row['Y is'] == 'rule' and row['seeds Y'] == 1 else 'seeds'}): {row['verdict']}.")

    findings = []
    if top in rules.index and rules.loc[top, "Mean Reward"] > iqm.iloc[0]:
        findings.append(f"**A fixed rule wins.** `{top}` scores {evaluation.loc[top, 'Mean Reward']:.2f} ± "
                        f"{evaluation.loc[top, 'Std Dev']:.2f}, above every trained model; the best trained model is "
                        f"{best_trained} (IQM {iqm.iloc[0]:.2f} over seeds).")
    else:
        findings.append(f"The best trained model is {best_trained} (IQM {iqm.iloc[0]:.2f} over seeds); the best "
                        f"fixed rule, `{rules.index[0]}`, scores {rules.iloc[0]['Mean Reward']:.2f}.")
    findings += [finding(comparison) for comparison in wins.index]
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
    findings.append(f"Random placement scores {random_score:.2f}; "
                    + (f"{', '.join(below_random)} score below it." if below_random
                       else "every trained model scores above it."))

    training_minutes = cost["total (min)"].sum()
    hardware = (f"{timings['cpu'].iloc[0]}, {int(timings['cores'].iloc[0])} cores" if timings is not None
                else "the machine of the last run (no timing record)")
    sections = [
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
        f"- **Statistics**: {seeds_text}, {episodes} test episodes per model, interquartile mean with a 95 % "
        "bootstrap interval, probability of improvement.",
        "## Model Variants",
        markdown(variants),
        "*Mean Reward* and *Std Dev* are over every test episode of every training seed (the original card's "
        "style); *IQM over seeds* is the interquartile mean of the seeds' mean returns, with its 95 % "
        "interval: compare models by it.",
        "## Intended Use",
        "### Direct Use\n\n- Research: a benchmark for graph-based reinforcement learning in task placement, "
        "with its baselines and statistics.\n- Education: a hybrid value/policy agent that can be read top to "
        "bottom (`edge_rl/hybrid.py`).",
        "### Out-of-Scope Use\n\n- Production placement: the environment is a simulator of our own design, "
        "not a measured network.\n- Safety-critical or real-time systems.",
        "## How to Use",
        "```bash\nmake setup        # .venv with the pinned environment (CPU torch)\n"
        "make reproduce    # every table and figure of this card, into results/\n"
        "make serve        # FastAPI on 127.0.0.1:8000 with the committed models\n"
        "make dashboard    # Streamlit dashboard\n```",
        "```python\nimport edge_rl\nfrom edge_rl.agent import load\n\n"
        "agent = load(\"results/models/hybrid-best-seed0\")\n"
        "obs, _ = edge_rl.make_env().reset(seed=0)\n"
        "node, _ = agent.predict(obs)\nscores = agent.node_scores(obs)  # q_values, logits, probabilities\n```",
        "## Training Procedure",
        "### Training Hyperparameters\n\n"
        f"**{of}** (from `results/models/hybrid-best-seed0.json`):\n\n"
        f"- Fine-tuning steps: {best['trained']['timesteps']:,} ({config.total_timesteps:,} asked, rounded up to "
        f"whole rollouts of {hp.n_envs} × {hp.n_steps})\n"
        f"- Pre-training: DQN-GNN {best['trained']['pretrain_timesteps']['dqn']:,} steps, PPO-GNN "
        f"{best['trained']['pretrain_timesteps']['ppo']:,} steps\n"
        f"- Learning rate (one optimizer for both losses): {hp.learning_rate:g}; DQN pre-training "
        f"{config.dqn.learning_rate:g}; PPO pre-training {config.ppo.learning_rate:g}\n"
        f"- Batch size: {hp.batch_size}; gamma: {hp.gamma}; GAE lambda: {hp.gae_lambda}; clip: {hp.clip_range}\n"
        f"- Target network: tau {hp.tau}, every {hp.target_update_interval} steps\n"
        f"- GNN: {enc.kind.upper()}, hidden {enc.hidden}, {enc.layers} layers, embedding {enc.embed}\n"
        f"- Fusion: {hp.fusion.replace('_', ' ')} (Q: {hp.q_weight}, policy: {hp.policy_weight}), Q-values "
        "standardised per state\n"
        f"- Kept: the fine-tuning step that scores best on {hp.val_episodes} validation episodes (seeds "
        f"{VALIDATION_SEEDS_START}+); reported on the test episodes (seeds {DEFAULT_EVAL_SEEDS[0]}+), which no "
        "training or selection saw.",
        "### Training Data\n\n"
        "- Simulated: the environment `edge_rl/IoTEdge-v0`, our reconstruction (the original was never "
        "published); its constants are in `results/tables/environment.md`.\n"
        f"- Network: {config.env.n_nodes} nodes ({config.env.n_sensors} sensors, {config.env.n_fog} fog nodes, "
        f"{config.env.n_cloud} cloud), as in the original card.\n"
        f"- Evaluation: {episodes} test episodes per model, the same seeds for every model and rule.",
        "![The network](figures/topology.png)",
        "### Training Process\n\n"
        f"1. Pre-train DQN-GNN ({config.pretrain_steps:,} steps) and PPO-GNN ({config.pretrain_steps:,} steps, "
        "rounded up to whole rollouts).\n"
        "2. Copy their weights into the hybrid (`edge_rl.hybrid.warm_start` says which weights come from where).\n"
        f"3. Fine-tune the hybrid {config.total_timesteps:,} steps, keeping the best step on validation seeds.\n"
        f"4. Evaluate on {episodes} test episodes, for each of {int(evaluation.loc[of, 'Seeds'])} training seeds.",
        "## Evaluation Results",
        "### Performance Metrics",
        markdown(evaluation),
        "*Training Steps*: steps the model trained itself (a hybrid's fine-tuning); *Env steps (total)*: every "
        "environment step it used, pre-training included. Rules train nothing.",
        "### Does the hybrid improve on its rivals?",
        markdown(wins),
        "The chance that a random training seed of the hybrid beats a random seed of the rival (0.5: a tie), "
        "with a 95 % bootstrap interval.",
        "### Key Findings",
        "\n".join(f"- {finding}" for finding in findings),
        "![Learning curves](figures/learning_curves.png)",
        "![Returns per test episode](figures/return_distributions.png)",
        "![Deadline success, latency and energy](figures/metrics.png)",
        "### Ablation: encoder × fusion",
        markdown(ablation),
        "![Ablation](figures/ablation.png)",
        "## Environmental Impact",
        f"- Hardware: {hardware}, no GPU; one torch thread per training process.\n"
        f"- Training time: {training_minutes:.1f} CPU-minutes for all {int(cost['models'].sum())} models "
        "(sum of their training wall times).",
        markdown(cost, 1),
    ]
    if timings is not None:
        sections += ["Wall time of each notebook of `make reproduce`: its last run that trained its models (a "
                     "rerun that finds every run done keeps that row), or, for notebooks that train nothing, its "
                     "last run. This card's own notebook is recorded after the card is written.",
                     markdown(timings[["wall time (s)", "checkpoints written", "budget", "finished (UTC)",
                                       "python", "torch", "torch-geometric", "stable-baselines3"]], 1)]
    sections += [
        "## Technical Specifications",
        "### Model Architecture",
        f"```\nObservation: per node {len(NODE_FEATURES)} features (the node type as a one-hot) and the task's "
        f"{len(TASK_FEATURES)} features\n"
        "        ↓\n"
        f"GNN encoder (PyG dense layers): {enc.layers} {enc.kind.upper()} layers, "
        f"{enc.hidden} → … → {enc.embed}\n"
        "        ↓ node embeddings h_i, graph embedding g (masked mean)\n"
        "   /           |            \\\n"
        "Q head      policy head    value head\n"
        "MLP[h_i‖g]  MLP[h_i‖g]     MLP[g]\n"
        "   \\           /\n"
        f"  fusion ({hp.fusion.replace('_', ' ')}: {hp.q_weight} · std(Q) + {hp.policy_weight} · logits)\n"
        "        ↓ softmax over real nodes\n"
        "   the node that runs the task\n```",
        "### Input Format\n\nThe API (`POST /predict`) takes the original card's format: `network_state` with "
        "`nodes` (cpu_util, mem_util, energy, latency, bandwidth, queue_len, node_type) and `edges`, and a "
        "`model_type`. See `/docs` of `make serve`.",
        "### Output Format\n\n`selected_node`, `confidence` (its probability under the model's distribution), "
        "`q_values` (where the model has them), `node_scores`, `processing_time_ms`.",
        "## Limitations and Biases",
        "- **Our environment, not theirs**: the original environment was never published; ours is a "
        "reconstruction, so no number here is comparable with the original card's.\n"
        "- **Simulated data** only; no measured IoT traces.\n"
        "- **One topology trained**: the graph policies run on other sizes, but were trained and evaluated on "
        f"the card's {config.env.n_nodes} nodes.\n"
        "- **Short training**: the card's step counts are small; the learning curves show how far from "
        "converged each model is, and Hybrid (Final) what longer fine-tuning gives.\n"
        "- **Hybrid SAGE** is compared with every rival because notebook 02's test results showed GraphSAGE "
        "to be the best encoder: a choice made after seeing test results, so its comparisons are "
        "exploratory. The card's own hybrid, Hybrid (Best), was fixed in advance.",
        "## What differs from the original card, and why",
        "- **The environment** is ours (the original's was never published), documented formula by formula "
        "in `edge_rl.env.IoTEdgeEnv`; numbers are not comparable with the original card and do not try to be.\n"
        "- **The hybrid** is a real double-DQN + PPO agent. The original trainer bootstrapped its TD target "
        "from the same state, had no target network and no PPO, crashed with gating fusion, and never "
        "transferred the pre-trained weights; all of that works here and is tested.\n"
        "- **No selection bias**: \"Best\" is chosen on validation seeds and reported on separate test seeds; "
        "the original chose it on its own evaluation.\n"
        f"- **Statistics**: {seeds_text}, with intervals and probabilities of improvement, "
        "where the original reported single runs whose differences were within one standard error.\n"
        f"- **Rivals**: random and {len(rules) - 1} fixed rules are rows of the tables; the original compared "
        "with nothing but its own baselines.\n"
        "- **The rows the original left without numbers** (Hybrid GAT, Hybrid Attention) are filled by training; the original's GAT number "
        "came from a loop, not from training.\n"
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
    return "\n\n".join(sections) + "\n"


def write_model_card(results: str | os.PathLike) -> Path:
    """Write :func:`model_card` to ``results/MODEL_CARD.md`` (atomically) and return the path."""
    path = Path(results) / "MODEL_CARD.md"
    text = model_card(results)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path
