"""DQN and PPO baselines: masks, other topology sizes, determinism, and that training helps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edge_rl
from edge_rl.agents import Agent, baselines, train
from edge_rl.agents.baselines import build_policy
from edge_rl.config import DQNConfig, EncoderConfig, EnvConfig, PPOConfig, TrainConfig
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.evaluation import evaluate

EVAL_SEEDS = list(range(10_000, 10_010))
SMALL = EncoderConfig(hidden=16, embed=32, head_hidden=(16,))


def tiny(algo: str, policy: str = "gnn", kind: str = "gcn", **changes) -> TrainConfig:
    """A config that trains in a second or two."""
    return TrainConfig(
        algo=algo,
        policy=policy,
        encoder=EncoderConfig(kind=kind, hidden=16, embed=32, head_hidden=(16,)),
        dqn=DQNConfig(learning_starts=100, buffer_size=2_000),
        ppo=PPOConfig(n_steps=32, n_envs=4, batch_size=32, n_epochs=2),
        total_timesteps=256,
        **changes,
    )


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_padded_nodes_get_no_probability_and_are_never_chosen(algo: str) -> None:
    config = tiny(algo, env=EnvConfig(n_sensors=4, n_fog=2, n_cloud=1, max_nodes=12))
    agent = train(config)
    env = edge_rl.make_env(config.env)
    obs, _ = env.reset(seed=0)
    for _ in range(30):
        scores = agent.node_scores(obs)
        key = "q_values" if algo == "dqn" else "logits"
        assert np.all(scores[key][7:] == np.finfo(np.float32).min)
        if algo == "ppo":
            assert np.all(scores["probabilities"][7:] == 0)
            assert scores["probabilities"].sum() == pytest.approx(1.0, abs=1e-6)
            assert all(agent.predict(obs, deterministic=False)[0] < 7 for _ in range(20))
        action, _ = agent.predict(obs)
        assert action < 7
        obs, *_ = env.step(action)


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_a_graph_policy_trained_on_17_nodes_runs_unchanged_on_30(algo: str) -> None:
    agent = train(tiny(algo))
    bigger = EnvConfig(n_sensors=20, n_fog=8, n_cloud=2, topology_seed=1)
    rows = evaluate(agent, [10_000, 10_001], bigger)
    assert (rows["steps"] == 100).all()
    obs, _ = edge_rl.make_env(bigger).reset(seed=0)
    assert next(iter(agent.node_scores(obs).values())).shape == (30,)


def test_mlp_policies_refuse_another_size_clearly() -> None:
    agent = train(tiny("dqn", policy="mlp"))
    obs, _ = edge_rl.make_env(n_sensors=20).reset(seed=0)
    with pytest.raises(ValueError, match="MLP policy for 17 nodes; it cannot read an observation of 27 nodes"):
        agent.predict(obs)


def test_mlp_agents_flatten_exactly_as_gymnasium_does() -> None:
    agent = train(tiny("ppo", policy="mlp"))
    env, flat_env = edge_rl.make_env(), edge_rl.make_env(flat=True)
    obs, _ = env.reset(seed=3)
    flat, _ = flat_env.reset(seed=3)
    expected = agent.policy.predict(flat, deterministic=True)[0]
    assert agent.predict(obs)[0] == expected


def test_batched_and_single_predictions_agree() -> None:
    agent = train(tiny("ppo", kind="sage"))
    env = edge_rl.make_env()
    observations = [env.reset(seed=s)[0] for s in range(5)]
    batch = {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    assert agent.predict(batch)[0].tolist() == [int(agent.predict(o)[0]) for o in observations]


@pytest.mark.parametrize(("algo", "kind"), [("dqn", "gcn"), ("ppo", "gat"), ("dqn", "hybrid")])
def test_same_config_seed_and_threads_give_bit_identical_weights_and_numbers(algo: str, kind: str) -> None:
    first, second = train(tiny(algo, kind=kind, seed=3)), train(tiny(algo, kind=kind, seed=3))
    a, b = first.policy.state_dict(), second.policy.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert evaluate(first, EVAL_SEEDS[:3]).equals(evaluate(second, EVAL_SEEDS[:3]))
    other = train(tiny(algo, kind=kind, seed=4)).policy.state_dict()
    assert not all(torch.equal(a[k], other[k]) for k in a)


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_foreach_adam_trains_bit_identically_to_pytorchs_default_loop(algo: str, monkeypatch) -> None:
    """The baselines use Adam's fused (foreach) update for speed; it must not change a weight."""
    config = tiny(algo, seed=5)
    fused = train(config).policy.state_dict()
    kwargs_of = baselines._algorithm_kwargs

    def default_adam(config: TrainConfig):
        algorithm, policy, kwargs = kwargs_of(config)
        optimizer = kwargs["policy_kwargs"]["optimizer_kwargs"]
        assert optimizer.pop("foreach") is True
        return algorithm, policy, kwargs

    monkeypatch.setattr(baselines, "_algorithm_kwargs", default_adam)
    model = baselines.make_model(config)
    assert model.policy.optimizer.defaults["foreach"] is None  # PyTorch's choice: the loop on CPU
    assert model.policy.optimizer.defaults["eps"] == (1e-5 if algo == "ppo" else 1e-8)  # SB3's
    looped = train(config).policy.state_dict()
    assert all(torch.equal(fused[k], looped[k]) for k in fused)


