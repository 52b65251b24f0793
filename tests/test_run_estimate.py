"""`clipstudy run --dry-run --estimate`: the grid priced from published sizes, without a model or an image.

The grid by hand (prompt sets single + openai80 = 81 templates):
- ViT-B-32/openai, a CLIP; timm:vit_base_patch32_clip_224.openai_ft_in1k, a classifier (no prompts, no captions);
- imagenet 50,000 and imagenet-v2 10,000 (one 1000-class head), imagenet-r 30,000 (a 200-class head),
  textures 5,640 (OOD: scored with the ImageNet head), coco-5k 5,000 images and 25,010 captions.
"""
from __future__ import annotations


import pandas as pd
import pytest

from clipstudy import datasets as D
from clipstudy.run import estimate as E

CLIP, FT = "ViT-B-32/openai", "timm:vit_base_patch32_clip_224.openai_ft_in1k"
DATA = ["imagenet", "imagenet-v2", "imagenet-r", "textures", "coco-5k"]
PROMPTS = "single,openai80"
IMAGES = 50_000 + 10_000 + 30_000 + 5_640 + 5_000
PROMPTS_CLIP = 1000 * 81 + 200 * 81
CAPTIONS = 25_010
# per axis: shifts and calibration each read imagenet, v2 and r; ood reads textures and its ID set imagenet;
# retrieval reads coco-5k; no other axis has a dataset here
AXIS_IMAGES = 2 * (50_000 + 10_000 + 30_000) + (5_640 + 50_000) + 5_000
AXIS_PROMPTS_CLIP = 2 * PROMPTS_CLIP + 1000 * 81
NO_MEASUREMENTS = pd.DataFrame(columns=list(E.MEASURED_COLUMNS))


@pytest.fixture
def records(shared_data, monkeypatch):
    monkeypatch.setenv("CLIPSTUDY_DATA", str(shared_data))


@pytest.fixture
def nothing_loads(monkeypatch):
    """Loading a model, opening a dataset or reading an image raises."""
    from PIL import Image

    from clipstudy import zoo
    from clipstudy.models import registry
    from clipstudy.run import data, unit

    def boom(*a, **k):
        raise AssertionError("the estimate loaded a model or read data")

    for obj, name in [(zoo, "load"), (registry, "load"), (unit, "load_model"), (data, "open_dataset"),
                      (D.DatasetEntry, "load"), (Image, "open")]:
        monkeypatch.setattr(obj, name, boom)


def _estimate(**kw):
    return E.estimate([CLIP, FT], DATA, prompts=PROMPTS, measured=kw.pop("measured", NO_MEASUREMENTS), **kw)


def test_counts_by_hand_and_no_model_is_loaded(records, nothing_loads):
    e = _estimate()
    assert not e.plan.failed and not e.unpriced
    assert len(e.plan.units) == len(e.plan.todo) == 10  # planned from published sizes: a cold store
    by = e.units.groupby("model")[["images", "prompts", "captions"]].sum()
    assert by.loc[CLIP].tolist() == [IMAGES, PROMPTS_CLIP, CAPTIONS]
    assert by.loc[FT].tolist() == [IMAGES, 0, 0]
    t = e.totals()
    assert (t["units"], t["images"], t["prompts"], t["captions"]) == (10, 2 * IMAGES, PROMPTS_CLIP, CAPTIONS)


def test_per_axis_counts_and_exact_ratio(records):
    e = _estimate()
    t = e.totals()
    assert t["axis_units"] == 2 * (3 + 3 + 2 + 1)
    assert (t["axis_images"], t["axis_prompts"], t["axis_captions"]) == (2 * AXIS_IMAGES, AXIS_PROMPTS_CLIP, CAPTIONS)
    assert t["axis_images"] >= t["images"] and t["axis_prompts"] >= t["prompts"]
    assert t["image_ratio"] == pytest.approx(AXIS_IMAGES / IMAGES, rel=1e-12)
    assert t["gpu_hour_ratio"] >= 1
    per_set = e.by_dataset().set_index("dataset")
    assert per_set.loc["imagenet", "axes"] == 3 and per_set.loc["imagenet-v2", "axes"] == 2
    assert per_set.loc["textures", "axes"] == per_set.loc["coco-5k", "axes"] == 1


def test_gpu_seconds_from_the_published_anchors(records):
    e = _estimate()
    b32, gf, text_gf = E.TIMM_RTX4090[("vit_base_patch32_clip_224", 224)][0], 8.82, 5.96  # model_profile.csv
    clip = e.rates[CLIP]
    assert (clip.source, clip.img_s) == ("published", b32) and "ViT-B-32" in clip.anchor
    assert clip.text_s == pytest.approx(b32 * gf / text_gf)
    ft = e.rates[FT]
    assert (ft.source, ft.img_s, ft.text_s) == ("published", b32, None)
    secs = e.units.groupby("model")["seconds"].sum()
    assert secs[CLIP] == pytest.approx(IMAGES / b32 + (PROMPTS_CLIP + CAPTIONS) / (b32 * gf / text_gf))
    assert secs[FT] == pytest.approx(IMAGES / b32)
    rn50 = E.Rates(NO_MEASUREMENTS).get(__import__("clipstudy").zoo.get("RN50/openai"))  # scaled by GFLOPs
    assert rn50.source == "scaled" and rn50.img_s == pytest.approx(b32 * 8.82 / 12.22) and "ViT-B-32" in rn50.anchor
    big = E.Rates(NO_MEASUREMENTS).get(__import__("clipstudy").zoo.get("ViT-H-14/laion2b_s32b_b79k"))
    assert "ViT-L-14" in big.anchor  # nearer in log GFLOPs to L/14 (162) than B/32 (8.8)


