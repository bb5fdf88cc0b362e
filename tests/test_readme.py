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


def test_the_tuning_table_is_the_one_notebook_08_wrote() -> None:
    block = re.search(r"<!-- tuning: (\S+) -->\n(.*?)<!-- /tuning -->", README, re.S)
    assert block, "README.md lost its tuning markers"
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
    rules, trained = table[table["Type"] == "rule"], table[~table["Type"].isin(("rule", "bound"))]
    claims = "beats every trained model" in README
    rule_wins = rules["Mean Reward"].max() > max(trained["Mean Reward"].max(), trained["IQM over seeds"].max())
    assert claims == rule_wins, "README.md's verdict on the fixed rules no longer matches results/"


def test_the_readmes_api_examples_are_answered_by_the_api() -> None:
    """Every curl example of the README, sent as it is written, gets 200 (and every model type
    the README's table names exists)."""
    import json

    from fastapi.testclient import TestClient

    from edge_rl.serve.api import create_app
    from edge_rl.serve.models import MODEL_SPECS

    examples = re.findall(r"curl -s -X POST http://127\.0\.0\.1:8000(/\S+) .*?-d '(.*?)'\n", README, re.S)
    assert {path for path, _ in examples} == {"/predict", "/batch-predict"}
    with TestClient(create_app(None, ROOT / "results", torch_threads=None)) as client:
        for path, body in examples:
            response = client.post(path, json=json.loads(body))
            assert response.status_code == 200, (path, response.text[:300])
    named = set(re.findall(r"`([a-z_]+)`", README.split("| `model_type` | serves |", 1)[1].split("\n\n", 1)[0]))
    assert named <= set(MODEL_SPECS), sorted(named - set(MODEL_SPECS))



def test_the_first_evaluate_example_is_a_model_that_works_and_its_numbers_are_its_test_episodes() -> None:
    """A newcomer's first command evaluates a model that places well (not the card's plain stack,
    which collapses), and the returns the README gives for it and its plain twin are theirs."""
    import pandas as pd

    stem = re.search(r"edge_rl evaluate --checkpoint results/models/(\S+)", README).group(1)
    assert "root" in stem, f"the first evaluate example, {stem}, is a plain-stack model"
    said = re.search(r"DQN-GNN \+ root, seed 0 \(return ([-\d.]+) ± ([\d.]+).*?collapses \(([-\d.]+)", README, re.S)
    for name, value in ((stem, said.group(1)), ("dqn-gnn-seed0", said.group(3))):
        returns = pd.read_csv(ROOT / "results" / "runs" / f"{name}.csv")["return"]
        assert f"{returns.mean():.2f}" == value, name
    assert f"{pd.read_csv(ROOT / 'results' / 'runs' / f'{stem}.csv')['return'].std():.2f}" == said.group(2)


def test_a_rerun_folder_that_make_creates_is_ignored_by_git(tmp_path: Path) -> None:
    import shutil
    import subprocess

    folder = f"rerun-gitignore-test-{tmp_path.name}"
    try:
        subprocess.run(["make", f"OUT={folder}", f"{folder}/.budget-full"], cwd=ROOT, check=True, capture_output=True)
        (ROOT / folder / "runs").mkdir()
        (ROOT / folder / "runs" / "a.csv").write_text("x\n")
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", folder], cwd=ROOT,
                                check=True, capture_output=True, text=True).stdout
        assert status == "", status
    finally:
        shutil.rmtree(ROOT / folder, ignore_errors=True)
