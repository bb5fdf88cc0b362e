"""The dashboard: each page under Streamlit's AppTest (the browser test is tests/test_browser.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from streamlit.testing.v1 import AppTest

from edge_rl.config import EnvConfig
from edge_rl.serve.conversions import to_observation
from edge_rl.serve.dashboard import common
from edge_rl.serve.models import SPECS, Predictor
from edge_rl.serve.replay import replay

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "edge_rl" / "serve" / "dashboard"


def _run(page: str) -> AppTest:
    app = AppTest.from_file(str(PAGES / page), default_timeout=180).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.fixture(scope="module")
def expected() -> tuple[int, float, str]:
    """The hybrid's answer for the page's default network (the card's, seed 0), straight from
    edge_rl, and the checkpoint that gave it."""
    state, task = common.generate(EnvConfig(), 0)
    predictor = Predictor()
    decision = predictor.predict("hybrid", [to_observation(state, task)])[0]
    return decision.selected_node, decision.confidence, predictor.checkpoint("hybrid")


def test_the_results_page_shows_every_table_and_figure() -> None:
    app = _run("results_page.py")
    tables = sorted((ROOT / "results" / "tables").glob("*.csv"))
    figures = sorted((ROOT / "results" / "figures").glob("*.png"))
    assert len(app.dataframe) == len(tables) and len(app.get("image")) == len(figures)
    assert app.subheader[0].value == "Headline"  # the card's tables first
    shown = {len(frame.value) for frame in app.dataframe}
    assert {len(pd.read_csv(path)) for path in tables} == shown


def test_the_results_page_says_what_to_do_without_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_RL_RESULTS_DIR", str(tmp_path))
    app = _run("results_page.py")
    assert "make reproduce" in app.warning[0].value


def test_the_predict_page_answers_as_the_model(expected: tuple[int, float, str]) -> None:
    app = _run("predict_page.py")
    assert not app.metric  # nothing before the button
    app.button[0].click().run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Selected node"] == str(expected[0])
    assert metrics["Confidence"] == f"{expected[1]:.3f}"
    assert metrics["Model"] == "hybrid"
    served = app.caption[-1].value  # which checkpoint answers, under the name the results tables use
    assert expected[2] in served and "Hybrid" in served  # its results rows' name, e.g. "Tuned Hybrid (separated)"
    app.selectbox[0].select("dqn").run()
    app.button[0].click().run()
    assert {m.label: m.value for m in app.metric}["Confidence"] == "n/a"


def test_the_predict_page_generates_other_networks() -> None:
    app = _run("predict_page.py")
    app.sidebar.number_input[0].set_value(4).run()  # sensors
    app.sidebar.number_input[1].set_value(2).run()  # fog nodes
    app.button[0].click().run()
    assert not app.exception and int(app.metric[0].value) in range(4 + 2 + 1)


def test_edited_tables_are_validated_naming_the_cell() -> None:
    state, _ = common.generate(EnvConfig(), 0)
    nodes, edges = common.nodes_frame(state), common.edges_frame(state)
    assert common.network_from_frames(nodes, edges) == state
    nodes.loc[2, "cpu_util"] = 1.7
    with pytest.raises(ValidationError, match=r"nodes\.2\.cpu_util"):
        common.network_from_frames(nodes, edges)
    nodes.loc[2, "cpu_util"] = 0.5
    with pytest.raises(ValidationError, match="names node 40"):
        common.network_from_frames(nodes, pd.concat([edges, pd.DataFrame({"source": [0], "target": [40]})]))


def test_the_replay_page_runs_the_chosen_policies_on_one_episode() -> None:
    app = _run("replay_page.py")
    chosen = app.multiselect[0].value
    assert {"hybrid", "greedy_earliest_finish"} <= set(chosen)
    summary = app.dataframe[0].value
    predictor = Predictor()
    frame = replay({name: predictor.agent(name) for name in chosen}, int(app.number_input[0].value))
    # Each model named as the results tables name the checkpoint it serves; a rule by its name.
    shown = {row.split(": ", 1)[0]: row for row in summary.index}
    assert set(shown) == set(chosen) and shown["greedy_earliest_finish"] == "greedy_earliest_finish"
    predictor.checkpoint("hybrid")  # resolves which hybrid answers: the results tables' row of that one
    assert shown["dqn"] == "dqn: DQN-GNN + root"
    assert shown["hybrid"] == f"hybrid: {SPECS[predictor.aliases['hybrid']].row}"
    for name in chosen:
        assert summary.loc[shown[name], "return"] == pytest.approx(frame[frame["policy"] == name]["reward"].sum(),
                                                                  abs=0.006)
    assert len(app.get("image")) >= 4
    app.multiselect[0].set_value([]).run()
    assert app.info[0].value.startswith("Choose at least one policy")


def test_the_app_opens_on_the_results_page() -> None:
    app = _run("app.py")
    assert app.title[0].value == "Results"


def test_tables_fit_the_page_blank_where_missing_and_whole_numbers_without_decimals() -> None:
    frame = pd.DataFrame({"policy": ["a", "b"], "runs": [60.0, 100.0], "CPU (min)": [1.234, 5.0],
                          "remainder (min)": [2.5, float("nan")]})
    shown, columns = common.table_columns(frame)
    assert shown["remainder (min)"].tolist() == ["2.50", ""]  # not "None"
    assert columns["runs"]["type_config"]["format"] == "%d" and columns["CPU (min)"]["type_config"]["format"] == "%.2f"
    assert columns["policy"]["pinned"] is True and frame["remainder (min)"].isna().any()  # the caller's frame kept


def test_the_api_request_shown_is_the_request_one_line_per_node() -> None:
    state, task = common.generate(EnvConfig(), seed=0)
    document = {"network_state": state.model_dump(), "task": task.model_dump(), "model_type": "hybrid"}
    text = common.compact_json(document)
    assert json.loads(text) == json.loads(json.dumps(document))
    assert len(text.splitlines()) < len(state.nodes) + len(state.edges) + 15
