"""Declarative sweeps: ``python -m edge_rl sweep SPEC.toml --out DIR [--address HEAD:PORT]``.

A spec is a TOML file; every list is an axis, and the sweep is every combination::

    algos = ["dqn", "ppo", "hybrid"]      # required
    policies = ["gnn"]                    # dqn/ppo: mlp and/or gnn (default gnn); the hybrid is gnn
    encoders = ["gcn", "gat"]             # graph policies (default ["gcn"])
    fusions = ["weighted_sum", "gating"]  # the hybrid's (default ["weighted_sum"])
    seeds = "0-4"                         # training seeds: "0-4", "0,2" or a list (default [0])
    steps = [10000, 20000]                # training steps (default: the card's, 10000; hybrid 5000 fine-tuning)
    pretrain_steps = 10000                # the hybrid's pre-training, per algorithm (default 10000; 0: none)
    eval_seeds = "10000-10099"            # test episodes (default); val_seeds = "20100-20149" adds validation
    [set]                                 # every run's TrainConfig overrides, dotted as train --set
    "encoder.hidden" = 32
    [env]                                 # environment axes: each key a list of values
    n_sensors = [10, 20]
    background_rate = [5.0, 8.0]

Each combination is a :class:`~edge_rl.experiments.run.runs.Run` labelled by what varies
(``DQN-GNN GCN 20000 steps n_sensors=20``) and run by :func:`~edge_rl.experiments.run.runs.run_all`
on the engine: ``DIR`` gets ``models/``, ``runs/``, ``validation/``, ``logs/`` as ``make reproduce``
writes them, and ``tables/sweep.csv`` and ``.md``: the IQM table over seeds. A rerun skips
finished runs. ``--tensorboard TB`` also writes the TensorBoard events of the runs it trains,
one folder per run, ``TB/<stem>/``. ``--dry-run`` lists the runs and their estimated cost
(:func:`edge_rl.experiments.analyse.costs.run_costs`) without running anything.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge_rl.config import FUSION_SETTING, EncoderConfig, HybridConfig, TrainConfig
from edge_rl.config.algorithms import algorithm_spec, unread_setting
from edge_rl.config.overrides import UsageError, apply_overrides, parse_seeds
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS
from edge_rl.experiments.run.runs import Run
from edge_rl.registry import ALGORITHMS, FUSIONS, encoder_kinds

KEYS = ("algos", "policies", "encoders", "fusions", "seeds", "steps", "pretrain_steps", "eval_seeds", "val_seeds",
        "set", "env")
"""The keys a spec may have."""


class SpecError(ValueError):
    """A spec that cannot be run; the message names the file, the key and what is accepted."""


def _seeds(value: Any, where: str) -> tuple[int, ...]:

    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    if isinstance(value, str):
        try:
            return tuple(parse_seeds(value)) if value.strip() else ()
        except UsageError:
            pass
    raise SpecError(f"{where}: expected seeds as '0-4', '0,2' or a list of integers, got {value!r}")


def _axis(spec: dict, key: str, default: list, accepted: Sequence | None, where: str) -> list:
    values = spec.get(key, default)
    values = values if isinstance(values, list) else [values]
    if not values:
        raise SpecError(f"{where}: {key} is empty; give at least one value")
    for value in values:
        if accepted is not None and value not in accepted:
            raise SpecError(f"{where}: {key}: unknown {value!r}; accepted: {list(accepted)}")
    return values


def load_spec(path: str | Path) -> list[Run]:
    """The runs of the spec at ``path``, in a fixed order (seeds innermost).

    Raises:
        SpecError: not TOML, an unknown key, an unknown algorithm, encoder, fusion or
            config field, or a value its field refuses; naming it and what is accepted.
    """
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not TOML ({error})") from None
    return runs_of(spec, str(path))


def runs_of(spec: dict[str, Any], where: str = "spec") -> list[Run]:
    """The runs of a parsed spec (see the module's docstring)."""

    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; accepted: {list(KEYS)}")
    if "algos" not in spec:
        raise SpecError(f"{where}: 'algos' is required, e.g. algos = [\"dqn\", \"hybrid\"]")
    algos = _axis(spec, "algos", [], ALGORITHMS.names(), where)
    policies = _axis(spec, "policies", ["gnn"], ("gnn", "mlp"), where)
    encoders = _axis(spec, "encoders", ["gcn"], encoder_kinds(), where)
    fusions = _axis(spec, "fusions", ["weighted_sum"], FUSIONS.names(), where)
    steps = _axis(spec, "steps", [None], None, where)
    seeds = _seeds(spec.get("seeds", [0]), f"{where}: seeds")
    eval_seeds = _seeds(spec.get("eval_seeds", list(DEFAULT_EVAL_SEEDS)), f"{where}: eval_seeds")
    val_seeds = _seeds(spec.get("val_seeds", []), f"{where}: val_seeds")
    pretrain = spec.get("pretrain_steps", 10_000)
    overrides, env_axes = spec.get("set", {}), spec.get("env", {})
    for key, table in (("set", overrides), ("env", env_axes)):
        if not isinstance(table, dict):
            raise SpecError(f"{where}: [{key}] must be a table of KEY = VALUE")
    assignments = [f"{key}={_json(value)}" for key, value in overrides.items()]
    env_names = list(env_axes)
    env_values = [v if isinstance(v, list) else [v] for v in env_axes.values()]
    runs = []
    for algo, policy, encoder, fusion, step, env in itertools.product(
            algos, policies, encoders, fusions, steps, itertools.product(*env_values)):
        spec = algorithm_spec(algo)
        if spec.graph_only and policy == "mlp":
            continue  # the hybrid is a graph policy
        if policy == "mlp" and encoder != encoders[0]:
            continue  # an MLP has no encoder
        try:
            config = TrainConfig(algo=algo, policy=policy, encoder=EncoderConfig(kind=encoder),
                                 hybrid=HybridConfig(fusion=fusion),
                                 total_timesteps=step if step is not None else spec.default_steps,
                                 pretrain_steps=pretrain if spec.pretrains else 0)
            config = apply_overrides(config, assignments, f"{where}: [set]")
            config = replace(config, env=apply_overrides(config.env, [f"{k}={_json(v)}" for k, v in zip(env_names, env)],
                                                         f"{where}: [env]"))
        except (UsageError, TypeError, ValueError) as error:
            raise SpecError(str(error) if str(error).startswith(where) else f"{where}: {error}") from None
        if fusion != fusions[0] and unread_setting(config, FUSION_SETTING):
            continue  # fusions are the hybrid's: one run of the others
        label = _label(config, len(encoders) > 1 or encoders != ["gcn"], len(fusions) > 1, step,
                       dict(zip(env_names, env)))
        runs += [Run(label, replace(config, seed=seed), eval_seeds, val_seeds) for seed in seeds]
    if not runs:
        raise SpecError(f"{where}: no run: the combinations leave nothing to train")
    return runs


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def _label(config: TrainConfig, encoder: bool, fusion: bool, steps: int | None, env: dict[str, Any]) -> str:
    """What tells the run apart: its model, and the axes' values that are not the defaults."""
    parts = [algorithm_spec(config.algo).label(config, encoder)]
    parts += [config.hybrid.fusion] if fusion and unread_setting(config, FUSION_SETTING) is None else []
    parts += [f"{steps} steps"] if steps is not None else []
    parts += [f"{key}={value}" for key, value in env.items()]
    return " ".join(parts)


def run_sweep(spec: str | Path, out: str | Path, address: str | None = None, workers: int | None = None,
              progress: bool = True, tensorboard: str | Path | None = None) -> Path:
    """Run the spec into ``out`` (TensorBoard events into ``tensorboard``, if given); return the
    IQM table's CSV (``out/tables/sweep.csv``)."""
    from edge_rl.experiments.analyse.report import results_table, save_table
    from edge_rl.experiments.run.runs import run_all
    from edge_rl.files import atomic_write

    runs = load_spec(spec)
    out = Path(out)
    text = Path(spec).read_text()
    atomic_write(out / "sweep.toml", lambda tmp: Path(tmp).write_text(text))  # what made this folder
    rows = run_all(runs, out, workers=workers, progress=progress, address=address, tensorboard=tensorboard)
    if rows.empty:
        return out / "tables" / "sweep.csv"
    save_table(results_table(rows), out / "tables" / "sweep")
    return out / "tables" / "sweep.csv"
