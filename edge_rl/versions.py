"""The versions of what a result depends on, as checkpoints and the timing record store them.

Read from the installed distributions' metadata: nothing here imports torch, so the notebook
runner, which records versions after every notebook, starts in a fraction of a second.
"""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("edge-rl", "torch", "torch-geometric", "stable-baselines3", "gymnasium", "numpy")


def package_versions() -> dict[str, str]:
    """Python's version and each of :data:`PACKAGES`' ("not installed" if missing)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
