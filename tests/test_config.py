"""Configs refuse values of the wrong type or range, naming the field and what is accepted."""

from __future__ import annotations

import math

import pytest

from edge_rl.config import (
    DQNConfig,
    EncoderConfig,
    EnvConfig,
    HybridConfig,
    LinkSpec,
    NodeTypeSpec,
    PPOConfig,
    TrainConfig,
    from_dict,
)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        # JSON's true is not a count, a seed or a width.
        (lambda: TrainConfig(seed=True), "seed must be an integer, got True"),
        (lambda: TrainConfig(total_timesteps=True), "total_timesteps must be an integer, got True"),
        (lambda: EncoderConfig(hidden=True), "hidden must be an integer, got True"),
        (lambda: EncoderConfig(head_hidden=(True,)), r"head_hidden must be a list of integers, got \(True,\)"),
        (lambda: EnvConfig(topology_seed=True), "topology_seed must be None or an integer, got True"),
        (lambda: HybridConfig(n_envs=True), "n_envs must be an integer, got True"),
        # Numbers must be finite numbers, not strings or NaN.
        (lambda: HybridConfig(q_weight=math.nan), "q_weight must be a finite number, got nan"),
        (lambda: HybridConfig(learning_rate="x"), "learning_rate must be a finite number, got 'x'"),
        (lambda: EnvConfig(step_ms=math.inf), "step_ms must be a finite number, got inf"),
        (lambda: EnvConfig(demand_mi=5), "demand_mi must be a list of 2 finite numbers, got 5"),
        (lambda: EnvConfig(demand_mi=(1.0, 2.0, 3.0)), "demand_mi must be a list of 2 finite numbers"),
        (lambda: NodeTypeSpec("x", 1.0, 1.0, 1.0, 0.1, 0.1, 0.1), "mips must be a finite number, got 'x'"),
        (lambda: LinkSpec(1.0, math.inf), "latency_ms must be a finite number, got inf"),
        (lambda: HybridConfig(select_best="no"), "select_best must be true or false, got 'no'"),
        # A section must be a config, not a string or a bare dict.
        (lambda: TrainConfig(encoder="gat"), "encoder must be an EncoderConfig"),
        (lambda: TrainConfig(env={"n_sensors": 3}), "env must be an EnvConfig"),
        # Ranges, in every section (DQN and PPO had none).
        (lambda: DQNConfig(batch_size=0), "batch_size must be an integer >= 1, got 0"),
        (lambda: DQNConfig(gamma=5), r"gamma must be in \[0, 1\], got 5"),
        (lambda: DQNConfig(learning_rate=0), "learning_rate must be a finite number > 0, got 0"),
        (lambda: DQNConfig(gradient_steps=0), "gradient_steps must be an integer >= 1, or -1"),
        (lambda: DQNConfig(exploration_final_eps=1.5), "exploration_final_eps must be in"),
        (lambda: PPOConfig(n_envs=0), "n_envs must be an integer >= 1, got 0"),
        (lambda: PPOConfig(n_steps=1.5), "n_steps must be an integer, got 1.5"),
        (lambda: PPOConfig(batch_size=1), "batch_size must be an integer >= 2, got 1"),
        (lambda: PPOConfig(clip_range=0.0), "clip_range must be a finite number > 0"),
        (lambda: HybridConfig(q_weight=-3.0), "q_weight must be a finite number >= 0, got -3.0"),
        (lambda: HybridConfig(gae_lambda=2.0), r"gae_lambda must be in \[0, 1\]"),
        (lambda: HybridConfig(learning_starts=-1), "learning_starts must be an integer >= 0"),
        # The load beyond the card's.
        (lambda: EnvConfig(load_scale=-1.0), "load_scale must be >= 0, got -1.0"),
        (lambda: EnvConfig(load_scale=5_000.0), r"background_rate x load_scale must be at most 10,000"),
        (lambda: EnvConfig(load_trace="borg"), r"load_trace must be None or one of \['alibaba2018', 'google2019', "),
        (lambda: EnvConfig(load_trace=3), "load_trace must be None or a string, got 3"),
    ],
)
def test_bad_values_are_refused_naming_the_field(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


SIZES_PAST_THEIR_BOUND = [
    # Sizes that would allocate more than a machine has (or take minutes to build) are refused
    # when the config is made, before anything is built; the error names the field and its bound.
    (lambda: EnvConfig(n_sensors=10**7), r"n_sensors must be at most 1,024 \(edge_rl's bound on it\), got 10000000"),
    (lambda: EnvConfig(n_sensors=600, n_fog=600), "n_sensors \\+ n_fog \\+ n_cloud must be at most 1,024"),
    (lambda: EnvConfig(max_nodes=5000), "max_nodes must be at most 1,024"),
    (lambda: EnvConfig(background_rate=1e12), "background_rate must be at most 10,000"),
    (lambda: EnvConfig(warmup_steps=10**9), "warmup_steps must be at most 10,000"),
    (lambda: EncoderConfig(hidden=200_000), "hidden must be at most 4,096 \\(edge_rl's bound on it\\), got 200000"),
    (lambda: EncoderConfig(embed=10**6), "embed must be at most 4,096"),
    (lambda: EncoderConfig(layers=100_000), "layers must be at most 32"),
    (lambda: EncoderConfig(gat_heads=1000), "gat_heads must be at most 16"),
    (lambda: EncoderConfig(head_hidden=(64, 10**6)), "head_hidden must be at most 32 widths of at most 4,096 each"),
    (lambda: EncoderConfig(head_hidden=(8,) * 100), "head_hidden must be at most 32 widths"),
    (lambda: DQNConfig(buffer_size=10**10), "buffer_size must be at most 10,000,000"),
    (lambda: DQNConfig(batch_size=10**8), "batch_size must be at most 65,536"),
    (lambda: PPOConfig(n_envs=10_000), "n_envs must be at most 256"),
    (lambda: PPOConfig(n_steps=10**6, n_envs=100), "n_steps x n_envs must be at most 10,000,000"),
    (lambda: HybridConfig(buffer_size=10**10), "buffer_size must be at most 10,000,000"),
    (lambda: HybridConfig(n_steps=10**9), "n_steps must be at most 10,000,000"),
    (lambda: TrainConfig(threads=10**6), "threads must be at most 1,024"),
]


@pytest.mark.parametrize(("build", "message"), SIZES_PAST_THEIR_BOUND)
def test_every_size_is_bounded_naming_the_field_and_the_bound(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_the_bounds_admit_every_size_a_run_uses() -> None:
    EnvConfig(n_sensors=1_000, n_fog=23, n_cloud=1, max_nodes=1_024)
    EncoderConfig(kind="gat", hidden=4_096, embed=4_096, layers=32, gat_heads=16, head_hidden=(4_096,) * 32)
    PPOConfig(n_steps=10_000_000 // 256, n_envs=256, batch_size=65_536)
    HybridConfig(buffer_size=10_000_000, n_envs=256)


def test_every_default_and_the_sb3_special_values_are_accepted() -> None:
    for config in (TrainConfig(), DQNConfig(gradient_steps=-1), HybridConfig(q_weight=0, learning_starts=0),
                   EnvConfig(topology_seed=None, max_nodes=20), PPOConfig(learning_rate=1)):
        assert config == config  # built without error
    assert DQNConfig(learning_rate=1).learning_rate == 1  # an integer is a number


def test_from_dict_round_trips_and_refuses_a_section_of_the_wrong_type() -> None:
    config = TrainConfig(algo="hybrid", encoder=EncoderConfig(kind="sage", head_hidden=(32, 16)), seed=3)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="encoder must be an EncoderConfig"):
        TrainConfig.from_dict({"encoder": "gat"})


def test_from_dict_can_require_every_field() -> None:
    """A checkpoint names every field: one missing is not filled in with today's default."""
    data = TrainConfig().to_dict()
    del data["hybrid"]["q_weight"]
    assert from_dict(TrainConfig, data) == TrainConfig()  # lenient: the default fills it in
    with pytest.raises(TypeError, match=r"HybridConfig lacks field\(s\) \['q_weight'\]"):
        from_dict(TrainConfig, data, complete=True)
