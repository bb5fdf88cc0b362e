"""The network: the card's 17 nodes, the original's links, the path table, the generator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_rl.config import EnvConfig
from edge_rl.envs.topology import Topology, make_topology


def test_default_topology_is_the_cards_17_nodes() -> None:
    topo = make_topology(EnvConfig())
    assert topo.n_nodes == 17
    assert np.bincount(topo.node_type).tolist() == [10, 6, 1]


def test_default_links_follow_the_original_layout() -> None:
    topo = make_topology(EnvConfig())
    fog, cloud = range(10, 16), 16
    for sensor in range(10):
        (parent,) = np.nonzero(topo.adjacency[sensor])[0]
        assert parent == 10 + sensor % 6
        assert topo.link_bandwidth_mbps[sensor, parent] == 50
        assert topo.link_latency_ms[sensor, parent] == 6
    for a in fog:
        for b in fog:
            assert topo.adjacency[a, b] == (a != b)
        assert (topo.link_bandwidth_mbps[a, cloud], topo.link_latency_ms[a, cloud]) == (200, 10)
    assert len(topo.edges) == 10 + 15 + 6
    assert np.array_equal(topo.adjacency, topo.adjacency.T)


def test_path_latency_bandwidth_and_hops_by_hand() -> None:
    topo = make_topology(EnvConfig())
    # sensor 0 -> its fog 10: one link.
    assert (topo.path_latency_ms[0, 10], topo.path_bandwidth_mbps[0, 10], topo.path_hops[0, 10]) == (6, 50, 1)
    # sensor 0 -> fog 11: 6 + 5 ms, narrowest link 50.
    assert (topo.path_latency_ms[0, 11], topo.path_bandwidth_mbps[0, 11], topo.path_hops[0, 11]) == (11, 50, 2)
    # sensor 0 -> cloud: 6 + 10 ms through its own fog.
    assert (topo.path_latency_ms[0, 16], topo.path_bandwidth_mbps[0, 16], topo.path_hops[0, 16]) == (16, 50, 2)
    # sensor 0 -> sensor 1 (on fog 11): 6 + 5 + 6.
    assert (topo.path_latency_ms[0, 1], topo.path_hops[0, 1]) == (17, 3)
    # fog -> cloud and fog -> fog keep their own bandwidth.
    assert topo.path_bandwidth_mbps[10, 16] == 200 and topo.path_bandwidth_mbps[10, 11] == 100
    assert np.all(np.diag(topo.path_latency_ms) == 0) and np.all(np.isinf(np.diag(topo.path_bandwidth_mbps)))


def test_generator_builds_other_sizes_and_seeds_change_the_layout() -> None:
    config = EnvConfig(n_sensors=20, n_fog=8, n_cloud=2, topology_seed=3)
    topo = make_topology(config)
    assert topo.n_nodes == 30
    assert np.bincount(topo.node_type).tolist() == [20, 8, 2]
    assert np.all(np.isfinite(topo.path_latency_ms))
    same = make_topology(config)
    other = make_topology(config.replace(topology_seed=4))
    assert np.array_equal(topo.adjacency, same.adjacency)
    assert not np.array_equal(topo.adjacency, other.adjacency)


def test_a_network_without_cloud_is_allowed() -> None:
    topo = make_topology(EnvConfig(n_cloud=0))
    assert topo.n_nodes == 16 and 2 not in topo.node_type


def test_links_to_missing_nodes_and_disconnected_graphs_are_refused() -> None:
    with pytest.raises(ValueError, match=r"link \(0, 5\) must join two different nodes in \[0, 2\]"):
        Topology.from_links(np.array([0, 1, 2]), {(0, 5): (1.0, 1.0)})
    with pytest.raises(ValueError, match="not connected"):
        Topology.from_links(np.array([0, 1, 2]), {(0, 1): (1.0, 1.0)})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_sensors", 0, "n_sensors must be an integer >= 1"),
        ("n_fog", 0, "n_fog must be an integer >= 1"),
        ("n_cloud", -1, "n_cloud must be an integer >= 0"),
        ("n_sensors", 2.5, "n_sensors must be an integer, got 2.5"),
        ("n_sensors", True, "n_sensors must be an integer, got True"),
        ("topology_seed", -3, "topology_seed must be None or an integer >= 0"),
        ("max_nodes", 5, r"max_nodes must be None or an integer >= n_sensors \+ n_fog \+ n_cloud = 17"),
        ("step_ms", 0.0, "step_ms must be > 0"),
        ("demand_mi", (10.0, 1.0), r"demand_mi must be a pair \(low, high\) with 0 < low <= high"),
    ],
)
def test_bad_topology_and_config_parameters_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EnvConfig(**{field: value})


def test_unknown_config_fields_are_refused_with_the_accepted_ones() -> None:
    with pytest.raises(TypeError, match=r"unknown EnvConfig field\(s\) \['n_sensor'\]; accepted: \["):
        EnvConfig().replace(n_sensor=3)


def test_config_round_trips_through_json() -> None:
    config = EnvConfig(n_sensors=4, topology_seed=7, demand_mi=(2.0, 20.0))
    assert EnvConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
