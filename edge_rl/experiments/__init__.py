"""The study pipeline: what is trained (:mod:`~edge_rl.catalogue` of variants, and the
:mod:`~edge_rl.experiments.suites` of runs the notebooks train), how runs are executed and read
back (:mod:`~edge_rl.experiments.runs`), the statistics (:mod:`~edge_rl.stats`),
tables and figures (:mod:`~edge_rl.experiments.report`), the card's tables
(:mod:`~edge_rl.experiments.card`) and ``MODEL_CARD.md`` (:mod:`~edge_rl.experiments.model_card`),
the strict notebook runner (:mod:`~edge_rl.experiments.notebooks`) and the check of a rerun
against the committed results (:mod:`~edge_rl.experiments.compare`).

Nothing is imported here: the notebook runner and ``compare`` start without torch.
"""
