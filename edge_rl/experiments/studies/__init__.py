"""The studies beyond the card: training budgets (:mod:`.budget`, notebook 06), other networks
and loads zero-shot (:mod:`.generalisation`, notebook 07), and equal tuning (:mod:`.tuning` with
its :mod:`.search_spaces`, notebook 08; what it chose: :mod:`.tuned`). Each plans its runs and
builds its own tables; the card's sentences on them are in :mod:`edge_rl.experiments.card`."""
