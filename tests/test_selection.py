"""Which checkpoint answers for a model type: the seed, and the unsuffixed hybrid's variant,
chosen on validation episodes; seed 0 where there is nothing to choose by."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from edge_rl.serve.models import MODEL_SPECS, Predictor
from edge_rl.serve.selection import FALLBACK_SEED, best_variant, choose_seed

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
    best, reason = best_variant(tmp_path, {"type_a": "a", "type_b": "b"})
    assert best == "type_b" and "type_b: of the hybrids type_a, type_b" in reason
    assert best_variant(tmp_path, {"type_c": "c"}) == (None, "no validation results to choose by")


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