def test_the_card_hyperparameters_are_the_defaults() -> None:
    dqn, ppo = DQNConfig(), PPOConfig()
    assert (dqn.learning_rate, dqn.buffer_size, dqn.learning_starts, dqn.batch_size) == (1e-4, 100_000, 1_000, 64)
    assert (dqn.tau, dqn.gamma, dqn.train_freq, dqn.target_update_interval) == (0.005, 0.99, 4, 500)
    assert (dqn.exploration_fraction, dqn.exploration_initial_eps, dqn.exploration_final_eps) == (0.3, 1.0, 0.05)
    assert (ppo.learning_rate, ppo.batch_size, ppo.n_epochs, ppo.gamma, ppo.gae_lambda) == (3e-4, 64, 10, 0.99, 0.95)
    assert (ppo.clip_range, ppo.ent_coef, ppo.vf_coef, ppo.max_grad_norm) == (0.2, 0.01, 0.5, 0.5)
    assert ppo.n_steps * ppo.n_envs == 2048 * 4  # the original's 8192 transitions per update
    model_policy = build_policy(TrainConfig(algo="dqn"))
    assert model_policy.q_net.features_extractor.encoder.config == EncoderConfig()
    assert TrainConfig().total_timesteps == 10_000


# ------------------------------------------------------------------ training helps


@pytest.fixture(scope="module")
def random_return() -> float:
    return float(evaluate(make_heuristic("random"), EVAL_SEEDS)["return"].mean())


def test_dqn_gnn_learns_measurably_better_than_random(random_return: float) -> None:
    agent = train(TrainConfig(algo="dqn", total_timesteps=5_000, seed=0))
    assert evaluate(agent, EVAL_SEEDS)["return"].mean() > random_return + 50


def test_ppo_gnn_learns_measurably_better_than_random(random_return: float) -> None:
    # Two updates of 8 x 512 transitions instead of one of 8 x 1024: a CI-sized budget.
    agent = train(TrainConfig(algo="ppo", total_timesteps=8_192, ppo=PPOConfig(n_steps=512), seed=0))
    assert evaluate(agent, EVAL_SEEDS)["return"].mean() > random_return + 50


def test_agents_name_themselves_after_their_config() -> None:
    assert isinstance(train(tiny("dqn", policy="mlp")), Agent)
    assert tiny("ppo", kind="gat").name == "ppo-gnn-gat-root" and tiny("dqn", policy="mlp").name == "dqn-mlp"


def test_agent_outputs_equal_sb3s_own_forward_passes() -> None:
    obs, _ = edge_rl.make_env().reset(seed=2)
    dqn = train(tiny("dqn"))
    with torch.no_grad():
        tensors = {k: torch.as_tensor(v[None]) for k, v in obs.items()}
        expected_q = dqn.policy.q_net(tensors)[0].numpy()
    np.testing.assert_allclose(dqn.node_scores(obs)["q_values"], expected_q, rtol=1e-6)
    ppo = train(tiny("ppo"))
    with torch.no_grad():
        expected_p = ppo.policy.get_distribution(tensors).distribution.probs[0].numpy()
    np.testing.assert_allclose(ppo.node_scores(obs)["probabilities"], expected_p, rtol=1e-5, atol=1e-7)


def test_masked_dqns_greedy_predict_is_sb3s_q_network_argmax() -> None:
    """MaskedDQN.predict calls the Q network's modules directly (for speed): it must choose
    what SB3's own ``q_net(obs).argmax()`` chooses, for one observation and for a batch."""
    model = baselines.make_model(tiny("dqn", seed=1))
    model.learn(200)
    env = edge_rl.make_env()
    observations = []
    obs, _ = env.reset(seed=7)
    for step in range(12):
        observations.append(obs)
        obs, *_ = env.step(step % env.unwrapped.n_nodes)
    batch = {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    with torch.no_grad():
        expected = model.q_net({k: torch.as_tensor(v) for k, v in batch.items()}).argmax(dim=-1).numpy()
    assert np.array_equal(model.predict(batch, deterministic=True)[0], expected)
    assert [int(model.predict(o, deterministic=True)[0]) for o in observations] == expected.tolist()


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_training_leaves_nothing_in_the_temp_folder(algo: str, tmp_path, monkeypatch) -> None:
    """SB3's default logger makes an empty SB3-<date> directory per run; ours makes none."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    train(tiny(algo))
    assert list(tmp_path.iterdir()) == []
