"""The training-data sources of the models: one table (name, display label, size, and the tags that map to it).

In the spirit of open_clip's `pretrained.py`: every source is one row, and every other vocabulary of data
sources is read from it: the published sizes (`clipstudy.factors.DATA_SIZES`), the rules that tag an
open_clip pretrained tag (`factors.DATA_RULES`, `factors.data_of`) or a timm name (`records.tags`), the
display labels (`records.scaling`, the LAION grid's `axes.shifts.LABEL`) and the coarser groups the shape-bias
chapter compares (`axes.shape_bias.DATA_GROUP`).

`tags` are regexes on an open_clip pretrained tag (lower case, prefixes such as `frozen_` removed), `timm`
regexes on the tag of a timm name (`<arch>.<tag>`); over the table, in its order, the first match wins, so a
row comes before any whose tags would also match its names. A name may hold `{group}` fields filled from
the named groups of its tag regex (`commonpool-{scale}-{filter}`: the filtered CommonPools, sizes unknown).

`size` is the published number of image-text pairs (or images) where known (None: not known). This module
is a leaf: it imports only the standard library.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

B, M = 1e9, 1e6


@dataclass(frozen=True)
class DataSource:
    """One training-data source: `name` (the `data` factor's spelling), a display `label`, its `size`
    (image-text pairs or images; None unknown), the open_clip tag and timm tag regexes that map to it, and
    the `group` the shape-bias chapter compares it in ("" none)."""

    name: str
    label: str
    size: float | None = None
    tags: tuple[str, ...] = ()
    timm: tuple[str, ...] = ()
    group: str = ""
    note: str = ""


_S = DataSource
SOURCES: tuple[DataSource, ...] = (
    _S("openai-wit", "OpenAI WIT", 400 * M, (r"^openai$",), (r"openai",), group="OpenAI WIT"),
    _S("laion80m", "LAION-80M", 80 * M,
       note="LAION-80M of the scaling-law grid (Cherti et al. 2023): an 80M-sample subset of LAION"),
    _S("laion400m", "LAION-400M", 400 * M, (r"^laion400m",), group="LAION"),
    _S("laion2b", "LAION-2B", 2.32 * B, (r"^laion2b",), (r"laion2b",), group="LAION"),
    _S("laion5b", "LAION-5B", 5.85 * B, (r"^laion5b",)),
    _S("laion-aesthetic", "LAION-Aesthetics", 900 * M, (r"^laion_?aesthetic|^laiona",), (r"laiona",)),
    # DataComp: the scale in the tag (datacomp_m_...); before datacomp-1b, whose `^datacomp` takes the rest
    # (datacomp1b of CLIPA, datacomp_s34b_b86k: 's34b' is samples seen, not scale s)
    _S("datacomp-l", "DataComp-L", 140 * M, (r"^datacomp_l_",)),
    _S("datacomp-m", "DataComp-M", 14 * M, (r"^datacomp_m_",)),
    _S("datacomp-s", "DataComp-S", 1.4 * M, (r"^datacomp_s_",)),
    _S("datacomp-1b", "DataComp-1B", 1.4 * B, (r"^datacomp_xl_", r"^datacomp"), note="DataComp-xl"),
    # CommonPool: a filtered pool (commonpool_xl_clip_...) before the unfiltered one, whose size is known
    _S("commonpool-{scale}-{filter}", "CommonPool-{scale} ({filter} filter)", None,
       (r"^commonpool_(?P<scale>xl|l|m|s)_(?P<filter>clip|laion|image|text|basic)_",)),
    _S("commonpool-xl", "CommonPool-XL", 12.8 * B, (r"^commonpool_xl_",)),
    _S("commonpool-l", "CommonPool-L", 1.28 * B, (r"^commonpool_l_",)),
    _S("commonpool-m", "CommonPool-M", 128 * M, (r"^commonpool_m_",)),
    _S("commonpool-s", "CommonPool-S", 12.8 * M, (r"^commonpool_s_",)),
    _S("dfn-5b", "DFN-5B", 5 * B, (r"^dfn5b",)),
    _S("dfn-2b", "DFN-2B", 2 * B, (r"^dfn2b",)),
    _S("metaclip-400m", "MetaCLIP-400M", 400 * M, (r"^metaclip_400m",)),
    _S("metaclip-2.5b", "MetaCLIP-2.5B", 2.5 * B, (r"^metaclip_fullcc",)),
    _S("webli", "WebLI", 10 * B, (r"^webli",), (r"webli",)),
    _S("merged-2b", "EVA Merged-2B", 2 * B, (r"^merged2b",), group="EVA Merged-2B"),
    _S("yfcc15m", "YFCC-15M", 15 * M, (r"^yfcc15m",)),
    _S("cc12m", "CC12M", 12 * M, (r"^cc12m",)),
    _S("cc3m", "CC3M", 3.3 * M, note="Conceptual Captions (Sharma et al. 2018): 3.3M image-alt-text pairs"),
    _S("synthci-30m", "SynthCI-30M", 30 * M,
       note="SynthCLIP (Hammoud et al. 2024): 30M captions written by an LLM and images generated from them"),
    _S("laion200m-sim-normalized", "LAION (test-similarity pruned)", None,
       note="Mayilvahanan et al. 2024: LAION-400M, deduplicated to about 200M, then pruned of images more similar to "
            "the ImageNet test sets than ImageNet's own train set is; its size is not recorded here"),
    _S("instagram-3.6b", "Instagram-3.6B", 3.6 * B, note="SWAG (Singh et al. 2022): IG-3.6B hashtag-labelled images"),
    # timm's pretrained tags (sizes not recorded)
    _S("merged-38m", "Merged-38M", timm=(r"m38m",)),
    _S("merged-30m", "Merged-30M", timm=(r"m30m",)),
    _S("jft-300m", "JFT-300M", timm=(r"jft|ns_jft",)),
    _S("instagram-1b", "Instagram-1B", timm=(r"ig1b",)),
    _S("yfcc100m", "YFCC-100M", timm=(r"yfcc100m",)),
    _S("imagenet-21k", "ImageNet-21k", timm=(r"in22k|in21k|22k|21k",)),
    _S("imagenet-12k", "ImageNet-12k", timm=(r"in12k",)),
)
BY_NAME: dict[str, DataSource] = {s.name: s for s in SOURCES}

# derived vocabularies
SIZES: dict[str, float] = {s.name: s.size for s in SOURCES if s.size is not None}
LABELS: dict[str, str] = {s.name: s.label for s in SOURCES if "{" not in s.name}
GROUPS: dict[str, str] = {s.name: s.group for s in SOURCES if s.group}
TAG_RULES: tuple[tuple[str, str], ...] = tuple((t, s.name) for s in SOURCES for t in s.tags)
TIMM_RULES: tuple[tuple[str, str], ...] = tuple((t, s.name) for s in SOURCES for t in s.timm)


def _match(rules: tuple[tuple[str, str], ...], tag: str) -> str | None:
    for pat, name in rules:
        m = re.search(pat, tag)
        if m:
            return name.format(**m.groupdict()) if m.groupdict() else name
    return None


def of_tag(tag: str) -> str | None:
    """The source of an open_clip pretrained tag (prefixes such as `frozen_` already removed); None unknown."""
    return _match(TAG_RULES, tag.lower())


def of_timm_tag(tag: str) -> str | None:
    """The source a timm pretrained tag names (`openai_ft_in1k` -> openai-wit); None when it names none."""
    return _match(TIMM_RULES, tag)


def labels(*names: str) -> dict[str, str]:
    """Display labels of the named sources, in that order (a name not in the table raises KeyError)."""
    return {n: BY_NAME[n].label for n in names}


__all__ = ["DataSource", "SOURCES", "BY_NAME", "SIZES", "LABELS", "GROUPS", "TAG_RULES", "TIMM_RULES", "of_tag",
           "of_timm_tag", "labels"]
