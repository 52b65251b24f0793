"""Moved: the one lab evaluation path is `clipstudy.lab.evaluate` (this name stays importable)."""
from ..lab.evaluate import *  # noqa: F401,F403
from ..lab.evaluate import _same_norm  # noqa: F401
