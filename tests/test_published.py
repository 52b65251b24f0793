"""The check of measured top-1 against open_clip's published numbers (`clipstudy.published`): synthetic published
rows, one measured value inside the binomial 95% band and one outside; prompts other than the published ones are
not compared; the band is the binomial distribution's own (checked by brute force)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from clipstudy import published

TAG = "ViT-B-32/openai"


def _published(**values: float) -> pd.DataFrame:
    return pd.DataFrame([dict(model=TAG, dataset=d.replace("_", "-"), metric="acc1", value=v)
                         for d, v in values.items()])


def _measured(rows: list[tuple[str, str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame([dict(model=TAG, dataset=d, prompts=p, value=v, n=n) for d, p, v, n in rows])


def brute_band(p: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of Binomial(n, p) counts from its pmf, as fractions of n."""
    pmf = [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
    cdf, acc = [], 0.0
    for x in pmf:
        acc += x
        cdf.append(acc)
    a = (1 - level) / 2
    lo = next(k for k in range(n + 1) if cdf[k] >= a)
    hi = next(k for k in range(n + 1) if cdf[k] >= 1 - a)
    return lo / n, hi / n


def test_one_inside_the_band_one_outside_and_other_prompts_not_compared():
    pub = _published(imagenet=0.630, imagenet_v2=0.550, imagenet_sketch=0.420)
    measured = _measured([("imagenet", "openai80", 0.641, 1000),  # inside: the band is about +-0.03
                          ("wds/imagenetv2", "openai80", 0.500, 1000),  # outside, read as imagenet-v2
                          ("imagenet-sketch", "single", 0.420, 1000),  # not the published prompts
                          ("imagenet-r", "openai80", 0.7, 100),  # no published row for it
                          ("cue-conflict", "openai80", 0.5, 100)])  # not the ImageNet family: left out
    c = compare = published.compare(measured, pub).set_index("dataset")
    assert list(compare.index) == ["imagenet", "wds/imagenetv2", "imagenet-sketch", "imagenet-r"]
    assert c.loc["imagenet", "status"] == "compared" and not c.loc["imagenet", "outside"]
    assert c.loc["imagenet", "difference"] == pytest.approx(0.011)
    assert c.loc["wds/imagenetv2", "outside"] and c.loc["wds/imagenetv2", "difference"] == pytest.approx(-0.05)
    assert c.loc["imagenet-sketch", "status"].startswith("cannot compare: measured under single, published under "
                                                         "openai80")
    assert not c.loc["imagenet-sketch", "outside"] and math.isnan(c.loc["imagenet-sketch", "difference"])
    assert c.loc["imagenet-r", "status"] == "no published row"
    assert (c.loc["imagenet", "band_low"], c.loc["imagenet", "band_high"]) == pytest.approx(brute_band(0.63, 1000))


@pytest.mark.parametrize("p, n", [(0.63, 1000), (0.05, 200), (0.97, 60)])
def test_the_band_is_the_binomial_central_interval(p, n):
    assert published.band(p, n) == pytest.approx(brute_band(p, n))


def test_names_come_from_tags_only():
    assert published.published_names(TAG) == [TAG]
    assert published.published_names("RN50/random") == [] and published.published_names("timm:resnet50.a1_in1k") == []
    assert published.published_names("no-such-model/at-all") == []


def test_eval_lines_against_the_real_published_table(shared_data):
    from clipstudy import records

    pub = records.load("open_clip")
    p = float(pub[(pub.model == TAG) & (pub.dataset == "imagenet") & (pub.metric == "acc1")].value.iloc[0])
    far = _measured([("imagenet", "openai80", 0.001, 50), ("imagenet", "single", 0.001, 50)])
    text = "\n".join(published.lines(far))
    assert f"published ({TAG}, open_clip's results table) on imagenet: {p:.4f}; measured 0.0010" in text
    assert "OUTSIDE the binomial 95% band" in text and "check the activation, preprocessing" in text
    assert "cannot compare: measured under single" in text
    assert published.lines(_measured([("imagenet", "openai80", 0.5, 50)]).assign(model="RN50/random")) == []
