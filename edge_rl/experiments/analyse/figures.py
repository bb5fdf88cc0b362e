"""The figures of the notebooks and the model card, drawn from tables and evaluation rows.

Every figure has a title, its axes' units and which way is better; every policy keeps one
colour in every figure (:func:`edge_rl.palette.colours`: a model and its root-path twin share a
hue, the twin lighter; fixed rules are grey); fixed rules and bounds are drawn as labelled
reference lines; intervals are drawn where the tables have them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from edge_rl.catalogue import ENCODER_NAMES
from edge_rl.config import NODE_TYPES, EnvConfig
from edge_rl.envs.topology import make_topology
from edge_rl.files import atomic_write
from edge_rl.palette import NODE_COLOURS, colours
from edge_rl.stats import parse_interval

# Seeds that score alike overlap where a swarm's row has no room to spread them: they are drawn,
# not lost. Seaborn places a swarm each time the figure is drawn and warns then, so the filter
# cannot be scoped to the plotting call.
warnings.filterwarnings("ignore", message=r".*of the points cannot be placed", category=UserWarning,
                        module="seaborn")

HIGHER = "higher is better"
LOWER = "lower is better"


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> None:
    """Write a PNG atomically (at 120 dpi, tight)."""
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))


def _references(ax: plt.Axes, references: Mapping[str, float], vertical: bool = False) -> None:
    """Labelled reference lines across the plot: fixed rules (grey), bounds (named so, red)."""
    for i, (name, value) in enumerate(references.items()):
        bound = "bound" in name
        style = dict(color="#b2182b" if bound else "0.35", linestyle=(0, (4, 2 + 2 * i)), linewidth=1.1,
                     label=name if bound else f"{name} (rule)")
        (ax.axvline if vertical else ax.axhline)(value, **style)


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
    node_colours = [NODE_COLOURS[NODE_TYPES[int(k)]] for k in topology.node_type]
    same_layer = [(a, b) for a, b in graph.edges if topology.node_type[a] == topology.node_type[b]]
    other = [edge for edge in graph.edges if edge not in same_layer]
    nx.draw_networkx_nodes(graph, positions, ax=ax, node_color=node_colours, node_size=320)
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


def plot_curves(curves: pd.DataFrame, references: Mapping[str, float] | None = None, ax: plt.Axes | None = None,
                title: str = "Learning curves", zoom: float | None = None) -> plt.Axes:
    """Validation return against environment steps: the mean over training seeds with its 95 %
    bootstrap band, each policy over its own steps, and the rules on the same episodes.

    Args:
        curves: ``policy, seed, step, return`` (:func:`edge_rl.experiments.run.runs.validation_curves`).
        references: name -> return of a fixed rule on the same validation episodes.
        zoom: show returns from this far below the lowest reference to a quarter of it above the
            highest, on a logarithmic step axis (a long run's early returns, hundreds of points
            below, would squash the end where the curves meet the rule); the legend goes under it.
    """
    ax = ax if ax is not None else plt.subplots(figsize=(7, 4))[1]
    names = list(dict.fromkeys(curves["policy"]))
    sns.lineplot(data=curves, x="step", y="return", hue="policy", hue_order=names, palette=colours(names),
                 errorbar=("ci", 95), seed=0, ax=ax, marker="o", markersize=3)
    _references(ax, references or {})
    ax.set(xlabel="environment steps (pre-training included)", ylabel=f"validation return ({HIGHER})", title=title)
    if zoom is not None and references:
        ax.set_xscale("log")
        ax.set_ylim(min(references.values()) - zoom, max(references.values()) + zoom / 4)
        ax.set_xlabel("environment steps (pre-training included; log scale)")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    else:
        ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_seed_scores(scores: pd.DataFrame, order: Sequence[str], references: Mapping[str, float] | None = None,
                     title: str = "One point per training seed") -> plt.Axes:
    """Each training seed's mean test return, one row per policy (best first), rules as lines."""
    ax = plt.subplots(figsize=(8, 0.32 * len(order) + 1.2))[1]
    sns.swarmplot(data=scores, x="return", y="policy", order=order, hue="policy", hue_order=list(order),
                  palette=colours(list(order)), size=4, ax=ax, legend=False)  # a swarm: no random jitter
    _references(ax, references or {}, vertical=True)
    ax.set(xlabel=f"mean test return of one training seed ({HIGHER})", ylabel="", title=title)
    if references:  # under the axes: inside, it would cover the lowest rows
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(references), frameon=False)
    return ax


