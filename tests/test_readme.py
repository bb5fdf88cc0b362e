"""The README tells the truth about results/: its headline table is the one the notebooks
wrote, and every figure and file it points to exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_headline_table_is_the_one_notebook_03_wrote() -> None:
    block = re.search(r"<!-- headline: (\S+) .*?-->\n(.*?)<!-- /headline -->", README, re.S)
    assert block, "README.md lost its headline markers"
    assert block.group(2) == (ROOT / block.group(1)).read_text(encoding="utf-8")


def test_every_results_file_the_readme_names_exists() -> None:
    named = set(re.findall(r"\((results/[^)\s]+)\)", README)) | set(re.findall(r"`(results/[^`*\s]+\.(?:md|png|csv))`", README))
    assert named, "README.md names no result file"
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"README.md names files that results/ lacks: {missing}"


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z][a-z-]*)", README))
    assert named and named <= targets, f"README.md names make targets the Makefile lacks: {sorted(named - targets)}"


def test_the_readme_says_a_rule_wins_only_if_the_table_says_so() -> None:
    import pandas as pd

    table = pd.read_csv(ROOT / "results" / "tables" / "evaluation_results.csv", index_col=0)
    rules, trained = table[table["Type"] == "rule"], table[table["Type"] != "rule"]
    claims = "beats every trained model" in README
    rule_wins = rules["Mean Reward"].max() > max(trained["Mean Reward"].max(), trained["IQM over seeds"].max())
    assert claims == rule_wins, "README.md's verdict on the fixed rules no longer matches results/"
