"""The study pipeline, one subpackage per role:

- :mod:`~edge_rl.experiments.plan`: what is trained: the suites of runs the notebooks train,
  from the variants of :mod:`edge_rl.catalogue`, at a budget; declarative sweeps.
- :mod:`~edge_rl.experiments.run`: how runs are executed (Ray, embedded or a cluster), resumed
  and read back; the strict notebook runner of ``make reproduce``.
- :mod:`~edge_rl.experiments.studies`: the studies beyond the card (``make study``, ``make
  tune``): each plans its runs and tabulates its own results.
- :mod:`~edge_rl.experiments.analyse`: tables, figures and diagnostics from evaluation rows
  (with :mod:`edge_rl.stats` and :mod:`edge_rl.palette`); where the time went; a rerun
  against the committed results.
- :mod:`~edge_rl.experiments.card`: ``MODEL_CARD.md``: its tables, its sentences, each built
  from the tables, and the Markdown around them.

Nothing is imported here: the notebook runner and ``compare`` start without torch.
"""
