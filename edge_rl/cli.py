"""``python -m edge_rl``: train and evaluate from the command line.

Examples::

    python -m edge_rl train --algo dqn --policy gnn --encoder gat --seed 1 --out models/dqn-gat-s1
    python -m edge_rl train --algo ppo --policy mlp --set ppo.learning_rate=1e-4
    python -m edge_rl train --algo hybrid --encoder gcn --fusion weighted_sum     # the card's procedure
    python -m edge_rl train --algo hybrid --fusion gating --from-scratch --steps 25000
    python -m edge_rl train --algo ppo --tensorboard tb --out models/ppo-s0   # then: tensorboard --logdir tb
    python -m edge_rl evaluate --checkpoint models/dqn-gat-s1 --seeds 10000-10099
    python -m edge_rl evaluate --checkpoint results/models/hybrid-best-seed0
    python -m edge_rl evaluate --heuristic greedy_earliest_finish --env n_sensors=20 --env n_fog=8
    python -m edge_rl sweep sweep.toml --dry-run                        # the runs and their estimated cost
    python -m edge_rl sweep sweep.toml --out sweeps/topology             # on this machine (an embedded Ray)
    RAY_ADDRESS=head:6379 python -m edge_rl sweep sweep.toml --out sweeps/topology   # on a cluster
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from edge_rl.checks import positive_int
from edge_rl.config import FUSION_SETTING, POLICIES, ROOT_PATHS, EncoderConfig, EnvConfig, HybridConfig, TrainConfig
# unread_setting: what --set refuses; kept importable from here, where it was first
from edge_rl.config.algorithms import algorithm_spec, pretraining, unread_setting
from edge_rl.config.overrides import UsageError, apply_overrides, parse_seeds
from edge_rl.envs.heuristics import HEURISTICS, make_heuristic
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, evaluate
from edge_rl.files import temporary_name_prefix
from edge_rl.registry import ALGORITHMS, FUSIONS, encoder_kinds


def _writable(path: Path, option: str) -> None:
    """Refuse, before any work is done, an output path that cannot be written."""
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a folder; give a file name in it")
    folder = path.parent
    while not folder.exists():  # missing folders are created; the first existing one must allow it
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{option}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option}: no permission to write into {folder}")
    try:  # what the write will do there; os.access says yes to root everywhere, /proc included
        fd, probe = tempfile.mkstemp(dir=folder, prefix=temporary_name_prefix(path))
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise UsageError(f"{option}: cannot create files in {folder} ({error.strerror or error})") from None


def _train_and_save(config: TrainConfig, out: str, progress: bool, tensorboard: Path | None = None) -> Any:
    """Train ``config`` (its prerequisites first, each saved as ``<out>-pretrain-<algo>``, as
    training with a path saves them) and save it to ``out``; a save that fails keeps the
    training (:func:`_save_or_keep`). With ``tensorboard``, each writes its events into
    ``tensorboard/<its checkpoint's stem>/``."""
    from edge_rl.agents.base import algorithm

    cls = algorithm(config)
    prerequisites = [_train_and_save(before, f"{out}-pretrain-{before.algo}", progress, tensorboard)
                     for before in cls.prerequisites(config)]
    extra = {} if tensorboard is None else {"tensorboard": tensorboard / Path(out).name}
    agent = cls.train(config, None, progress, prerequisites=prerequisites, **extra)
    _save_or_keep(agent, out)
    return agent


