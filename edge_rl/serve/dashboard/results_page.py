"""Results: every table and figure in ``results/`` (written by ``make reproduce``), as they are,
the card's own first."""

import pandas as pd
import streamlit as st

from edge_rl.serve.dashboard.common import ordered, results_dir, table_columns

st.title("Results")
results = results_dir()
tables = ordered(sorted((results / "tables").glob("*.csv")), common_first=True)
figures = ordered(sorted((results / "figures").glob("*.png")), common_first=False)
if not tables and not figures:
    st.warning(f"No tables or figures in {results}/. Run `make reproduce` to create them, or point "
               "EDGE_RL_RESULTS_DIR at a results folder.")
st.caption(f"Read from `{results}`: {len(tables)} tables, {len(figures)} figures. "
           "Every policy is evaluated on the same 100 test episodes (seeds 10000-10099); higher returns are better.")

tab_tables, tab_figures = st.tabs(["Tables", "Figures"])
with tab_tables:
    for path in tables:
        frame, columns = table_columns(pd.read_csv(path))
        title = path.stem.replace("_", " ").capitalize()
        if len(frame) > 60:  # per-episode tables: folded away
            with st.expander(f"{title} ({len(frame):,} rows, `{path.name}`)"):
                st.dataframe(frame, hide_index=True, column_config=columns)
        else:  # every row: the height of the table; its first column stays while the rest scrolls sideways
            st.subheader(title)
            st.caption(f"`{path.relative_to(results.parent)}`")
            st.dataframe(frame, hide_index=True, width="stretch", height=35 * (len(frame) + 1) + 3,
                         column_config=columns)
with tab_figures:
    for path in figures:
        st.subheader(path.stem.replace("_", " ").capitalize())
        st.image(str(path), caption=str(path.relative_to(results.parent)))
