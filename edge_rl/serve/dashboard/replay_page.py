"""Episode replay: chosen policies run the same seeded episode side by side."""

import streamlit as st

from edge_rl.config import NODE_TYPES
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS
from edge_rl.serve import models as serving
from edge_rl.serve.dashboard import common
from edge_rl.serve.replay import replay, summary

st.title("Episode replay")
st.markdown("Each policy places the tasks of the same seeded episode: same first state, same "
            "arrivals. Test seeds (10000-10099) are the episodes of the results tables.")
predictor = common.predictor(common.models_dir())
available = list(serving.MODEL_SPECS)  # loaded when chosen; an unreadable one says why
preferred = ["hybrid", "dqn", "ppo", "greedy_earliest_finish", "least_loaded"]
chosen = st.multiselect("policies", available, default=[m for m in preferred if m in available])
seed = st.number_input("episode seed", 0, 2**31 - 1, DEFAULT_EVAL_SEEDS[0])
if not chosen:
    st.info("Choose at least one policy.")
    st.stop()

policies = {}
for name in chosen:
    try:
        policies[name] = predictor.agent(name)
    except serving.ModelUnavailableError as error:
        st.warning(str(error))
if not policies:
    st.stop()
frame = replay(policies, int(seed))
st.dataframe(summary(frame).round(2), width="stretch")
charts = {
    "return": ("cumulative return (higher is better)", False),
    "latency_ms": ("task latency, ms (log scale; lower is better)", True),
    "energy_j": ("task energy, J (lower is better)", False),
    "queue_fog": ("mean fog queue, steps of compute", False),
}
for row in (list(charts)[:2], list(charts)[2:]):
    for column, metric in zip(st.columns(2), row):
        label, log = charts[metric]
        column.markdown(f"**{label}**")
        column.pyplot(common.replay_figure(frame, metric, label, log), clear_figure=True)
st.markdown("**where each task went** (tasks per node type)")
counts = frame.groupby(["policy", "node_type"]).size().unstack(fill_value=0)
st.dataframe(counts.reindex(columns=[t for t in NODE_TYPES if t in counts.columns], fill_value=0), width="stretch")
