"""The hybrid DQN-PPO agent: TD targets, PPO loss, fusion, warm start, determinism, learning."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

import edge_rl
from edge_rl.agents import load, train
from edge_rl.agents.hybrid import HybridNetwork, HybridOutput, ppo_loss, td_targets, train_hybrid, warm_start
from edge_rl.config import ROOT_PATHS, DQNConfig, EncoderConfig, HybridConfig, PPOConfig, TrainConfig
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.evaluation import evaluate
from edge_rl.nn.fusions import standardise
from edge_rl.registry import FUSIONS

SMALL = EncoderConfig(hidden=16, embed=32, head_hidden=(16,))
EVAL_SEEDS = list(range(10_000, 10_010))


def tiny_hybrid(fusion: str = "weighted_sum", **changes) -> TrainConfig:
    return TrainConfig(
        algo="hybrid",
        encoder=SMALL,
        hybrid=HybridConfig(fusion=fusion, n_envs=2, n_steps=32, n_epochs=2, batch_size=32,
                            learning_starts=32, eval_every=128, val_episodes=1),
        dqn=DQNConfig(learning_starts=50, buffer_size=1_000),
        ppo=PPOConfig(n_steps=32, n_envs=2, batch_size=32, n_epochs=1),
        total_timesteps=128,
        **changes,
    )


def _obs(batch: int = 3, **env) -> dict[str, torch.Tensor]:
    environment = edge_rl.make_env(**env)
    observations = [environment.reset(seed=s)[0] for s in range(batch)]
    return {k: torch.as_tensor(np.stack([o[k] for o in observations])) for k in observations[0]}


class FixedQ(torch.nn.Module):
    """A stand-in network whose Q-values are given."""

    def __init__(self, q: list[list[float]]) -> None:
        super().__init__()
        self.q = torch.tensor(q)

    def q_values(self, obs: dict, actions: torch.Tensor | None = None) -> torch.Tensor:
        return self.q if actions is None else self.q.gather(-1, actions)


def test_td_target_is_double_dqn_with_the_termination_cut() -> None:
    online = FixedQ([[1.0, 5.0, 2.0], [0.0, 1.0, 3.0]])  # argmax: node 1, node 2
    target = FixedQ([[10.0, 20.0, 30.0], [4.0, 5.0, 6.0]])
    rewards, terminated = torch.tensor([1.0, -2.0]), torch.tensor([0.0, 1.0])
    y = td_targets(online, target, rewards, {}, terminated, gamma=0.9)
    # Not max over the target (30): the target's value of the *online* argmax (20).
    assert y.tolist() == pytest.approx([1.0 + 0.9 * 20.0, -2.0])


def test_the_target_network_differs_from_the_online_one_until_it_is_updated() -> None:
    from stable_baselines3.common.utils import polyak_update

    torch.manual_seed(0)
    network = HybridNetwork(SMALL, HybridConfig())
    target = copy.deepcopy(network)
    obs = _obs()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    network.q_values(obs).mean().backward()
    optimizer.step()
    assert not torch.equal(network.q_values(obs), target.q_values(obs))
    polyak_update(network.parameters(), target.parameters(), tau=1.0)
    assert torch.equal(network.q_values(obs), target.q_values(obs))


def test_q_of_chosen_nodes_and_value_alone_match_the_full_forward_pass() -> None:
    # Training reads Q(s, a) of one node per state and V(s) alone; both must be what the
    # full pass gives, for every encoder (each scores nodes from [h_i || g]).
    for kind in ("gcn", "gat", "sage", "hybrid"):
        torch.manual_seed(0)
        network = HybridNetwork(replace(SMALL, kind=kind), HybridConfig())
        obs = _obs(batch=4)
        actions = torch.tensor([[0], [3], [7], [16]])
        full = network(obs)
        chosen = network.q_values(obs, actions)
        assert chosen.shape == (4, 1)
        torch.testing.assert_close(chosen, full.q_values.gather(-1, actions), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(network.value(obs), full.value, rtol=1e-5, atol=1e-6)
    # A padded slot scores the lowest float, as in the full pass (nodes 7-9 are padding here).
    padded = _obs(batch=2, n_sensors=4, n_fog=2, n_cloud=1, max_nodes=10)
    q = network.q_values(padded, torch.tensor([[8], [2]]))
    assert q[0, 0] == torch.finfo(q.dtype).min and q[1, 0] == network(padded).q_values[1, 2]
    # The double-DQN target through the real network equals its full-pass definition.
    rewards, terminated = torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])
    target = copy.deepcopy(network)
    with torch.no_grad():
        best = network.q_values(padded).argmax(dim=-1, keepdim=True)
        expected = rewards + 0.9 * (1 - terminated) * target.q_values(padded).gather(-1, best).squeeze(-1)
    torch.testing.assert_close(td_targets(network, target, rewards, padded, terminated, 0.9), expected)


def test_validation_scores_the_episodes_evaluate_scores() -> None:
    # Validation runs its episodes side by side (one batched forward pass per step); it must
    # choose what one-at-a-time evaluation chooses.
    from edge_rl.agents.hybrid import HybridAgent
    from edge_rl.evaluation import episode_returns

    torch.manual_seed(3)
    config = tiny_hybrid()
    agent = HybridAgent(config, HybridNetwork(config.encoder, config.hybrid), {})
    seeds = list(range(20_000, 20_005))
    expected = evaluate(agent, seeds)["return"].to_numpy()
    assert episode_returns(agent, seeds) == pytest.approx(expected, rel=1e-9)


def test_only_time_limit_cuts_are_bootstrapped_with_the_last_states_value() -> None:
    from edge_rl.agents.hybrid import bootstrap_time_limits

    class Values:  # V(s) = the first task feature of s, and which states it was asked about
        def value(self, obs: dict) -> torch.Tensor:
            self.seen = obs["task"][:, 0].tolist()
            return obs["task"][:, 0] * 1.0

    last_obs = {"task": np.array([[10.0, 0], [20.0, 0], [30.0, 0], [40.0, 0]])}
    dones = np.array([True, True, False, True])
    infos = [{"TimeLimit.truncated": True}, {"TimeLimit.truncated": False}, {}, {"TimeLimit.truncated": True}]
    values = Values()
    rewards = bootstrap_time_limits(np.array([1.0, 2.0, 3.0, 4.0]), dones, infos, last_obs, values, 0.5)
    assert rewards.dtype == np.float32
    # Cut episodes (0 and 3) gain gamma * V(last state); a true end (1) and a running one (2) not.
    assert rewards.tolist() == [1.0 + 0.5 * 10.0, 2.0, 3.0, 4.0 + 0.5 * 40.0]
    assert values.seen == [10.0, 40.0]


def test_ppo_loss_equals_a_hand_computed_value() -> None:
    fused = torch.tensor([[0.0, math.log(3.0)], [math.log(2.0), 0.0]])  # probs [1/4, 3/4], [2/3, 1/3]
    out = HybridOutput(q_values=fused, logits=fused, fused=fused, value=torch.tensor([1.0, 0.0]))
    actions = torch.tensor([1, 1])
    old_log_prob = torch.log(torch.tensor([0.5, 0.5]))
    advantages, returns = torch.tensor([1.0, -1.0]), torch.tensor([2.0, 1.0])
    config = HybridConfig(clip_range=0.2, vf_coef=0.5, ent_coef=0.01)
    loss, parts = ppo_loss(out, actions, old_log_prob, advantages, returns, config)

    ratio = torch.tensor([0.75 / 0.5, (1 / 3) / 0.5])  # 1.5, 0.667
    adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)  # [0.7071, -0.7071]
    surrogate = torch.min(adv * ratio, adv * ratio.clamp(0.8, 1.2))  # [0.8485 (clipped), 0.4714]
    policy_loss = -surrogate.mean()
    value_loss = ((1.0 - 2.0) ** 2 + (0.0 - 1.0) ** 2) / 2
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75) + (2 / 3) * math.log(2 / 3) + (1 / 3) * math.log(1 / 3)) / 2
    expected = policy_loss + 0.5 * value_loss - 0.01 * entropy
    assert parts["ratio"].tolist() == pytest.approx(ratio.tolist())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_ratio_is_one_before_the_first_update() -> None:
    torch.manual_seed(0)
    network = HybridNetwork(SMALL, HybridConfig())
    obs = _obs()
    with torch.no_grad():
        out = network(obs)
        distribution = torch.distributions.Categorical(logits=out.fused)
        actions = distribution.sample()
        old = distribution.log_prob(actions)
    _, parts = ppo_loss(network(obs), actions, old, torch.tensor([1.0, 0.0, -1.0]), torch.zeros(3), HybridConfig())
    assert torch.allclose(parts["ratio"], torch.ones(3))


def test_standardised_q_values_have_zero_mean_unit_std_over_real_nodes() -> None:
    q = torch.tensor([[1.0, 3.0, 5.0, -1e30]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    z = standardise(q, mask)
    assert z[0, :3].mean().abs() < 1e-6 and z[0, :3].pow(2).mean().sqrt() == pytest.approx(1.0, abs=1e-5)
    assert z[0, 3] == 0


def test_standardising_equal_q_values_keeps_gradients_finite() -> None:
    # Regression: sqrt(var) + eps had an infinite gradient at var = 0 (a collapsed encoder
    # gives every node the same Q-value), which turned a GAT hybrid's weights into NaN.
    q = torch.full((2, 5), 3.0, requires_grad=True)
    z = standardise(q, torch.ones(2, 5))
    (z * torch.arange(5.0)).sum().backward()
    assert torch.all(z == 0) and torch.isfinite(q.grad).all()


@pytest.mark.parametrize("fusion", FUSIONS)
def test_the_fused_distribution_and_its_gradients(fusion: str) -> None:
    torch.manual_seed(0)
    network = HybridNetwork(SMALL, HybridConfig(fusion=fusion))
    obs = _obs(n_sensors=4, n_fog=2, n_cloud=1, max_nodes=10)
    out = network(obs)
    probs = torch.softmax(out.fused, dim=-1)
    assert torch.allclose(probs.sum(-1), torch.ones(3))
    assert torch.all(probs[:, 7:] == 0)  # padded nodes
    # The PPO loss on the fused distribution reaches both heads, the encoder and the fusion.
    log_prob = torch.distributions.Categorical(logits=out.fused).log_prob(torch.tensor([0, 3, 6]))
    log_prob.sum().backward()
    parts = {"q_head": network.q_head, "policy_head": network.policy_head, "encoder": network.encoder}
    if fusion != "weighted_sum":
        parts["fusion"] = network.attention if fusion == "attention" else network.gate
    for name, module in parts.items():
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), f"{fusion}: no gradient reaches the {name}"


def test_warm_start_copies_the_pretrained_weights() -> None:
    config = tiny_hybrid(pretrain_steps=64)
    from edge_rl.agents.hybrid import pretrain

    dqn, ppo = pretrain(config)
    network = HybridNetwork(config.encoder, config.hybrid)
    warm_start(network, dqn, ppo, encoder_from="dqn")

    def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
        x, y = a.state_dict(), b.state_dict()
        return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)

    assert same(network.encoder, dqn.policy.q_net.features_extractor.encoder)
    assert same(network.q_head, dqn.policy.q_net.q_net)
    assert same(network.policy_head, ppo.policy.action_net)
    assert torch.equal(network.value_head[-1].weight, ppo.policy.value_net.weight)
    assert torch.equal(network.value_head[0].weight, ppo.policy.mlp_extractor.value_net[0].weight)
    warm_start(network, dqn, ppo, encoder_from="ppo")
    assert same(network.encoder, ppo.policy.features_extractor.encoder)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_trains_saves_and_loads(fusion: str, tmp_path) -> None:
    agent = train(tiny_hybrid(fusion), tmp_path / "h")
    loaded = load(tmp_path / "h")
    obs, _ = edge_rl.make_env().reset(seed=1)
    a, b = agent.node_scores(obs), loaded.node_scores(obs)
    assert set(a) == {"fused_logits", "probabilities", "q_values", "logits"}
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["probabilities"].sum() == pytest.approx(1.0, abs=1e-5)
    assert loaded.predict(obs)[0] == int(np.argmax(a["probabilities"]))


def test_the_card_procedure_records_its_steps_and_selection() -> None:
    agent = train_hybrid(tiny_hybrid(pretrain_steps=64))
    trained = agent.trained
    assert trained["pretrain_timesteps"]["dqn"] == 64 and trained["pretrain_timesteps"]["ppo"] == 64
    assert trained["timesteps"] == 128
    assert trained["total_env_steps"] == 64 + 64 + 128
    assert trained["selected"].startswith("best on validation seeds 20000-20000")
    assert [step for step, _ in trained["validation_returns"]] == [128]


def test_same_config_seed_and_threads_give_identical_weights_and_numbers() -> None:
    first, second = train_hybrid(tiny_hybrid("gating", seed=5)), train_hybrid(tiny_hybrid("gating", seed=5))
    a, b = first.network.state_dict(), second.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert evaluate(first, EVAL_SEEDS[:2]).equals(evaluate(second, EVAL_SEEDS[:2]))


def test_the_hybrid_learns_measurably_better_than_random() -> None:
    random_return = evaluate(make_heuristic("random"), EVAL_SEEDS)["return"].mean()
    # With the root path the hybrid climbs from its first steps: after 4,096 it is about 290
    # above random (random -258, hybrid +31); asked for a single step, about 50 above. The
    # bound lies between.
    config = TrainConfig(algo="hybrid", total_timesteps=4_096)
    agent = train_hybrid(config)
    assert evaluate(agent, EVAL_SEEDS)["return"].mean() > random_return + 200


def test_bad_hybrid_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="fusion must be one of"):
        HybridConfig(fusion="concat")
    with pytest.raises(ValueError, match="policy must be 'gnn' for the hybrid"):
        TrainConfig(algo="hybrid", policy="mlp")
    with pytest.raises(ValueError, match="pretrain_steps must be 0 unless algo is 'hybrid'"):
        TrainConfig(algo="dqn", pretrain_steps=10)


def test_given_pretrained_agents_give_the_same_hybrid_as_pretraining_itself() -> None:
    from edge_rl.agents.hybrid import pretrain

    config = tiny_hybrid(pretrain_steps=64, seed=2)
    own = train_hybrid(config)
    reused = train_hybrid(config, pretrained=pretrain(config))
    a, b = own.network.state_dict(), reused.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other_seed = pretrain(tiny_hybrid(pretrain_steps=64, seed=3))
    with pytest.raises(ValueError, match="was not trained with the config this hybrid would pre-train with"):
        train_hybrid(config, pretrained=other_seed)


@pytest.mark.parametrize("root_path", ROOT_PATHS)
def test_every_root_path_trains_the_card_procedure_and_its_checkpoint_predicts_the_same(
        root_path: str, tmp_path) -> None:
    """The hybrid with each encoder design: pre-training, warm start (the heads' weights for the
    raw inputs included), fine-tuning; saved and loaded, it scores padded and unpadded networks
    of another size as before it was saved."""
    from edge_rl.agents import load, train

    encoder = EncoderConfig(hidden=16, embed=32, head_hidden=(16,), root_path=root_path)
    agent = train(replace(tiny_hybrid("gating", pretrain_steps=64), encoder=encoder), tmp_path / "h")
    again = load(tmp_path / "h")
    assert again.config.encoder.root_path == root_path and again.name.endswith(
        "gating" if root_path == "none" else f"{root_path}-gating")
    for env in ({"n_sensors": 5, "n_fog": 3}, {"n_sensors": 5, "n_fog": 3, "max_nodes": 12}):
        obs = {k: v.numpy() for k, v in _obs(2, **env).items()}
        first, second = agent.node_scores(obs), again.node_scores(obs)
        assert all(np.array_equal(first[k], second[k]) for k in first)
