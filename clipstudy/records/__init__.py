"""Published per-model results of real CLIP and ImageNet models, as tidy frames, and analyses.

    from clipstudy import records
    oc = records.load("open_clip")        # also: timm, clip_benchmark, imagenet_x, cue_conflict
    pts = records.natural_shift_er()      # effective robustness per shift, CLIP vs CLIP-FT vs ImageNet

Files live under `<CLIPSTUDY_DATA>/records`; `clipstudy fetch records` (records.fetch) downloads
them from their public sources, each checked against a recorded SHA-256.
"""
from .sources import Source, fetch, manifest, records_root
from .tables import load, parse_cue_image, untagged
from .tags import CLIP_FT, GROUPS, HUMAN, IMAGENET, TAG_COLUMNS, ZS_CLIP

__all__ = ["Source", "fetch", "manifest", "records_root", "load", "parse_cue_image", "untagged",
           "CLIP_FT", "GROUPS", "HUMAN", "IMAGENET", "TAG_COLUMNS", "ZS_CLIP"]

from .analysis import (SHIFTS, data_scale, er_summary, imagenet_x_clip_vs_rest, imagenet_x_factors,  # noqa: E402
                       natural_shift_er, retrieval_correlations, retrieval_residuals,
                       retrieval_vs_classification, shape_bias_table)

__all__ += ["SHIFTS", "data_scale", "er_summary", "imagenet_x_clip_vs_rest", "imagenet_x_factors",
            "natural_shift_er", "retrieval_correlations", "retrieval_residuals",
            "retrieval_vs_classification", "shape_bias_table"]
