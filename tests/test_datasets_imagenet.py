"""ImageNet-family loaders on miniature copies of their real layouts, and their bad-input paths."""
from __future__ import annotations


import numpy as np
import pytest
import torch

import clipstudy.datasets as D
import fixtures_layouts as F
from clipstudy.datasets import imagenet
from clipstudy.errors import ClipstudyError, MissingDataError, UnknownNameError


def keys_labels(ds) -> dict:
    return dict(zip(ds.frame.key, ds.frame.label))


# ---------------------------------------------------------------- class lists and mappings

def test_imagenet_class_lists_agree():
    assert len(imagenet.wnids()) == 1000 == len(imagenet.classnames())
    assert imagenet.wnids() == sorted(imagenet.wnids())
    # the imagenet-x package ships the same synset order
    from imagenet_x.utils import get_annotation_path
    import pandas as pd

    x = pd.read_csv(get_annotation_path() / "imagenet_labels.txt", names=["wnid", "name"])
    assert x.wnid.tolist() == imagenet.wnids()
    assert imagenet.classnames()[0] == "tench"


@pytest.mark.parametrize("name", ["imagenet-r", "imagenet-a"])
def test_200_class_subsets(name):
    mod = D.get(name).mod  # one module for the synset-folder format: ImageNet-R, -A and -Sketch
    assert mod is D.get("imagenet-sketch").mod
    idx = mod.imagenet_indices(name)
    assert len(idx) == 200 == len(set(idx)) == len(mod.classnames(name)) == len(D.get(name).classnames())
    assert list(idx) == sorted(idx)  # sorted synsets <-> sorted indices
    assert [imagenet.classnames()[i] for i in idx] == mod.classnames(name)
    assert [imagenet.wnids()[i] for i in idx] == mod.wnids(name)


# ---------------------------------------------------------------- loaders read the real layouts

def test_imagenet_val_synset_folders(tmp_path, monkeypatch):
    expect = F.make_imagenet(tmp_path / "imagenet")
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))
    ds = D.load("imagenet")  # default root: $CLIPSTUDY_DATA/imagenet
    assert keys_labels(ds) == expect
    img, label, key = ds[0]
    assert isinstance(img, torch.Tensor) and img.shape == (3, 8, 8)
    assert label == expect[key]
    assert ds.class_mask is None and len(ds.classnames) == 1000


def test_imagenet_val_flat_uses_real_file_labels(tmp_path):
    expect = F.make_imagenet(tmp_path, flat=True)
    ds = imagenet.load(tmp_path)
    assert keys_labels(ds) == expect


def test_imagenet_v2_index_folders(tmp_path):
    expect = F.make_imagenet_v2(tmp_path)
    ds = D.load("imagenet-v2", tmp_path)
    assert {k: v for k, v in keys_labels(ds).items()} == expect
    assert sorted(set(ds.labels)) == [0, 1, 999]


def test_imagenet_sketch(tmp_path):
    expect = F.make_sketch(tmp_path)
    ds = D.load("imagenet-sketch", tmp_path)
    assert keys_labels(ds) == expect
    assert expect["n15075141/sketch_0.JPEG"] == 999


@pytest.mark.parametrize("name", ["imagenet-r", "imagenet-a"])
def test_200_class_loader_labels_and_head_mask(tmp_path, name):
    wnids = D.get(name).mod.wnids(name)
    chosen = [wnids[0], wnids[57], wnids[199]]
    expect = F.make_subset200(tmp_path, name, chosen)
    ds = D.load(name, tmp_path)
    assert len(ds) == 6
    for key, label in keys_labels(ds).items():
        wnid = expect[key]
        assert label == wnids.index(wnid)  # label over the 200 classes
        assert ds.imagenet_indices[label] == imagenet.wnid_to_index()[wnid]  # -> the 1000-class head
    mask = ds.class_mask
    assert mask.dtype == bool and mask.sum() == 200
    # scoring on the matching subset of a 1000-way head
    logits = torch.full((1, 1000), -5.0)
    hot = imagenet.wnid_to_index()[chosen[1]]
    logits[0, hot] = 5.0
    logits[0, 3] = 9.0  # a class outside the subset must not win
    assert not mask[3]
    assert int(logits[:, torch.from_numpy(mask)].argmax()) == 57


