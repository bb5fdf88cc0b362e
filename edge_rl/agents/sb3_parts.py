"""Stable-Baselines3's dict buffers, without a copy that changes nothing.

Each class here is SB3's own, plugged in through SB3's extension points
(``replay_buffer_class``, ``rollout_buffer_class``), with one redundant copy
taken out. The data, the random draws and the order of operations are SB3's: training with
them gives the same weights bit for bit (``tests/test_speed.py`` trains with and without).
Checked against the SB3 version pinned in ``pyproject.toml``; each docstring says what of
SB3's code the shortcut relies on.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.buffers import DictReplayBuffer, DictRolloutBuffer


class _FreshArraysToTorch:
    """``to_torch`` without the copy: SB3's ``_get_samples`` of the dict buffers passes it only
    arrays it has just made (rows picked by fancy indexing, or arithmetic on them), which
    nothing else holds, so ``torch.as_tensor`` can share their memory instead of copying it."""

    device: torch.device

    def to_torch(self, array: np.ndarray, copy: bool = True) -> torch.Tensor:
        return torch.as_tensor(array, device=self.device)


class SampledDictReplayBuffer(_FreshArraysToTorch, DictReplayBuffer):
    """SB3's ``DictReplayBuffer``; its samples' arrays become tensors without a second copy."""


class SampledDictRolloutBuffer(_FreshArraysToTorch, DictRolloutBuffer):
    """SB3's ``DictRolloutBuffer``; its minibatches' arrays become tensors without a second copy."""
