"""TensorBoard events of a training run (``--tensorboard DIR``): through SB3's own logger.

Every learner writes its scalars with Stable-Baselines3's :class:`~stable_baselines3.common.logger.Logger`:
SB3's DQN and PPO record theirs (``train/loss``, ``train/entropy_loss``, ``rollout/ep_rew_mean``,
...) as they always do; the hybrid records its PPO, TD, entropy and validation scalars the same
way (:mod:`edge_rl.agents.hybrid.training`); every learner adds ``validation/return``, the
greedy return on the validation episodes. Without a folder the logger writes nothing.

One run, one folder, one events file of a fixed name (:data:`EVENTS_FILE`): TensorBoard's own
name holds the time, the host and the process id, so a run retried on another worker would
leave a second curve beside the first; a fixed name is replaced instead. Logging reads the
training and changes none of it (the weights are the same bit for bit, ``tests/test_tensorboard.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from stable_baselines3.common.logger import Logger, configure

EVENTS_FILE = "events.out.tfevents.edge-rl"
"""The name of a run's events file (TensorBoard reads every file whose name holds ``tfevents``)."""


def events_files(folder: str | os.PathLike) -> list[Path]:
    """The TensorBoard events files directly in ``folder`` (none if it does not exist)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and "tfevents" in p.name) if folder.is_dir() else []


def require_tensorboard() -> None:
    """Raise ImportError, saying how to install it, if the tensorboard package is missing
    (SB3 would stop on a bare assertion)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ImportError("--tensorboard needs the tensorboard package: pip install -e '.[tensorboard]' "
                          "(make setup installs it)") from None


class RunEvents:
    """SB3's logger for one run (``logger``): TensorBoard events into ``folder``, or, with
    None, nothing at all. :meth:`close` closes it and gives its events file the fixed name.

    (A logger that writes nothing, given up front, also keeps SB3's ``learn()`` from creating
    an empty ``SB3-<date>`` folder in the temp directory for every run.)

    Raises:
        ImportError: ``folder`` is given and tensorboard is not installed, naming the extra.
    """

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.folder = None if folder is None else Path(folder)
        self.logger = Logger(folder=None, output_formats=[])
        self._before: set[Path] = set()
        if self.folder is None:
            return
        require_tensorboard()
        self._before = set(events_files(self.folder))
        self.logger = configure(str(self.folder), ["tensorboard"])

    def close(self) -> None:
        """Close the logger; rename the events file it wrote to :data:`EVENTS_FILE` (replacing
        an earlier run's; any other events file in the folder is left as it is)."""
        self.logger.close()
        if self.folder is None:
            return
        written = [p for p in events_files(self.folder) if p not in self._before and p.name != EVENTS_FILE]
        if len(written) == 1:
            os.replace(written[0], self.folder / EVENTS_FILE)
