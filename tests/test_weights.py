"""Hub weights against a local hub on 127.0.0.1 (tests/hubserver.py), in the real repo layouts:
`timm/resnet50_clip.openai` with `open_clip_model.safetensors` (what open_clip's RN50/openai tag names; random
fp16 weights, 204 MB) and `timm/test_vit.r160_in1k` with `model.safetensors` (a 1.5 MB timm test model).

The CLI runs as a subprocess with HF_ENDPOINT and HF_HOME set; in-process checks point huggingface_hub's
constants (read at its import) at the local hub and a temporary cache."""
from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import open_clip
import pytest
import safetensors.torch
import timm
import torch
from hubserver import Hub, Silent, closed_port, env_for
from open_clip.transformer import QuickGELU

from clipstudy import live, zoo
from clipstudy.models import collection, weights
from clipstudy.errors import ChecksumError, FetchError, UnknownNameError

RN50 = "RN50/openai"
TINY = "timm:test_vit.r160_in1k"
RN50_REPO, RN50_FILE = "timm/resnet50_clip.openai", "open_clip_model.safetensors"
TINY_REPO, TINY_FILE = "timm/test_vit.r160_in1k", "model.safetensors"
QUICK = 15.0  # seconds: huggingface_hub alone retries for about a minute when the hub is unreachable


