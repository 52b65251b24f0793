"""Metrics: pure functions over numpy or torch arrays, one small module per study axis.

Each is cross-checked in tests/test_metrics_*.py against a reference (sklearn, torchmetrics,
imagenet-x) or a brute-force computation.
"""
from .calibration import brier, ece, fit_temperature, nll, reliability
from .classification import accuracy
from .consistency import error_consistency
from .factors import IMAGENET_X_FACTORS, error_ratio, error_ratios, factor_accuracies
from .ood import OOD_METHODS, fpr_at_tpr, ood_metrics, ood_scores
from .retrieval import retrieval_recall
from .robustness import LogitFit, effective_robustness, logit_fit
from .shape_bias import shape_bias, shape_texture_hits

__all__ = [
    "accuracy",
    "effective_robustness", "logit_fit", "LogitFit",
    "ece", "nll", "brier", "fit_temperature", "reliability",
    "ood_scores", "ood_metrics", "fpr_at_tpr", "OOD_METHODS",
    "shape_bias", "shape_texture_hits",
    "error_consistency",
    "factor_accuracies", "error_ratios", "error_ratio", "IMAGENET_X_FACTORS",
    "retrieval_recall",
]
