"""Serving the committed models: request and response schemas (:mod:`~edge_rl.serve.schemas`),
conversions between the card's request format and the observation
(:mod:`~edge_rl.serve.conversions`), the policies the server offers
(:mod:`~edge_rl.serve.models`), the FastAPI server (:mod:`~edge_rl.serve.api`, its HTTP
plumbing in :mod:`~edge_rl.serve.http`), episode replays (:mod:`~edge_rl.serve.replay`) and
the Streamlit dashboard (:mod:`~edge_rl.serve.dashboard`)."""
