"""The hybrid's designs (edge_rl.agents.hybrid.designs): the card's unchanged, the separated
gradients really separated, the distillation target from a target network, each design learns,
checkpoints record the design, and the heads table."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import edge_rl
from edge_rl.agents import load, train
from edge_rl.agents.hybrid import HybridAgent, HybridNetwork, heads_table, train_hybrid
from edge_rl.agents.hybrid.designs import (
    Card,
    Distill,
    Separated,
    design_for,
    detached_forward,
    distill_kl,
    distill_targets,
    dqn_parameters,
    policy_parameters,
)
from edge_rl.config import HybridConfig, TrainConfig
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, VALIDATION_SEEDS_START, evaluate
from edge_rl.registry import FUSIONS, HYBRID_DESIGNS
from tests.test_hybrid import EVAL_SEEDS, SMALL, _obs, tiny_hybrid

DESIGNS = ("card", "separated", "distill")
REFERENCE = Path(os.environ.get("EDGE_RL_REFERENCE", "/work/ref-head"))
"""A checkout of the commit before the designs existed (the card's training as it was)."""


def tiny(design: str, fusion: str = "weighted_sum", **changes) -> TrainConfig:
    config = tiny_hybrid(fusion, **changes)
    return replace(config, hybrid=replace(config.hybrid, design=design))


def _batch(network: HybridNetwork, design, batch: int = 4):
    """A rollout minibatch as SB3's rollout buffer gives it, acted by ``design``."""
    obs = _obs(batch)
    with torch.no_grad():
        out = network(obs)
        distribution = torch.distributions.Categorical(logits=design.acting_logits(out))
        actions = distribution.sample()
    return SimpleNamespace(observations=obs, actions=actions[:, None].float(),
                           old_log_prob=distribution.log_prob(actions), advantages=torch.tensor([1.0, -0.5, 0.3, -0.8]),
                           returns=torch.tensor([1.0, 2.0, -1.0, 0.5]))


def _sample(batch: int = 4):
    """A replay minibatch as SB3's replay buffer gives it."""
    return SimpleNamespace(observations=_obs(batch), next_observations=_obs(batch),
                           actions=torch.tensor([[0], [2], [5], [7]]), rewards=torch.tensor([[1.0], [-1.0], [0.5], [0.0]]),
                           dones=torch.tensor([[0.0], [1.0], [0.0], [0.0]]))


def _grads(parameters) -> list[torch.Tensor | None]:
    return [p.grad for p in parameters]


def _no_gradient(parameters) -> bool:
    return all(g is None or not g.abs().sum() for g in _grads(parameters))


def _some_gradient(parameters) -> bool:
    return any(g is not None and g.abs().sum() > 0 for g in _grads(parameters))


# ------------------------------------------------------------------ config and registry


def test_the_designs_are_registered_and_the_default_is_the_cards() -> None:
    assert HYBRID_DESIGNS.names() == DESIGNS
    assert HybridConfig().design == "card"
    assert isinstance(design_for(HybridConfig()), Card) and not design_for(HybridConfig()).owns_step
    assert isinstance(design_for(HybridConfig(design="separated")), Separated)
    assert isinstance(design_for(HybridConfig(design="distill")), Distill)
    # The card's runs keep their names; another design is named.
    assert TrainConfig(algo="hybrid").name == "hybrid-gcn-root-weighted_sum"
    assert TrainConfig(algo="hybrid", hybrid=HybridConfig(design="distill")).name == "hybrid-gcn-root-weighted_sum-distill"


def test_bad_design_configs_are_refused_naming_the_field_and_the_accepted_values() -> None:
    with pytest.raises(ValueError, match=r"design must be one of \['card', 'separated', 'distill'\], got 'ppg'"):
        HybridConfig(design="ppg")
    with pytest.raises(ValueError, match=r"distill_temperature must be in \[0.001, 1000\], got 0"):
        HybridConfig(distill_temperature=0.0)
    with pytest.raises(ValueError, match=r"distill_temperature must be in \[0.001, 1000\]"):
        HybridConfig(distill_temperature=1e4)
    with pytest.raises(ValueError, match=r"distill_target_tau must be in \(0, 1\]"):
        HybridConfig(distill_target_tau=0.0)
    with pytest.raises(ValueError, match="distill_coef must be a finite number >= 0"):
        HybridConfig(distill_coef=-1.0)


# ------------------------------------------------------------------ the card's design, unchanged


def _weights_digest(config: TrainConfig) -> str:
    state = train_hybrid(config).network.state_dict()
    return hashlib.sha256(b"".join(k.encode() + state[k].numpy().tobytes() for k in sorted(state))).hexdigest()


_REFERENCE_SCRIPT = """
import hashlib, sys, torch
from edge_rl.agents.hybrid import train_hybrid
from edge_rl.config import EncoderConfig, HybridConfig, TrainConfig
config = TrainConfig(algo="hybrid", encoder=EncoderConfig(hidden=16, embed=32, head_hidden=(16,)), seed=3,
                     total_timesteps=384, hybrid=HybridConfig(fusion=sys.argv[1], n_envs=2, n_steps=64, n_epochs=2,
                     batch_size=32, learning_starts=32, eval_every=128, val_episodes=1))
state = train_hybrid(config).network.state_dict()
print(hashlib.sha256(b"".join(k.encode() + state[k].numpy().tobytes() for k in sorted(state))).hexdigest())
"""


@pytest.mark.skipif(not (REFERENCE / "edge_rl" / "agents" / "hybrid" / "training.py").is_file()
                    or (REFERENCE / "edge_rl" / "agents" / "hybrid" / "designs.py").exists(),
                    reason="needs a checkout from before the designs (EDGE_RL_REFERENCE, default /work/ref-head)")
@pytest.mark.parametrize("fusion", ["weighted_sum", "gating"])
def test_the_card_design_trains_bit_for_bit_as_before_the_designs(fusion: str) -> None:
    """Same seed, same weights as the code before the designs existed (run from the reference
    checkout in a subprocess): the default design's code path is the card's, untouched."""
    from edge_rl.config import EncoderConfig

    config = TrainConfig(algo="hybrid", encoder=EncoderConfig(hidden=16, embed=32, head_hidden=(16,)), seed=3,
                         total_timesteps=384, hybrid=HybridConfig(fusion=fusion, n_envs=2, n_steps=64, n_epochs=2,
                                                                  batch_size=32, learning_starts=32, eval_every=128,
                                                                  val_episodes=1))
    env = {**os.environ, "PYTHONPATH": str(REFERENCE)}
    reference = subprocess.run([sys.executable, "-c", _REFERENCE_SCRIPT, fusion], env=env, cwd=REFERENCE,
                               capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert _weights_digest(config) == reference
    # ... and the separated design, from the same seed, does not (the test can tell designs apart).
    assert _weights_digest(replace(config, hybrid=replace(config.hybrid, design="separated"))) != reference


def test_the_card_design_acts_by_the_fused_distribution() -> None:
    torch.manual_seed(0)
    network = HybridNetwork(SMALL, HybridConfig())
    out = network(_obs())
    assert Card(HybridConfig()).acting_logits(out) is out.fused
    assert Distill(HybridConfig(design="distill")).acting_logits(out) is out.logits


# ------------------------------------------------------------------ gradient separation


@pytest.mark.parametrize("fusion", FUSIONS)
def test_the_detached_forward_pass_gives_the_full_passs_values(fusion: str) -> None:
    torch.manual_seed(0)
    network = HybridNetwork(SMALL, HybridConfig(fusion=fusion))
    obs = _obs(3, n_sensors=4, n_fog=2, n_cloud=1, max_nodes=10)
    full, (detached, _) = network(obs), detached_forward(network, obs)
    for a, b in zip(full, detached):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("design", ["separated", "distill"])
def test_the_policy_loss_moves_neither_the_q_head_nor_the_encoder(design: str, fusion: str) -> None:
    torch.manual_seed(0)
    config = HybridConfig(design=design, fusion=fusion)
    network, chosen = HybridNetwork(SMALL, config), design_for(config)
    loss, _ = chosen.policy_loss(network, _batch(network, chosen))
    loss.backward()
    assert _no_gradient(network.q_head.parameters()) and _no_gradient(network.encoder.parameters())
    assert _some_gradient(network.policy_head.parameters()) and _some_gradient(network.value_head.parameters())
    if fusion != "weighted_sum" and design == "separated":  # the fusion acts (and learns) in separated only
        assert _some_gradient(network.fuse.parameters())
    # The card's PPO loss, for contrast, does reach the Q head (what the designs remove).
    card = HybridNetwork(SMALL, HybridConfig(fusion=fusion))
    from edge_rl.agents.hybrid import ppo_loss

    batch = _batch(card, Card(HybridConfig()))
    ppo_loss(card(batch.observations), batch.actions.long().flatten(), batch.old_log_prob, batch.advantages,
             batch.returns, HybridConfig())[0].backward()
    assert _some_gradient(card.q_head.parameters())


@pytest.mark.parametrize("design", ["separated", "distill"])
def test_the_td_loss_moves_only_the_q_head_and_the_encoder(design: str) -> None:
    torch.manual_seed(0)
    config = HybridConfig(design=design)
    network, chosen = HybridNetwork(SMALL, config), design_for(config)
    chosen.td_loss(network, copy.deepcopy(network), _sample()).backward()
    assert _some_gradient(network.q_head.parameters()) and _some_gradient(network.encoder.parameters())
    assert _no_gradient(policy_parameters(network))


@pytest.mark.parametrize("design", ["separated", "distill"])
def test_the_dqn_parts_step_is_the_td_step_whatever_the_policy_loss(design: str) -> None:
    """A step on PPO + TD (+ KL) moves the encoder and Q head exactly as a step on TD alone does:
    no PPO gradient reaches them, and their gradient norm is clipped on its own (one joint clip
    would let the PPO gradient shrink the TD step)."""
    torch.manual_seed(0)
    network = HybridNetwork(SMALL, HybridConfig(design=design))
    target, batch, sample = copy.deepcopy(network), None, _sample()
    results = []
    for changes in ({"ppo_coef": 50.0}, {"ppo_coef": 0.0, "distill_coef": 0.0}):
        config = HybridConfig(design=design, max_grad_norm=0.05, **changes)  # a small norm: clipping binds
        copy_ = copy.deepcopy(network)
        chosen = design_for(config)
        batch = batch or _batch(copy_, chosen)
        chosen.step(copy_, target, torch.optim.Adam(copy_.parameters(), lr=1e-2), batch, sample)
        results.append(copy_)
    moved, td_only = results
    for a, b in zip(dqn_parameters(moved), dqn_parameters(td_only)):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(policy_parameters(moved), policy_parameters(td_only)))


# ------------------------------------------------------------------ distillation


def test_the_distillation_target_is_the_target_networks_boltzmann_policy() -> None:
    torch.manual_seed(0)
    network = HybridNetwork(SMALL, HybridConfig())
    obs = _obs(2, n_sensors=4, n_fog=2, n_cloud=1, max_nodes=10)
    probs = distill_targets(network, obs, 0.5)
    assert torch.allclose(probs.sum(-1), torch.ones(2)) and torch.all(probs[:, 7:] == 0)
    sharp = distill_targets(network, obs, 1e-3)
    assert torch.equal(sharp.argmax(-1), network(obs).q_values.argmax(-1))
    # The KL is 0 at the target and positive elsewhere, and finite on padded nodes.
    mask = obs["node_mask"]
    assert distill_kl(torch.log(probs.clamp_min(1e-30)).masked_fill(mask < 0.5, torch.finfo(torch.float32).min),
                      probs, mask).abs() < 1e-5
    assert distill_kl(network(obs).logits, probs, mask) > 0


def test_the_distillation_target_comes_from_its_target_network_not_the_online_one() -> None:
    torch.manual_seed(0)
    config = HybridConfig(design="distill", distill_target_tau=0.3)
    network, design = HybridNetwork(SMALL, config), Distill(config)
    td_target, sample = copy.deepcopy(network), _sample()
    design.step(network, td_target, torch.optim.Adam(network.parameters(), lr=1e-2), _batch(network, design), sample)
    assert design.policy_target is not None and design.policy_target is not network
    obs = sample.observations

    def kl() -> float:
        return design.extra_loss(network, td_target, sample)[0].item()

    before, probs = kl(), distill_targets(design.policy_target, obs, config.distill_temperature)
    with torch.no_grad():  # perturb the online Q head: neither the target nor the KL changes
        for p in network.q_head.parameters():
            p.add_(torch.randn_like(p))
        for p in td_target.parameters():  # nor do they read the TD's target network
            p.add_(torch.randn_like(p))
    assert torch.equal(distill_targets(design.policy_target, obs, config.distill_temperature), probs)
    assert kl() == before
    with torch.no_grad():  # the online encoder: the target does not change (the policy's input does)
        for p in network.encoder.parameters():
            p.add_(torch.randn_like(p))
    assert torch.equal(distill_targets(design.policy_target, obs, config.distill_temperature), probs)
    before = kl()
    with torch.no_grad():  # perturb the distillation's target network: the target changes
        for p in design.policy_target.q_head.parameters():
            p.add_(torch.randn_like(p))
    assert not torch.equal(distill_targets(design.policy_target, obs, config.distill_temperature), probs)
    assert kl() != before


def test_the_distillation_target_network_follows_the_online_one_by_polyak_steps() -> None:
    torch.manual_seed(0)
    config = HybridConfig(design="distill", distill_target_tau=0.25)
    network, design = HybridNetwork(SMALL, config), Distill(config)
    initial = copy.deepcopy(network)
    design.step(network, copy.deepcopy(network), torch.optim.Adam(network.parameters(), lr=1e-2),
                _batch(network, design), _sample())
    for old, new, mixed in zip(dqn_parameters(initial), dqn_parameters(network), dqn_parameters(design.policy_target)):
        torch.testing.assert_close(mixed, 0.75 * old + 0.25 * new)


def test_training_reads_no_test_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every episode seed the distill training resets with: training seeds and validation seeds
    (20000+), never the test seeds (10000-10099)."""
    from edge_rl.envs.iot_edge import IoTEdgeEnv
    from edge_rl.envs.vector import IoTEdgeVectorEnv

    seen: list[int] = []

    def recording(cls):
        original = cls.reset

        def reset(self, *args, seed=None, **kwargs):
            seen.extend(np.atleast_1d(seed).tolist() if seed is not None else [])
            return original(self, *args, seed=seed, **kwargs)

        monkeypatch.setattr(cls, "reset", reset)

    recording(IoTEdgeEnv)
    recording(IoTEdgeVectorEnv)
    train_hybrid(tiny("distill"))
    assert VALIDATION_SEEDS_START in seen and 0 in seen  # the recorder saw both kinds
    assert not set(seen) & set(DEFAULT_EVAL_SEEDS)


# ------------------------------------------------------------------ learning, checkpoints, heads


@pytest.fixture(scope="module")
def random_return() -> float:
    return float(evaluate(make_heuristic("random"), EVAL_SEEDS)["return"].mean())


@pytest.mark.parametrize("design", DESIGNS)
def test_each_design_learns(design: str, random_return: float) -> None:
    """As test_hybrid grades the card: 4,096 steps (root-path GCN, the defaults) against random
    and against the same design asked for a single step (one rollout, 1,024 steps). Measured on
    these seeds (random -258): card +31.6 (one step -227.3), separated +77.9 (+38.8), distill
    +86.8 (+71.5). The designs that keep PPO out of the DQN part are good after one rollout
    already, so the margin over one step is small for them; the bounds lie between."""
    config = TrainConfig(algo="hybrid", total_timesteps=4_096, hybrid=HybridConfig(design=design))
    trained = evaluate(train_hybrid(config), EVAL_SEEDS)["return"].mean()
    one_step = evaluate(train_hybrid(replace(config, total_timesteps=1)), EVAL_SEEDS)["return"].mean()
    assert trained > random_return + 200
    assert trained > one_step + 10


@pytest.mark.parametrize("design", DESIGNS)
def test_a_checkpoint_records_its_design_and_loads_it_back(design: str, tmp_path: Path) -> None:
    agent = train(tiny(design), tmp_path / "h")
    assert json.loads((tmp_path / "h.json").read_text())["config"]["hybrid"]["design"] == design
    loaded = load(tmp_path / "h")
    assert loaded.config == agent.config and loaded.config.hybrid.design == design
    assert loaded.greedy_output == ("logits" if design == "distill" else "fused_logits")
    obs, _ = edge_rl.make_env().reset(seed=1)
    a, b = agent.node_scores(obs), loaded.node_scores(obs)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert loaded.predict(obs)[0] == int(np.argmax(a[loaded.greedy_output]))
    assert np.allclose(a["probabilities"], np.exp(a[loaded.greedy_output]))


def test_a_checkpoint_from_before_the_designs_loads_as_the_cards(tmp_path: Path) -> None:
    train(tiny("card"), tmp_path / "h")
    description = tmp_path / "h.json"
    document = json.loads(description.read_text())
    expected = load(tmp_path / "h").config
    for name in HybridConfig.ADDED_FIELDS:
        del document["config"]["hybrid"][name]
    description.write_text(json.dumps(document))
    assert load(tmp_path / "h").config == expected and expected.hybrid.design == "card"


@pytest.mark.parametrize("design", ["card", "distill"])
def test_the_heads_table_scores_each_head_and_marks_the_acting_one(design: str) -> None:
    agent = train_hybrid(tiny(design))
    seeds = list(range(20_100, 20_104))
    table = heads_table(agent, seeds)
    assert table["head"].tolist() == ["fused", "q", "policy"]
    acting = table[table["acts"]]
    assert acting["head"].tolist() == (["policy"] if design == "distill" else ["fused"])
    assert acting["return_mean"].item() == pytest.approx(evaluate(agent, seeds)["return"].mean(), rel=1e-9)
    assert (table["episodes"] == 4).all()
    # The Q row is the Q head's greedy choice: an agent made to act by it scores it.
    by_q = HybridAgent(agent.config, agent.network, {})
    by_q.greedy_output = "q_values"
    assert table.loc[1, "return_mean"] == pytest.approx(evaluate(by_q, seeds)["return"].mean(), rel=1e-9)


def test_the_cli_says_when_a_distill_setting_goes_unread() -> None:
    from edge_rl.cli import unread_setting

    assert "apply to hybrid.design=distill" in unread_setting(TrainConfig(algo="hybrid"), "hybrid.distill_temperature")
    assert unread_setting(TrainConfig(algo="hybrid", hybrid=HybridConfig(design="distill")), "hybrid.distill_coef") is None
