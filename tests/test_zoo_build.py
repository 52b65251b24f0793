"""How zoo builds models (the activation each pretrained tag was trained with) and what it says about bad names
and bad checkpoints."""
from __future__ import annotations

import logging

import open_clip
import pytest
import torch
from open_clip.transformer import QuickGELU, Transformer

from clipstudy import cli, zoo
from clipstudy.models import collection
from clipstudy.errors import CheckpointError, UnknownNameError


def _open_clip_names() -> list[str]:
    """Every open_clip entry of the curated registry and of the live panel."""
    names = zoo.names(source="open_clip") + [m for m in collection.LIVE if not m.startswith("timm:")]
    return list(dict.fromkeys(names))


def tower_activations(model: torch.nn.Module) -> set[type]:
    """Activation types inside open_clip's own transformers (text tower, ViT image tower, CoCa decoder): the
    modules `quick_gelu` decides. timm image towers keep their own activation and are not looked at."""
    return {type(m) for t in model.modules() if isinstance(t, Transformer)
            for m in t.modules() if isinstance(m, (QuickGELU, torch.nn.GELU))}


@pytest.fixture(scope="module")
def built() -> dict:
    """Each distinct (arch, create kwargs) built once, on the meta device: the network without weights."""
    logging.disable(logging.WARNING)  # "initialized randomly", once per build
    out = {}
    try:
        for name in _open_clip_names():
            spec = zoo.get(name)
            key = (spec.arch, repr(zoo.open_clip_kwargs(spec.arch, zoo.pretrained_tag(spec))))
            if key not in out:
                with torch.device("meta"):
                    out[key] = zoo.build_open_clip(spec, None, device="meta")[0]
    finally:
        logging.disable(logging.NOTSET)
    return out


def test_the_registry_and_live_panel_have_quickgelu_and_gelu_tags():
    """Both kinds are present, so the test below checks both directions."""
    flags = {bool(open_clip.get_pretrained_cfg(zoo.get(n).arch, zoo.get(n).pretrained).get("quick_gelu"))
             for n in _open_clip_names()}
    assert flags == {True, False}
    assert set(collection.LIVE) - set(zoo.names()) == set()


@pytest.mark.parametrize("name", _open_clip_names())
def test_each_open_clip_model_is_built_with_the_activation_its_tag_was_trained_with(name, built):
    spec = zoo.get(name)
    quick = bool(open_clip.get_pretrained_cfg(spec.arch, spec.pretrained).get("quick_gelu", False))
    model = built[(spec.arch, repr(zoo.open_clip_kwargs(spec.arch, zoo.pretrained_tag(spec))))]
    assert tower_activations(model) == ({QuickGELU} if quick else {torch.nn.GELU}), name
    cfg, pp = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained), model.visual.preprocess_cfg
    assert {k: pp[k] for k in ("mean", "std", "resize_mode")} == {k: cfg[k] for k in ("mean", "std", "resize_mode")}


def test_a_built_quickgelu_model_computes_quickgelu():
    """One real (not meta) build: the OpenAI RN50 text tower's MLP applies x * sigmoid(1.702 x)."""
    torch.manual_seed(0)
    model, _ = zoo.build_open_clip(zoo.get("RN50/openai"), None)
    act = model.transformer.resblocks[0].mlp.gelu
    x = torch.linspace(-3, 3, 13)
    assert torch.allclose(act(x), x * torch.sigmoid(1.702 * x))
    assert not torch.allclose(act(x), torch.nn.functional.gelu(x), atol=1e-3)


def test_the_tag_preprocessing_is_kept_when_weights_come_as_a_file():
    """DFN5B ViT-H-14 squashes images instead of centre-cropping; SigLIP normalises with 0.5."""
    assert zoo.open_clip_kwargs("ViT-H-14", "dfn5b")["image_resize_mode"] == "squash"
    assert zoo.open_clip_kwargs("ViT-B-16-SigLIP", "webli")["image_mean"] == (0.5, 0.5, 0.5)
    assert zoo.open_clip_kwargs("RN50", None) == {"force_quick_gelu": False}


def test_arch_at_with_no_path_is_an_error_not_random_weights():
    for name in ("RN50@", "RN50@  "):
        with pytest.raises(CheckpointError, match="no checkpoint path.*RN50/random"):
            zoo.get(name)


@pytest.fixture(scope="module")
def rn50_file(tmp_path_factory):
    torch.manual_seed(1)
    logging.disable(logging.WARNING)
    try:
        sd = open_clip.create_model("RN50", pretrained=None).state_dict()
    finally:
        logging.disable(logging.NOTSET)
    path = tmp_path_factory.mktemp("ck") / "rn50.pt"
    torch.save(sd, path)
    return path


def test_a_text_file_is_called_a_text_file(tmp_path):
    f = tmp_path / "notes.pt"
    f.write_text("epochs: 32\nlr: 5e-4\n")
    with pytest.raises(CheckpointError) as e:
        zoo.load(f"RN50@{f}")
    assert "is a text file, not a checkpoint" in str(e.value) and "KeyError" not in str(e.value)


def test_an_empty_file_is_called_empty(tmp_path):
    f = tmp_path / "empty.pt"
    f.touch()
    with pytest.raises(CheckpointError, match=r"empty \(0 bytes\)") as e:
        zoo.load(f"RN50@{f}")
    assert "EOFError" not in str(e.value)


def test_the_wrong_architecture_names_the_tensor_and_both_shapes(rn50_file):
    with pytest.raises(CheckpointError) as e:
        zoo.load(f"ViT-B-32@{rn50_file}")
    msg = str(e.value)
    assert "architecture mismatch" in msg and "text_projection" in msg
    assert "(512, 1024) in the file but (512, 512) in ViT-B-32" in msg


def test_a_folder_suggests_local_dir(tmp_path):
    with pytest.raises(CheckpointError, match=f"is a folder.*local-dir:{tmp_path}"):
        zoo.load(f"RN50@{tmp_path}")


def test_a_good_local_checkpoint_still_loads(rn50_file):
    loaded = zoo.load(f"RN50@{rn50_file}")
    assert torch.equal(loaded.model.state_dict()["visual.conv1.weight"], torch.load(rn50_file)["visual.conv1.weight"])


def test_suggestions_ignore_case_and_list_each_name_once():
    with pytest.raises(UnknownNameError) as e:
        zoo.get("vit-b-32/openai")
    assert e.value.close[0] == "ViT-B-32/openai"
    assert len(e.value.close) == len(set(e.value.close))
    with pytest.raises(UnknownNameError) as e:  # a registry name is an open_clip pair too: still listed once
        zoo.get("ViT-B-32/opena")
    assert e.value.close.count("ViT-B-32/openai") == 1


def test_eval_help_lists_every_model_name_form(capsys):
    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    out = capsys.readouterr().out
    for form in ("ARCH/TAG", "timm:NAME", "ARCH@/path/to/file.pt", "local-dir:", "lab:RECIPE", "ARCH/random",
                 "--offline"):
        assert form in out, form
