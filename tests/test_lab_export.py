"""A lab CLIP exported as an open_clip `local-dir:` folder loads in open_clip (what clip_benchmark calls)
with the same weights, the same token ids and the same outputs; bad exports get clear errors."""
from __future__ import annotations

import dataclasses

import open_clip
import pytest
import torch

from clipstudy import cli, encode, zoo
from clipstudy.errors import CheckpointError, ClipstudyError
from clipstudy.lab import captions, export
from clipstudy.lab import zoo as lab_zoo
from clipstudy.profiles import LabProfile

TINY = LabProfile("test-export", chunk=32, chunks=(("small", 1), ("medium", 1), ("large", 1)),
                  steps=(("small", 2), ("medium", 2), ("large", 2)), batch_size=32, lr=1e-3,
                  ft_steps=2, ft_lr=1e-3, image_size=32)
TEXTS = ["a photo of a cube.", "A Striped CUBE, on grass!!", "zorblax cube", "a " * 30 + "sphere", "",
         "a  red\tsphere\nbehind a torus"] + list(captions.ZS_TEMPLATES)


@pytest.fixture(scope="module")
def vit_recipe():
    r = lab_zoo.register_recipe(dataclasses.replace(lab_zoo.recipe("base"), name="test-export-vit", arch="vit"))
    yield r.name
    lab_zoo.RECIPES.pop(r.name, None)


@pytest.mark.parametrize("which", ["base", "vit"])
def test_exported_lab_clip_is_the_same_model_in_open_clip(which, vit_recipe, tmp_path):
    name = "base" if which == "base" else vit_recipe
    out = export.export(name, tmp_path / name, profile=TINY)
    lab = lab_zoo.load(name, profile=TINY)
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{out}")
    model.eval()
    tok = open_clip.get_tokenizer(f"local-dir:{out}")
    assert torch.equal(tok(TEXTS), captions.tokenizer(TEXTS))  # case, punctuation, unknown words, truncation
    ref = lab.model.state_dict()
    assert set(model.state_dict()) == set(ref)
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        # same weights and function; kernels may round differently (open_clip builds the ViT with fused attention)
        assert torch.allclose(model.encode_image(x), lab.model.encode_image(x), atol=1e-5)
        assert torch.allclose(model.encode_text(tok(TEXTS)), lab.model.encode_text(captions.tokenizer(TEXTS)),
                              atol=1e-5)
    # clipstudy reads the same folder through its zoo, with open_clip's preprocess and tokenizer
    loaded = zoo.load(f"local-dir:{out}")
    assert loaded.spec.family == ("resnet" if which == "base" else "vit") and loaded.spec.resolution == 32
    assert torch.equal(loaded.tokenizer(TEXTS), captions.tokenizer(TEXTS))
    assert torch.allclose(encode.encode_texts(loaded.model, loaded.tokenizer, TEXTS, precision="fp32"),
                          encode.encode_texts(lab.model, lab.tokenizer, TEXTS, precision="fp32"), atol=1e-6)


def test_export_refuses_what_open_clip_cannot_load(tmp_path):
    with pytest.raises(ClipstudyError, match="classifier"):
        export.export("finetuned", tmp_path / "ft", profile=TINY)
    with pytest.raises(ClipstudyError, match="convnext"):
        export.open_clip_config("convnext", "clip", 32)
    assert not (tmp_path / "ft").exists()  # nothing half-written


def test_an_export_without_its_tokenizer_files_names_what_is_missing(tmp_path, capsys):
    """The trial: an exported model folder whose tokenizer files were deleted. open_clip reads the tokenizer
    from the folder; the error is one line naming the files, not a transformers traceback."""
    out = export.export("base", tmp_path / "exp", profile=TINY)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (out / f).unlink()
    with pytest.raises(CheckpointError, match="tokenizer files are missing") as e:
        zoo.get(f"local-dir:{out}")
    assert "tokenizer_config.json" in str(e.value) and "tokenizer.json" in str(e.value)
    assert cli.main(["eval", f"local-dir:{out}", "lab-val", "--limit", "2", "--prompts", "single",
                     "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "clipstudy: error: local-dir:" in err and "tokenizer_config.json" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # refused before any work


def test_local_dir_names_fail_clearly(tmp_path, capsys):
    with pytest.raises(CheckpointError, match="open_clip_config.json"):
        zoo.get(f"local-dir:{tmp_path / 'missing'}")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "open_clip_config.json").write_text("{not json")
    (tmp_path / "bad" / "open_clip_pytorch_model.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match="unreadable"):
        zoo.get(f"local-dir:{tmp_path / 'bad'}")
    # a complete export with its weights removed must not load as a random model
    out = export.export("base", tmp_path / "noweights", profile=TINY)
    (out / "open_clip_pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match="no weights"):
        zoo.load(f"local-dir:{out}")
    (tmp_path / "badcfg").mkdir()
    (tmp_path / "badcfg" / "open_clip_config.json").write_text('{"model_cfg": {"embed_dim": 8}}')
    (tmp_path / "badcfg" / "open_clip_pytorch_model.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="badcfg"):
        zoo.load(f"local-dir:{tmp_path / 'badcfg'}")
    assert cli.main(["lab", "export", "finetuned", str(tmp_path / "x"), "--profile", "smoke"]) == 2
    assert "classifier" in capsys.readouterr().err


def test_export_into_a_folder_with_an_older_export_refuses_unless_forced_and_then_replaces_every_weight_file(
        tmp_path, capsys):
    """An older export left as `open_clip_model.safetensors` (the file open_clip prefers) must not shadow the new
    weights: a non-empty folder is refused before any work; with force, every weight file is replaced."""
    from safetensors.torch import save_file

    out = tmp_path / "export"
    export.export("base", out, profile=TINY)
    ref = lab_zoo.load("base", profile=TINY).model.state_dict()
    save_file({k: v.detach().clone().contiguous() + 1 for k, v in ref.items()}, out / "open_clip_model.safetensors")
    (out / "old_weights.pth").write_bytes(b"stale")
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ClipstudyError, match=r"not empty.*--force"):
        export.export("base", out, profile=TINY)
    assert sorted(p.name for p in out.iterdir()) == before  # nothing touched
    assert cli.main(["lab", "export", "base", str(out), "--profile", "smoke"]) == 2  # refused before training
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err and "Traceback" not in err
    export.export("base", out, profile=TINY, force=True)
    assert not list(out.glob("*.safetensors")) and not (out / "old_weights.pth").exists()
    model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{out}")
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())
    (tmp_path / "file").write_text("x")
    assert cli.main(["lab", "export", "base", str(tmp_path / "file"), "--profile", "smoke"]) == 2
    assert "is a file" in capsys.readouterr().err
