"""clipstudy: a reproducible study of CLIP robustness (Tu, Deng & Gedeon, arXiv 2410.01534)."""
__version__ = "0.1.0"

from . import deprecations as _deprecations

_deprecations.install()  # old import paths (clipstudy.zoo_registry, clipstudy.cache.atomic_save, ...) warn and work