def test_objectnet_mapping(tmp_path):
    expect = F.make_objectnet(tmp_path)
    ds = D.load("objectnet", tmp_path)
    assert ds.classnames == ["alarm clock", "backpack", "banana"]
    assert ds.imagenet_indices == [expect["alarm_clock"], expect["backpack"], expect["banana"]]
    assert set(ds.frame.folder) == {"alarm_clock", "backpack", "banana"}  # air_freshener has no ImageNet class
    assert len(ds) == 6
    assert set(np.flatnonzero(ds.class_mask)) == {409, 530, 414, 954}
    logits = torch.zeros(2, 1000)
    logits[0, 530] = 3.0  # digital clock -> alarm clock
    logits[1, 954] = 2.0
    logits[1, 409] = 1.0
    proj = ds.project_logits(logits)
    assert proj.shape == (2, 3)
    assert proj.argmax(1).tolist() == [0, 2]
    img, _, _ = ds[0]
    assert img.shape == (3, 4, 4)  # the 2-px border is cropped off the 8x8 image


def test_objectnet_missing_mapping_file(tmp_path):
    F.make_objectnet(tmp_path)
    (tmp_path / "objectnet-1.0/mappings/objectnet_to_imagenet_1k.json").unlink()
    with pytest.raises(MissingDataError, match="objectnet_to_imagenet_1k.json"):
        D.load("objectnet", tmp_path)


def test_imagenet_x_joins_real_annotations_by_file_name(tmp_path):
    expect = F.make_imagenet(tmp_path, n_classes=2)
    ds = D.load("imagenet-x", tmp_path)
    assert keys_labels(ds) == expect
    from imagenet_x import FACTORS, load_annotations

    ann = load_annotations().set_index("file_name")
    for _, row in ds.frame.iterrows():
        for f in FACTORS:
            assert row[f] == ann.loc[row.file_name, f]
        assert row.metaclass == ann.loc[row.file_name, "metaclass"]
    assert len(ds.missing_images) == len(ann) - len(ds)


def test_imagenet_x_rejects_missorted_val(tmp_path):
    F.make_imagenet(tmp_path, n_classes=2)
    val = tmp_path / "val"
    a, b = sorted(p for p in val.iterdir())
    f = next(a.iterdir())
    f.rename(b / f.name)  # an image in the wrong class folder
    with pytest.raises(ClipstudyError, match="mis-sorted"):
        D.load("imagenet-x", tmp_path)


def test_imagenet_3dcc(tmp_path):
    n = F.make_3dcc(tmp_path)
    ds = D.load("imagenet-3dcc", tmp_path)
    assert len(ds) == n == 8
    assert set(ds.frame.corruption) == {"fog_3d", "near_focus"}
    assert set(ds.frame.severity) == {1, 5}
    assert set(ds.labels) == {0, 1}
    one = D.load("imagenet-3dcc", tmp_path, corruption="fog_3d", severity=5)
    assert len(one) == 2 and set(one.frame.severity) == {5}
    with pytest.raises(UnknownNameError):
        D.load("imagenet-3dcc", tmp_path, corruption="fog")


def test_imagenet_d(tmp_path):
    n = F.make_imagenet_d(tmp_path)
    ds = D.load("imagenet-d", tmp_path)
    assert len(ds) == n == 9
    assert len(ds.classnames) == 113 and ds.classnames[19] == "coffee or french press"
    lab = dict(zip(ds.frame.key, ds.frame.label))
    assert lab["background/wok/wok_background_0.jpg"] == 112
    assert ds.imagenet_indices[0] == [409, 530] and ds.imagenet_indices[112] == [909]
    assert set(ds.frame.subset) == {"background", "texture", "material"}
    assert "background" in ds.questions
    assert len(D.load("imagenet-d", tmp_path, subset="texture")) == 3


# ---------------------------------------------------------------- bad input, every class-folder family

