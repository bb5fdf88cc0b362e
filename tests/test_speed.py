"""The speed work of issue 27 changes no number: each shortcut against the computation it replaces.

Committed results are reproduced bit for bit (``make compare``), so a shortcut that moved a
rounding would force every run to be retrained. Each test below trains or evaluates with the
shortcut and without it (SB3's stock part, or the operators derived afresh) and asks for
``torch.equal`` on every weight, or equality of every number. (Same config and seed twice:
``tests/test_baselines.py`` and ``tests/test_hybrid.py``.)
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from stable_baselines3.common.buffers import DictReplayBuffer, DictRolloutBuffer

import edge_rl
from edge_rl.agents import baselines, load, train
from edge_rl.agents.sb3_parts import SampledDictReplayBuffer, SampledDictRolloutBuffer
from edge_rl.config import DQNConfig, EncoderConfig, PPOConfig, TrainConfig
from edge_rl.evaluation import evaluate
from edge_rl.nn.encoders import GraphEncoder, GraphOperatorCache

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _batch(n: int, seed: int) -> dict[str, torch.Tensor]:
    env = edge_rl.make_env()
    obs = [env.reset(seed=seed + i)[0] for i in range(n)]
    return {k: torch.as_tensor(np.stack([o[k] for o in obs])) for k in obs[0]}


class _NoCache(GraphOperatorCache):
    def get(self, adj, derive):  # noqa: ANN001
        return derive(adj)


@pytest.mark.parametrize("kind", ["gcn", "gat", "sage", "hybrid"])
def test_cached_graph_operators_give_the_numbers_of_operators_derived_afresh(kind: str) -> None:
    torch.manual_seed(0)
    cached = GraphEncoder(EncoderConfig(kind=kind))
    fresh = copy.deepcopy(cached)
    fresh._operators = _NoCache()
    batch = _batch(4, 0)
    other = _batch(4, 0)
    other["adjacency"][:, 0, 1] = other["adjacency"][:, 1, 0] = 1 - other["adjacency"][:, 0, 1]  # another graph
    for obs in (batch, batch, other, other, batch):  # hits, a changed adjacency, and back
        with torch.inference_mode():
            a, b = cached(obs), fresh(obs)
            assert torch.equal(a.nodes, b.nodes) and torch.equal(a.graph, b.graph)
        a, b = cached(obs), fresh(obs)  # with autograd: the backward reads the operators too
        assert torch.equal(a.graph, b.graph)
        a.graph.sum().backward()
        b.graph.sum().backward()
    for p, q in zip(cached.parameters(), fresh.parameters()):
        assert torch.equal(p.grad, q.grad)


def test_the_cache_is_no_part_of_the_module_s_state() -> None:
    encoder = GraphEncoder()
    encoder(_batch(2, 0))
    assert encoder._operators._entries
    assert not copy.deepcopy(encoder)._operators._entries
    assert all("operator" not in key for key in encoder.state_dict())


def test_an_adjacency_changed_in_place_after_a_pass_is_not_mistaken_for_the_cached_one() -> None:
    encoder = GraphEncoder()
    obs = _batch(1, 0)
    with torch.inference_mode():
        before = encoder(obs).graph.clone()
        obs["adjacency"][0, 0, :] = 0  # the caller edits its tensor: the cache holds a copy
        obs["adjacency"][0, :, 0] = 0
        after = encoder(obs).graph
        encoder._operators = _NoCache()
        assert torch.equal(after, encoder(obs).graph) and not torch.equal(before, after)


def _stock_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs_of = baselines._algorithm_kwargs

    def stock(config: TrainConfig):  # noqa: ANN202
        algorithm, policy, kwargs = kwargs_of(config)
        assert kwargs.pop("replay_buffer_class", SampledDictReplayBuffer) is SampledDictReplayBuffer
        assert kwargs.pop("rollout_buffer_class", SampledDictRolloutBuffer) is SampledDictRolloutBuffer
        return algorithm, policy, kwargs

    monkeypatch.setattr(baselines, "_algorithm_kwargs", stock)


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_the_buffers_without_the_second_copy_train_bit_identically_to_sb3_s(algo: str, monkeypatch) -> None:
    config = TrainConfig(algo=algo, total_timesteps=600, seed=2, dqn=DQNConfig(learning_starts=200),
                         ppo=PPOConfig(n_steps=64, n_envs=2, n_epochs=2))
    model = baselines.make_model(config)
    assert type(getattr(model, "replay_buffer", None) or model.rollout_buffer) in (SampledDictReplayBuffer,
                                                                                   SampledDictRolloutBuffer)
    ours = train(config).network.state_dict()
    _stock_buffers(monkeypatch)
    model = baselines.make_model(config)
    assert type(getattr(model, "replay_buffer", None) or model.rollout_buffer) in (DictReplayBuffer, DictRolloutBuffer)
    theirs = train(config).network.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.parametrize("name", ["dqn-gnn-seed0", "ppo-gnn-seed0", "hybrid-attention-root-seed0"])
def test_a_committed_checkpoint_scores_as_it_did_when_it_was_committed(name: str) -> None:
    """With the cache and without it, bit for bit; and as the committed evaluation (to the last
    digits of a sum over 100 steps on this machine type: the committed table came from the
    experiment runner's own evaluation)."""
    path = RESULTS / "models" / name
    if not path.with_suffix(".json").exists():
        pytest.skip(f"{path} is not committed")
    runs = pd.read_csv(RESULTS / "runs" / f"{name}.csv")
    seeds = runs["seed"].tolist()[:5]
    agent = load(path)
    scored = evaluate(agent, seeds)
    encoders = [m for m in agent.network.modules() if isinstance(m, GraphEncoder)]
    assert encoders
    for encoder in encoders:
        encoder._operators = _NoCache()
    assert scored.equals(evaluate(agent, seeds))
    np.testing.assert_allclose(scored["return"].to_numpy(), runs["return"].to_numpy()[:5], rtol=1e-12, atol=1e-12)