def plot_returns(rows: pd.DataFrame, references: Mapping[str, float] | None = None,
                 title: str = "Return per test episode") -> plt.Axes:
    """Return per test episode (every training seed's), one box per policy, best mean on top."""
    order = list(rows.groupby("policy")["return"].mean().sort_values(ascending=False).index)
    ax = plt.subplots(figsize=(8, 0.32 * len(order) + 1.2))[1]
    sns.boxplot(data=rows, x="return", y="policy", order=order, hue="policy", hue_order=order,
                palette=colours(order), fliersize=2, ax=ax, legend=False)
    _references(ax, references or {}, vertical=True)
    ax.set(xlabel=f"test episode return ({HIGHER})", ylabel="", title=title)
    if references:  # under the axes: inside, it would cover the lowest rows
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(references), frameon=False)
    return ax


METRICS = {"deadline_success": f"deadline success, fraction of tasks ({HIGHER})",
           "latency_p95_ms": f"95th-percentile latency, ms ({LOWER})",
           "energy_per_task_j": f"energy per task, J ({LOWER})"}


def plot_metrics(rows: pd.DataFrame, metrics: Mapping[str, str] | None = None,
                 title: str = "Deadlines, latency and energy per policy") -> plt.Figure:
    """One panel per metric: its mean over test episodes per policy with a 95 % bootstrap
    interval, policies ordered by mean return; rules in grey."""
    metrics = metrics if metrics is not None else METRICS
    order = list(rows.groupby("policy")["return"].mean().sort_values(ascending=False).index)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 0.32 * len(order) + 1.5), sharey=True)
    for ax, (column, label) in zip(np.atleast_1d(axes), metrics.items()):
        sns.barplot(data=rows, x=column, y="policy", order=order, hue="policy", hue_order=order,
                    palette=colours(order), errorbar=("ci", 95), seed=0, ax=ax, legend=False)
        ax.set(xlabel=label, ylabel="")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_ablation(table: pd.DataFrame, title: str = "Ablation: IQM test return per cell") -> plt.Figure:
    """One panel per encoder: each cell's IQM over seeds with its 95 % interval (the table's),
    the fusions and the pre-training runs alone side by side, one colour per encoder design.

    Args:
        table: :func:`edge_rl.experiments.analyse.report.ablation_table` (columns encoder, fusion,
            design, IQM over seeds, IQM 95% CI).
    """
    data = table.reset_index()
    encoders = list(dict.fromkeys(data["encoder"]))
    # Two panels a row: four side by side are shrunk to unreadable type on a page or a dashboard.
    columns = min(2, len(encoders))
    rows = -(-len(encoders) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.6 * rows), sharey=True, squeeze=False)
    for ax in axes.ravel()[len(encoders):]:
        ax.set_visible(False)
    axes = axes.ravel()[: len(encoders)]
    designs = list(dict.fromkeys(data["design"]))
    shades = dict(zip(designs, sns.color_palette("colorblind", len(designs))))
    for ax, encoder in zip(np.atleast_1d(axes), encoders):
        cells = data[data["encoder"] == encoder]
        fusions = list(dict.fromkeys(cells["fusion"]))
        for j, design in enumerate(designs):
            part = cells[cells["design"] == design].set_index("fusion").reindex(fusions)
            x = np.arange(len(fusions)) + (j - (len(designs) - 1) / 2) * 0.25
            bounds = [parse_interval(text) or (value, value) for text, value in
                      zip(part["IQM 95% CI"].fillna(""), part["IQM over seeds"])]
            low = part["IQM over seeds"] - [b[0] for b in bounds]
            high = [b[1] for b in bounds] - part["IQM over seeds"]
            ax.errorbar(x, part["IQM over seeds"], yerr=[low, high], fmt="o", capsize=3, color=shades[design],
                        label=design)
        ax.set_xticks(range(len(fusions)), [f.replace("_", " ").replace(" alone", "\nalone") for f in fusions],
                      fontsize=8)
        ax.set_title(ENCODER_NAMES.get(encoder, encoder))
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[::columns]:
        ax.set_ylabel("IQM test return")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle(f"{title}\n(dots: IQM over seeds; bars: 95 % interval; {HIGHER})")
    fig.legend(handles, labels, title="encoder design", fontsize=8, loc="lower center", ncol=len(designs),
               bbox_to_anchor=(0.5, -0.06), frameon=False)
    fig.tight_layout()
    return fig


