"""Moved: headline metrics of lab models are `clipstudy.lab.evaluate.metrics_table` / `metrics_zoo`, on the
same sets and cache keys as the chapters (these names stay importable for benchmarks/)."""
from ..config import SMOKE_SETS
from .evaluate import ACC_SETS, effective_robustness, sized_labset  # noqa: F401
from .evaluate import metrics_table as evaluate  # noqa: F401
from .evaluate import metrics_zoo as evaluate_zoo  # noqa: F401

SMOKE_N = dict(SMOKE_SETS)
labset = sized_labset
