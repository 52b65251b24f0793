"""The model sources. Importing this package registers every source's name forms and loader with
`clipstudy.models.registry` (what `clipstudy.zoo` does on import)."""
from . import hf_hub, lab, llava, local_dir, open_clip, timm  # noqa: F401  (each registers itself)
