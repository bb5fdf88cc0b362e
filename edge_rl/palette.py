"""The project's colours: one per policy, the same in every figure of the notebooks and the
model card and in the dashboard's replays, and one per node type.

It sits at the package's top, below both the study pipeline (``edge_rl.experiments.analyse.figures``
draws with it) and serving (the dashboard's replays colour each policy as the results figures
do), so that a policy keeps its colour without serving importing the study pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

import seaborn as sns

from edge_rl.catalogue import CARD_VARIANTS, with_root_path
from edge_rl.envs.heuristics import HEURISTICS

NODE_COLOURS = {"sensor": "#59a14f", "fog": "#4e79a7", "cloud": "#e15759"}
"""Each node type's colour in drawings of the network."""


def colours(names: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """One colour per policy name, the same in every figure: each of the card's variants a hue
    of its own (its root-path twins a lighter shade of it), the fixed rules greys (the best
    rule, greedy earliest-finish, black), anything else (an ablation cell) after them."""
    # Fifteen distinct hues (Tableau's ten but its grey, kept for the rules; the five darkest of
    # its 20b set; one from 20c), in the catalogue's order: the card's rows, most often side by side, first.
    distinct = ([c for i, c in enumerate(sns.color_palette("tab10")) if i != 7] + sns.color_palette("tab20b")[::4]
                + sns.color_palette("tab20c")[4:5])
    hues = [distinct[i % len(distinct)] for i in range(len(CARD_VARIANTS))]
    palette: dict[str, tuple[float, float, float]] = {}
    for variant, hue in zip(CARD_VARIANTS, hues):
        palette[variant.label] = tuple(0.85 * c for c in hue)  # a darker shade, for contrast on white
        for design in ("root", "residual", "jk", "heads"):
            palette.setdefault(with_root_path(variant, design).label, tuple(c + (1 - c) * 0.45 for c in hue))
    for i, rule in enumerate(HEURISTICS):  # the best rule, last in the registry, darkest
        palette[rule] = (0.62 - 0.11 * i,) * 3
    others = sns.color_palette("colorblind", max(1, len(names)))
    return {name: palette.get(name, others[i % len(others)]) for i, name in enumerate(names)}