def _state(model: torch.nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    return {k: (v.to(dtype) if dtype and v.is_floating_point() else v).contiguous() for k, v in
            model.state_dict().items()}


@pytest.fixture(scope="module")
def served():
    """The local hub and the state dicts it serves."""
    logging.disable(logging.WARNING)
    try:
        torch.manual_seed(7)
        rn50 = _state(open_clip.create_model("RN50", pretrained=None), torch.float16)
    finally:
        logging.disable(logging.NOTSET)
    torch.manual_seed(11)
    tiny = _state(timm.create_model("test_vit.r160_in1k", pretrained=False))
    hub = Hub()
    hub.add(RN50_REPO, RN50_FILE, safetensors.torch.save(rn50))
    hub.add(RN50_REPO, "open_clip_config.json", b'{"model_cfg": {}}')
    hub.add(TINY_REPO, TINY_FILE, safetensors.torch.save(tiny))
    hub.add(TINY_REPO, "config.json", b'{"architecture": "test_vit"}')
    hub.add("timm/empty_repo", "README.md", b"no weights here")
    yield hub, {RN50: rn50, TINY: tiny}
    hub.close()


def fetch_cli(*names: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clipstudy.cli", "fetch", "model", *names], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_cache(served, tmp_path_factory) -> Path:
    """An HF_HOME holding the tiny timm model, fetched from the local hub by the CLI."""
    hub, _ = served
    home = tmp_path_factory.mktemp("hf-tiny")
    p = fetch_cli(TINY, env=env_for(hub.url, home))
    assert p.returncode == 0, p.stderr
    return home


def test_a_cut_download_resumes_and_the_loaded_models_hold_the_served_weights(served, tmp_path, point_hub):
    hub, sd = served
    home, env = tmp_path / "hf", env_for(hub.url, tmp_path / "hf")
    hub.faults[RN50_FILE] = "truncate"  # the first GET sends half the bytes and hangs up
    p = fetch_cli(RN50, TINY, env=env)
    assert p.returncode == 2
    assert f"{RN50}: downloading {RN50_REPO}/{RN50_FILE}" in p.stderr and "again to resume" in p.stderr
    assert f"{TINY}: " in p.stdout  # one failure does not stop the others
    files = weights.hub_files(zoo.get(RN50))
    point_hub(hub.url, home)
    assert weights.cached(files) is None  # nothing half-written is there to load
    partial = list((home / "hub").glob("models--timm--resnet50_clip.openai/blobs/*.incomplete"))
    kept = partial[0].stat().st_size if len(partial) == 1 else 0
    assert kept > 0

    n = len(hub.log)
    p = fetch_cli(RN50, env=env)
    assert p.returncode == 0, p.stderr
    ranges = [r for m, path, r in hub.log[n:] if m == "GET" and r]
    assert ranges == [f"bytes={kept}-"]  # resumed where the cut left off
    path = Path(p.stdout.split(f"{RN50}: ")[1].split()[0])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == path.resolve().name

    n = len(hub.log)
    loaded = zoo.load(RN50)  # online: the hub is asked, the cached file is used
    asked = hub.log[n:]
    assert asked, "the hub was never asked"  # `all` over an empty log would pass
    assert {method for method, _, _ in asked} == {"HEAD"}
    assert any(path.endswith(RN50_FILE) for _, path, _ in asked)
    got = loaded.model.state_dict()
    assert sd[RN50] and set(sd[RN50]) <= set(got)
    assert all(torch.equal(got[k], v.to(got[k].dtype)) for k, v in sd[RN50].items())
    assert QuickGELU in {type(m) for m in loaded.model.modules()}  # built as the OpenAI tag was trained

    tiny = zoo.load(TINY).model.model.state_dict()
    assert all(torch.equal(tiny[k], v) for k, v in sd[TINY].items())
    torch.manual_seed(0)
    fresh = timm.create_model("test_vit.r160_in1k").state_dict()
    assert not torch.equal(tiny["head.weight"], fresh["head.weight"])  # so the equality above means loaded


def test_damaged_bytes_are_detected_deleted_and_never_loaded(served, tmp_path, point_hub):
    hub, _ = served
    hub.faults[TINY_FILE] = "corrupt"  # the hub's sha256, other bytes, right length
    try:
        p = fetch_cli(TINY, env=env_for(hub.url, tmp_path / "hf"))
    finally:
        hub.faults.pop(TINY_FILE, None)
    assert p.returncode == 2 and "arrived damaged: sha256" in p.stderr and "was deleted" in p.stderr
    point_hub(hub.url, tmp_path / "hf")
    assert weights.cached(weights.hub_files(zoo.get(TINY))) is None
    assert not list((tmp_path / "hf" / "hub").glob("models--timm--test_vit.r160_in1k/blobs/*"))
    # in-process too: zoo.load raises instead of building from the damaged file
    hub.faults[TINY_FILE] = "corrupt"
    try:
        with pytest.raises(ChecksumError, match="arrived damaged"):
            zoo.load(TINY)
    finally:
        hub.faults.pop(TINY_FILE, None)


def test_a_missing_repo_or_file_is_a_clear_error(served, tmp_path, point_hub):
    hub, _ = served
    point_hub(hub.url, tmp_path / "hf")
    nowhere = weights.HubFiles("timm:nothing_here", "timm/nothing_here", ("model.safetensors",))
    with pytest.raises(FetchError, match="has no repo timm/nothing_here.*HF_ENDPOINT"):
        weights._download(nowhere, before=None, verify=False)
    no_file = weights.HubFiles("timm:empty", "timm/empty_repo", ("model.safetensors", "pytorch_model.bin"))
    with pytest.raises(FetchError, match="timm/empty_repo .* has none of model.safetensors, pytorch_model.bin"):
        weights._download(no_file, before=None, verify=False)
    # through the CLI: a real registry name whose repo this hub does not hold
    p = fetch_cli("timm:vit_base_patch16_clip_224.openai_ft_in1k", env=env_for(hub.url, tmp_path / "hf"))
    assert p.returncode == 2
    assert "timm:vit_base_patch16_clip_224.openai_ft_in1k: the hub at" in p.stderr
    assert "no repo timm/vit_base_patch16_clip_224.openai_ft_in1k" in p.stderr and "Traceback" not in p.stderr


def test_unreachable_hub_with_cached_weights_is_quick_and_says_how_to_go_offline(tiny_cache, tmp_path):
    home = tmp_path / "hf"
    shutil.copytree(tiny_cache, home, symlinks=True)
    t0 = time.monotonic()
    p = fetch_cli(TINY, env=env_for(f"http://127.0.0.1:{closed_port()}", home))
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert took < QUICK, took
    assert "unreachable" in p.stderr and "HF_HUB_OFFLINE=1" in p.stderr and "--offline" in p.stderr


def test_a_hub_that_never_answers_costs_one_short_probe(tiny_cache, point_hub, capsys):
    silent = Silent()
    try:
        point_hub(silent.url, tiny_cache)
        t0 = time.monotonic()
        loaded = zoo.load(TINY)
        took = time.monotonic() - t0
    finally:
        silent.close()
    assert loaded.model.is_classifier
    assert took < QUICK, took
    err = capsys.readouterr().err
    assert f"no answer within {weights.PROBE_TIMEOUT:g} s" in err and "HF_HUB_OFFLINE=1 or --offline" in err


def test_unreachable_hub_with_nothing_cached_names_model_repo_and_remedy(tmp_path):
    t0 = time.monotonic()
    p = fetch_cli(TINY, env=env_for(f"http://127.0.0.1:{closed_port()}", tmp_path / "hf"))
    assert time.monotonic() - t0 < QUICK
    assert p.returncode == 2
    msg = p.stderr
    assert f"{TINY}: cannot reach the model hub" in msg and TINY_REPO in msg
    assert f"clipstudy fetch model {TINY}" in msg and "hf download" in msg and "Traceback" not in msg


def test_offline_reads_only_the_cache(served, tiny_cache, tmp_path, point_hub, monkeypatch):
    hub, sd = served
    point_hub(hub.url, tiny_cache)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what --offline sets
    n = len(hub.log)
    tiny = zoo.load(TINY).model.model.state_dict()
    assert torch.equal(tiny["head.weight"], sd[TINY]["head.weight"])
    point_hub(hub.url, tmp_path / "empty")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FetchError, match="offline mode is on"):
        zoo.load(TINY)
    assert len(hub.log) == n  # the hub was never asked


def test_the_live_panel_downloads_missing_weights_only_when_there_is_data(served, tmp_path, point_hub, monkeypatch):
    hub, _ = served
    point_hub(hub.url, tmp_path / "hf")
    monkeypatch.setattr(live, "dataset_present", lambda name: None if name == "imagenet" else f"{name}: absent")
    n = len(hub.log)
    p = live.panel(["imagenet-sketch"], models=[TINY])  # no data: nothing is downloaded
    assert p.models == [] and "not in the local hub cache" in p.missing[0] and len(hub.log) == n
    p = live.panel(["imagenet"], models=[TINY, "RN50/random"])
    assert p.ready and p.models == [TINY, "RN50/random"] and p.missing == []
    assert weights.cached(weights.hub_files(zoo.get(TINY))) is not None


def test_collections_expand_to_registry_names():
    assert weights.expand(["@live"]) == list(collection.LIVE)
    siglip = weights.expand(["@loss=siglip", "ViT-B-16-SigLIP/webli"])
    assert siglip and all(zoo.get(n).loss == "siglip" for n in siglip) and len(siglip) == len(set(siglip))
    with pytest.raises(UnknownNameError, match="@FIELD=VALUE"):
        weights.expand(["@everything"])
    with pytest.raises(UnknownNameError, match="laion2b"):
        weights.expand(["@data=laion2"])


def test_eval_offline_flag_keeps_the_cli_off_the_hub(tmp_path):
    """`--offline` on eval: with nothing cached it says offline (a probe would have said 'cannot reach')."""
    env = env_for(f"http://127.0.0.1:{closed_port()}", tmp_path / "hf")
    p = subprocess.run([sys.executable, "-m", "clipstudy.cli", "eval", TINY, "lab-val", "--offline", "--device", "cpu",
                        "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    assert f"{TINY}: weights not in the local hub cache and offline mode is on" in p.stderr
    assert "cannot reach" not in p.stderr and "Traceback" not in p.stderr
