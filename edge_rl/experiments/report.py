"""Tables and figures for the notebooks and the model card, from evaluation rows and configs.

Nothing here runs an experiment: every function turns what :mod:`edge_rl.evaluation` (or a
config) gives into a DataFrame, a Markdown table or a matplotlib figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
import seaborn as sns

from edge_rl.config import NODE_TYPES, EnvConfig
from edge_rl.envs.topology import make_topology
from edge_rl.experiments.stats import iqm_interval, run_scores
from edge_rl.files import atomic_write

NODE_COLOURS = {"sensor": "#59a14f", "fog": "#4e79a7", "cloud": "#e15759"}


def environment_spec(config: EnvConfig | None = None) -> pd.DataFrame:
    """The simulator's constants as a table (quantity, value, unit, source)."""
    cfg = config if config is not None else EnvConfig()
    rows = []
    for name in NODE_TYPES:
        spec = cfg.node_type_spec(NODE_TYPES.index(name))
        count = {"sensor": cfg.n_sensors, "fog": cfg.n_fog, "cloud": cfg.n_cloud}[name]
        rows += [
            (f"{name}: count", count, "nodes", "original"),
            (f"{name}: compute", spec.mips, "MIPS", "original"),
            (f"{name}: memory", spec.memory_mb, "MB", "original"),
            (f"{name}: busy power", spec.busy_power_w, "W", "original" if name != "sensor" else "ours"),
            (f"{name}: access link", spec.ingress_mbps, "Mbit/s", "ours"),
            (f"{name}: background CPU load", spec.bg_cpu_util, "fraction", "ours"),
            (f"{name}: background link load", spec.bg_link_util, "fraction", "ours"),
            (f"{name}: background memory", spec.bg_mem_util, "fraction", "ours"),
        ]
    for name, link in (("sensor-fog", cfg.sensor_fog_link), ("fog-fog", cfg.fog_fog_link), ("fog-cloud", cfg.fog_cloud_link)):
        rows += [(f"link {name}: bandwidth", link.bandwidth_mbps, "Mbit/s", "original"),
                 (f"link {name}: latency", link.latency_ms, "ms", "original")]
    rows += [
        ("step", cfg.step_ms, "ms", "ours"),
        ("background arrivals", cfg.background_rate, "jobs / step (Poisson)", "original"),
        ("transmission energy", cfg.tx_energy_j_per_mb, "J / MB / hop", "ours"),
        ("task demand", f"{cfg.demand_mi[0]:g}-{cfg.demand_mi[1]:g}", "MI, log-uniform", "ours"),
        ("task input", f"{cfg.input_kb[0]:g}-{cfg.input_kb[1]:g}", "KB, log-uniform", "ours"),
        ("task memory", f"{cfg.memory_mb[0]:g}-{cfg.memory_mb[1]:g}", "MB, uniform", "ours"),
        ("task deadline", f"{cfg.deadline_ms[0]:g}-{cfg.deadline_ms[1]:g}", "ms, log-uniform", "ours"),
        ("reward weights (deadline, latency, energy, balance)",
         f"{cfg.w_deadline:g}, {cfg.w_latency:g}, {cfg.w_energy:g}, {cfg.w_balance:g}", "", "original"),
        ("latency cap", cfg.latency_cap, "x deadline", "ours"),
        ("episode", 100, "steps", "original"),
    ]
    table = pd.DataFrame(rows, columns=["quantity", "value", "unit", "source"])
    table["value"] = [f"{v:g}" if isinstance(v, (int, float)) else v for v in table["value"]]
    return table.set_index("quantity")


