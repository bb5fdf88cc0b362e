"""What the dashboard's pages share: the loaded models, generated networks, the topology drawing."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # drawn to images, never to a window

import numpy as np
import pandas as pd
import streamlit as st
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from edge_rl.config import NODE_FEATURES, NODE_TYPES, EnvConfig
from edge_rl.envs import make_env
from edge_rl.palette import colours
from edge_rl.serve import models as serving
from edge_rl.serve.conversions import network_state_from_env
from edge_rl.serve.schemas import NetworkState, TaskSpec


@st.cache_resource(show_spinner="Loading the models ...")
def predictor(models: str) -> serving.Predictor:
    """Every model of :data:`edge_rl.serve.models.MODEL_SPECS`, each loaded when a page first asks
    for it, once per models folder (a page that uses three models does not wait for all);
    ``models`` empty: each model's own results folder, as the API reads them."""
    return serving.Predictor(models or None, lazy=True)


FIRST = ("headline", "evaluation_results", "model_variants", "probability_of_improvement", "encoder_designs",
         "ablation", "baselines", "hybrid", "heuristics", "reward_terms", "environment")
"""The tables the card shows, in the card's order; the figures likewise."""
FIRST_FIGURES = ("metrics", "learning_curves", "return_distributions", "encoder_designs", "over_smoothing",
                 "ablation", "topology")


def ordered(paths: list[Path], common_first: bool) -> list[Path]:
    """``paths`` with the card's tables (or figures) first, in its order, then the rest by name."""
    first = FIRST if common_first else FIRST_FIGURES
    rank = {name: i for i, name in enumerate(first)}
    return sorted(paths, key=lambda p: (rank.get(p.stem, len(rank)), p.stem))


def table_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """``frame`` made to fit the page: numbers in narrow columns (whole numbers without
    decimals, others to 2), a missing value blank (not "None"), the first column pinned while
    the rest scrolls sideways, long text in wide columns."""
    frame = frame.copy()
    config: dict = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            width = "small" if len(str(column)) <= 10 else "medium"  # wide enough for its header
            finite = values.dropna()
            whole = bool(len(finite)) and bool(np.all(np.equal(np.mod(finite, 1), 0)))
            if values.isna().any():  # shown as text: a number column would print "None"
                frame[column] = [("" if pd.isna(v) else f"{v:.0f}" if whole else f"{v:.2f}") for v in values]
                config[column] = st.column_config.TextColumn(width=width)
            else:
                config[column] = st.column_config.NumberColumn(format="%d" if whole else "%.2f", width=width)
        else:
            frame[column] = values.where(values.notna(), "")  # a missing label blank, not "None"
            long = frame[column].astype(str).str.len().max() > 40 if len(values) else False
            config[column] = st.column_config.TextColumn(width="large" if long else "medium")
    if len(frame.columns):  # the labels, pinned while the rest scrolls; wide enough for the longest
        first = frame.columns[0]
        longest = frame[first].astype(str).str.len().max() if len(frame) else 0
        config[first] = st.column_config.Column(width="large" if longest > 22 else "medium", pinned=True)
    return frame, config


def table_name(model_type: str) -> str:
    """What the results tables call the checkpoint ``model_type`` serves, e.g. ``hybrid: Hybrid
    Gating + root`` (a rule, or a model without rows in results/, keeps its own name)."""
    served = predictor(models_dir())
    try:
        stem = served.checkpoint(model_type)
    except (KeyError, ValueError, serving.ModelUnavailableError):
        return model_type
    home = serving.SPECS[served.aliases.get(model_type, model_type)].home(results_dir())
    for split in ("runs", "validation"):
        path = home / split / f"{stem}.csv"
        if path.exists():
            return f"{model_type}: {pd.read_csv(path, usecols=['policy'], nrows=1)['policy'].iloc[0]}"
    return model_type


def compact_json(document: object) -> str:
    """JSON with one line per innermost object or list (a node, an edge), not per number."""
    text = json.dumps(document, indent=1)
    return re.sub(r"[\[{][^\[\]{}]*[\]}]", lambda m: re.sub(r"\s*\n\s*", " ", m.group(0)), text)


def models_dir() -> str:
    """The one models folder ``$EDGE_RL_MODELS_DIR`` names, or "" (each model's results folder)."""
    return os.environ.get(serving.MODELS_VARIABLE, "")


def results_dir() -> Path:
    return serving.results_dir()


def generate(config: EnvConfig, seed: int, steps: int = 0) -> tuple[NetworkState, TaskSpec]:
    """The network as the environment has it after ``reset(seed)`` and ``steps`` steps of the
    greedy earliest-finish rule (so queues build up), in the card's raw units."""
    from edge_rl.envs.heuristics import make_heuristic

    env = make_env(config)
    obs, _ = env.reset(seed=seed)
    rule = make_heuristic("greedy_earliest_finish", config)
    for _ in range(steps):
        obs, *_ = env.step(rule.predict(obs)[0])
    return network_state_from_env(env)


def nodes_frame(state: NetworkState) -> pd.DataFrame:
    """The nodes as an editable table, node types by name, numbered as the topology drawing
    labels them."""
    frame = pd.DataFrame([node.model_dump() for node in state.nodes], columns=list(NODE_FEATURES))
    frame["node_type"] = [NODE_TYPES[t] for t in frame["node_type"]]
    frame.insert(0, "node", range(len(frame)))  # a column: the editor leaves a dynamic table's index blank
    return frame


