"""Issue 12 faults: stale cache identity, damaged or unusable caches, outputs, images, interruptions.

Each test sets up one bad input or fault, as a user would meet it, and checks the clear error or the
correct result, and that nothing finished is lost.
"""
from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torchvision.transforms.functional import to_tensor

from clipstudy import cli, datasets, encode, results
from clipstudy.cache import FeatureCache
from clipstudy.store import CacheError, atomic_save, safe_load
from clipstudy.datasets import imagefolder

from test_encode import Counting, tiny_clip


def _tf(img):
    return to_tensor(img.resize((32, 32)))


def _folder(root: Path, seed: int, n: int = 3, classes=("cat", "dog")) -> Path:
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for j in range(n):
            Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(root / c / f"{c}{j}.png")
    return root


def _encode(model, ds, cache, **kw):
    return encode.encode_images(model, ds, precision="fp32", model_id="tiny", dataset_id="mine", weights="w",
                                cache=cache,
                                progress=False, **kw)


# ----------------------------------------------------------------- identity: no stale features

def test_same_name_same_count_other_folder_is_another_entry(tmp_path):
    a, b = _folder(tmp_path / "A", 0), _folder(tmp_path / "B", 1)
    cache, model = FeatureCache(tmp_path / "c"), Counting(tiny_clip())
    fa = _encode(model, imagefolder.load(a, transform=_tf), cache)
    fb = _encode(model, imagefolder.load(b, transform=_tf), cache)
    assert not fb.from_cache and model.n == 12
    assert not torch.allclose(fa.features, fb.features)
    assert _encode(model, imagefolder.load(a, transform=_tf), cache).from_cache and model.n == 12


def test_repairing_a_broken_image_brings_no_stale_skip_list(tmp_path):
    a = _folder(tmp_path / "A", 0)
    good = (a / "dog" / "dog1.png").read_bytes()
    (a / "dog" / "dog1.png").write_bytes(b"\x89PNG broken")
    cache, model = FeatureCache(tmp_path / "c"), tiny_clip()
    first = _encode(model, imagefolder.load(a, transform=_tf), cache)
    assert first.skipped == ["dog/dog1.png"] and first.notes["dog/dog1.png"].startswith("unreadable")
    (a / "dog" / "dog1.png").write_bytes(good)  # same count of files, repaired
    again = _encode(model, imagefolder.load(a, transform=_tf), cache)
    assert not again.from_cache and again.skipped == [] and len(again) == 6


def test_eval_csv_keeps_one_row_per_folder(tmp_path, monkeypatch):
    a, b = _folder(tmp_path / "A", 0), _folder(tmp_path / "B", 1)
    out = tmp_path / "res"
    for root in (a, b, a):
        assert cli.main(["eval", "RN50/random", f"imagefolder:{root}", "--prompts", "single", "--device", "cpu",
                         "--out", str(out), "--limit", "2"]) == 0
    df = pd.read_csv(out / "eval.csv")
    assert sorted(set(df.root)) == [str(a.resolve()), str(b.resolve())]
    assert len(df) == 2 * df.metric.nunique()  # A's rows were replaced by the second run on A, not B's


# ----------------------------------------------------------------- outputs checked before the run

