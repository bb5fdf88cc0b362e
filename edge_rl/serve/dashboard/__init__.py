"""The Streamlit dashboard: ``make dashboard`` (``streamlit run edge_rl/serve/dashboard/app.py``).

Three pages, each a script of this folder: the results (tables and figures from ``results/``),
an interactive prediction, and an episode replay. Every number shown is read from ``results/``
or computed by :mod:`edge_rl`; the helpers they share are in :mod:`edge_rl.serve.dashboard.common`.
"""
