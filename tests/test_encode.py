"""The engine end to end on a small random-initialised open_clip model (a pipeline test, not a finding)."""
from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from clipstudy import encode
from clipstudy.cache import FeatureCache


class FolderDataset(torch.utils.data.Dataset):
    """A tiny class-folder dataset in the engine protocol: (image or None, label, key)."""

    def __init__(self, root, size=32):
        self.items = sorted((p, i) for i, d in enumerate(sorted(root.iterdir())) for p in sorted(d.iterdir()))
        self.classnames = sorted(d.name for d in root.iterdir())
        self.size = size

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        try:
            img = Image.open(path).convert("RGB").resize((self.size, self.size))
        except Exception:
            return None, label, path.name
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255
        return x, label, path.name


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for c, name in enumerate(["cat", "dog", "fox"]):
        d = tmp_path / "imgs" / name
        d.mkdir(parents=True)
        for j in range(5):
            arr = (rng.random((40, 40, 3)) * 255).astype(np.uint8)
            Image.fromarray(arr).save(d / f"{name}_{j}.png")
    (tmp_path / "imgs" / "dog" / "dog_bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return tmp_path / "imgs"


def tiny_clip(seed=0):
    torch.manual_seed(seed)
    return open_clip.CLIP(embed_dim=32, vision_cfg=dict(layers=2, width=64, patch_size=8, image_size=32),
                          text_cfg=dict(context_length=16, vocab_size=100, width=32, heads=2, layers=1)).eval()


class Counting(torch.nn.Module):
    """Wraps a model, counts images encoded, and can fail after `fail_after` batches (an interruption)."""

    def __init__(self, model, fail_after=None):
        super().__init__()
        self.model, self.n, self.batches, self.fail_after = model, 0, 0, fail_after

    def encode_image(self, x):
        if self.fail_after is not None and self.batches >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.batches += 1
        self.n += len(x)
        return self.model.encode_image(x)


def _entry(cache):
    """The one feature entry of a cache folder."""
    (entry,) = [p for p in cache.root.iterdir() if p.is_dir()]
    return entry


def test_encode_normalises_skips_corrupt_and_caches(folder, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    ds = FolderDataset(folder)
    m = Counting(tiny_clip())
    a = encode.encode_images(m, ds, model_id="tiny", dataset_id="folder", batch_size=4, cache=cache,
                             weights="w0", progress=False, precision="fp32")  # compared with fp32 at 1e-5
    assert len(a) == 15 and a.features.shape == (15, 32)
    assert torch.allclose(a.features.norm(dim=-1), torch.ones(15), atol=1e-5)
    assert a.skipped == ["dog_bad.jpg"]
    assert a.forward_passes == 15 == m.n and not a.from_cache
    # features match a direct forward pass, in dataset order
    x = torch.stack([ds[i][0] for i in range(len(ds)) if ds[i][0] is not None])
    with torch.no_grad():
        ref = F.normalize(m.model.encode_image(x), dim=-1)
    assert torch.allclose(a.features, ref, atol=1e-5)
    # a second request computes nothing
    b = encode.encode_images(m, ds, model_id="tiny", dataset_id="folder", batch_size=4, cache=cache,
                             weights="w0", progress=False, precision="fp32")
    assert b.from_cache and m.n == 15 and torch.equal(a.features, b.features) and b.skipped == a.skipped
    # other weights are another key
    c = encode.encode_images(m, ds, model_id="tiny", dataset_id="folder", batch_size=4, cache=cache,
                             weights="w1", progress=False, precision="fp32")
    assert not c.from_cache and m.n == 30


def test_interrupted_encode_resumes_from_finished_shards(folder, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    ds = FolderDataset(folder)
    model = tiny_clip()
    kw = dict(model_id="tiny", precision="fp32", dataset_id="folder", batch_size=2, cache=cache, weights="w",
              shard_size=4, progress=False)
    with pytest.raises(KeyboardInterrupt):
        encode.encode_images(Counting(model, fail_after=5), ds, **kw)  # dies inside the third shard
    done = sorted(p.name for p in _entry(cache).iterdir())
    assert done == ["shard-00000.pt", "shard-00001.pt"], done  # nothing half-written, no meta
    m2 = Counting(model)
    r = encode.encode_images(m2, ds, **kw)
    assert m2.n == 7  # 8 items were left after two finished shards; one of them is the corrupt file
    full = encode.encode_images(Counting(model), ds, **{**kw, "cache": FeatureCache(tmp_path / "other")})
    assert torch.allclose(r.features, full.features, atol=1e-6) and r.keys == full.keys


def test_half_written_or_damaged_cache_is_never_read(folder, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    ds = FolderDataset(folder)
    model = tiny_clip()
    kw = dict(model_id="tiny", precision="fp32", dataset_id="folder", cache=cache, weights="w", shard_size=8,
              progress=False)
    first = encode.encode_images(Counting(model), ds, **kw)
    entry = _entry(cache)
    (entry / "shard-00001.pt").write_bytes(b"truncated")  # damaged after completion
    (entry / "shard-00000.pt.abc.tmp").write_bytes(b"half")  # a temp file from a killed writer
    m = Counting(model)
    again = encode.encode_images(m, ds, **kw)
    assert not again.from_cache and m.n == 7  # only the damaged shard is recomputed
    assert torch.allclose(again.features, first.features, atol=1e-6)


def test_zero_shot_head_is_renormalised_mean_of_template_embeddings(tmp_path):
    model = tiny_clip()
    tok = lambda texts: torch.stack([torch.tensor([1 + (hash(t) % 90)] * 4 + [99] + [0] * 11) for t in texts])
    names, temps = ["cat", "dog"], ["a {}.", "a photo of a {}.", lambda c: f"art of a {c}"]
    head = encode.zero_shot_head(model, tok, names, temps, model_id="tiny", weights="w",
                                 cache=FeatureCache(tmp_path), precision="fp32")
    assert head.shape == (32, 2)
    for j, c in enumerate(names):
        texts = [t(c) if callable(t) else t.format(c) for t in temps]
        with torch.no_grad():
            e = F.normalize(model.encode_text(tok(texts)), dim=-1)
        ref = F.normalize(e.mean(0), dim=-1)
        assert torch.allclose(head[:, j], ref, atol=1e-5)
    again = encode.zero_shot_head(model, tok, names, temps, model_id="tiny", weights="w", cache=FeatureCache(tmp_path),
                                  precision="fp32")
    assert torch.equal(head, again)
    logits = encode.zero_shot_logits(F.normalize(torch.randn(3, 32), dim=-1), head, 100.0)
    assert logits.abs().max() <= 100.0 + 1e-4


def test_weights_hash_tracks_parameters():
    a, b = tiny_clip(0), tiny_clip(1)
    assert encode.weights_hash(a) == encode.weights_hash(tiny_clip(0)) != encode.weights_hash(b)


def _texts():
    # lengths from 3 to ~20 tokens, not sorted, so batches mix lengths and get reordered
    words = "a photo of the small striped red cube on a wooden table at night seen from far away".split()
    return [" ".join(words[: 1 + (7 * i) % len(words)]) for i in range(23)]


def _causal_clip(custom_text=False, **text):
    torch.manual_seed(0)
    cfg = dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2, **text)
    cls = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    return cls(embed_dim=16, vision_cfg=dict(layers=1, width=64, patch_size=8, image_size=16), text_cfg=cfg).eval()


@pytest.mark.parametrize("custom_text,text", [(False, {}), (True, {}), (False, dict(pool_type="eos", eos_id=49407))])
def test_trimmed_text_forward_matches_open_clip(custom_text, text, monkeypatch):
    model = _causal_clip(custom_text, **text)
    tok = open_clip.get_tokenizer("ViT-B-32")
    texts = _texts()
    with torch.no_grad():
        ref = F.normalize(model.encode_text(tok(texts)), dim=-1)
    assert encode._causal_text_tower(model) is not None
    monkeypatch.setattr(model, "encode_text", None)  # the trimmed path must not fall back to the full forward
    got = encode.encode_texts(model, tok, texts, batch_size=4, precision="fp32")
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-5)  # same function, float rounding only; input order kept


@pytest.mark.parametrize("text", [dict(pool_type="last"), dict(no_causal_mask=True), dict(embed_cls=True)])
def test_text_towers_where_padding_matters_run_in_full(text):
    model = _causal_clip(**text) if "embed_cls" not in text else _causal_clip(True, **text)
    tok = open_clip.get_tokenizer("ViT-B-32")
    assert encode._causal_text_tower(model) is None
    texts = _texts()
    with torch.no_grad():
        ref = F.normalize(model.encode_text(tok(texts)), dim=-1)
    assert torch.equal(encode.encode_texts(model, tok, texts, batch_size=len(texts), precision="fp32"), ref)


def test_request_log_names_the_chapter_and_counts_real_passes(folder, tmp_path, monkeypatch):
    import json

    model, cache = tiny_clip(), FeatureCache(tmp_path / "c")
    ds = FolderDataset(folder)
    tok = lambda texts: torch.stack([torch.tensor([1 + (hash(t) % 90)] * 4 + [99] + [0] * 11) for t in texts])
    monkeypatch.setenv("CLIPSTUDY_CHAPTER", "03_calibration")
    for _ in range(2):
        encode.encode_images(model, ds, model_id="tiny", precision="fp32", dataset_id="imgs", cache=cache,
                             progress=False)
        encode.zero_shot_head(model, tok, ds.classnames, ["a {}.", "art of a {}."], model_id="tiny",
                              precision="fp32", cache=cache)
    monkeypatch.setenv("CLIPSTUDY_CHAPTER", "04_ood")
    encode.encode_images(model, ds, model_id="tiny", precision="fp32", dataset_id="imgs", cache=cache, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "c" / "requests.jsonl").read_text().splitlines()]
    got = [(r["chapter"], r["kind"], r["n"], r["passes"]) for r in rows]
    assert got == [("03_calibration", "images", 16, 15), ("03_calibration", "text", 6, 6),
                   ("03_calibration", "images", 16, 0), ("03_calibration", "text", 6, 0),
                   ("04_ood", "images", 16, 0)]  # 16 requested, 15 readable (one corrupt image)


def _decoding_threads():
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("clipstudy-decode")]


