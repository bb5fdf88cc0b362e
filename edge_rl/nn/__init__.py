"""The neural pieces, on PyTorch and PyTorch Geometric: graph layer kinds (:mod:`~edge_rl.nn.layers`)
stacked into graph encoders (:mod:`~edge_rl.nn.encoders`), node-scoring heads
(:mod:`~edge_rl.nn.heads`), the hybrid's fusions (:mod:`~edge_rl.nn.fusions`), and the
Stable-Baselines3 policies built from them (:mod:`~edge_rl.nn.policies`)."""

from edge_rl.nn.encoders import INPUT_DIM, GraphEncoder, GraphFeatures, node_inputs
from edge_rl.nn.heads import NodeScorer

__all__ = ["INPUT_DIM", "GraphEncoder", "GraphFeatures", "NodeScorer", "node_inputs"]
