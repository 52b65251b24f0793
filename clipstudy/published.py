"""Measured zero-shot accuracy checked against the published numbers: open_clip's results table.

The check peers are asked for most ("my numbers don't match the paper"): a wrong activation, preprocessing,
tokenizer or class list shows here before any finding is read. For every model with a row in open_clip's results
table (`records.load("open_clip")`), per dataset: measured top-1 minus published top-1, and whether the measured
value lies in the binomial 95% band of the images evaluated around the published one (the counts a model of the
published accuracy would give on that many images 95% of the time, `scipy.stats.binom.interval`). A difference
outside the band is flagged.

- A model's published name is its open_clip tag (`ARCH/TAG`); a `hf-hub:` repo is matched to a tag through
  open_clip's pretrained `hf_hub` entries, where one names that repo; nothing else is matched (no guessing).
- The published numbers were measured under OpenAI's 80 templates for the ImageNet family (CLIP_benchmark's
  prompts; clipstudy's `openai80`): under other prompts the check says it cannot compare, and why.

`compare` is the pure function over tidy frames; `chapter_check` shows it in chapter 02, `lines` in `clipstudy
eval`.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

PUBLISHED_PROMPTS = "openai80"
PUBLISHED_METRIC = "acc1"  # top-1 in open_clip's table (CLIP_benchmark's name)
# the datasets open_clip's table measured under OpenAI's 80 templates (CLIP_benchmark's ImageNet-family prompts)
IMAGENET_FAMILY = ("imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r", "objectnet")
LEVEL = 0.95
COLUMNS = ["model", "published_model", "dataset", "prompts", "n", "measured", "published", "difference",
           "band_low", "band_high", "outside", "status"]
COMPARED, NO_ROW = "compared", "no published row"


def published_names(model: str) -> list[str]:
    """The names a model has in open_clip's results table: its tag, or the tags whose hub file is its `hf-hub:`
    repo; [] for any other model (lab, local files, timm classifiers, random weights)."""
    from . import zoo
    from .models.sources import hf_hub

    try:
        spec = zoo.get(model)
    except Exception:  # noqa: BLE001: a name that no longer resolves has nothing published
        return []
    if spec.source == hf_hub.SOURCE:
        return hf_hub.mirrored_tags(hf_hub.split(model)[0])
    tag = zoo.pretrained_tag(spec)
    return [f"{spec.arch}/{tag}"] if tag else []


def band(published: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The binomial `level` band of the accuracy measured on `n` images by a model whose true accuracy is
    `published`: the central interval of Binomial(n, published) counts, as fractions of n."""
    from scipy.stats import binom

    lo, hi = binom.interval(level, int(n), float(published))
    return float(lo) / n, float(hi) / n


def family(dataset: str) -> str:
    """The folder family a measured dataset stands for (`wds/imagenetv2` is imagenet-v2)."""
    from .datasets import wds

    return wds.family_of(dataset)


