"""One table of training-data sources (clipstudy.data_sources): every mapping read from it equals the hand-kept
literal it replaced. The expected values below are those literals, copied as they were: the behaviour to keep."""
from __future__ import annotations

import re

import pytest

from clipstudy import data_sources as DS, factors

B, M = 1e9, 1e6
OLD_DATA_SIZES = {
    "openai-wit": 400 * M, "laion400m": 400 * M, "laion2b": 2.32 * B, "laion5b": 5.85 * B,
    "laion-aesthetic": 900 * M, "datacomp-1b": 1.4 * B, "datacomp-l": 140 * M, "datacomp-m": 14 * M,
    "datacomp-s": 1.4 * M, "commonpool-xl": 12.8 * B, "commonpool-l": 1.28 * B, "commonpool-m": 128 * M,
    "commonpool-s": 12.8 * M, "dfn-5b": 5 * B, "dfn-2b": 2 * B, "metaclip-400m": 400 * M,
    "metaclip-2.5b": 2.5 * B, "webli": 10 * B, "merged-2b": 2 * B, "yfcc15m": 15 * M, "cc12m": 12 * M,
    "laion80m": 80 * M, "instagram-3.6b": 3.6 * B,
}
# rows added since, for the records of Udandarao et al. (frequency_determines_performance)
NEW_DATA_SIZES = {"cc3m": 3.3 * M, "synthci-30m": 30 * M}
OLD_DATA_RULES = [
    (r"^openai$", "openai-wit"), (r"^laion400m", "laion400m"), (r"^laion2b", "laion2b"), (r"^laion5b", "laion5b"),
    (r"^laion_?aesthetic|^laiona", "laion-aesthetic"), (r"^datacomp_(xl|l|m|s)_", None), (r"^datacomp", "datacomp-1b"),
    (r"^commonpool_(xl|l|m|s)(?:_(clip|laion|image|text|basic))?_", None), (r"^dfn5b", "dfn-5b"),
    (r"^dfn2b", "dfn-2b"), (r"^metaclip_400m", "metaclip-400m"), (r"^metaclip_fullcc", "metaclip-2.5b"),
    (r"^webli", "webli"), (r"^merged2b", "merged-2b"), (r"^yfcc15m", "yfcc15m"), (r"^cc12m", "cc12m"),
]
OLD_TIMM_DATA = [
    (r"openai", "openai-wit"), (r"laion2b", "laion2b"), (r"laiona", "laion-aesthetic"),
    (r"webli", "webli"), (r"m38m", "merged-38m"), (r"m30m", "merged-30m"), (r"jft|ns_jft", "jft-300m"),
    (r"ig1b", "instagram-1b"), (r"yfcc100m", "yfcc100m"),
    (r"in22k|in21k|22k|21k", "imagenet-21k"), (r"in12k", "imagenet-12k"),
]
OLD_SCALING_DATA_LABEL = {"laion80m": "LAION-80M", "laion400m": "LAION-400M", "laion2b": "LAION-2B",
                          "openai-wit": "OpenAI WIT"}
OLD_SCALING_GRID_LABEL = {"laion80m": "LAION-80M", "laion400m": "LAION-400M", "laion2b": "LAION-2B"}
OLD_SHAPE_BIAS_DATA_GROUP = {"openai-wit": "OpenAI WIT", "laion400m": "LAION", "laion2b": "LAION",
                             "merged-2b": "EVA Merged-2B"}


def old_data_of(tag: str) -> str | None:
    """`factors.data_of` as it was, over its old rules."""
    t = tag.lower()
    for pat, data in OLD_DATA_RULES:
        m = re.search(pat, t)
        if not m:
            continue
        if data is None and t.startswith("datacomp"):
            return f"datacomp-{m.group(1)}" if m.group(1) != "xl" else "datacomp-1b"
        if data is None:
            return f"commonpool-{m.group(1)}" + (f"-{m.group(2)}" if m.group(2) else "")
        return data
    return None


def old_timm_data(tag: str) -> str:
    for pat, d in OLD_TIMM_DATA:
        if re.search(pat, tag):
            return d
    return "imagenet-1k"


def _open_clip_tags() -> list[str]:
    synthetic = [f"{p}_{s}{f}_s13b_b90k" for p in ("datacomp", "commonpool") for s in ("xl", "l", "m", "s")
                 for f in ("", "_clip", "_laion", "_image", "_text", "_basic", "_other")]
    synthetic += ["datacomp_s34b_b86k", "datacomp1b", "commonpool_s_basic", "commonpool_xl", "DataComp_XL_s13b",
                  "openai", "openai_x", "laion_aesthetic_s13b", "laiona_x", "unknown_tag", "", "metaclip_fullcc",
                  "dfn5b", "dfn2b_s39b", "webli", "merged2b_s8b", "yfcc15m", "cc12m", "laion5b_s13b_b90k"]
    try:
        import open_clip

        synthetic += [t.removeprefix("frozen_") for _, t in open_clip.list_pretrained()]
    except Exception:  # the synthetic tags cover every rule
        pass
    return synthetic