def test_a_measurement_replaces_the_published_figures(records):
    m = pd.DataFrame([dict(arch="ViT-B-32", device="cuda:NVIDIA X", img_s=20_000.0)])
    e = _estimate(measured=m)
    assert e.device == "cuda:NVIDIA X"
    assert (e.rates[CLIP].source, e.rates[CLIP].img_s) == ("measured", 20_000.0)
    factor = 20_000.0 / E.TIMM_RTX4090[("vit_base_patch32_clip_224", 224)][0]
    assert e.rates[FT].img_s == pytest.approx(E.TIMM_RTX4090[("vit_base_patch32_clip_224", 224)][0] * factor)
    rn50 = E.Rates(m).get(__import__("clipstudy").zoo.get("RN50/openai"))
    assert rn50.img_s == pytest.approx(20_000 * 8.82 / 12.22) and "measured" in rn50.anchor


def test_an_lmm_unit_is_planned_without_its_checkpoint_and_priced_as_its_clip(records, nothing_loads, tmp_path,
                                                                           monkeypatch):
    """No LLaVA checkpoint on this machine (an empty HF cache): the estimate still plans the LMM unit, prices its
    CLIP's encoding (ViT-L-14-336's rate) and counts its questions without a price; only the lmm axis reads it."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    lm = "llava:llava-1.5-7b"  # its CLIP: ViT-L-14-336/openai
    e = E.estimate([CLIP, lm], ["imagenet-d", "imagenet"], prompts="single", measured=NO_MEASUREMENTS)
    assert not e.plan.failed and not e.unpriced
    assert sorted((u.model, u.dataset, u.task) for u in e.plan.units if u.model == lm) == [
        (lm, "imagenet", "lmm"), (lm, "imagenet-d", "lmm")]
    clip336 = E.Rates(NO_MEASUREMENTS).get(__import__("clipstudy").zoo.get("ViT-L-14-336/openai"))
    assert e.rates[lm] == clip336 and e.units.set_index("model").loc[lm, "arch"].tolist() == ["ViT-L-14-336"] * 2
    n = D.published_size("imagenet-d").images + D.published_size("imagenet").images
    assert e.questions == {lm: n}
    assert f"{lm} {n:,} questions" in e.markdown() and "not priced" in e.markdown()
    per = e.per_axis
    assert set(per.loc[per["model"] == lm, "axis"]) == {"lmm"} and set(per.loc[per["axis"] == "lmm", "model"]) == {lm}
    with pytest.raises(Exception, match="not found"):  # a real run still asks for the checkpoint
        from clipstudy.run.plan import model_identity
        model_identity(lm, None)


def test_slurm_array_and_wall_time():
    assert E.makespan([3, 3, 2, 2, 2], 2) == 7  # LPT: [3,3] -> [5,3] -> [5,5] -> [7,5]
    assert E.makespan([5, 1], 8) == 5 and E.makespan([], 4) == 0


def test_slurm_of_the_grid(records):
    e = _estimate(gpus=3, time_min=1)
    s = e.slurm()
    assert s["array_size"] == 10 and s["axis_array_size"] == 18 and s["gpus"] == 3
    secs = e.units["seconds"]
    assert s["wall_hours"] * 3600 >= max(secs.max(), secs.sum() / 3) - 1e-9
    assert s["over_time_limit"] == int((secs > 60).sum())
    text = e.markdown()
    assert "--array=0-9%3" in text and "per axis / once" in text and "timm vit_base_patch32_clip_224" in text


def test_names_without_a_published_size_fail_their_units(records):
    e = E.estimate([CLIP], ["imagenet", "lab-val", "imagefolder:/nowhere"], measured=NO_MEASUREMENTS)
    assert [u.dataset for u in e.plan.units] == ["imagenet"]
    failed = {r.dataset: r.error for r in e.plan.failed}
    assert set(failed) == {"lab-val", "imagefolder:/nowhere"} and "no published size" in failed["lab-val"]
    assert "not planned: ViT-B-32/openai x lab-val" in e.markdown()


def test_every_family_has_a_published_size_that_matches_its_classes():
    assert set(D.PUBLISHED) == set(D.REGISTRY)
    for name, size in D.PUBLISHED.items():
        assert size.images > 0 and size.source, name
        entry = D.get(name)
        if entry.task == "retrieval":
            assert size.classes == 0 and size.captions > 0, name
        elif entry.task == "ood":
            assert (size.classes, size.head) == (1000, "imagenet-1k"), name  # scored with the ID head
        elif D.family_of(name) != "objectnet":  # its class list needs the release's mapping files (or the wds repo)
            assert size.classes == len(entry.classnames()), name


def test_cli_prints_the_estimate_and_writes_nothing(records, nothing_loads, tmp_path, monkeypatch, capsys):
    from clipstudy import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--dry-run", "--estimate", "--models", CLIP, "--datasets", "imagenet,coco-5k",
                     "--gpus", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| ViT-B-32 |" in out and "--array=0-1%2" in out and f"{50_000 + 5_000:,} images" in out
    assert list(tmp_path.iterdir()) == []  # no study folder, no sbatch script


def test_recorded_measurements_are_read_back_fastest_first(tmp_path):
    f = tmp_path / "throughput.csv"
    E.record_throughput([dict(arch="ViT-B-32", device="cuda:G", img_s=9_000.0)], f)
    E.record_throughput([dict(arch="ViT-B-32", device="cuda:G", img_s=12_000.0),
                         dict(arch="ViT-L-14", device="cpu", img_s=30.0)], f)  # CPU rows price no GPU
    m = E.measurements(f)
    assert m[["arch", "img_s"]].values.tolist() == [["ViT-B-32", 12_000.0]]
    with pytest.raises(Exception, match="img_s"):
        E.record_throughput([dict(arch="x", device="cuda")], f)