def draw_topology(config: EnvConfig | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """The network, sensors at the bottom, fog in the middle, clouds on top."""
    cfg = config if config is not None else EnvConfig()
    topology = make_topology(cfg)
    graph = nx.Graph()
    for node, kind in enumerate(topology.node_type):
        graph.add_node(node, layer=int(kind))
    graph.add_edges_from(topology.edges)
    positions = nx.multipartite_layout(graph, subset_key="layer", align="horizontal")
    ax = ax if ax is not None else plt.subplots(figsize=(8, 4))[1]
    colours = [NODE_COLOURS[NODE_TYPES[int(k)]] for k in topology.node_type]
    same_layer = [(a, b) for a, b in graph.edges if topology.node_type[a] == topology.node_type[b]]
    other = [edge for edge in graph.edges if edge not in same_layer]
    nx.draw_networkx_nodes(graph, positions, ax=ax, node_color=colours, node_size=320)
    nx.draw_networkx_labels(graph, positions, ax=ax, font_color="white", font_size=8)
    nx.draw_networkx_edges(graph, positions, edgelist=other, ax=ax, edge_color="#bbbbbb")
    # The fog mesh lies on one row: arcs, or its links would hide behind each other.
    nx.draw_networkx_edges(graph, positions, edgelist=same_layer, ax=ax, edge_color="#bbbbbb", arrows=True,
                           arrowstyle="-", connectionstyle="arc3,rad=0.35", node_size=320)
    for name, colour in NODE_COLOURS.items():
        ax.scatter([], [], c=colour, label=name)
    ax.legend(loc="upper left", frameon=False)
    ax.set_axis_off()
    ax.set_title(f"{topology.n_nodes} nodes: {cfg.n_sensors} sensors, {cfg.n_fog} fog, {cfg.n_cloud} cloud")
    return ax


def episode_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The card's style, per policy over episodes: mean, std, min and max return, and the
    mean of the other metrics. Sorted by mean return."""
    by = rows.groupby("policy", sort=False)
    table = pd.DataFrame({
        "Mean Reward": by["return"].mean(),
        "Std Dev": by["return"].std(),
        "Min": by["return"].min(),
        "Max": by["return"].max(),
        "Deadline success": by["deadline_success"].mean(),
        "Latency p95 (ms)": by["latency_p95_ms"].mean(),
        "Energy / task (J)": by["energy_per_task_j"].mean(),
        "Episodes": by["return"].size(),
    })
    return table.sort_values("Mean Reward", ascending=False)


def markdown(table: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub Markdown table (pandas' ``to_markdown``, which uses tabulate); integer columns
    stay integers, float columns get ``digits`` decimals."""
    formats = [""] + ["d" if pd.api.types.is_integer_dtype(t) else f".{digits}f" for t in table.dtypes]
    # object dtype: pandas would otherwise hand tabulate one float array, integers included
    return table.astype(object).to_markdown(floatfmt=formats)


def save_table(table: pd.DataFrame, stem: str | os.PathLike, digits: int = 2) -> None:
    """Write ``<stem>.csv`` (full precision) and ``<stem>.md`` (rounded), each atomically."""
    stem = Path(stem)
    atomic_write(stem.with_suffix(".csv"), lambda tmp: table.to_csv(tmp))
    atomic_write(stem.with_suffix(".md"), lambda tmp: Path(tmp).write_text(markdown(table, digits) + "\n"))


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> None:
    """Write a PNG atomically (at 120 dpi, tight)."""
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))


