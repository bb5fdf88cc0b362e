"""Shared fixtures."""

from __future__ import annotations

import os

import pytest

from edge_rl.config import EnvConfig


@pytest.fixture
def tiny_config() -> EnvConfig:
    """One sensor, one fog node, one cloud; no background work; every task identical.

    Task: 1000 MI, 1000 KB (8 Mbit), 64 MB, deadline 400 ms, from sensor 0. This makes every
    quantity hand-computable.
    """
    return EnvConfig(
        n_sensors=1,
        n_fog=1,
        n_cloud=1,
        background_rate=0.0,
        warmup_steps=0,
        demand_mi=(1000.0, 1000.0),
        input_kb=(1000.0, 1000.0),
        memory_mb=(64.0, 64.0),
        deadline_ms=(400.0, 400.0),
    )


@pytest.fixture
def no_memory_sensor(tiny_config: EnvConfig) -> EnvConfig:
    """As ``tiny_config`` but tasks need 200 MB, more than a sensor's 128 MB."""
    return tiny_config.replace(memory_mb=(200.0, 200.0))




@pytest.fixture(autouse=True, scope="session")
def _no_cluster():
    """Tests start their own engines: a RAY_ADDRESS of the shell (a cluster) is not theirs."""
    address = os.environ.pop("RAY_ADDRESS", None)
    yield
    if address is not None:
        os.environ["RAY_ADDRESS"] = address
