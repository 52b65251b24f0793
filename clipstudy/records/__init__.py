"""Published per-model results of real CLIP and ImageNet models, as tidy frames, and analyses.

    from clipstudy import records
    oc = records.load("open_clip")        # also: timm, clip_benchmark, imagenet_x, cue_conflict
    pts = records.natural_shift_er()      # effective robustness per shift, CLIP vs CLIP-FT vs ImageNet
    d = records.load("vlm_shapebias")     # one row per decision; also model_vs_human(_clip), texture_vs_shape
    sb = records.shape_bias_table(d)      # shape bias per (source, model, prompts), with six-factor tags
    grid = records.scaling.grid(records.load("scaling_laws_openclip"))  # LAION's data x samples grid
    c = records.load("cood_benchmarking")  # class-OOD AUROC and ID confidence per (model, function, severity)
    records.c8_records(c)                  # also c8_secondary, c13_records, c10_records, cood_points
    f = records.load("frequency_determines_performance")  # 21 CLIPs x 3 prompt sets x ImageNet, -Sketch, -R
    line = records.baselines.timm_baseline(records.load("timm"))  # the ER line; also testbed_baseline
    records.prompt_sets.prompt_effects(records.prompt_sets.prompt_table(records.prompt_sets.prompt_points(f, line)))
    # also: data_size (training data and size), finetunes (model_soups), corruptions (robustbench), baselines

Files live under `<CLIPSTUDY_DATA>/records`; `clipstudy fetch records` (records.fetch) downloads
them from their public sources, each checked against a recorded SHA-256.
"""
from .sources import Source, fetch, manifest, records_root
from .tables import parse_cue_image, untagged
from .tags import CLIP_FT, GROUPS, HUMAN, IMAGENET, KINDS, LMM, PROMPTS, TAG_COLUMNS, UNKNOWN, ZS_CLIP

__all__ = ["Source", "fetch", "manifest", "records_root", "load", "parse_cue_image", "untagged",
           "CLIP_FT", "GROUPS", "HUMAN", "IMAGENET", "KINDS", "LMM", "PROMPTS", "TAG_COLUMNS", "UNKNOWN", "ZS_CLIP"]

from . import cood, decisions, scaling  # noqa: E402
from . import (baselines, contrasts, corruptions, data_size, finetunes, frequency, prompt_sets,  # noqa: E402
               robustbench, soups, testbed)
from .catalog import load  # noqa: E402
from .analysis import (SHIFTS, data_scale, er_summary, imagenet_x_clip_vs_rest, imagenet_x_factors,  # noqa: E402
                       natural_shift_er, retrieval_correlations, retrieval_residuals,
                       retrieval_vs_classification, texture_vs_shape_bias)
from .decision_tables import (dataset_accuracy, error_consistency_summary, error_consistency_table,  # noqa: E402
                              ood_accuracy_table, shape_bias_table)
from .decisions import unknown_models  # noqa: E402
from .cood import (auroc_vs_imagenet, c8_records, c8_secondary, c10_records, c13_pairs, c13_records,  # noqa: E402
                   cood_points)

__all__ += ["SHIFTS", "data_scale", "er_summary", "imagenet_x_clip_vs_rest", "imagenet_x_factors",
            "natural_shift_er", "retrieval_correlations", "retrieval_residuals",
            "retrieval_vs_classification", "texture_vs_shape_bias", "decisions", "scaling", "shape_bias_table",
            "ood_accuracy_table", "dataset_accuracy", "error_consistency_table", "error_consistency_summary",
            "unknown_models", "cood", "cood_points", "c8_records", "c8_secondary", "c13_pairs", "c13_records",
            "c10_records", "auroc_vs_imagenet", "baselines", "contrasts", "corruptions", "data_size", "finetunes",
            "frequency", "prompt_sets", "robustbench", "soups", "testbed"]