def compare(measured: pd.DataFrame, published: pd.DataFrame, names: dict[str, list[str]] | None = None
            ) -> pd.DataFrame:
    """One row per measured (model, dataset, prompts) top-1 of the ImageNet family whose model has published
    rows: measured, published, their difference and the band (see the module docstring). `measured` has
    columns model, dataset, prompts, value, n (top-1 rows); `published` is open_clip's results table as
    `records.load("open_clip")` gives it (model, dataset, metric `acc1`, value); `names` maps a measured model to its
    published names (default `published_names`). Status: `compared`, `no published row` for that dataset, or
    why it cannot compare (other prompts)."""
    pub = published[published["metric"] == PUBLISHED_METRIC] if "metric" in published.columns else published
    pub = pub.drop_duplicates(["model", "dataset"]).set_index(["model", "dataset"])["value"]
    rows = []
    for r in measured.itertuples(index=False):
        fam = family(str(r.dataset))
        if fam not in IMAGENET_FAMILY:
            continue
        cands = (names or {}).get(r.model) if names is not None else published_names(r.model)
        have = [c for c in cands or [] if any((c, d) in pub.index for d in IMAGENET_FAMILY)]
        if not have:
            continue
        name = have[0]
        row = dict(model=r.model, published_model=name, dataset=r.dataset, prompts=r.prompts, n=int(r.n),
                   measured=float(r.value), published=float("nan"), difference=float("nan"),
                   band_low=float("nan"), band_high=float("nan"), outside=False)
        if (name, fam) not in pub.index:
            rows.append(dict(row, status=NO_ROW))
            continue
        p = float(pub.loc[(name, fam)])
        row.update(published=p)
        if r.prompts != PUBLISHED_PROMPTS:
            rows.append(dict(row, status=f"cannot compare: measured under {r.prompts}, published under "
                                         f"{PUBLISHED_PROMPTS} (OpenAI's 80 templates)"))
            continue
        lo, hi = band(p, int(r.n))
        rows.append(dict(row, difference=float(r.value) - p, band_low=lo, band_high=hi,
                         outside=not (lo <= float(r.value) <= hi), status=COMPARED))
    return pd.DataFrame(rows, columns=COLUMNS)


def _records() -> pd.DataFrame | None:
    from . import records

    try:
        return records.load("open_clip")
    except Exception:  # noqa: BLE001: records not fetched: the check says so
        return None


def lines(measured: pd.DataFrame) -> list[str]:
    """What `clipstudy eval` prints: one line per comparison (none when the model has no published row)."""
    pub = _records()
    if pub is None:
        return []
    out = []
    for r in compare(measured, pub).itertuples(index=False):
        head = f"published ({r.published_model}, open_clip's results table) on {r.dataset}: "
        if r.status == COMPARED:
            verdict = "OUTSIDE" if r.outside else "within"
            out.append(head + f"{r.published:.4f}; measured {r.measured:.4f}, difference {r.difference:+.4f}, "
                              f"{verdict} the binomial 95% band [{r.band_low:.4f}, {r.band_high:.4f}] of {r.n:,} "
                              "images" + (" (check the activation, preprocessing, tokenizer and class names)"
                                          if r.outside else ""))
        else:
            out.append(head + r.status)
    return out


def chapter_check(ch: Any) -> pd.DataFrame | None:
    """Chapter 02: the live models' measured top-1 against open_clip's published numbers, saved as
    `live_published` and shown; a line says why there is nothing to compare."""
    from . import results, tables

    if ch.params is not None and not ch.params.live:
        print("This build has no live models (the live profile was not selected): nothing to check against "
              "published numbers.")
        return None
    try:
        t = results.read_study(ch.results_dir / "live", "shifts", part="all", metric="top1")
    except Exception as e:  # noqa: BLE001: the live section already said what is missing
        print(f"No live results to check against published numbers ({e}).")
        return None
    pub = _records()
    if pub is None:
        print("open_clip's results table is not in the records (`clipstudy fetch records`): nothing to compare.")
        return None
    check = compare(t[["model", "dataset", "prompts", "value", "n"]], pub)
    if check.empty:
        print("None of the live models has a row in open_clip's results table (an open_clip tag, or a hub repo "
              "that is one's hub file).")
        return check
    ch.save(check, "live_published")
    shown = check.assign(outside=check["outside"].map({True: "OUTSIDE", False: ""}))
    tables.show(shown[["model", "published_model", "dataset", "prompts", "n", "measured", "published", "difference",
                       "band_low", "band_high", "outside", "status"]].round(4))
    done = check[check["status"] == COMPARED]
    if len(done):
        ch.live_finding("{k:.0f} of {n:.0f} comparisons under the published prompts lie outside the binomial 95% "
                        "band of the images evaluated.", k=int(done["outside"].sum()), n=len(done))
    return check
