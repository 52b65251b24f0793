"""CLIP_benchmark's webdatasets (`wds/NAME`, `wds:PATH`) against the local hub of tests/hubserver.py.

Tiny shards in the real layout (`test/nshards.txt`, `test/{i}.tar` with KEY.webp|png|jpg + KEY.cls or KEY.txt,
`classnames.txt`, `dataset_type.txt`) are made from generated images; the model is the 1.5 MB timm test model
the weights tests serve (`timm/test_vit.r160_in1k`, random weights)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import safetensors.torch
import timm
import torch
from fixtures_wds import classification, image_bytes, layout, shard, write
from hubserver import closed_port

from clipstudy import cli, datasets, results
from clipstudy.datasets import wds
from clipstudy.errors import ChecksumError, FetchError
from clipstudy.run import data as run_data

TINY = "timm:test_vit.r160_in1k"
V2 = "clip-benchmark/wds_imagenetv2"


def imagenet_names() -> list[str]:
    return datasets.get("imagenet").classnames()


@pytest.fixture
def hub(local_hub):
    """The local hub (conftest) holding the tiny timm model and wds_imagenetv2 (6 images in 2 shards)."""
    h = local_hub
    torch.manual_seed(11)
    h.add("timm/test_vit.r160_in1k", "model.safetensors",
          safetensors.torch.save(dict(timm.create_model("test_vit.r160_in1k", pretrained=False).state_dict())))
    h.add("timm/test_vit.r160_in1k", "config.json", b'{"architecture": "test_vit"}')
    for name, data in layout(imagenet_names(), classification(6, 1000)).items():
        h.add(V2, name, data, repo_type="dataset")
    return h


def blobs(home: Path, repo: str = V2) -> list[Path]:
    return list((home / "hub" / f"datasets--{repo.replace('/', '--')}" / "blobs").glob("*"))


def test_eval_downloads_encodes_writes_a_row_then_runs_from_the_cache_with_the_hub_stopped(hub, tmp_path, point_hub,
                                                                                              capsys):
    home, out = tmp_path / "hf", tmp_path / "out"
    point_hub(hub.url, home)
    assert cli.main(["eval", TINY, "wds/imagenetv2", "--device", "cpu", "--precision", "fp32",
                     "--out", str(out)]) == 0
    first = results.read(out / "eval.csv")
    assert list(first.dataset.unique()) == ["wds/imagenetv2"] and set(first.n) == {6}
    assert "top1" in set(first.metric)
    asked = [p for m, p, _ in hub.log if m == "HEAD" and p.startswith(f"/datasets/{V2}/")]
    # the branch is resolved once; every shard is then asked for at that commit, and its bytes fetched (LFS)
    assert asked[0].endswith("/resolve/main/test/nshards.txt")
    assert {p.split("/resolve/")[1] for p in asked if p.endswith(".tar")} == \
        {f"{hub.commit}/test/0.tar", f"{hub.commit}/test/1.tar"}
    assert sum(m == "GET" and p.startswith("/lfs/") for m, p, _ in hub.log) >= 2
    assert len(blobs(home)) == 6  # nshards, 2 shards, classnames, dataset_type, templates
    capsys.readouterr()

    hub.close()  # the hub is gone: the next run is served from the cache, quickly, and says so
    point_hub(f"http://127.0.0.1:{closed_port()}", home)
    t0 = time.monotonic()
    assert cli.main(["eval", TINY, "wds/imagenetv2", "--device", "cpu", "--precision", "fp32",
                     "--out", str(out)]) == 0
    assert time.monotonic() - t0 < 15
    err = capsys.readouterr().err
    assert "using the cached clip-benchmark/wds_imagenetv2" in err and "HF_HUB_OFFLINE=1" in err
    again = results.read(out / "eval.csv")
    assert len(again) == len(first)  # the same row set, replaced in place
    assert again.value.tolist() == first.value.tolist()


def test_a_shard_whose_bytes_differ_from_the_hub_checksum_is_refused_and_deleted(hub, tmp_path, point_hub):
    home = tmp_path / "hf"
    point_hub(hub.url, home)
    sha = hub.repos[f"datasets/{V2}"]["test/1.tar"]
    import hashlib

    want = hashlib.sha256(sha).hexdigest()
    hub.faults["test/1.tar"] = "corrupt"  # the hub's sha256, other bytes of the same length
    with pytest.raises(ChecksumError, match=r"test/1\.tar arrived damaged: sha256 .* the hub says " + want):
        datasets.load("wds/imagenetv2")
    assert want not in {p.name for p in blobs(home)}  # deleted: never read
    assert not list((home / "hub").rglob("test/1.tar"))
    hub.faults.clear()
    ds = datasets.load("wds/imagenetv2")  # fetched again, whole
    assert len(ds) == 6 and want in {p.name for p in blobs(home)}


def test_offline_reads_only_the_cache_and_a_missing_repo_says_how_to_get_it(hub, tmp_path, point_hub, monkeypatch):
    home = tmp_path / "hf"
    point_hub(hub.url, home)
    ds = datasets.load("wds/imagenetv2")
    n = len(hub.log)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert datasets.load("wds/imagenetv2").fingerprint() == ds.fingerprint()
    assert len(hub.log) == n  # never asked
    with pytest.raises(FetchError, match="wds_imagenet-r is not in the local hub cache and offline mode is on"):
        datasets.load("wds/imagenet-r")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(FetchError, match="has no dataset repo clip-benchmark/wds_imagenet-a"):
        datasets.load("wds/imagenet-a")


def test_the_key_holds_repo_commit_and_shard_hashes(hub, tmp_path, point_hub):
    point_hub(hub.url, tmp_path / "hf")
    ds = datasets.load("wds/imagenetv2")
    snap = ds.snapshot
    assert snap.repo == V2 and snap.commit == hub.commit
    shards = dict(snap.hashes)
    assert set(shards) >= {"test/0.tar", "test/1.tar", "test/nshards.txt", "classnames.txt"}
    import hashlib

    assert shards["test/0.tar"] == hashlib.sha256(hub.repos[f"datasets/{V2}"]["test/0.tar"]).hexdigest()
    fp = ds.fingerprint()
    # a new revision with one shard changed: another commit, another hash, another key
    hub.commit = "f" * 40
    hub.add(V2, "test/1.tar", shard(classification(6, 1000)[1][:2]), repo_type="dataset")
    new = datasets.load("wds/imagenetv2")
    assert new.snapshot.commit == "f" * 40 and len(new) == 5 and new.fingerprint() != fp
    pinned = datasets.load(f"wds/imagenetv2@{'0123456789abcdef0123456789abcdef01234567'}")
    assert pinned.fingerprint() == fp  # the old commit, from the cache


def test_each_name_reads_as_its_folder_family(tmp_path):
    """wds:PATH folders named wds_NAME (what `hf download --local-dir` gives) read as the family."""
    r = write(tmp_path / "wds_imagenet-r", layout(datasets.get("imagenet-r").classnames(), classification(5, 200, 1)))
    ds = datasets.load(f"wds:{r}")
    folder = datasets.get("imagenet-r")
    assert ds.classnames == folder.classnames() and len(ds.classnames) == 200
    from clipstudy.datasets import synset_folders

    assert list(ds.imagenet_indices) == list(synset_folders.imagenet_indices("imagenet-r"))
    assert ds[0][0].shape[0] == 3 and ds[0][1] == 0 and ds[0][2] == "s0000000"
    assert datasets.family_of("wds/imagenet-r") == "imagenet-r" == datasets.family_of(f"wds:{r}")

    o = write(tmp_path / "wds_imagenet-o", layout([f"c{i}" for i in range(200)], classification(4, 200, 1)))
    d = run_data.open_dataset(f"wds:{o}")
    assert d.task == "ood" and set(d.dataset.labels) == {-1} and d.id_set == "wds/imagenet1k"
    assert len(d.classnames) == 1000  # scored with the ID head, as the folder form
    assert list(d.frame["group"][:2]) == ["c0", "c7"]

    caps = [{"__key__": f"i{i}", "jpg": image_bytes(i, "JPEG"), "txt": f"a cat {i}\na dog {i}\n".encode()}
            for i in range(3)]
    c = write(tmp_path / "wds_mscoco_captions", layout([], [caps], kind="retrieval"))
    d = run_data.open_dataset(f"wds:{c}")
    assert d.task == "retrieval" and d.texts[:2] == ["a cat 0", "a dog 0"] and d.image_to_texts[2] == [4, 5]
    assert datasets.family_of("wds/mscoco_captions") == "coco-5k"

    mine = write(tmp_path / "mine", layout(["red", "green"], classification(4, 2, 1)))
    d = run_data.open_dataset(f"wds:{mine}")
    assert d.task == "classification" and d.classnames == ["red", "green"]
    fp = d.fingerprint
    (mine / "test" / "0.tar").write_bytes(shard(classification(3, 2, 1)[0]))
    assert run_data.open_dataset(f"wds:{mine}").fingerprint != fp  # a changed shard is another key

    bad = write(tmp_path / "wds_imagenetv2", layout(["a", "b"], classification(2, 2, 1)))
    with pytest.raises(Exception, match="classnames.txt has 2 classes, but imagenet-v2 has 1000"):
        datasets.load(f"wds:{bad}")


def test_datasets_command_names_the_wds_forms_and_the_families_without_one(capsys):
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in wds.names():
        assert f"{name}  [" in out
    assert "read as imagenet-r" in out and "as a webdataset: wds/imagenetv2" in out
    for fam in ("imagenet-x", "imagenet-3dcc", "imagenet-d"):
        block = out.split(f"\n{fam}  [")[1].split("\n\n")[0]
        assert "no wds form" in block and "the only one" in block


def test_chapters_read_wds_rows_as_their_family_and_prefer_the_folder_form():
    import pandas as pd

    from clipstudy.chapter import as_families

    row = dict(axis="shifts", part="all", metric="top1", n=6, prompts="openai80", precision="fp32")
    df = pd.DataFrame([dict(row, model="a", dataset="wds/imagenetv2", value=0.1),
                       dict(row, model="b", dataset="wds/imagenetv2", value=0.2),
                       dict(row, model="b", dataset="imagenet-v2", value=0.3),
                       dict(row, model="b", dataset="wds/mscoco_captions", value=0.4)])
    got = as_families(df)
    assert got[["model", "dataset", "value", "data_form"]].values.tolist() == [
        ["a", "imagenet-v2", 0.1, "wds/imagenetv2"], ["b", "imagenet-v2", 0.3, "imagenet-v2"],
        ["b", "coco-5k", 0.4, "wds/mscoco_captions"]]


def test_a_classifier_is_not_scored_on_a_set_with_its_own_classes(tmp_path):
    """wds/objectnet names its 113 classes with no map into ImageNet's 1000: a classifier's logits cannot be
    read against them, so it is an error, not a silent number."""
    from clipstudy import zeroshot, zoo
    from clipstudy.errors import ClipstudyError
    from clipstudy.models.spec import Loaded

    on = write(tmp_path / "wds_objectnet", layout([f"o{i}" for i in range(113)], classification(3, 113, 1)))
    ds = datasets.load(f"wds:{on}")
    assert ds.own_classes and ds.imagenet_indices is None and len(ds.classnames) == 113
    with pytest.raises(ClipstudyError, match="only a zero-shot CLIP scores it"):
        classifier = torch.nn.Identity()
        classifier.is_classifier = True
        zeroshot.run(Loaded(classifier, lambda im: im, None, zoo.get(TINY), weights_id="w"), ds,
                     dataset_id="wds/objectnet", device="cpu")
