"""The model layer: `spec` (ModelSpec, Loaded: a leaf), `registry` (names, collections, the source table) and
`sources` (open_clip, timm, local-dir, lab; each registers its name forms). `clipstudy.zoo` is the facade that
imports them all; this package's own import stays light (no source, no torch)."""
from .registry import model_id  # noqa: F401
from .spec import Loaded, ModelSpec  # noqa: F401
