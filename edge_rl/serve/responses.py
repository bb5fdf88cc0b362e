"""The serving API's answers (pydantic): what ``/predict``, ``/batch-predict``, ``/models`` and
``/health`` return, each field described for the OpenAPI documentation. The requests, with the
range of every field, are :mod:`edge_rl.serve.schemas`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PredictResponse(BaseModel):
    """The card's answer, plus the per-node scores the choice was made from."""

    model_type: str
    model: str = Field(description="The checkpoint's stem (GET /models gives its path) or the rule that answered.")
    selected_node: int = Field(description="Index of the chosen node in network_state.nodes.")
    confidence: float | None = Field(
        description="Probability of the chosen node under the model's action distribution (the "
        "fused distribution for hybrids, the policy for PPO). null for policies that have no "
        "distribution: DQN acts greedily on Q-values, and the fixed rules are deterministic "
        "(random: 1 / the number of nodes it draws from)."
    )
    q_values: list[float] | None = Field(
        description="Q-value of each node (expected discounted return), for models with a Q head "
        "(dqn and the hybrids); null otherwise."
    )
    node_scores: list[float | None] = Field(
        description="One score per node, higher is preferred; the chosen node has the highest. "
        "score_kind says what it is. null marks a node the policy may not choose."
    )
    score_kind: str = Field(description="What node_scores are, e.g. 'probability' or 'q_value'.")
    processing_time_ms: float = Field(
        description="Time in the server from the validated request to the answer: conversion, "
        "forward pass and formatting (HTTP and JSON parsing excluded). Requests that arrive "
        "together share one forward pass. In /batch-predict, an item's own conversion and "
        "formatting plus the forward pass of its model's group (which it shares with the group's "
        "other items); the whole call's time is the batch's processing_time_ms."
    )
    clipped: list[str] = Field(
        default_factory=list,
        description="The request's fields whose values were past the cap the model reads them at, and so "
        "were clipped to it (e.g. network_state.nodes[3].bandwidth); empty when none was.",
    )


class BatchPredictResponse(BaseModel):
    predictions: list[PredictResponse] = Field(description="One answer per request, in order.")
    processing_time_ms: float = Field(description="Time in the server from the validated batch to the answer, "
                                      "every group's forward pass included (HTTP and JSON parsing excluded).")


class ModelInfo(BaseModel):
    """A policy the server can run, and how well it did in ``results/`` (never typed in)."""

    model_type: str
    kind: str = Field(description="'learned' (a trained checkpoint) or 'rule' (a fixed heuristic).")
    description: str
    available: bool
    error: str | None = Field(description="Why the policy is unavailable (e.g. a missing checkpoint).")
    checkpoint: str | None = Field(description="The checkpoint's stem in its models folder.")
    checkpoint_path: str | None = Field(
        default=None, description="Where the server reads it: the card's models folder, or the budget study's "
        "(<results>/study/models), then the stem (.json and .safetensors).")
    selection: str | None = Field(description="Why this checkpoint answers: the training seed (and, for the "
                                  "unsuffixed hybrid, the variant) with the best validation return; never "
                                  "chosen on test episodes.")
    config_name: str | None = Field(description="The checkpoint's training config, e.g. hybrid-gcn-weighted_sum.")
    confidence: str = Field(description="What the answer's confidence is for this policy.")
    score_kind: str
    performance: dict[str, Any] | None = Field(
        description="The policy's row of the results table: every training seed of this variant "
        "on the same test episodes (source and row named). null if results/ has no such table."
    )
    checkpoint_performance: dict[str, Any] | None = Field(
        description="The served checkpoint's own test episodes (results/runs/<checkpoint>.csv, the budget "
        "study's in results/study/runs), "
        "averaged; null for rules and when the file is missing."
    )


class Health(BaseModel):
    status: str = Field(description="'ok' when every policy loaded, 'degraded' otherwise (still serving the rest).")
    models_loaded: list[str]
    models_unavailable: dict[str, str]
    models_dir: str
    torch_threads: int
    version: str
