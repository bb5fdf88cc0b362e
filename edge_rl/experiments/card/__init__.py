"""``MODEL_CARD.md``: the card's tables (:mod:`.tables`), its sentences, each built from the tables
(:mod:`.findings`; the studies' in :mod:`.generalisation` and :mod:`.tuning`), and the card
itself (:mod:`.model_card`)."""
