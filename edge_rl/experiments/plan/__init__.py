"""What is trained: the suites of runs the notebooks train (:mod:`.suites`), from the
catalogue of variants, at a budget; declarative sweeps of any settings (:mod:`.sweep`)."""