def test_sizes_and_rules_keep_their_values():
    assert factors.DATA_SIZES == {**OLD_DATA_SIZES, **NEW_DATA_SIZES}
    assert {s.name: s.size for s in DS.SOURCES if s.size is not None} == {**OLD_DATA_SIZES, **NEW_DATA_SIZES}
    for tag in _open_clip_tags():
        assert factors.data_of(tag) == old_data_of(tag), tag


def test_timm_rules_keep_their_order_and_values():
    from clipstudy.records import tags as T

    assert T._TIMM_DATA == OLD_TIMM_DATA
    for tag in ["openai_ft_in1k", "laion2b_ft_in12k_in1k", "in22k_ft_in12k", "augreg_in21k_ft_in1k", "in12k",
                "laiona_ft", "webli", "m38m_ft_in22k_in1k", "m30m", "ns_jft_in1k", "jft300m", "ig1b_wsl",
                "yfcc100m_swsl", "fb_in22k", "tv_in1k", "", "clip_ft"]:
        assert T.timm_tags(f"vit_base_patch16_clip_224.{tag}")["data"] == old_timm_data(tag), tag


def test_labels_and_groups_keep_their_values():
    from clipstudy.axes import shape_bias
    from clipstudy.axes import shifts as scaling_grid  # the LAION grid's tables are the shifts axis's
    from clipstudy.records import scaling

    assert scaling.DATA_LABEL == OLD_SCALING_DATA_LABEL
    assert scaling_grid.LABEL == OLD_SCALING_GRID_LABEL
    assert shape_bias.DATA_GROUP == OLD_SHAPE_BIAS_DATA_GROUP


def test_one_row_per_source():
    names = [s.name for s in DS.SOURCES]
    assert len(names) == len(set(names)) and set(DS.BY_NAME) == set(names)
    assert all(s.label for s in DS.SOURCES)
    assert DS.of_tag("commonpool_m_clip_s128m_b4k") == "commonpool-m-clip"
    with pytest.raises(KeyError):
        DS.labels("no-such-source")


# ---- the lab's evaluation sets and the task vocabulary (clipstudy.tasks) ------------------------------------
OLD_LAB_SETS = ("lab-val", "lab-v2", "lab-sketch", "lab-silhouette", "lab-cue-conflict", "lab-factors", "lab-3dcc",
                "lab-ood", "lab-retrieval")
OLD_LAB_TASKS = {"lab-val": "classification", "lab-v2": "classification", "lab-sketch": "classification",
                 "lab-silhouette": "classification", "lab-cue-conflict": "shape-bias", "lab-factors": "factors",
                 "lab-3dcc": "3d", "lab-ood": "ood", "lab-retrieval": "retrieval"}
OLD_SMOKE_SETS = (("lab-val", 120), ("lab-v2", 120), ("lab-sketch", 120), ("lab-silhouette", 120),
                  ("lab-cue-conflict", 120), ("lab-3dcc", 12), ("lab-ood", 120), ("lab-retrieval", 60),
                  ("lab-factors", 24))


def test_lab_sets_are_one_list():
    from clipstudy import axes, profiles, tasks
    from clipstudy.run import data

    assert tuple(tasks.LAB_SETS) == tuple(axes.datasets("lab")) == OLD_LAB_SETS
    assert data.LAB_TASKS == OLD_LAB_TASKS and list(data.LAB_TASKS) == list(OLD_LAB_SETS)
    assert dict(profiles.SMOKE_SETS) == dict(OLD_SMOKE_SETS)  # read as a mapping (LabProfile.set_size)
    assert set(tasks.LAB_SETS.values()) <= set(tasks.TASKS)


def test_one_task_vocabulary():
    from clipstudy import datasets, tasks
    from clipstudy.errors import UnknownNameError
    from clipstudy.run import estimate

    assert datasets.TASKS is tasks.TASKS
    assert {t for reads in estimate.axis_reads().values() for t in reads} <= set(tasks.TASKS)
    assert {e.task for e in datasets.REGISTRY.values()} <= set(tasks.TASKS)
    with pytest.raises(UnknownNameError, match="Did you mean: shape-bias"):
        tasks.check("shape_bias")
