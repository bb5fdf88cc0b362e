"""Results: every table and figure in ``results/`` (written by ``make reproduce``), as they are."""

import pandas as pd
import streamlit as st

from edge_rl.serve.dashboard.common import results_dir

st.title("Results")
results = results_dir()
tables = sorted((results / "tables").glob("*.csv"))
figures = sorted((results / "figures").glob("*.png"))
if not tables and not figures:
    st.warning(f"No tables or figures in {results}/. Run `make reproduce` to create them, or point "
               "EDGE_RL_RESULTS_DIR at a results folder.")
st.caption(f"Read from `{results}`: {len(tables)} tables, {len(figures)} figures. "
           "Every policy is evaluated on the same 100 test episodes (seeds 10000-10099).")

tab_tables, tab_figures = st.tabs(["Tables", "Figures"])
with tab_tables:
    for path in tables:
        frame = pd.read_csv(path)
        title = path.stem.replace("_", " ").capitalize()
        if len(frame) > 50:  # per-episode tables: folded away
            with st.expander(f"{title} ({len(frame):,} rows, `{path.name}`)"):
                st.dataframe(frame, hide_index=True)
        else:
            st.subheader(title)
            st.caption(f"`{path.relative_to(results.parent)}`")
            st.dataframe(frame, hide_index=True)
with tab_figures:
    for path in figures:
        st.subheader(path.stem.replace("_", " ").capitalize())
        st.image(str(path), caption=str(path.relative_to(results.parent)))