def test_prefetch_path_matches_in_process_loading(folder, tmp_path, monkeypatch):
    """The overlapped data path (decoding threads, forced here whatever the cores) gives what in-process
    loading gives: features, labels, keys, skipped and notes; and its threads are gone after the call."""
    monkeypatch.setattr(encode, "plan_loader", lambda d, f, cores, gpu: encode.LoaderPlan(2, 1, "test: 2 threads"))
    ds = FolderDataset(folder)
    model = tiny_clip()
    kw = dict(model_id="tiny", dataset_id="folder", batch_size=2, weights="w", shard_size=4, progress=False,
              precision="fp32")
    ref = encode.encode_images(model, ds, num_workers=0, cache=FeatureCache(tmp_path / "a"), **kw)
    threads = torch.get_num_threads()
    got = encode.encode_images(model, ds, num_workers="auto", cache=FeatureCache(tmp_path / "b"), **kw)
    assert torch.equal(got.features, ref.features) and torch.equal(got.labels, ref.labels)
    assert got.keys == ref.keys and got.skipped == ref.skipped == ["dog_bad.jpg"] and got.notes == ref.notes
    assert got.loader.startswith("test: 2 threads") and 0.0 <= got.data_wait <= 1.0
    assert ref.loader.startswith("in-process") and ref.data_wait is not None
    assert not _decoding_threads() and torch.get_num_threads() == threads


