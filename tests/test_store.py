"""One artifact store: every cached artifact's key is built in store.py, and only the store writes, reads
(`weights_only=True`) and removes cache files."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from clipstudy import store
from clipstudy.cache import FeatureCache

PKG = Path(__file__).resolve().parents[1] / "clipstudy"
# modules that move files that are not cache entries (downloads, unpacked archives)
FILE_MOVERS = {"store.py", "download.py", "datasets/base.py"}


def _calls(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        f = getattr(node, "func", None)
        if isinstance(node, ast.Call) and isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            out.add(f"{node.func.value.id}.{node.func.attr}")
    return out


def test_only_the_store_saves_loads_and_publishes():
    offenders = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG).as_posix()
        calls = _calls(p)
        bad = {c for c in calls if c in ("torch.save", "torch.load")} if rel != "store.py" else set()
        if rel not in FILE_MOVERS:
            bad |= {c for c in calls if c == "os.replace"}
        if bad:
            offenders[rel] = sorted(bad)
    assert not offenders, offenders


def test_feature_keys_are_unchanged_by_the_move():
    """FeatureCache.key builds the same Key as before the store owned it, so existing entries stay valid."""
    got = FeatureCache.key("m", "w", "imagenet", "t", "all", n=3, normalize=True, precision="fp32", data="fp")
    want = store.Key.of("features", "m", "w", "imagenet#fp", "t", "fp32", subset="all", n=3, normalize=True).name
    assert got == want
    prompts = [["a photo of a cat."]]
    old_head = FeatureCache.key("m", "w", "zero-shot-head", store.digest(prompts, 24), kind="head", precision="fp32")
    assert store.head_key("m", "w", prompts, "fp32").name == old_head


@pytest.mark.parametrize("make", [
    lambda: store.lab_set_key("lab-val", {"corr": 0.5}, 10, 0, 64, 3),
    lambda: store.lab_model_key("base-lab-s0", {"arch": "resnet"}, {"chunk": 1}, 3, 2, None),
    lambda: store.llava_key("lab:base@lab", "abc", {"steps": 1}, 50, 1),
    lambda: store.severity_key("k", [1, 2], 10, 0, 64, 1),
    lambda: store.unit_key("m", "d#fp", "fp32", device="cpu"),
])
def test_each_kind_has_one_key_function_and_inputs_change_its_name(make):
    k = make()
    assert isinstance(k, store.Key) and k.name.endswith(k.digest())
    changed = store.Key(k.kind, k.model, k.weights + "x", k.data, k.transform, k.precision, k.extra)
    assert changed.name != k.name


def test_entry_with_record_roundtrip_and_damage(tmp_path):
    pt = tmp_path / "m.pt"
    rec = store.save_entry({"w": torch.ones(2)}, pt, {"key": "k1"})
    assert rec["sha256"] == store.sha256_file(pt) and json.loads(pt.with_suffix(".json").read_text())["key"] == "k1"
    obj, got = store.load_entry(pt, "k1")
    assert torch.equal(obj["w"], torch.ones(2)) and got["key"] == "k1"
    with pytest.warns(UserWarning, match="another version or other settings"):
        assert store.load_entry(pt, "k2") is None  # stale: discarded, and said to be stale
    assert not pt.exists() and not pt.with_suffix(".json").exists()
    store.save_entry({"w": torch.ones(2)}, pt, {"key": "k1"})
    pt.write_bytes(pt.read_bytes()[:-3])  # damaged: the file no longer matches its record's sha256
    with pytest.warns(UserWarning, match="does not match its record"):
        assert store.load_entry(pt, "k1") is None
    assert not pt.exists()
    store.save_entry({"w": 1}, pt, {"key": "k1"})
    pt.with_suffix(".json").unlink()  # interrupted: the file without its record
    assert store.check_entry(pt, "k1") is None and not pt.exists()


def test_safe_load_refuses_pickled_code(tmp_path):
    """weights_only=True: a file that would run code on load is damage, removed, never executed."""
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("ran",))

    bad = tmp_path / "x.pt"
    bad.write_bytes(pickle.dumps(Boom()))
    assert store.safe_load(bad) is None and not bad.exists()


def test_lab_evaluators_key_a_set_alike():
    from clipstudy.lab import evaluate as lab_eval
    from clipstudy.lab import sets

    ls = sets.build("lab-val", n=8, size=32)
    assert lab_eval.dataset_id(ls) == ls.dataset_id == sets.cache_path("lab-val", sets.WorldConfig(), 8,
                                                                        sets.DEFAULT_SEED["lab-val"], 32).stem


def test_file_digest_is_the_contents_hashed_once_per_file_state(tmp_path, monkeypatch):
    """store.file_digest (the one cached file hash: model ids, record checksums): once per (path, size,
    mtime_ns, inode); another same-size file copied over it with `cp -p` and the old mtime is a new hash."""
    import hashlib
    import os
    import subprocess

    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 1000)
    b.write_bytes(b"y" * 1000)
    calls = []
    real = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda p: calls.append(p) or real(p))
    assert store.file_digest(a) == hashlib.sha256(b"x" * 1000).hexdigest()
    assert store.file_digest(a) == store.file_digest(str(a)) and len(calls) == 1  # cached
    link = tmp_path / "link.bin"
    link.symlink_to(b)
    assert store.file_digest(link) == hashlib.sha256(b"y" * 1000).hexdigest()  # what reading it gives
    st = a.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    subprocess.run(["cp", "-p", str(b), str(a)], check=True)
    assert (a.stat().st_size, a.stat().st_mtime_ns, a.stat().st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert store.file_digest(a) == hashlib.sha256(b"y" * 1000).hexdigest()
