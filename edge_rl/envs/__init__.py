"""The environment family: the IoT network (:mod:`~edge_rl.envs.topology`), the task-placement
environment ``edge_rl/IoTEdge-v0`` (:mod:`~edge_rl.envs.iot_edge`, vectorised in
:mod:`~edge_rl.envs.vector`; both run the one simulator, :mod:`~edge_rl.envs.dynamics`, and the one
observation encoding, :mod:`~edge_rl.envs.observation`) and the fixed placement rules that run on
it (:mod:`~edge_rl.envs.heuristics`). Nothing here imports torch."""

from edge_rl.envs.iot_edge import IoTEdgeEnv, make_env
from edge_rl.envs.topology import Topology, make_topology

__all__ = ["IoTEdgeEnv", "Topology", "make_env", "make_topology"]
