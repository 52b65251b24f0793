"""A checkpoint's model is built on first use (clipstudy.models.deferred): a warm evaluation never builds it, its
keys are the parameter hash of before, and a model changed in place or a changed file never hits stale entries."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from clipstudy import datasets, encode, zeroshot, zoo
from clipstudy.models import deferred

import runner_fixtures as RF


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A tiny CLIP as a model folder and a 3-class image folder, under a store of this test's own."""
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path / "store"))
    name = RF.tiny_local_dir(tmp_path / "clip")
    root = tmp_path / "imgs"
    RF.class_folders(root, per_class=4)
    return name, root


def _run(model, root):
    ds = datasets.load(f"imagefolder:{root}", transform=model.preprocess)
    return zeroshot.run(model, ds, prompts="single", device="cpu", precision="fp32", progress=False, num_workers=0)


def test_a_warm_evaluation_never_builds_the_model_and_keys_stay_the_parameter_hash(tiny):
    name, root = tiny
    first = zoo.load(name, "cpu")
    assert isinstance(first.model, deferred.Deferred) and first.model.built  # built now, and memoised
    memo = list((Path(os.environ["CLIPSTUDY_CACHE"]) / "models" / "weights").glob("*.json"))
    assert len(memo) == 1
    cold = _run(first, root)
    assert not cold.encoded.from_cache
    assert first.model.pristine  # the engine's forward passes change no weight: one hash served images and head

    again = zoo.load(name, "cpu")  # the memo: not built, same transform, the same parameter hash
    assert not again.model.built and again.transform_id == first.transform_id
    warm = _run(again, root)
    assert warm.encoded.from_cache and not again.model.built  # features, head and logit scale without the model
    assert torch.equal(warm.logits, cold.logits)
    real = again.model.materialise()
    assert json.loads(memo[0].read_text())["weights"] == encode.weights_hash(real)  # the key of before the memo
    assert again.model.weights_id is None  # reached through the wrapper: hashed again from now on


def test_a_model_changed_in_place_is_not_served_its_files_features(tiny):
    name, root = tiny
    cold = _run(zoo.load(name, "cpu"), root)
    loaded = zoo.load(name, "cpu")
    with torch.no_grad():
        loaded.model.visual.proj.mul_(-1.0)  # through the wrapper: no longer as loaded
    assert loaded.model.weights_id is None
    edited = _run(loaded, root)
    assert not edited.encoded.from_cache and not torch.equal(edited.logits, cold.logits)
    assert torch.equal(_run(zoo.load(name, "cpu"), root).logits, cold.logits)  # the file's own entry is intact


def test_a_changed_or_damaged_memo_or_file_is_built_again(tiny):
    name, root = tiny
    first = zoo.load(name, "cpu")
    memo = next((Path(os.environ["CLIPSTUDY_CACHE"]) / "models" / "weights").glob("*.json"))
    memo.write_text("{not json")  # damaged: built and hashed again, the memo rewritten
    again = zoo.load(name, "cpu")
    assert again.model.built and json.loads(memo.read_text())["weights"] == first.model.weights_id
    folder = Path(name.split(":", 1)[1])
    sd = torch.load(folder / "open_clip_pytorch_model.bin")
    sd["logit_scale"] = sd["logit_scale"] + 1.0
    torch.save(sd, folder / "open_clip_pytorch_model.bin")  # other weights: another identity, another memo
    other = zoo.load(name, "cpu")
    assert other.model.built and other.model.weights_id != first.model.weights_id
    assert abs(encode.logit_scale_of(other.model) - encode.logit_scale_of(first.model) * torch.e.__float__()) < 1e-3


def test_a_checkpoint_file_is_deferred_too_and_its_errors_come_at_load(tiny, tmp_path):
    import open_clip

    torch.manual_seed(0)
    f = tmp_path / "vit.pt"
    model = open_clip.create_model("ViT-S-32", pretrained=None)
    torch.save(model.state_dict(), f)
    a = zoo.load(f"ViT-S-32@{f}", "cpu")
    b = zoo.load(f"ViT-S-32@{f}", "cpu")
    assert a.model.built and not b.model.built and a.model.weights_id == b.model.weights_id
    assert repr(a.preprocess) == repr(b.preprocess)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(a.model.encode_image(x), b.model.encode_image(x))
    f.write_text("not a checkpoint")
    from clipstudy.errors import CheckpointError

    with pytest.raises(CheckpointError, match="text file"):
        zoo.load(f"ViT-S-32@{f}", "cpu")


def test_the_engine_computes_with_the_real_model(tiny):
    """Type checks see the real class: the text tower of a deferred CLIP is still cut at its pooled token."""
    from clipstudy.encode import _causal_text_tower, _real

    name, _ = tiny
    zoo.load(name, "cpu")
    loaded = zoo.load(name, "cpu")
    assert not loaded.model.built and _causal_text_tower(_real(loaded.model)) is not None
    prompts = ["a photo of a cat.", "a dog"]
    got = encode.encode_texts(loaded.model, loaded.tokenizer, prompts, precision="fp32")
    with torch.no_grad():
        ref = torch.nn.functional.normalize(loaded.model.encode_text(loaded.tokenizer(prompts)), dim=-1)
    assert torch.allclose(got, ref, atol=1e-5)


def test_a_checkpoint_built_without_its_random_init_has_the_same_weights_and_features(tiny, tmp_path):
    """open_clip's strict full-checkpoint load overwrites every parameter and persistent buffer, so skipping the
    random init (models.sources.open_clip._skip_init) changes nothing: same hash, same outputs, same causal mask."""
    import open_clip

    from clipstudy.models.sources import open_clip as source

    torch.manual_seed(1)
    f = tmp_path / "vit.pt"
    torch.save(open_clip.create_model("ViT-S-32", pretrained=None).state_dict(), f)
    spec = zoo.get(f"ViT-S-32@{f}")
    plain = source.build_open_clip(spec, str(f))[0].eval()
    with source._skip_init():
        skipped = source.build_open_clip(spec, str(f))[0].eval()
    assert torch.nn.init.normal_ is not source._keep  # restored
    assert encode.weights_hash(skipped) == encode.weights_hash(plain)
    assert torch.equal(skipped.attn_mask, plain.attn_mask)
    x, t = torch.randn(2, 3, 224, 224), open_clip.get_tokenizer("ViT-S-32")(["a cat", "a photo of a dog"])
    with torch.no_grad():
        assert torch.equal(skipped.encode_image(x), plain.encode_image(x))
        assert torch.equal(skipped.encode_text(t), plain.encode_text(t))
    with source._skip_init(), pytest.raises(RuntimeError):  # a checkpoint that misses a tensor still fails
        sd = torch.load(f)
        sd.pop("logit_scale")
        torch.save(sd, tmp_path / "short.pt")
        source.build_open_clip(spec, str(tmp_path / "short.pt"))