def edges_frame(state: NetworkState) -> pd.DataFrame:
    return pd.DataFrame(state.edges, columns=["source", "target"])


def network_from_frames(nodes: pd.DataFrame, edges: pd.DataFrame) -> NetworkState:
    """The edited tables back as a validated network (pydantic's errors name the bad cell)."""
    records = nodes.drop(columns="node", errors="ignore").to_dict("records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, (np.floating, np.integer)):
                record[key] = value.item()
            if key != "node_type" and isinstance(record[key], int):
                record[key] = float(record[key])
    links = [(int(s), int(t)) for s, t in edges[["source", "target"]].dropna().itertuples(index=False)]
    return NetworkState.model_validate({"nodes": records, "edges": links})


def layout(state: NetworkState) -> np.ndarray:
    """Node positions: one row per node type (sensors at the bottom, the cloud on top)."""
    types = np.array([n.node_type for n in state.nodes])
    positions = np.zeros((len(types), 2))
    for t in range(len(NODE_TYPES)):
        members = np.flatnonzero(types == t)
        positions[members, 0] = (np.arange(members.size) + 0.5) / max(members.size, 1)
        positions[members, 1] = t
    return positions


def draw_prediction(state: NetworkState, scores: list[float | None] | None = None,
                    selected: int | None = None, score_label: str = "node score") -> Figure:
    """The topology, nodes coloured by ``scores`` (grey: a node the policy may not choose), the
    chosen node ringed in red."""
    positions = layout(state)
    figure, axes = plt.subplots(figsize=(9, 4.2))
    types = [n.node_type for n in state.nodes]
    for s, t in state.edges:
        if types[s] == types[t]:  # a row of nodes (the fog mesh): arcs, or the links hide behind each other
            axes.add_patch(FancyArrowPatch(positions[s], positions[t], arrowstyle="-", color="0.8", linewidth=0.8,
                                           connectionstyle="arc3,rad=0.35", zorder=1))
        else:
            axes.plot(*positions[[s, t]].T, color="0.8", linewidth=0.8, zorder=1)
    values = np.array([np.nan if v is None else v for v in (scores or [None] * len(state.nodes))], dtype=float)
    finite = np.isfinite(values)
    axes.scatter(*positions[~finite].T, s=260, color="0.85", edgecolors="0.5", zorder=2)
    if finite.any():
        points = axes.scatter(*positions[finite].T, c=values[finite], s=260, cmap="viridis",
                              edgecolors="0.3", zorder=2)
        figure.colorbar(points, ax=axes, label=score_label, fraction=0.04)
    if finite.any():  # dark labels on the bright end of the colour map
        span = np.ptp(values[finite]) or 1.0
        bright = np.where(finite, (values - np.nanmin(values)) / span > 0.6, False)
    else:
        bright = np.zeros(len(values), dtype=bool)
    for i, (x, y) in enumerate(positions):
        axes.annotate(str(i), (x, y), ha="center", va="center", fontsize=7, zorder=3,
                      color="white" if finite[i] and not bright[i] else "black")
    source = [i for i, n in enumerate(state.nodes) if n.latency == 0.0]
    title = []
    if len(source) == 1:  # the task's source is the one node at zero latency
        axes.scatter(*positions[source[0]], s=420, marker="s", facecolors="none", edgecolors="orange",
                     linewidths=2, zorder=4)
        title.append(f"task from node {source[0]} (orange square)")
    if selected is not None:
        axes.scatter(*positions[selected], s=600, facecolors="none", edgecolors="red", linewidths=2.5, zorder=4)
        title.append(f"chosen: node {selected} (red ring)")
    axes.set_title(", ".join(title), fontsize=10)
    axes.set_yticks(range(len(NODE_TYPES)), NODE_TYPES)
    axes.set_xticks([])
    axes.set_ylim(-0.6, len(NODE_TYPES) - 0.4)
    axes.set_xlim(-0.02, 1.02)
    for side in ("top", "right", "bottom"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    return figure


def replay_colours(names: list[str]) -> dict[str, tuple[float, float, float]]:
    """Each replayed policy in its hue of the results figures (``hybrid: Hybrid Gating + root``
    takes Hybrid Gating's), in the hue's dark shade: a replay shows no plain twin beside a
    root-path one, and the light shade is hard to read against the black of the best rule."""
    family = {name: name.split(": ", 1)[-1].split(" + ", 1)[0] for name in names}
    palette = colours(list(family.values()))
    return {name: palette[family[name]] for name in names}


def replay_figure(frame: pd.DataFrame, column: str, unit: str, log: bool = False, smooth: int = 1) -> Figure:
    """One replay metric per step, one line per policy in its colour of every figure, the
    legend under the plot, in type a reader can read; ``log`` for latency, whose hopeless
    placements reach seconds; ``smooth``: a moving average over so many steps (one task's
    latency or energy jumps by orders of magnitude from step to step)."""
    names = list(dict.fromkeys(frame["policy"]))
    palette = replay_colours(names)
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for name in names:
        rows = frame[frame["policy"] == name]
        values = rows[column].rolling(smooth, min_periods=1).mean() if smooth > 1 else rows[column]
        axes.plot(rows["step"], values, label=name, color=palette[name], linewidth=1.6)
    axes.set(xlabel="step of the episode", ylabel=unit)
    axes.xaxis.label.set_size(10), axes.yaxis.label.set_size(10)
    if log:
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    figure.tight_layout()
    return figure
