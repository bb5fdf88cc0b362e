"""Did a rerun reproduce the committed results? ``python -m edge_rl.experiments.analyse.compare results rerun``.

Compares, file by file, what must be the same on the same machine type and thread count: the
evaluation rows of every run (``runs/*.csv``, ``validation/*.csv``), the weights
(``models/*.safetensors``), the same for the studies' runs (``study/``), every table but the
timings and costs, and the figures. Left out, because they record *when* and *how long*:
``tables/timings.*``, ``tables/costs.*``, the checkpoints' JSON (wall time), the training logs
(Monitor's time column), the executed notebooks and ``MODEL_CARD.md`` (which quotes the timings).
The tuning tables are compared without their column of how long each trial took (:data:`TIMED`).
Exit status 0 when everything compared is identical, 1 otherwise.

Byte for byte only on the same CPU model: MKL, PyTorch and NumPy choose their kernels per
CPU, and kernels for other instruction sets round differently (on an AMD EPYC, the fixed
rules' returns moved by 1e-14 from the committed Intel Xeon run), and training amplifies
such differences into other weights. So when files differ, it also prints how far the
conclusions moved (conclusions()): each trained model's interquartile mean over seeds
against its committed 95 % interval, each fixed rule's return, and each
probability-of-improvement verdict.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from edge_rl.stats import parse_interval

COMPARED = ("runs/*.csv", "validation/*.csv", "models/*.safetensors", "tables/*.csv", "tables/*.md", "figures/*.png",
            "study/runs/*.csv", "study/validation/*.csv", "study/models/*.safetensors")  # make study's runs too
VARIABLE = {"timings.csv", "timings.md", "costs.csv", "costs.md"}  # how long things took
TIMED = {"tables/tuning_summary": "CPU-seconds", "tables/tuning_trials": "seconds"}
"""Tables (``.csv`` and ``.md``) with a column of how long each row took: compared without it."""
IQM_TABLES = ("tables/evaluation_results.csv", "tables/ablation.csv")
VERDICTS = "tables/probability_of_improvement.csv"


def compare(reference: str | Path, rerun: str | Path) -> dict[str, list[str]]:
    """Files under :data:`COMPARED`, sorted into ``identical``, ``different``, ``missing`` (in
    the rerun) and ``extra`` (only in the rerun)."""
    reference, rerun = Path(reference), Path(rerun)
    for folder in (reference, rerun):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such results folder")
    found: dict[str, list[str]] = {"identical": [], "different": [], "missing": [], "extra": []}
    for pattern in COMPARED:
        ours = {p.relative_to(reference).as_posix() for p in reference.glob(pattern) if p.name not in VARIABLE}
        theirs = {p.relative_to(rerun).as_posix() for p in rerun.glob(pattern) if p.name not in VARIABLE}
        found["missing"] += sorted(ours - theirs)
        found["extra"] += sorted(theirs - ours)
        for name in sorted(ours & theirs):
            same = _same(reference / name, rerun / name, TIMED.get(name.rsplit(".", 1)[0]))
            found["identical" if same else "different"].append(name)
    return found


def _same(ours: Path, theirs: Path, timed: str | None) -> bool:
    """Byte for byte; a table with a ``timed`` column, cell for cell without that column."""
    if timed is None:
        return filecmp.cmp(ours, theirs, shallow=False)
    return _cells_without(ours, timed) == _cells_without(theirs, timed)


def _cells_without(path: Path, column: str) -> list[list[str]]:
    """A CSV or Markdown (pipe) table's cells as written, without ``column`` if it has one."""
    if path.suffix == ".csv":
        with path.open(newline="") as file:
            rows = list(csv.reader(file))
    else:
        rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
                for line in path.read_text().splitlines() if line.strip()]
    if not rows or column not in rows[0]:
        return rows
    i = rows[0].index(column)
    return [row[:i] + row[i + 1:] for row in rows]


def _models(reference: Path, rerun: Path, name: str, seen: set) -> list[dict]:
    ours, theirs = pd.read_csv(reference / name), pd.read_csv(rerun / name)
    for table in (ours, theirs):
        if "IQM over seeds" not in table.columns or "IQM 95% CI" not in table.columns:
            raise ValueError(f"{name} has no 'IQM over seeds' and 'IQM 95% CI' columns")
    # A model is named by the text columns before its IQM (Model; or policy, encoder, fusion).
    keys = [k for k in ours.columns[: list(ours.columns).index("IQM over seeds")]
            if not pd.api.types.is_numeric_dtype(ours[k])]
    theirs = theirs.astype({k: ours[k].dtype for k in keys}).drop_duplicates(subset=keys)
    merged = ours.merge(theirs[[*keys, "IQM over seeds"]], on=keys, how="left", suffixes=("", " rerun"))
    rows = []
    for _, row in merged.iterrows():
        if (row[keys[0]], row["IQM over seeds"]) in seen:  # the ablation repeats some models
            continue
        seen.add((row[keys[0]], row["IQM over seeds"]))
        iqm, rerun_iqm = float(row["IQM over seeds"]), float(row["IQM over seeds rerun"])
        interval = parse_interval(str(row["IQM 95% CI"]))
        if np.isnan(rerun_iqm):
            held = False
        elif interval is None:  # a fixed rule: nothing learns, only the last digits may move
            held = abs(rerun_iqm - iqm) <= 1e-9 * max(1.0, abs(iqm))
        else:
            held = interval[0] <= rerun_iqm <= interval[1]
        rows.append({"table": Path(name).stem, "model": ", ".join(str(row[k]) for k in keys if k != "Type"),
                     "rule": interval is None, "IQM": iqm, "IQM 95% CI": row["IQM 95% CI"],
                     "IQM rerun": rerun_iqm, "held": held})
    return rows