class Exploding(FolderDataset):
    """Fails with a real error (not an unreadable image) on one item: it must surface, as in-process."""

    def __getitem__(self, i):
        if i == 9:
            raise RuntimeError("transform bug on item 9")
        return super().__getitem__(i)


def test_decoding_thread_error_propagates_and_threads_stop(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(encode, "plan_loader", lambda d, f, cores, gpu: encode.LoaderPlan(2, 1, "test"))
    kw = dict(model_id="tiny", precision="fp32", dataset_id="folder", batch_size=2, weights="w", shard_size=4,
              progress=False)
    with pytest.raises(RuntimeError, match="transform bug on item 9"):
        encode.encode_images(tiny_clip(), Exploding(folder), num_workers=0, cache=FeatureCache(tmp_path / "a"), **kw)
    with pytest.raises(RuntimeError, match="transform bug on item 9"):
        encode.encode_images(tiny_clip(), Exploding(folder), cache=FeatureCache(tmp_path / "b"), **kw)
    assert not _decoding_threads()
    # an interruption in the forward (Ctrl-C) stops the threads too, and the finished shards resume
    cache = FeatureCache(tmp_path / "c")
    with pytest.raises(encode.Interrupted):
        encode.encode_images(Counting(tiny_clip(), fail_after=5), FolderDataset(folder), cache=cache, **kw)
    assert not _decoding_threads()
    m = Counting(tiny_clip())
    r = encode.encode_images(m, FolderDataset(folder), cache=cache, **kw)
    assert m.n == 7 and len(r) == 15


def test_plan_loader_policy():
    # forward-bound CPU (a ViT on 2 cores): one decoding thread fills the gaps, the forward keeps every core
    p = encode.plan_loader(0.004, 0.1, cores=2, gpu=False)
    assert (p.decode_threads, p.forward_threads) == (1, 2)
    # decode-bound on many cores (a small model): decoding gets cores of its own
    p = encode.plan_loader(0.02, 0.005, cores=16, gpu=False)
    assert p.decode_threads > 1 and p.decode_threads + p.forward_threads == 16
    # decode-bound on 2 cores (the tiny lab CLIP on 64 px PNGs): both cores decode, the forward runs beside them
    p = encode.plan_loader(0.0008, 0.00005, cores=2, gpu=False)
    assert (p.decode_threads, p.forward_threads) == (2, 2)
    # ... but not for a promise within the oversubscription margin
    assert encode.plan_loader(0.0008, 0.0003, cores=2, gpu=False).decode_threads == 1
    # one core: nothing to overlap on
    assert encode.plan_loader(0.004, 0.1, cores=1, gpu=False).decode_threads == 0
    # GPU: enough threads that decoding keeps pace, leaving one core to the main thread
    assert encode.plan_loader(0.01, 0.0025, cores=16, gpu=True).decode_threads == 4
    assert encode.plan_loader(0.01, 0.0001, cores=4, gpu=True).decode_threads == 3


class _Modes(torch.nn.Module):
    """Records the grad mode each forward pass (image and text) runs under."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []

    def encode_image(self, x):
        self.seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return self.model.encode_image(x)

    def encode_text(self, t):
        self.seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return self.model.encode_text(t)


def test_forward_passes_run_under_no_grad_not_inference_mode(folder, tmp_path):
    """CPU bf16 autocast takes a slow path under inference_mode (6x on an AMX-BF16 Xeon: encode._forward_mode),
    so every forward pass of the engine runs with grads off but outside inference mode."""
    m = _Modes(tiny_clip())
    encode.encode_images(m, FolderDataset(folder), model_id="tiny", dataset_id="folder", batch_size=4,
                         cache=FeatureCache(tmp_path / "cache"), weights="w0", progress=False, precision="bf16")
    encode.encode_texts(m, lambda texts: torch.randint(0, 100, (len(texts), 16)), ["a cat", "a dog"], "cpu",
                        precision="bf16")
    assert m.seen and set(m.seen) == {(False, False)}
