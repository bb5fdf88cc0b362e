"""Tables for the notebooks and the model card, from evaluation rows and configs (the figures
are in :mod:`edge_rl.experiments.analyse.figures`).

Nothing here runs an experiment: every function turns what :mod:`edge_rl.evaluation` (or a
config) gives into a DataFrame or a Markdown table.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from edge_rl.config import NODE_TYPES, EnvConfig
from edge_rl.files import atomic_write
from edge_rl.stats import iqm_interval, run_scores


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


def results_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The card's Evaluation Results table, and the statistics over training seeds.

    Per policy: mean, std, min and max of the return over all test episodes of all seeds (the
    card's style); the interquartile mean over seeds of each seed's mean return, with its 95 %
    stratified bootstrap interval; deadline success; the steps each model trained itself (the
    card's *Training Steps*: a hybrid's fine-tuning) and every environment step it used,
    pre-training included. Rows come from :func:`edge_rl.experiments.run.runs.run_all`.
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


def ablation_table(rows: pd.DataFrame, cells: dict[str, tuple[str, str, str]]) -> pd.DataFrame:
    """Encoder x fusion x encoder design: one row per grid cell with its IQM over seeds and 95 %
    interval.

    Args:
        rows: evaluation rows of the grid's runs (:func:`edge_rl.experiments.run.runs.run_all`).
        cells: label -> (encoder, fusion, design), for the labels of the grid's runs.
    """
    scores = run_scores(rows[rows["policy"].isin(cells)])
    records = []
    for label, (encoder, fusion, design) in cells.items():
        values = scores.loc[scores["policy"] == label, "return"].to_numpy()
        interval = iqm_interval(values) if values.size >= 2 else None
        records.append({
            "policy": label, "encoder": encoder, "fusion": fusion, "design": design,
            "IQM over seeds": interval.estimate if interval else float(values.mean()),
            "IQM 95% CI": f"[{interval.low:.2f}, {interval.high:.2f}]" if interval else "n/a (1 run)",
            "Seeds": int(values.size),
        })
    return pd.DataFrame(records).set_index("policy")