def _save_or_keep(agent: Any, out: str) -> None:
    """Save ``agent`` to ``out``; if that fails (a full disk, a folder gone since the check),
    save it in a new folder of the temporary directory instead and say where: hours of
    training are not lost to a write error."""
    from edge_rl.agents.checkpoint import paths

    try:
        agent.save(out)
    except OSError as error:
        kept = Path(tempfile.mkdtemp(prefix="edge-rl-unsaved-")) / paths(out)[0].stem
        try:
            agent.save(kept)
        except OSError as again:
            raise OSError(f"{error}; keeping the trained model in {kept.parent} failed too ({again}): it is lost") from None
        raise OSError(f"{error}. The trained model is not lost: it is saved as {kept}.safetensors and "
                      f"{kept}.json; move them where you want them") from None


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over episodes of every metric, one row per policy."""
    metrics = ["return", "deadline_success", "latency_mean_ms", "latency_p95_ms", "energy_per_task_j", "dropped"]
    table = rows.groupby("policy", sort=False)[metrics].agg(["mean", "std"])
    table.columns = [f"{m}_{s}" for m, s in table.columns]
    return table


def _train(args: argparse.Namespace) -> None:
    from edge_rl.agents import algorithm  # imports torch: only when training
    from edge_rl.agents.checkpoint import paths

    spec = algorithm_spec(args.algo)  # its defaults and what it accepts
    if not spec.pretrains and (args.from_scratch or args.pretrain_steps is not None):
        raise UsageError(f"--pretrain-steps and --from-scratch apply to --algo {' or '.join(pretraining())} only")
    if args.from_scratch and args.pretrain_steps:
        raise UsageError("--from-scratch means --pretrain-steps 0; give one of them")
    if spec.graph_only and args.policy == "mlp":
        raise UsageError(f"--policy mlp: the {args.algo} is always a graph policy ({spec.graph_only})")
    if args.policy == "mlp" and (args.encoder is not None or args.root_path is not None):
        raise UsageError("--encoder and --root-path apply to graph policies (--policy gnn) and the hybrid, "
                         "not --policy mlp")
    steps = args.steps if args.steps is not None else spec.default_steps
    pretrain = 0 if (not spec.pretrains or args.from_scratch) else (
        spec.default_pretrain_steps if args.pretrain_steps is None else args.pretrain_steps)
    config = TrainConfig(
        algo=args.algo,
        policy=args.policy or "gnn",
        encoder=EncoderConfig(kind=args.encoder or "gcn", **({"root_path": args.root_path} if args.root_path else {})),
        hybrid=HybridConfig(fusion=args.fusion or "weighted_sum"),
        seed=args.seed,
        total_timesteps=steps,
        pretrain_steps=pretrain,
        threads=args.threads,
    )
    if args.fusion and unread_setting(config, FUSION_SETTING):  # refused as a --set of it would be
        raise UsageError(f"--fusion: never read in this run: {unread_setting(config, FUSION_SETTING)}")
    config = apply_overrides(config, args.set, "--set")
    for assignment in args.set:
        key = assignment.partition("=")[0].strip()
        reason = unread_setting(config, key)
        if reason:
            raise UsageError(f"--set {key}: never read in this run: {reason}")
    out = args.out or str(default_stem(config))
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        raise UsageError(f"--out: {out} is a folder; give a checkpoint stem in it, e.g. {Path(out) / config.name}")
    cls = algorithm(config)
    written = [out] + [f"{out}-pretrain-{prerequisite.algo}" for prerequisite in cls.prerequisites(config)]
    for stem in written:
        for path in paths(stem):
            _writable(path, "--out")
            if path.exists() and not args.overwrite:
                raise UsageError(f"--out: {path} exists; pass --overwrite to replace it, or choose another --out")
    tensorboard = None if args.tensorboard is None else Path(args.tensorboard)
    if tensorboard is not None:
        _events_writable(tensorboard, [Path(stem).name for stem in written], args.overwrite)
    planned = cls.planned_steps(config)
    if planned["train"] != config.total_timesteps:
        print(f"{config.name} collects whole rollouts: {config.total_timesteps:,} steps asked, {planned['train']:,} "
              "run", file=sys.stderr)
    agent = _train_and_save(config, out, progress=not args.no_progress, tensorboard=tensorboard)
    print(f"saved {', '.join(str(p) for stem in written for p in paths(stem))} "
          f"({agent.trained['timesteps']:,} steps, {agent.trained['wall_time_s']:.1f} s)")
    if tensorboard is not None:
        print(f"TensorBoard events in {', '.join(str(tensorboard / Path(stem).name) for stem in written)} "
              f"(tensorboard --logdir {tensorboard})")


def _events_writable(folder: Path, stems: list[str], overwrite: bool) -> None:
    """Refuse, before training, a --tensorboard folder that cannot be written, or one whose run
    subfolders already hold events (a second curve under the same name) without --overwrite."""
    from edge_rl.agents.tensorboard import events_files, require_tensorboard

    require_tensorboard()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--tensorboard: {folder} is a file; give a folder (one subfolder per run goes in it)")
    for stem in stems:
        _writable(folder / stem / "events", "--tensorboard")
        old = events_files(folder / stem)
        if old and not overwrite:
            raise UsageError(f"--tensorboard: {folder / stem} already holds events ({old[0].name}); pass "
                             "--overwrite to replace this program's, or choose another folder")


def default_stem(config: TrainConfig) -> Path:
    """``runs/<name>-seed<k>-<hash>``: a folder git ignores, and a name no other config shares
    (the hash is of the whole config: a from-scratch hybrid never takes a warm-started one's)."""
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return Path("runs") / f"{config.name}-seed{config.seed}-{digest}"


def _evaluate(args: argparse.Namespace) -> None:
    seeds = parse_seeds(args.seeds)
    if args.out:
        _writable(Path(args.out), "--out")
    if args.checkpoint:
        import torch

        from edge_rl.agents import load

        # The thread count is part of "same config, seed, threads -> same numbers".
        torch.set_num_threads(args.threads)
        policy = load(args.checkpoint)
        env = policy.config.env
    else:
        env = EnvConfig()
        policy = None
    env = apply_overrides(env, args.env, "--env")
    if policy is None:
        policy = make_heuristic(args.heuristic, env)
    rows = evaluate(policy, seeds, env)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(args.out, index=False)
    table = summarise(rows)
    print(f"{len(rows)} episodes, seeds {args.seeds}: mean ± std over episodes")
    for metric in dict.fromkeys(c.rsplit("_", 1)[0] for c in table.columns):
        cells = [f"{m:.3f} ± {s:.3f}" for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"].fillna(0.0))]
        print(f"  {metric:20s} " + "   ".join(f"{name}: {cell}" for name, cell in zip(table.index, cells)))


def _sweep(args: argparse.Namespace) -> int:
    from edge_rl.experiments.plan.sweep import load_spec, run_sweep

    runs = load_spec(args.spec)
    if args.dry_run:
        from edge_rl.experiments.analyse.costs import run_costs

        table = run_costs(runs, args.reference)
        print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
        total, cpus = table["estimate (min)"].sum(), args.workers or os.cpu_count() or 1
        print(f"{len(runs)} runs, about {total:.1f} CPU-minutes (from the timings committed in {args.reference}): "
              f"about {total / cpus:.1f} min on {cpus} CPUs")
        return 0
    if not args.out:
        raise UsageError("--out: give the folder the sweep writes into (or --dry-run to only list its runs)")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out: {args.out} is a file, not a folder")
    if args.tensorboard is not None and Path(args.tensorboard).exists() and not Path(args.tensorboard).is_dir():
        raise UsageError(f"--tensorboard: {args.tensorboard} is a file; give a folder (one subfolder per run goes in it)")
    if args.tensorboard is not None:
        from edge_rl.agents.tensorboard import require_tensorboard

        require_tensorboard()
    try:
        table = run_sweep(args.spec, args.out, address=args.address, workers=args.workers,
                          progress=not args.no_progress, tensorboard=args.tensorboard)
    except RuntimeError as error:  # runs that failed, by name; the others are written
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(runs)} runs in {args.out}; the IQM table over seeds: {table}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edge_rl",
        description="Train and evaluate task-placement agents on edge_rl/IoTEdge-v0.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a DQN or PPO baseline or the hybrid, and save a checkpoint")
    train.add_argument("--algo", choices=ALGORITHMS.names(), default="dqn",
                       help="dqn, ppo, or hybrid (DQN and PPO heads on one graph encoder; by default "
                            "the card's procedure: pre-train DQN-GNN and PPO-GNN, then fine-tune) (default: dqn)")
    train.add_argument("--policy", choices=POLICIES,
                       help="mlp: SB3's MlpPolicy on the flattened observation (the card's baselines); "
                            "gnn: a graph encoder with node-scoring heads (default: gnn; the hybrid is always gnn)")
    train.add_argument("--encoder", choices=encoder_kinds(), help="graph encoder for --policy gnn and the hybrid (default: gcn)")
    train.add_argument("--root-path", choices=ROOT_PATHS,
                       help="how a node's own features reach its embedding past the graph layers: none (the "
                            "card's plain stack), root, residual, jk, heads "
                            f"(default: {EncoderConfig().root_path}; see edge_rl.config.ROOT_PATHS)")
    train.add_argument("--fusion", choices=FUSIONS.names(), help="hybrid: how Q-values and policy logits are fused (default: weighted_sum, 0.6 Q + 0.4 logits)")
    train.add_argument("--steps", type=int, help="environment steps: baselines 10000, hybrid fine-tuning 5000 (the "
                                                 "card's budgets, the defaults); PPO and the hybrid collect whole "
                                                 "rollouts, so they round up (PPO: 10000 -> 16384) and say so")
    train.add_argument("--pretrain-steps", type=int, help="hybrid: pre-training steps of DQN-GNN and of PPO-GNN (default: 10000)")
    train.add_argument("--from-scratch", action="store_true", help="hybrid: no pre-training; train the hybrid alone for --steps")
    train.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    train.add_argument("--threads", type=int, default=1, help="torch threads (default: 1; run seeds in parallel instead: python -m edge_rl sweep)")
    train.add_argument("--out", help="checkpoint stem; writes OUT.safetensors and OUT.json, and a hybrid's "
                                     "pre-training beside them as OUT-pretrain-dqn.* and OUT-pretrain-ppo.* "
                                     "(default: runs/<config name>-seed<seed>-<hash of the config>; runs/ is "
                                     "git-ignored, results/ belongs to make reproduce)")
    train.add_argument("--overwrite", action="store_true", help="replace a checkpoint that already exists at --out")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override any TrainConfig field, dotted, value in JSON: dqn.learning_rate=3e-4, "
                            "hybrid.q_weight=0.5, env.n_sensors=20, encoder.hidden=32 (repeatable)")
    train.add_argument("--tensorboard", metavar="DIR",
                       help="also write TensorBoard events (SB3's scalars; the hybrid's PPO, TD, entropy and "
                            "validation scalars) into DIR/<checkpoint stem>/, a hybrid's pre-training beside "
                            "it (view with: tensorboard --logdir DIR); the weights are the same as without")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.set_defaults(run=_train)

    evaluate_ = commands.add_parser("evaluate", help="evaluate a checkpoint or a heuristic on seeded episodes")
    source = evaluate_.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="checkpoint stem, .json or .safetensors path")
    source.add_argument("--heuristic", choices=sorted(HEURISTICS), help="a fixed placement rule")
    evaluate_.add_argument("--seeds", default=f"{DEFAULT_EVAL_SEEDS[0]}-{DEFAULT_EVAL_SEEDS[-1]}",
                           help="episode seeds, e.g. 10000-10099 or 1,2,5; keep them apart from training seeds "
                                f"(default: {DEFAULT_EVAL_SEEDS[0]}-{DEFAULT_EVAL_SEEDS[-1]})")
    evaluate_.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                           help="override an EnvConfig field for evaluation, e.g. n_sensors=20 (repeatable); "
                                "graph policies run on any topology size")
    evaluate_.add_argument("--out", help="also write one row per episode to this CSV file")
    evaluate_.add_argument("--threads", type=positive_int, default=1,
                           help="torch threads for a checkpoint (default: 1, as the committed results were evaluated)")
    evaluate_.set_defaults(run=_evaluate)

    sweep = commands.add_parser("sweep", help="train and evaluate every combination a TOML spec declares, on the "
                                              "experiment engine (this machine, or a Ray cluster)",
                                description="Spec format: see edge_rl/experiments/plan/sweep.py (algos, policies, "
                                            "encoders, fusions, seeds, steps, pretrain_steps, eval_seeds, "
                                            "val_seeds, [set], [env]).")
    sweep.add_argument("spec", help="the sweep's TOML file")
    sweep.add_argument("--out", help="folder for models/, runs/, validation/, logs/ and tables/sweep.* "
                                     "(finished runs in it are skipped)")
    sweep.add_argument("--address", help="a Ray cluster's HEAD:PORT (default: $RAY_ADDRESS; unset: a Ray started "
                                         "on this machine, on loopback only, and stopped at the end)")
    sweep.add_argument("--workers", type=int, help="runs at once on this machine (default: one per core; 0: one "
                                                   "after another in this process, without Ray)")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs and their estimated cost; run nothing")
    sweep.add_argument("--reference", default="results",
                       help="the results whose timings --dry-run estimates from (default: results)")
    sweep.add_argument("--tensorboard", metavar="DIR",
                       help="also write the TensorBoard events of the runs trained now into DIR/<run stem>/ "
                            "(finished runs are skipped and get none)")
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sweep.set_defaults(run=_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (UsageError, ValueError, TypeError, OSError, ImportError) as error:  # CheckpointError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM during a sweep: its tasks were cancelled
        print("interrupted", file=sys.stderr)
        return 130