def conclusions(reference: str | Path, rerun: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How far a rerun's conclusions moved from the committed ones: ``(models, verdicts)``.

    ``models``: one row per model of the Evaluation Results and ablation tables (once if in
    both). A trained model is ``held`` if the rerun's IQM over seeds lies in the committed 95 %
    interval (as the table rounds it, to 2 decimals); a fixed rule, if its return is the
    committed one to 1e-9 (it learns nothing: only the last digits may move). ``verdicts``: the
    committed and the rerun's probability-of-improvement verdict of each comparison. A model or
    comparison the rerun lacks is not held; a table either side lacks gives no rows.

    An interval is no promise: another sample's IQM lands inside a 95 % interval about 83 % of
    the time (both estimates vary), so a few trained models outside are expected. A verdict
    that changes is a conclusion that did not hold.

    Raises:
        ValueError: a table without the columns it should have.
    """
    reference, rerun = Path(reference), Path(rerun)
    models: list[dict] = []
    seen: set = set()
    for name in IQM_TABLES:
        if (reference / name).is_file() and (rerun / name).is_file():
            models += _models(reference, rerun, name, seen)
    verdicts = pd.DataFrame(columns=["comparison", "verdict", "verdict rerun", "held"])
    if (reference / VERDICTS).is_file() and (rerun / VERDICTS).is_file():
        ours, theirs = pd.read_csv(reference / VERDICTS), pd.read_csv(rerun / VERDICTS)
        if not {"comparison", "verdict"} <= set(ours.columns) & set(theirs.columns):
            raise ValueError(f"{VERDICTS} has no 'comparison' and 'verdict' columns")
        merged = ours.merge(theirs[["comparison", "verdict"]].drop_duplicates("comparison"), on="comparison",
                            how="left", suffixes=("", " rerun"))
        verdicts = merged[["comparison", "verdict", "verdict rerun"]].assign(
            held=lambda t: t["verdict"] == t["verdict rerun"])
    columns = ["table", "model", "rule", "IQM", "IQM 95% CI", "IQM rerun", "held"]
    return pd.DataFrame(models, columns=columns), verdicts


def _print_conclusions(reference: str | Path, rerun: str | Path) -> None:
    try:
        models, verdicts = conclusions(reference, rerun)
    except ValueError as error:
        print(f"\nconclusions not compared: {error}")
        return
    if models.empty and verdicts.empty:
        return
    print("\nFiles differ. On the same CPU model and thread count, the run did not reproduce. On "
          "another CPU model the digits are expected to differ (see --help); how far the conclusions moved:")
    trained, rules = models[~models["rule"]], models[models["rule"]]
    print(f"  trained models with their IQM over seeds inside the committed 95 % interval: "
          f"{int(trained['held'].sum())} of {len(trained)} (for another sample, about 83 % are)")
    print(f"  fixed rules with the committed return (to 1e-9): {int(rules['held'].sum())} of {len(rules)}")
    for _, row in models[~models["held"]].iterrows():
        print(f"    not held: {row['model']} ({row['table']}): {row['IQM']:.2f} {row['IQM 95% CI']}, "
              f"rerun {row['IQM rerun']:.2f}")
    print(f"  probability-of-improvement verdicts unchanged: {int(verdicts['held'].sum())} of {len(verdicts)}")
    for _, row in verdicts[~verdicts["held"]].iterrows():
        print(f"    changed: {row['comparison']}: {row['verdict']!r}, rerun {row['verdict rerun']!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_rl.experiments.analyse.compare", description=__doc__.replace("``", ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reference", help="the committed results, e.g. results")
    parser.add_argument("rerun", help="the rerun's folder, e.g. rerun (make reproduce OUT=rerun)")
    args = parser.parse_args(argv)
    try:
        found = compare(args.reference, args.rerun)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for kind in ("different", "missing", "extra"):
        for name in found[kind]:
            print(f"{kind}: {name}")
    print(f"{len(found['identical'])} identical, {len(found['different'])} different, "
          f"{len(found['missing'])} missing, {len(found['extra'])} extra")
    if found["different"]:
        _print_conclusions(args.reference, args.rerun)
    return 0 if not (found["different"] or found["missing"] or found["extra"]) else 1


if __name__ == "__main__":
    sys.exit(main())