def plot_designs(table: pd.DataFrame, title: str = "Encoder designs on validation seeds") -> plt.Axes:
    """The design comparison (:func:`edge_rl.experiments.analyse.diagnostics.design_table`): each
    design's validation IQM in every (algorithm, layer kind) cell."""
    cells = [c for c in table.columns if c != "mean over cells"]
    data = table[cells].reset_index().melt(id_vars="design", var_name="cell", value_name="IQM")
    ax = plt.subplots(figsize=(max(7.0, 0.8 * len(cells)), 4))[1]
    sns.barplot(data=data, x="cell", y="IQM", hue="design", hue_order=list(table.index),
                palette="colorblind", ax=ax)
    ax.set(xlabel="", ylabel=f"IQM validation return over seeds ({HIGHER})", title=title)
    ax.tick_params(axis="x", rotation=30)
    return ax


def plot_layer_distances(frame: pd.DataFrame, title: str = "How alike the node embeddings become") -> plt.Axes:
    """MAD between the embeddings of different nodes, layer by layer, one line per model.

    Args:
        frame: ``model, design, layer, MAD`` (:func:`edge_rl.experiments.analyse.diagnostics.layer_distances`).
    """
    ax = plt.subplots(figsize=(7, 4))[1]
    models = list(dict.fromkeys(frame["model"]))
    designs = list(dict.fromkeys(frame["design"]))
    dashes = {d: (None, None) if d == "none" else (4, 2) for d in designs}  # the plain stack solid, a root path dashed
    palette = colours(models)
    for (model, design), rows in frame.groupby(["model", "design"], sort=False):
        ax.plot(rows["layer"], rows["MAD"], color=palette[model], dashes=dashes[design], marker="o", markersize=4)
    # The legend drawn by hand: a colour per model, a line style per design (seaborn's draws every entry dashed).
    handles = [Line2D([], [], color=palette[m], marker="o", markersize=4, label=m) for m in models]
    handles += [Line2D([], [], color="0.2", dashes=dashes[d], label=f"design: {d}") for d in designs]
    ax.set(xlabel="", ylabel="mean cosine distance between nodes (0: all alike)", title=title)
    ax.set_ylim(bottom=0)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def plot_relative(table: pd.DataFrame, rule: str, title: str = "Zero-shot: return relative to the rule",
                  hide: Sequence[str] = ("random",)) -> plt.Axes:
    """Each policy's mean return minus ``rule``'s, per condition (one row each), one marker per
    policy; the rule itself is the line at 0, a bound (a name with ``oracle``) a red cross.

    Args:
        table: conditions x policies (:func:`edge_rl.experiments.studies.generalisation.zero_shot_table`).
        hide: policies left out (the random rule, hundreds of points below, would flatten the rest).
    """
    table = table[[c for c in table.columns if c not in hide]]
    names = list(table.columns)
    palette = colours(names)
    ax = plt.subplots(figsize=(9, 0.42 * len(table) + 1.5))[1]
    rows = np.arange(len(table))
    offsets = np.linspace(-0.28, 0.28, len(names)) if len(names) > 1 else np.zeros(1)
    markers = iter("osD^vP<>" * len(names))  # a shape per policy too: two models' hues can be close
    for name, offset in zip(names, offsets):
        bound = "oracle" in name
        ax.scatter(table[name].to_numpy(), rows + offset, s=42 if bound else 30, marker="x" if bound else next(markers),
                   color="#b2182b" if bound else palette[name], label=f"{name} (bound)" if bound else name, zorder=3)
    ax.axvline(0.0, color="0.2", linewidth=1.1, label=f"{rule} (rule)")
    ax.set_yticks(rows, list(table.index))
    ax.invert_yaxis()
    ax.set(ylabel="", xlabel=f"mean return minus {rule}'s on the same episodes ({HIGHER})", title=title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