def results_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The card's Evaluation Results table, and the statistics over training seeds.

    Per policy: mean, std, min and max of the return over all test episodes of all seeds (the
    card's style); the interquartile mean over seeds of each seed's mean return, with its 95 %
    stratified bootstrap interval; deadline success; the steps each model trained itself (the
    card's *Training Steps*: a hybrid's fine-tuning) and every environment step it used,
    pre-training included. Rows come from :func:`edge_rl.experiments.runs.run_all`.
    """
    table = episode_table(rows).drop(columns=["Episodes"])
    scores = run_scores(rows)
    intervals = {}
    for policy, group in scores.groupby("policy", sort=False):
        values = group["return"].to_numpy()
        intervals[policy] = iqm_interval(values) if values.size >= 2 else None
    means = scores.groupby("policy", sort=False)["return"].mean()
    table["IQM over seeds"] = [intervals[p].estimate if intervals[p] else means[p] for p in table.index]
    table["IQM 95% CI"] = [f"[{intervals[p].low:.2f}, {intervals[p].high:.2f}]" if intervals[p] else "n/a (1 run)"
                           for p in table.index]
    by = rows.groupby("policy", sort=False)
    table["Seeds"] = by["train_seed"].nunique()
    table["Episodes"] = by["return"].size()
    if "train_steps" in rows:
        table["Training Steps"] = by["train_steps"].median().round().astype(int)
    if "env_steps" in rows:
        table["Env steps (total)"] = by["env_steps"].median().round().astype(int)
    return table


def training_curve(log_dir: str | os.PathLike, n_envs: int) -> pd.DataFrame:
    """Training episodes of one run as ``step, return``, from its SB3 Monitor CSVs.

    The step is exact, not inferred from wall-clock order: each environment's episodes are
    cumulated in its own file, and the vector environment steps all ``n_envs`` in lockstep.
    """
    frames = []
    for path in sorted(Path(log_dir).glob("*.monitor.csv")):
        episodes = pd.read_csv(path, skiprows=1)  # the first line is Monitor's JSON header
        frames.append(pd.DataFrame({"step": episodes["l"].cumsum() * n_envs, "return": episodes["r"]}))
    if not frames:
        raise FileNotFoundError(f"{log_dir}: no *.monitor.csv training log")
    return pd.concat(frames, ignore_index=True).sort_values("step", kind="stable", ignore_index=True)


def plot_learning_curves(curves: pd.DataFrame, ax: plt.Axes | None = None, bins: int = 10) -> plt.Axes:
    """Mean training return over seeds with a 95 % bootstrap band, per policy.

    ``curves`` has ``policy, seed, step, return``; episodes are averaged within ``bins``
    equal step ranges per seed first, so every seed weighs the same.
    """
    ax = ax if ax is not None else plt.subplots(figsize=(7, 4))[1]
    data = curves.copy()
    edges = np.linspace(0, data["step"].max(), bins + 1)
    data["step"] = edges[1:][np.clip(np.searchsorted(edges, data["step"], side="left") - 1, 0, bins - 1)]
    per_seed = data.groupby(["policy", "seed", "step"], sort=False)["return"].mean().reset_index()
    sns.lineplot(data=per_seed, x="step", y="return", hue="policy", errorbar=("ci", 95), seed=0, ax=ax)
    ax.set(xlabel="environment steps", ylabel="training episode return")
    return ax


def ablation_table(rows: pd.DataFrame, cells: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Encoder x fusion: one row per grid cell with its IQM over seeds and 95 % interval.

    Args:
        rows: evaluation rows of the grid's runs (:func:`edge_rl.experiments.runs.run_all`).
        cells: label -> (encoder, fusion), for the labels of the grid's hybrid runs.
    """
    scores = run_scores(rows[rows["policy"].isin(cells)])
    records = []
    for label, (encoder, fusion) in cells.items():
        values = scores.loc[scores["policy"] == label, "return"].to_numpy()
        interval = iqm_interval(values) if values.size >= 2 else None
        records.append({
            "policy": label, "encoder": encoder, "fusion": fusion,
            "IQM over seeds": interval.estimate if interval else float(values.mean()),
            "IQM 95% CI": f"[{interval.low:.2f}, {interval.high:.2f}]" if interval else "n/a (1 run)",
            "Seeds": int(values.size),
        })
    return pd.DataFrame(records).set_index("policy")


def plot_ablation(table: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Heatmap of :func:`ablation_table`'s IQM, encoders as rows, fusions as columns."""
    ax = ax if ax is not None else plt.subplots(figsize=(6, 4))[1]
    grid = table.pivot(index="encoder", columns="fusion", values="IQM over seeds")
    grid = grid.reindex(index=table["encoder"].unique(), columns=table["fusion"].unique())
    sns.heatmap(grid, annot=True, fmt=".1f", cmap="viridis", ax=ax, cbar_kws={"label": "IQM test return"})
    ax.set(xlabel="fusion", ylabel="encoder")
    return ax


METRICS = {"deadline_success": "deadline success (fraction of tasks)",
           "latency_mean_ms": "mean latency (ms)", "energy_per_task_j": "energy per task (J)"}


def plot_returns(rows: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Return per test episode, one box per policy, best mean on top."""
    order = rows.groupby("policy")["return"].mean().sort_values(ascending=False).index
    ax = ax if ax is not None else plt.subplots(figsize=(8, 0.35 * len(order) + 1))[1]
    sns.boxplot(data=rows, x="return", y="policy", order=order, ax=ax, color="#a0cbe8", fliersize=2)
    ax.set(xlabel="test episode return", ylabel="")
    return ax


def plot_metrics(rows: pd.DataFrame, metrics: dict[str, str] | None = None) -> plt.Figure:
    """One panel per metric (deadline success, latency, energy by default): its mean over test
    episodes per policy with a 95 % bootstrap interval, policies ordered by mean return."""
    metrics = metrics if metrics is not None else METRICS
    order = rows.groupby("policy")["return"].mean().sort_values(ascending=False).index
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 0.35 * len(order) + 1.2), sharey=True)
    for ax, (column, title) in zip(np.atleast_1d(axes), metrics.items()):
        sns.barplot(data=rows, x=column, y="policy", order=order, ax=ax, color="#4e79a7",
                    errorbar=("ci", 95), seed=0)
        ax.set(xlabel=title, ylabel="")
    fig.tight_layout()
    return fig
