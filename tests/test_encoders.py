"""Dense graph encoders: equal to PyG's sparse layers, blind to padding, any graph size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.nn import GATConv, GCNConv, SAGEConv

import edge_rl
from edge_rl.config import ROOT_PATHS, EncoderConfig
from edge_rl.nn.encoders import INPUT_DIM, GraphEncoder, node_inputs
from edge_rl.nn.heads import NodeScorer
from edge_rl.registry import encoder_kinds


def _batch(configs: list[dict], max_nodes: int | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    observations = []
    for i, overrides in enumerate(configs):
        env = edge_rl.make_env(max_nodes=max_nodes, **overrides)
        obs, _ = env.reset(seed=seed + i)
        for _ in range(3):  # a loaded network, not the first state
            obs, *_ = env.step(env.unwrapped.n_nodes - 1)
        observations.append(obs)
    return {k: torch.as_tensor(np.stack([o[k] for o in observations])) for k in observations[0]}


def _sparse_copy(dense: torch.nn.Module, kind: str, heads: int) -> torch.nn.Module:
    """PyG's sparse layer with the dense layer's weights."""
    if kind == "gcn":
        sparse = GCNConv(dense.in_channels, dense.out_channels)
        sparse.lin.weight.data.copy_(dense.lin.weight)
        sparse.bias.data.copy_(dense.bias)
    elif kind == "gat":
        sparse = GATConv(dense.in_channels, dense.out_channels, heads=heads, concat=False)
        sparse.lin.weight.data.copy_(dense.lin.weight)
        sparse.att_src.data.copy_(dense.att_src.view_as(sparse.att_src))
        sparse.att_dst.data.copy_(dense.att_dst.view_as(sparse.att_dst))
        sparse.bias.data.copy_(dense.bias)
    else:  # sage: PyG puts the bias on the neighbour term in one, on the root term in the other
        sparse = SAGEConv(dense.in_channels, dense.out_channels)
        sparse.lin_l.weight.data.copy_(dense.lin_rel.weight)
        sparse.lin_l.bias.data.copy_(dense.lin_root.bias)
        sparse.lin_r.weight.data.copy_(dense.lin_root.weight)
    return sparse


@pytest.mark.parametrize("kind", ["gcn", "gat", "sage"])
def test_dense_encoder_equals_pyg_sparse_layers_with_copied_weights(kind: str) -> None:
    torch.manual_seed(0)
    config = EncoderConfig(kind=kind, root_path="none")  # the plain stack: PyG's layers alone
    encoder = GraphEncoder(config)
    # Two graphs of different sizes, padded to 20 slots.
    obs = _batch([{}, {"n_sensors": 2, "n_fog": 2, "n_cloud": 0}], max_nodes=20)
    dense_nodes = encoder(obs).nodes
    sparse_layers = [_sparse_copy(conv, kind, config.gat_heads) for conv in encoder.stacks[0].convs]
    x_all = node_inputs(obs)
    for b in range(2):
        real = obs["node_mask"][b] > 0
        x = x_all[b, real]
        edge_index = obs["adjacency"][b][real][:, real].nonzero().t()
        for i, layer in enumerate(sparse_layers):
            x = layer(x, edge_index)
            if i < len(sparse_layers) - 1:
                x = torch.relu(x)
        torch.testing.assert_close(dense_nodes[b, real], x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("kind", "heads", "option"), [
    ("gcn", 1, None), ("sage", 1, None), ("gat", 1, None), ("gat", 2, None),
    # Non-default PyG options: the stack must honour them (by running PyG's forward).
    ("sage", 1, ("normalize", True)), ("gat", 1, ("negative_slope", 0.5)),
])
def test_stack_equals_pyg_dense_layers_chained(kind: str, heads: int, option: tuple | None) -> None:
    """The stack prepares the graph operator once instead of once per layer; it must compute
    what PyG's own dense layers compute (bit for bit for GCN and GraphSAGE, whose arithmetic
    is unchanged), in the forward pass and in the gradients."""
    torch.manual_seed(2)
    encoder = GraphEncoder(EncoderConfig(kind=kind, gat_heads=heads, root_path="none"))
    stack = encoder.stacks[0]
    if option is not None:
        for conv in stack.convs:
            setattr(conv, *option)
    for conv in stack.convs:  # PyG initialises biases to zero, which would hide a missing bias
        torch.nn.init.normal_(conv.bias if kind != "sage" else conv.lin_root.bias)
    obs = _batch([{}, {"n_sensors": 2, "n_fog": 2, "n_cloud": 0}], max_nodes=20)
    adj = obs["adjacency"]
    loops = torch.maximum(adj, torch.eye(adj.shape[-1]))
    x = node_inputs(obs).requires_grad_()

    ours = stack(x, adj, None if kind == "sage" else loops)
    (ours.square().sum()).backward()
    ours_grads = [p.grad.clone() for p in stack.parameters()] + [x.grad.clone()]
    stack.zero_grad()
    x.grad = None

    expected = x
    for i, conv in enumerate(stack.convs):
        expected = conv(expected, adj) if kind == "sage" else conv(expected, loops, add_loop=False)
        expected = torch.relu(expected) if i < len(stack.convs) - 1 else expected
    (expected.square().sum()).backward()
    pyg_grads = [p.grad.clone() for p in stack.parameters()] + [x.grad.clone()]

    if kind == "gat" and heads == 1:  # reordered arithmetic: equal to float rounding
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
        # Rounding is relative to the gradients' scale: the last layer's a_dst has a gradient
        # of exactly 0 in exact arithmetic (a per-target constant cancels in the softmax), so
        # both sides hold float noise there.
        scale = max(g.abs().max().item() for g in pyg_grads)
        for a, b in zip(ours_grads, pyg_grads):
            torch.testing.assert_close(a, b, atol=1e-6 * scale, rtol=1e-4)
    else:
        assert torch.equal(ours, expected)
        assert all(torch.equal(a, b) for a, b in zip(ours_grads, pyg_grads))


@pytest.mark.parametrize("kind", encoder_kinds())
def test_padding_changes_nothing_for_the_real_nodes(kind: str) -> None:
    torch.manual_seed(1)
    encoder = GraphEncoder(EncoderConfig(kind=kind))
    plain = encoder(_batch([{}]))
    padded = encoder(_batch([{}], max_nodes=25))
    torch.testing.assert_close(padded.nodes[:, :17], plain.nodes, atol=1e-5, rtol=1e-5)
    assert torch.all(padded.nodes[:, 17:] == 0)
    torch.testing.assert_close(padded.graph, plain.graph, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", encoder_kinds())
def test_one_encoder_runs_on_any_graph_size(kind: str) -> None:
    encoder = GraphEncoder(EncoderConfig(kind=kind, embed=32))
    for overrides, n in (({}, 17), ({"n_sensors": 20, "n_fog": 8, "n_cloud": 2}, 30), ({"n_sensors": 3, "n_fog": 1}, 5)):
        out = encoder(_batch([overrides]))
        assert out.nodes.shape == (1, n, 32)
        assert out.graph.shape == (1, 32)
        assert torch.isfinite(out.nodes).all()


def test_node_inputs_one_hot_the_type_and_append_the_task() -> None:
    obs = _batch([{}])
    x = node_inputs(obs)
    assert x.shape == (1, 17, INPUT_DIM)
    assert torch.equal(x[0, :, 6:9].argmax(-1), obs["nodes"][0, :, 6].long())
    assert torch.equal(x[0, 5, 9:], obs["task"][0])


def test_card_widths_by_default() -> None:
    encoder = GraphEncoder()
    convs = encoder.stacks[0].convs
    assert [(c.in_channels, c.out_channels) for c in convs] == [(INPUT_DIM, 64), (64, 64), (64, 128)]


def test_node_scorer_equals_one_layer_on_the_concatenation() -> None:
    from edge_rl.nn.encoders import GraphFeatures
    from edge_rl.nn.heads import NodeScorer

    torch.manual_seed(0)
    scorer = NodeScorer(8, (5, 4))
    nodes, graph = torch.randn(2, 3, 8), torch.randn(2, 8)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    weight = torch.cat([scorer.node_in.weight, scorer.graph_in.weight], dim=1)
    concat = torch.cat([nodes, graph.unsqueeze(1).expand(-1, 3, -1)], dim=-1)
    first = torch.nn.functional.linear(concat, weight, scorer.graph_in.bias)
    expected = scorer.out(scorer.rest(first)).squeeze(-1)
    scores = scorer(GraphFeatures(nodes, graph, mask))
    torch.testing.assert_close(scores[mask > 0], expected[mask > 0])
    assert scores[0, 2] == torch.finfo(torch.float32).min


# ---------------------------------------------------------------------- root paths


def _complete_graph(n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    """n fog nodes, every pair linked, each with features of its own: every node's neighbourhood
    (itself included) is the whole graph, so a plain GCN layer gives every node the same output."""
    rng = np.random.default_rng(seed)
    nodes = np.zeros((1, n, 7), dtype=np.float32)
    nodes[0, :, :6] = rng.random((n, 6))
    nodes[0, :, 6] = 1.0
    adjacency = np.ones((1, n, n), dtype=np.float32) - np.eye(n, dtype=np.float32)
    return {"nodes": torch.as_tensor(nodes), "adjacency": torch.as_tensor(adjacency),
            "node_mask": torch.ones(1, n), "task": torch.full((1, 4), 0.5)}


@pytest.mark.parametrize("root_path", ROOT_PATHS)
def test_a_root_path_lets_the_heads_tell_nodes_apart_that_the_plain_gcn_averages_together(root_path: str) -> None:
    """On a complete graph the plain GCN stack gives every node the same embedding, whatever
    its own features, so no head can tell them apart: the over-smoothing in its purest form.
    Jumping knowledge concatenates those same averages and cannot either; a root weight, a
    residual path or the raw inputs at the heads can."""
    torch.manual_seed(0)
    config = EncoderConfig(kind="gcn", root_path=root_path)
    encoder, head = GraphEncoder(config), NodeScorer.for_encoder(config)
    with torch.no_grad():
        scores = head(encoder(_complete_graph()))[0]
    spread = (scores.max() - scores.min()).item()
    if root_path in ("none", "jk"):
        assert spread < 1e-5
    else:
        assert spread > 1e-3


@pytest.mark.parametrize("kind", ["gcn", "gat", "sage", "hybrid"])
@pytest.mark.parametrize("root_path", [r for r in ROOT_PATHS if r != "none"])
def test_gradients_reach_every_weight_of_the_root_path(kind: str, root_path: str) -> None:
    torch.manual_seed(0)
    config = EncoderConfig(kind=kind, root_path=root_path, hidden=16, embed=16, head_hidden=(16,))
    encoder, head = GraphEncoder(config), NodeScorer.for_encoder(config)
    head(encoder(_batch([{}]))).sum().backward()
    root_parameters = {name: p for name, p in [*encoder.named_parameters(), *head.named_parameters()]
                       if any(part in name for part in ("roots", "shortcuts", "input", "jump"))}
    assert root_parameters or (kind == "sage" and root_path == "root")  # GraphSAGE has its own root weight
    for name, parameter in root_parameters.items():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("root_path", ROOT_PATHS)
def test_every_root_path_is_blind_to_padding_and_runs_on_any_size(root_path: str) -> None:
    torch.manual_seed(1)
    config = EncoderConfig(kind="gcn", root_path=root_path)
    encoder, head = GraphEncoder(config), NodeScorer.for_encoder(config)
    plain, padded = _batch([{}]), _batch([{}], max_nodes=25)
    torch.testing.assert_close(head(encoder(padded))[:, :17], head(encoder(plain)), atol=1e-5, rtol=1e-5)
    for overrides, n in (({"n_sensors": 20, "n_fog": 8, "n_cloud": 2}, 30), ({"n_sensors": 3, "n_fog": 1}, 5)):
        scores = head(encoder(_batch([overrides])))
        assert scores.shape == (1, n) and torch.isfinite(scores).all()
