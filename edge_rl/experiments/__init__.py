"""The study pipeline: what is trained (the :mod:`~edge_rl.experiments.suites` of runs the
notebooks train, from the variants of :mod:`edge_rl.catalogue`), how runs are executed and read
back (:mod:`~edge_rl.experiments.runs`), tables and figures (:mod:`~edge_rl.experiments.report`,
:mod:`~edge_rl.experiments.figures`, with :mod:`edge_rl.stats` and :mod:`edge_rl.palette`), the
card's tables (:mod:`~edge_rl.experiments.card`) and ``MODEL_CARD.md``
(:mod:`~edge_rl.experiments.model_card`), the strict notebook runner
(:mod:`~edge_rl.experiments.notebooks`) and the check of a rerun against the committed results
(:mod:`~edge_rl.experiments.compare`).

Nothing is imported here: the notebook runner and ``compare`` start without torch.
"""
