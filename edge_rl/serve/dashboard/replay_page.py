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
for name in chosen:  # named as the results tables name what each serves: "dqn: DQN-GNN + root"
    try:
        policies[common.table_name(name)] = predictor.agent(name)
    except serving.ModelUnavailableError as error:
        st.warning(str(error))
if not policies:
    st.stop()
frame = replay(policies, int(seed))
totals = summary(frame)
st.dataframe(totals.round(2), width="stretch")
charts = {  # metric: heading, axis unit, log scale, moving average over steps
    "return": ("cumulative return (higher is better)", "return", False, 1),
    "latency_ms": ("task latency, 10-step moving average (lower is better)", "ms (log scale)", True, 10),
    "energy_j": ("task energy, 10-step moving average (lower is better)", "J", False, 10),
    "queue_fog": ("mean fog queue", "steps of compute", False, 1),
}
for row in (list(charts)[:2], list(charts)[2:]):
    for column, metric in zip(st.columns(2), row):
        heading, unit, log, smooth = charts[metric]
        column.markdown(f"**{heading}**")
        column.pyplot(common.replay_figure(frame, metric, unit, log, smooth), clear_figure=True)
st.markdown("**where each task went** (tasks per node type)")
counts = frame.groupby(["policy", "node_type"]).size().unstack(fill_value=0).reindex(totals.index)
st.dataframe(counts.reindex(columns=[t for t in NODE_TYPES if t in counts.columns], fill_value=0), width="stretch")
