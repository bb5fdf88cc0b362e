"""The IoT network: nodes, links, and the paths between every pair of nodes.

Nodes are numbered sensors first, then fog nodes, then clouds. Paths are the lowest-latency
routes (scipy's Dijkstra); a path's bandwidth is the narrowest link on it. Both are computed
once per topology, when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import shortest_path

from edge_rl.config import EnvConfig


@dataclass(frozen=True)
class Topology:
    """An immutable network and its all-pairs path table.

    Attributes:
        node_type: ``(N,)`` int, 0 sensor / 1 fog / 2 cloud.
        adjacency: ``(N, N)`` 0/1 float32, symmetric, zero diagonal.
        link_bandwidth_mbps, link_latency_ms: ``(N, N)``, 0 where there is no link.
        path_latency_ms: ``(N, N)`` sum of link latencies on the lowest-latency path (0 on the
            diagonal).
        path_bandwidth_mbps: ``(N, N)`` narrowest link on that path (``inf`` on the diagonal:
            a task that stays on its node is not transferred).
        path_hops: ``(N, N)`` number of links on that path.
    """

    node_type: np.ndarray
    adjacency: np.ndarray
    link_bandwidth_mbps: np.ndarray
    link_latency_ms: np.ndarray
    path_latency_ms: np.ndarray
    path_bandwidth_mbps: np.ndarray
    path_hops: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.node_type.shape[0])

    @property
    def edges(self) -> list[tuple[int, int]]:
        """Undirected links as ``(i, j)`` pairs with ``i < j``."""
        rows, cols = np.nonzero(np.triu(self.adjacency))
        return [(int(i), int(j)) for i, j in zip(rows, cols)]

    @classmethod
    def from_links(
        cls, node_type: np.ndarray, links: dict[tuple[int, int], tuple[float, float]]
    ) -> Topology:
        """Build a topology from ``{(i, j): (bandwidth_mbps, latency_ms)}``.

        Raises:
            ValueError: if a link names a node that does not exist, or the graph is not connected.
        """
        node_type = np.asarray(node_type, dtype=np.int64)
        n = node_type.shape[0]
        bandwidth = np.zeros((n, n))
        latency = np.zeros((n, n))
        for (i, j), (bw, lat) in links.items():
            if not (0 <= i < n and 0 <= j < n) or i == j:
                raise ValueError(f"link ({i}, {j}) must join two different nodes in [0, {n - 1}]")
            bandwidth[i, j] = bandwidth[j, i] = bw
            latency[i, j] = latency[j, i] = lat
        dist, predecessors = shortest_path(
            csr_array(latency), method="D", directed=False, return_predecessors=True
        )
        if not np.all(np.isfinite(dist)):
            raise ValueError("the topology is not connected: every node must reach every other")
        path_bw = np.full((n, n), np.inf)
        hops = np.zeros((n, n), dtype=np.int64)
        # Read each path off scipy's predecessor matrix (walking from target back to source).
        for source in range(n):
            for target in range(n):
                node = target
                while node != source:
                    previous = predecessors[source, node]
                    path_bw[source, target] = min(path_bw[source, target], bandwidth[previous, node])
                    hops[source, target] += 1
                    node = previous
        return cls(
            node_type=node_type,
            adjacency=(bandwidth > 0).astype(np.float32),
            link_bandwidth_mbps=bandwidth,
            link_latency_ms=latency,
            path_latency_ms=dist,
            path_bandwidth_mbps=path_bw,
            path_hops=hops,
        )


def make_topology(config: EnvConfig) -> Topology:
    """The sensor / fog / cloud network described by ``config``.

    Each sensor is linked to one fog node: fog ``i mod n_fog`` when ``config.topology_seed``
    is None (the original system's layout), otherwise a fog node drawn uniformly with that seed.
    Fog nodes are fully meshed, and every fog node is linked to every cloud.
    """
    s, f, c = config.n_sensors, config.n_fog, config.n_cloud
    node_type = np.array([0] * s + [1] * f + [2] * c)
    fog = np.arange(s, s + f)
    cloud = np.arange(s + f, s + f + c)
    if config.topology_seed is None:
        parent = fog[np.arange(s) % f]
    else:
        parent = np.random.default_rng(config.topology_seed).choice(fog, size=s)

    sf, ff, fc = config.sensor_fog_link, config.fog_fog_link, config.fog_cloud_link
    links: dict[tuple[int, int], tuple[float, float]] = {}
    for sensor, p in enumerate(parent):
        links[(sensor, int(p))] = (sf.bandwidth_mbps, sf.latency_ms)
    for a in fog:
        for b in fog[fog > a]:
            links[(int(a), int(b))] = (ff.bandwidth_mbps, ff.latency_ms)
        for k in cloud:
            links[(int(a), int(k))] = (fc.bandwidth_mbps, fc.latency_ms)
    return Topology.from_links(node_type, links)
