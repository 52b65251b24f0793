"""OOD image folders and Karpathy-split retrieval sets on miniature copies of their layouts."""
from __future__ import annotations

import json

import pytest

import clipstudy.datasets as D
import fixtures_layouts as F
from clipstudy.errors import ClipstudyError, MissingDataError, SchemaError


@pytest.mark.parametrize("name", list(F.OOD_LAYOUT))
def test_ood_sets(tmp_path, name, monkeypatch):
    files = F.make_ood(tmp_path / name, name)
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))
    ds = D.load(name)
    assert len(ds) == len(files)
    assert set(ds.labels) == {-1}
    assert all(k in "\n".join(files) for k in ds.keys)
    img, label, _ = ds[0]
    assert img.shape == (3, 8, 8) and label == -1


def test_ood_groups_and_ninco_uses_ood_classes_only(tmp_path):
    F.make_ood(tmp_path, "ninco")
    ds = D.load("ninco", tmp_path)
    assert sorted(ds.frame.group) == ["amphiuma_means", "caracal_caracal"]  # unit tests are left out
    F.make_ood(tmp_path / "t", "textures")
    assert sorted(D.load("textures", tmp_path / "t").frame.group) == ["banded", "zigzagged"]


@pytest.mark.parametrize("name", list(F.OOD_LAYOUT))
def test_ood_empty_and_missing(tmp_path, name):
    with pytest.raises(MissingDataError, match=f"clipstudy fetch {name}"):
        D.load(name, tmp_path / "absent")
    inner = F.OOD_LAYOUT[name][0].split("/")[0]
    (tmp_path / inner).mkdir()
    with pytest.raises(MissingDataError, match="Expected layout"):
        D.load(name, tmp_path)


def test_ood_corrupt_image_skipped(tmp_path):
    F.make_ood(tmp_path, "sun")
    ds = D.load("sun", tmp_path)
    F.corrupt(ds.paths[0])
    assert ds[0][0] is None and ds.skipped == [ds.keys[0]]


@pytest.mark.parametrize("name", ["coco-5k", "flickr30k-1k"])
def test_retrieval_five_captions_per_image(tmp_path, name):
    expect = F.make_retrieval(tmp_path, name, n_test=3)
    ds = D.load(name, tmp_path)
    assert len(ds) == 3 and ds.keys == list(expect)  # test split only, in file order
    assert ds.labels == [0, 1, 2]
    assert len(ds.texts) == 15
    for i, key in enumerate(ds.keys):
        assert [ds.texts[t] for t in ds.image_to_texts[i]] == expect[key]
        assert all(ds.text_to_image[t] == i for t in ds.image_to_texts[i])
    assert ds.text_to_image.tolist() == [i for i in range(3) for _ in range(5)]
    img, label, key = ds[2]
    assert img.shape == (3, 8, 8) and label == 2 and key == ds.keys[2]


@pytest.mark.parametrize("name", ["coco-5k", "flickr30k-1k"])
def test_retrieval_missing_image_error_or_counted_skip(tmp_path, name):
    expect = F.make_retrieval(tmp_path, name, n_test=4, missing=1)
    with pytest.raises(ClipstudyError, match="1 of 4 images"):
        D.load(name, tmp_path)
    ds = D.load(name, tmp_path, on_missing="skip")
    assert len(ds) == 3 and len(ds.missing_images) == 1 and ds.keys == list(expect)
    assert len(ds.texts) == 15 and ds.text_to_image.max() == 2  # captions of the missing image are dropped


def test_retrieval_missing_captions_file_and_bad_schema(tmp_path):
    (tmp_path / "val2014").mkdir()
    with pytest.raises(MissingDataError, match="dataset_coco.json"):
        D.load("coco-5k", tmp_path)
    (tmp_path / "dataset_coco.json").write_text(json.dumps({"images": [{"file": "x.jpg"}]}))
    with pytest.raises(SchemaError, match="Karpathy"):
        D.load("coco-5k", tmp_path)


def test_flickr_missing_explains_manual_download(tmp_path):
    with pytest.raises(MissingDataError, match="flickr30k-images"):
        D.load("flickr30k-1k", tmp_path / "none")
