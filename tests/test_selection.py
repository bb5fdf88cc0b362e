"""Which checkpoint answers for a model type: the seed, and the unsuffixed hybrid's variant,
chosen on validation episodes; seed 0 where there is nothing to choose by."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from edge_rl.serve.models import MODEL_SPECS, Predictor
from edge_rl.serve.selection import FALLBACK_SEED, choose_seed, rank_variants

ROOT = Path(__file__).resolve().parents[1]


def _validation(results: Path, stem: str, returns: list[float]) -> None:
    folder = results / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"seed": range(20_100, 20_100 + len(returns)), "return": returns}).to_csv(folder / f"{stem}.csv")


def test_the_seed_with_the_best_validation_return_is_served(tmp_path: Path) -> None:
    for seed, returns in enumerate(([1.0, 2.0], [5.0, 6.0], [5.5, 5.5], [-1.0, 0.0])):
        _validation(tmp_path, f"hybrid-sage-seed{seed}", returns)
    _validation(tmp_path, "hybrid-sage-attention-seed0", [100.0])  # another variant's prefix: not counted
    choice = choose_seed(tmp_path, "hybrid-sage")
    assert (choice.stem, choice.seed, choice.score) == ("hybrid-sage-seed1", 1, 5.5)  # a tie: the first seed
    assert "seed 1 of 4" in choice.reason and "2 validation episodes" in choice.reason
    assert choose_seed(tmp_path, "hybrid-sage", seed=3).stem == "hybrid-sage-seed3"
    fallback = choose_seed(tmp_path / "empty", "hybrid-sage")
    assert fallback.seed == FALLBACK_SEED and "no validation results" in fallback.reason


def test_the_best_variant_is_the_best_interquartile_mean_over_its_seeds(tmp_path: Path) -> None:
    for seed, value in enumerate((10.0, 11.0, 12.0, 1000.0)):  # one lucky seed does not carry it
        _validation(tmp_path, f"a-seed{seed}", [value])
    for seed, value in enumerate((20.0, 21.0, 22.0, 23.0)):
        _validation(tmp_path, f"b-seed{seed}", [value])
    ranked, reason = rank_variants({"type_a": (tmp_path, "a"), "type_b": (tmp_path, "b"), "type_c": (tmp_path, "c")})
    assert ranked == ["type_b", "type_a"]  # type_c has no validation rows: not ranked
    assert "type_b: of the hybrids type_a, type_b" in reason and "against type_a's 11.50" in reason
    assert rank_variants({"type_c": (tmp_path, "c")}) == ([], "no validation results to choose by")


def test_the_server_loads_the_chosen_checkpoint_and_says_why(tmp_path: Path) -> None:
    learned = next(spec for spec in MODEL_SPECS.values() if spec.checkpoint and spec.algo == "hybrid")
    models, results = tmp_path / "models", tmp_path / "results"
    models.mkdir()
    source = ROOT / "results" / "models"
    if not (source / f"{learned.checkpoint}-seed1.json").is_file():
        pytest.skip(f"the committed results have no {learned.checkpoint}-seed1")
    for seed in (0, 1):
        for suffix in (".json", ".safetensors"):
            shutil.copy(source / f"{learned.checkpoint}-seed{seed}{suffix}", models)
        _validation(results, f"{learned.checkpoint}-seed{seed}", [float(seed)])
    predictor = Predictor(models, results=results)
    assert predictor.checkpoint(learned.model_type) == f"{learned.checkpoint}-seed1"
    assert predictor.policy(learned.model_type).agent.config.seed == 1
    assert "seed 1 of 2" in predictor.choices[learned.model_type].reason
    alias = MODEL_SPECS.get("hybrid")
    if alias is not None and alias.alias_of:  # the unsuffixed hybrid: the one loaded hybrid, here
        assert predictor.aliases["hybrid"] == learned.model_type
        assert predictor.checkpoint("hybrid") == f"{learned.checkpoint}-seed1"
    assert Predictor(models, seed=0, results=results).checkpoint(learned.model_type) == f"{learned.checkpoint}-seed0"


def _copy_checkpoint(source: Path, stem: str, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".safetensors"):
        shutil.copy(source / f"{stem}{suffix}", target)


def test_the_unsuffixed_hybrid_serves_the_budget_study_s_when_it_validates_best(tmp_path: Path) -> None:
    card, study = MODEL_SPECS["hybrid_gating"], MODEL_SPECS["hybrid_budget"]
    assert study.folder == "study" and "hybrid_budget" in MODEL_SPECS["hybrid"].alias_of
    committed = ROOT / "results"
    if not (committed / "study" / "models" / f"{study.checkpoint}-seed0.json").is_file():
        pytest.skip("the committed results have no budget study (make study)")
    models, results = tmp_path / "models", tmp_path / "results"
    _copy_checkpoint(committed / "models", f"{card.checkpoint}-seed0", models)
    # A models folder given holds every checkpoint, the study's too (EDGE_RL_MODELS_DIR's meaning).
    _copy_checkpoint(committed / "study" / "models", f"{study.checkpoint}-seed0", models)
    _validation(results, f"{card.checkpoint}-seed0", [80.0])
    _validation(results / "study", f"{study.checkpoint}-seed0", [90.0])  # the study's rows, in its own folder

    predictor = Predictor(models, results=results)
    assert predictor.aliases["hybrid"] == "hybrid_budget"
    assert predictor.checkpoint("hybrid") == f"{study.checkpoint}-seed0"
    assert predictor.policy("hybrid").agent.config.total_timesteps == predictor.policy(
        "hybrid_budget").agent.config.total_timesteps
    reason = predictor.choices["hybrid"].reason
    assert reason.startswith("hybrid_budget: ") and "against hybrid_gating's 80.00" in reason

    # Without the study's checkpoints, the next best that loads answers, and says so.
    for path in models.glob(f"{study.checkpoint}-seed0.*"):
        path.unlink()
    fallback = Predictor(models, results=results)
    assert fallback.aliases["hybrid"] == "hybrid_gating"
    assert fallback.choices["hybrid"].reason.startswith("hybrid_gating: the first hybrid that loads")
    assert "make study" in fallback.errors["hybrid_budget"]