# name -> (maker, folder that holds the class folders, an image-file suffix)
FAMILIES = {
    "imagenet": (F.make_imagenet, "val", ".JPEG"),
    "imagenet-v2": (F.make_imagenet_v2, "imagenetv2-matched-frequency-format-val", ".jpeg"),
    "imagenet-sketch": (F.make_sketch, "sketch", ".JPEG"),
    "imagenet-r": (lambda r: F.make_subset200(r, "imagenet-r", ["n01443537", "n01484850"]), "imagenet-r", ".jpg"),
    "imagenet-a": (lambda r: F.make_subset200(r, "imagenet-a", ["n01498041", "n01531178"]), "imagenet-a", ".jpg"),
    "objectnet": (F.make_objectnet, "objectnet-1.0/images", ".png"),
    "imagenet-3dcc": (F.make_3dcc, "fog_3d/1", ".JPEG"),
    "imagenet-d": (F.make_imagenet_d, "ImageNet-D/background", ".jpg"),
    "cue-conflict": (F.make_cue_conflict, "", ".png"),
    "edges": (F.make_plain_stimuli, "", ".png"),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_missing_folder_names_layout_and_how_to_get_it(tmp_path, name):
    with pytest.raises(MissingDataError) as e:
        D.load(name, tmp_path / "nothing-here")
    msg = str(e.value)
    assert "Expected layout" in msg and "Get it with" in msg
    if D.get(name).fetchable:
        assert f"clipstudy fetch {name}" in msg


@pytest.mark.parametrize("name", FAMILIES)
def test_empty_folder(tmp_path, name):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="Expected layout"):
        D.load(name, tmp_path / "empty")


@pytest.mark.parametrize("name", FAMILIES)
def test_wrong_layout_flat_images(tmp_path, name):
    """Loose images where class folders belong (e.g. an archive unpacked one level too deep/shallow)."""
    F.image(tmp_path / "photo_1.jpg")
    F.image(tmp_path / "photo_2.jpg")
    with pytest.raises(ClipstudyError, match="Expected layout"):
        D.load(name, tmp_path)


@pytest.mark.parametrize("name", FAMILIES)
def test_unknown_class_folder(tmp_path, name):
    maker, sub, suffix = FAMILIES[name]
    maker(tmp_path)
    F.image(tmp_path / sub / "n99999999" / f"x{suffix}")
    with pytest.raises(ClipstudyError, match="n99999999"):
        D.load(name, tmp_path)


@pytest.mark.parametrize("name", FAMILIES)
def test_corrupt_image_is_a_counted_skip(tmp_path, name):
    maker, sub, suffix = FAMILIES[name]
    maker(tmp_path)
    ds = D.load(name, tmp_path)
    F.corrupt(ds.paths[1])
    img, label, key, note = ds[1]
    assert img is None and label == ds.labels[1] and key == ds.keys[1] and note.startswith("unreadable")
    assert ds.skipped == [key]
    assert ds[0][0] is not None
    again = D.load(name, tmp_path, verify=True)  # scanning up front finds it before any encode
    assert again.skipped == [key]


def test_engine_collate_skips_and_names_corrupt_images(tmp_path):
    from torch.utils.data import DataLoader

    from clipstudy.encode import collate_skip

    F.make_imagenet_v2(tmp_path)
    ds = D.load("imagenet-v2", tmp_path)
    F.corrupt(ds.paths[2])
    batches = list(DataLoader(ds, batch_size=4, collate_fn=collate_skip))
    n_ok = sum(len(b[2]) for b in batches)
    bad = [k for b in batches for k, _ in b[3]]
    assert n_ok == len(ds) - 1 and bad == [ds.keys[2]]


# ---------------------------------------------------------------- registry

def test_registry_names_and_unknown_name():
    assert {"imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a", "objectnet", "imagenet-x",
            "cue-conflict", "edges", "silhouettes", "inaturalist", "sun", "places", "textures", "ninco",
            "imagenet-o", "coco-5k", "flickr30k-1k", "imagenet-3dcc", "imagenet-d"} == \
        {n for n in D.names() if not n.startswith("wds/")}
    from clipstudy.datasets import wds

    assert {n for n in D.names() if n.startswith("wds/")} == set(wds.names())
    with pytest.raises(UnknownNameError, match="imagenet-r"):
        D.get("imagenet_r")
    for n in D.names():
        assert D.get(n).layout.strip()
    assert set(D.names("ood")) == {"inaturalist", "sun", "places", "textures", "ninco", "imagenet-o", "wds/imagenet-o"}


@pytest.mark.parametrize("name", ["imagenet", "objectnet", "imagenet-d"])
def test_no_public_download_explains_how(name):
    with pytest.raises(MissingDataError) as e:
        D.fetch(name)
    assert "Get it with" in str(e.value)