@pytest.mark.parametrize("content,ok", [(b"", True), (b"name,score\nx,1\n", False), (b"\xff\xfe\x00bad", False)])
def test_eval_csv_empty_or_foreign(tmp_path, capsys, content, ok):
    out = tmp_path / "res"
    out.mkdir()
    (out / "eval.csv").write_bytes(content)
    rc = cli.main(["eval", "RN50/random", "edges", "--out", str(out), "--root", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    if ok:  # an empty file is an empty table: the run goes on to the next check (the missing dataset)
        assert rc == 2 and "edges dataset not found" in err
    else:  # refused before the model or the data is touched, and the file is left as it was
        assert rc == 2 and "not a clipstudy results table" in err and "edges" not in err
        assert (out / "eval.csv").read_bytes() == content


def test_out_pointing_at_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert cli.main(["eval", "RN50/random", "edges", "--out", str(tmp_path / "f")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


def test_cache_path_that_is_a_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "cachefile").write_text("x")
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path / "cachefile"))
    assert cli.main(["eval", "RN50/random", "edges", "--out", str(tmp_path / "o")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_read_only_cache_serves_complete_entries_and_refuses_new_work_up_front(tmp_path, read_only):
    a = _folder(tmp_path / "A", 0)
    cache, model = FeatureCache(tmp_path / "c"), Counting(tiny_clip())
    ds = imagefolder.load(a, transform=_tf)
    first = _encode(model, ds, cache)
    # make the cache unwritable: the request log can no longer be appended, and no file can be made in its root
    (cache.root / "requests.jsonl").unlink()
    (cache.root / "requests.jsonl").mkdir()
    read_only(cache.root)
    with pytest.warns(UserWarning, match="not writable"):
        again = _encode(model, ds, cache)
    assert again.from_cache and torch.equal(again.features, first.features)
    with pytest.raises(CacheError, match="read-only"):  # other weights: must compute, refused before any image
        encode.encode_images(model, ds, precision="fp32", model_id="tiny", dataset_id="mine", weights="w2", cache=cache,
                             progress=False)
    assert model.n == 6


def test_concurrent_upserts_lose_no_rows(tmp_path):
    path = tmp_path / "eval.csv"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_upsert_many, args=(path, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    df = pd.read_csv(path)
    assert len(df) == 4 * 10 and not df.duplicated(["model", "dataset"]).any()


def _upsert_many(path, w):
    for i in range(10):
        row = pd.DataFrame([dict(model=f"m{w}", dataset=f"d{i}", prompts="single", metric="top1", value=0.5,
                                 precision="fp32", root="")])
        results.upsert(path, row)


# ----------------------------------------------------------------- damaged or failing cache files

@pytest.mark.parametrize("meta", [b"{not json", b"", b'{"n": 6}', b"[1, 2]"])
def test_damaged_meta_json_is_recomputed(tmp_path, meta):
    a = _folder(tmp_path / "A", 0)
    cache, model = FeatureCache(tmp_path / "c"), Counting(tiny_clip())
    ds = imagefolder.load(a, transform=_tf)
    first = _encode(model, ds, cache, shard_size=4)
    (entry,) = [p for p in cache.root.iterdir() if p.is_dir()]
    (entry / "meta.json").write_bytes(meta)
    again = _encode(model, ds, cache, shard_size=4)
    assert not again.from_cache and torch.allclose(again.features, first.features, atol=1e-6)
    assert model.n == 6  # the shards were intact: they were reused, nothing re-encoded
    assert _encode(model, ds, cache, shard_size=4).from_cache


def test_disk_full_says_so_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    def full(obj, f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CacheError, match="no space left on"):
        atomic_save({"x": torch.zeros(3)}, tmp_path / "e" / "shard-00000.pt")
    assert list((tmp_path / "e").iterdir()) == []


def test_cache_files_are_group_readable(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_save({"x": torch.zeros(1)}, tmp_path / "a.pt")
    finally:
        os.umask(old)
    assert (tmp_path / "a.pt").stat().st_mode & 0o040


class _Evil:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["EVIL_MARKER"]),))


def test_cache_loads_with_weights_only(tmp_path, monkeypatch):
    monkeypatch.setenv("EVIL_MARKER", str(tmp_path / "executed"))
    torch.save({"x": _Evil()}, tmp_path / "shard.pt")
    assert safe_load(tmp_path / "shard.pt") is None  # refused as damage, never executed
    assert not (tmp_path / "executed").exists()


def test_a_load_failing_for_another_reason_keeps_the_file(tmp_path, monkeypatch):
    atomic_save({"x": torch.zeros(1)}, tmp_path / "a.pt")

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(torch, "load", denied)
    with pytest.raises(CacheError, match="the file was kept"):
        safe_load(tmp_path / "a.pt")
    assert (tmp_path / "a.pt").exists()


# ----------------------------------------------------------------- resume granularity and Ctrl-C

def test_shards_are_sized_by_time_and_ctrl_c_says_what_was_kept(tmp_path, monkeypatch):
    a = _folder(tmp_path / "A", 0, n=4)
    cache = FeatureCache(tmp_path / "c")
    ds = imagefolder.load(a, transform=_tf)
    model = tiny_clip()
    ticks = iter(range(0, 10_000, 50))  # each clock read is 50 s later: every batch closes a shard
    monkeypatch.setattr(encode.time, "monotonic", lambda: next(ticks))
    with pytest.raises(encode.Interrupted) as e:
        _encode(Counting(model, fail_after=3), ds, cache, batch_size=2, shard_seconds=45)
    assert "6 of 8 images" in str(e.value) and "3 finished shard(s)" in str(e.value)
    assert "resumes from image 6" in str(e.value)
    m = Counting(model)
    done = _encode(m, ds, cache, batch_size=2, shard_seconds=45)
    assert m.n == 2 and len(done) == 8


def test_ctrl_c_in_the_cli_prints_the_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    def boom(*a, **k):
        raise encode.Interrupted("interrupted: 6 of 8 images kept")

    monkeypatch.setattr(encode, "encode_images", boom)
    a = _folder(tmp_path / "A", 0)
    rc = cli.main(["eval", "RN50/random", f"imagefolder:{a}", "--prompts", "single", "--out", str(tmp_path / "o")])
    assert rc == 130 and "6 of 8 images kept" in capsys.readouterr().err


# ----------------------------------------------------------------- arguments

@pytest.mark.parametrize("flag,value", [("--limit", "0"), ("--limit", "-3"), ("--batch-size", "0"),
                                        ("--workers", "-1")])
def test_bad_numbers_are_argparse_errors(flag, value, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["eval", "RN50/random", "edges", flag, value])
    assert e.value.code == 2 and flag in capsys.readouterr().err


# ----------------------------------------------------------------- images

def test_16_bit_png_is_scaled_and_counted(tmp_path):
    root = tmp_path / "d" / "grey"
    root.mkdir(parents=True)
    arr = np.full((8, 8), 30000, dtype=np.uint16)
    Image.fromarray(arr).save(root / "deep.png")
    assert Image.open(root / "deep.png").mode.startswith("I")
    ds = imagefolder.load(tmp_path / "d")
    img, _, key, note = ds[0]
    assert "scaled to 8 bits" in note
    assert abs(float(img.mean()) * 255 - 30000 / 65535 * 255) < 1.0  # not clipped to white
    enc = encode.encode_images(tiny_clip(), imagefolder.load(tmp_path / "d", transform=_tf), precision="fp32",
                               model_id="t",
                               dataset_id="d", weights="w", cache=FeatureCache(tmp_path / "c"), progress=False)
    assert len(enc) == 1 and "scaled to 8 bits" in enc.notes[key]


def _save_tiff(arr: np.ndarray, path: Path) -> None:
    Image.fromarray(arr).save(path)  # float32 -> mode F, int32 -> mode I, uint16 -> I;16


@pytest.mark.parametrize("arr,mode,want", [
    (np.full((8, 8), 0.5, np.float32), "F", 0.5 * 255),  # a float TIFF in [0, 1]
    (np.full((8, 8), 100.0, np.float32), "F", 100.0),  # a float TIFF in 0..255
    (np.full((8, 8), 30000.0, np.float32), "F", 30000 / 65535 * 255),
    (np.full((8, 8), 30000, np.int32), "I", 30000 / 65535 * 255),
    (np.full((8, 8), 3_000_000_000 // 2, np.int32), "I", 1_500_000_000 / (2 ** 32 - 1) * 255),
    (np.full((8, 8), 40000, np.uint16), "I;16", 40000 / 65535 * 255),
])
def test_every_deep_pil_mode_is_scaled_by_its_range_and_noted(tmp_path, arr, mode, want):
    """The 16-bit fix for every deep grey mode: a float (F) TIFF in [0, 1] is not read as an all-black image."""
    from clipstudy.datasets.base import read_image

    _save_tiff(arr, tmp_path / "x.tif")
    assert Image.open(tmp_path / "x.tif").mode == mode
    img, note = read_image(tmp_path / "x.tif")
    assert img.mode == "RGB" and abs(float(np.asarray(img).mean()) - want) <= 1.0, (mode, np.asarray(img).mean())
    assert note.startswith(f"{mode} image scaled to 8 bits")


@pytest.mark.parametrize("arr,why", [
    (np.array([[0.5, np.nan]], np.float32), "NaN"),
    (np.array([[-1.0, 1.0]], np.float32), "negative"),
    (np.array([[0.0, 1e6]], np.float32), "up to 1e+06"),
    (np.array([[-5, 9]], np.int32), "negative"),
])
def test_a_deep_image_with_no_known_range_is_skipped_and_named(tmp_path, arr, why):
    d = tmp_path / "d" / "grey"
    d.mkdir(parents=True)
    _save_tiff(arr, d / "odd.tif")
    Image.new("RGB", (8, 8), (9, 9, 9)).save(d / "fine.png")
    ds = imagefolder.load(tmp_path / "d")
    items = {it[2]: it for it in (ds[i] for i in range(len(ds)))}
    odd = items["grey/odd.tif"]
    assert odd[0] is None and "no known range, skipped" in odd[3] and why in odd[3]
    assert ds.skipped == ["grey/odd.tif"] and items["grey/fine.png"][0] is not None


def test_every_pil_mode_gives_rgb_or_a_named_skip(tmp_path):
    from clipstudy.datasets.base import read_image

    for mode in ("1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LA", "PA", "I", "F", "I;16"):
        path = tmp_path / f"{mode.replace(';', '_')}.{'jpg' if mode == 'YCbCr' else 'tif'}"
        Image.new(mode, (4, 4)).save(path)
        img, note = read_image(path)
        assert img is not None and img.mode == "RGB", (mode, note)
    img, note = read_image(tmp_path / "missing.tif")
    assert img is None and "unreadable" in note


def test_image_over_the_pixel_limit_is_named(tmp_path, monkeypatch, capsys):
    _folder(tmp_path / "d", 0, n=2)
    Image.new("RGB", (300, 300)).save(tmp_path / "d" / "cat" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30000)  # 300x300 > 2 x 30000: PIL refuses; 224x224 passes
    rc = cli.main(["eval", "RN50/random", f"imagefolder:{tmp_path / 'd'}", "--prompts", "single",
                   "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0 and "skipped 1 image(s), over PIL's pixel limit" in out and "cat/huge.png" in out and "MAX_IMAGE_PIXELS" in out


# ----------------------------------------------------------------- own data and discoverability

def test_imagefolder_with_names_from_folders_or_a_file(tmp_path):
    root = _folder(tmp_path / "mine", 0, n=2, classes=("golden_retriever", "tabby"))
    ds = datasets.load(f"imagefolder:{root}")
    assert ds.classnames == ["golden retriever", "tabby"] and ds.labels == [0, 0, 1, 1]
    (root / "classnames.txt").write_text("tabby\ttabby cat\ngolden_retriever\tgolden retriever dog\n")
    assert datasets.load(f"imagefolder:{root}").classnames == ["golden retriever dog", "tabby cat"]
    (root / "classnames.txt").write_text("only one\n")
    with pytest.raises(Exception, match="1 class names for 2 class folders"):
        datasets.load(f"imagefolder:{root}")
    with pytest.raises(Exception, match="imagefolder dataset not found"):
        datasets.load(f"imagefolder:{tmp_path / 'absent'}")


def test_datasets_command_and_eval_help_list_every_family(capsys):
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in datasets.names():
        assert f"{name}  [" in out
    assert "imagefolder:PATH" in out and "ILSVRC2012_val" in out or "n01440764" in out
    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    assert "clipstudy datasets" in capsys.readouterr().out


def test_a_large_text_head_shows_progress_and_the_quick_option(tmp_path, capsys):
    model = tiny_clip()
    tok = lambda texts: torch.stack([torch.tensor([1 + (hash(t) % 90)] * 4 + [99] + [0] * 11) for t in texts])
    encode.zero_shot_head(model, tok, [f"c{i}" for i in range(30)], [f"t{j} {{}}" for j in range(80)],
                          model_id="tiny", precision="fp32", weights="w", cache=FeatureCache(tmp_path))
    assert "--prompts single" in capsys.readouterr().err
