"""The zoo's names and errors, and the console script's subcommands."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from clipstudy import cli, zoo
from clipstudy.errors import CheckpointError, UnknownNameError


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clipstudy.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("sub", [[], ["models"], ["eval"], ["build"], ["fetch"], ["lab", "train"]])
def test_every_subcommand_has_help(sub, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([*sub, "--help"])
    assert e.value.code == 0
    assert "usage: clipstudy" in capsys.readouterr().out


def test_unknown_model_suggests_close_open_clip_and_timm_names():
    with pytest.raises(UnknownNameError) as e:
        zoo.get("ViT-B-32/laion2b_s34b_b79")
    assert "ViT-B-32/laion2b_s34b_b79k" in str(e.value)
    with pytest.raises(UnknownNameError) as e:
        zoo.get("timm:vit_base_patch16_clip_224.openai_ft_in1")
    assert "vit_base_patch16_clip_224.openai_ft_in1k" in str(e.value)


def test_cli_reports_unknown_model_as_a_clear_error_not_a_traceback():
    p = run_cli("eval", "ViT-B-32/opena", "lab-val")
    assert p.returncode == 2
    assert "unknown model 'ViT-B-32/opena'" in p.stderr and "ViT-B-32/openai" in p.stderr
    assert "Traceback" not in p.stderr


def test_names_resolve_to_specs_with_factor_fields(tmp_path):
    s = zoo.get("ViT-B-32/openai")
    assert (s.source, s.arch, s.pretrained, s.family) == ("open_clip", "ViT-B-32", "openai", "vit")
    assert zoo.get("ViT-B-16-SigLIP/webli").loss == "siglip"
    r = zoo.get("RN50/random")
    assert r.pretrained is None and r.family == "resnet" and "random" in r.notes
    t = zoo.get("timm:vit_base_patch16_clip_224.openai_ft_in1k")
    assert t.source == "timm" and t.finetuned
    ck = tmp_path / "m.pt"
    ck.write_bytes(b"x")
    assert zoo.get(f"ViT-B-32@{ck}").pretrained == str(ck)


def test_local_checkpoint_loads_through_open_clip_and_bad_ones_say_which_file(tmp_path):
    import open_clip

    torch.manual_seed(1)
    model = open_clip.create_model("RN50", pretrained=None)
    good = tmp_path / "rn50.pt"
    torch.save({"state_dict": model.state_dict()}, good)
    loaded = zoo.load(f"RN50@{good}")
    ref = model.state_dict()["visual.conv1.weight"]
    assert torch.equal(loaded.model.state_dict()["visual.conv1.weight"], ref)

    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"\x80\x02 this is not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.pt"):
        zoo.load(f"RN50@{bad}")
    with pytest.raises(CheckpointError, match="not found"):
        zoo.load(f"RN50@{tmp_path / 'absent.pt'}")
    wrong = tmp_path / "wrong_arch.pt"
    torch.save({"state_dict": {"visual.conv1.weight": torch.zeros(3)}}, wrong)
    with pytest.raises(CheckpointError, match="wrong_arch.pt"):
        zoo.load(f"RN50@{wrong}")


def test_random_weights_are_the_same_network_every_time():
    a = zoo.load("RN50/random").model.state_dict()["visual.conv1.weight"]
    b = zoo.load("RN50/random").model.state_dict()["visual.conv1.weight"]
    assert torch.equal(a, b)


def test_eval_runs_real_stimuli_through_a_random_vit_b_32(shared_data, tmp_path, monkeypatch, capsys):
    """Pipeline test: real cue-conflict, edge and silhouette images through `clipstudy eval`.
    The weights are random, so the accuracies printed here are not findings."""
    import pandas as pd

    monkeypatch.setenv("CLIPSTUDY_DATA", str(shared_data))
    out = tmp_path / "res"
    for name in ("cue-conflict", "edges", "silhouettes"):
        rc = cli.main(["eval", "ViT-B-32/random", name, "--prompts", "single", "--limit", "6", "--batch-size", "6",
                       "--device", "cpu", "--out", str(out)])
        assert rc == 0
    printed = capsys.readouterr().out
    assert "saved to" in printed
    df = pd.read_csv(out / "eval.csv")
    assert sorted(df.dataset.unique()) == ["cue-conflict[:6]", "edges[:6]", "silhouettes[:6]"]
    assert set(df.metric) == {"top1", "top5"} and (df.n == 6).all() and (df.n_skipped == 0).all()
    assert df.value.between(0, 1).all() and (df.note.str.contains("random weights")).all()
    # a second run of the same evaluation is served from the feature cache and replaces its rows
    assert cli.main(["eval", "ViT-B-32/random", "edges", "--prompts", "single", "--limit", "6", "--device", "cpu",
                     "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "eval.csv")) == len(df)
