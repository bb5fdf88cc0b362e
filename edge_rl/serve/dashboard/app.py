"""The dashboard's entry point: ``make dashboard``, or
``streamlit run edge_rl/serve/dashboard/app.py --server.address 127.0.0.1``."""

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent

st.set_page_config(page_title="edge-rl", layout="wide")
page = st.navigation(
    [
        st.Page(HERE / "results_page.py", title="Results", default=True),  # the default page is served at /
        st.Page(HERE / "predict_page.py", title="Predict", url_path="predict"),
        st.Page(HERE / "replay_page.py", title="Episode replay", url_path="replay"),
    ]
)
page.run()
