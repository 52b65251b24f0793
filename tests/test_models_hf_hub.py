"""`hf-hub:ORG/REPO[@REVISION]` against a local hub on 127.0.0.1 (tests/hubserver.py), with tiny random CLIPs in the
real layouts of both formats (tests/hub_models.py): open_clip's (safetensors; .bin with a text tower and tokenizer
in a second repo) and transformers' (CLIP with its BPE tokenizer files, SigLIP with its SentencePiece tokenizer).

The references run in a subprocess that knows nothing of clipstudy, against the same local hub (HF_ENDPOINT):
open_clip's `create_model_and_transforms("hf-hub:...")` with `get_tokenizer`, and transformers' `AutoModel` with
`AutoProcessor(text=..., images=..., padding=...)` as the repos' model cards document (`padding=True` for CLIP,
`padding="max_length"` for SigLIP). Random weights: pipeline checks only."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hubserver import Hub, closed_port, env_for

import hub_models as HM
from clipstudy import hubcache, zoo
from clipstudy.errors import ChecksumError, CheckpointError, ClipstudyError, FetchError, UnknownNameError
from clipstudy.models.sources import hf_hub, llava

CLASSES = ("cat", "dog", "fox")
SIZES = ((37, 53), (64, 40), (50, 50))  # width, height: non-square, so the resize and crop matter
REFERENCE = r'''
import json, sys
import torch
from PIL import Image

repo, fmt, padding, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
paths, texts = json.loads(sys.argv[5]), json.loads(sys.argv[6])
images = [Image.open(p).convert("RGB") for p in paths]
with torch.no_grad():
    if fmt == "open_clip":
        import open_clip
        model, _, preprocess = open_clip.create_model_and_transforms("hf-hub:" + repo)
        tokenizer = open_clip.get_tokenizer("hf-hub:" + repo)
        model.eval()
        img = model.encode_image(torch.stack([preprocess(i) for i in images]))
        txt = model.encode_text(tokenizer(texts))
        img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
        logits = img @ txt.T
    else:
        from transformers import AutoModel, AutoProcessor
        model = AutoModel.from_pretrained(repo).eval()
        processor = AutoProcessor.from_pretrained(repo)
        inputs = processor(text=texts, images=images, padding=padding, return_tensors="pt")
        o = model(**inputs)
        img, txt, logits = o.image_embeds, o.text_embeds, o.logits_per_image
torch.save(dict(image=img.float(), text=txt.float(), argmax=logits.argmax(dim=1)), out)
'''


def images(root: Path) -> str:
    """`imagefolder:ROOT`: three classes of random images of three sizes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in CLASSES:
        (root / c).mkdir(parents=True, exist_ok=True)
        for j, (w, h) in enumerate(SIZES):
            Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(root / c / f"{c}_{j}.png")
    return f"imagefolder:{root}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub()
    HM.serve(h, tmp_path_factory.mktemp("hub-models"))
    yield h
    h.close()


@pytest.fixture
def on_hub(hub, tmp_path, point_hub, monkeypatch):
    """This process on the local hub with an empty hub cache, and no repo resolved yet."""
    point_hub(hub.url, tmp_path / "hf")
    monkeypatch.setattr(hf_hub, "_RESOLVED", {})
    return hub


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    return images(tmp_path_factory.mktemp("images"))


def _padding(repo: str) -> object:
    return {HM.HF_CLIP: True, HM.HF_SIGLIP: "max_length"}.get(repo, None)


def reference(hub: Hub, repo: str, fmt: str, paths: list[str], texts: list[str], tmp: Path) -> dict:
    out = tmp / "ref.pt"
    env = env_for(hub.url, tmp / "hf-ref")
    env.pop("PYTHONPATH", None)  # the references know nothing of clipstudy
    p = subprocess.run([sys.executable, "-c", REFERENCE, repo, fmt, json.dumps(_padding(repo)), str(out),
                        json.dumps(paths), json.dumps(texts)], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return torch.load(out)


@pytest.mark.parametrize("label", list(HM.MODELS))
def test_each_format_gives_the_predictions_of_its_own_library(on_hub, data, tmp_path, label):
    """fp32: identical argmax and features within 1e-5 of open_clip's `create_model_and_transforms("hf-hub:...")`
    or of transformers' model with `AutoProcessor(text=, images=, padding=)`, on the same image files."""
    from clipstudy import datasets, zeroshot

    repo = HM.MODELS[label]
    loaded = zoo.load(f"{hf_hub.PREFIX}{repo}")
    ds = datasets.get(data).load(transform=loaded.preprocess)
    res = zeroshot.run(loaded, ds, dataset_id=data, prompts="single", precision="fp32", device="cpu",
                       num_workers=0, progress=False)
    texts = [f"a photo of a {c}." for c in ds.classnames]
    ref = reference(on_hub, repo, "open_clip" if repo.startswith(f"{HM.ORG}/oc-") else "transformers",
                    [str(p) for p in ds.paths], texts, tmp_path)
    assert len(res.encoded) == len(ds.paths) == len(ref["image"])
    assert torch.allclose(res.encoded.features, ref["image"], atol=1e-5, rtol=0), \
        (res.encoded.features - ref["image"]).abs().max()
    assert torch.allclose(res.head.T, ref["text"], atol=1e-5, rtol=0), (res.head.T - ref["text"]).abs().max()
    assert torch.equal(res.logits.argmax(dim=1), ref["argmax"])
    if repo == HM.HF_SIGLIP:  # the padding is part of the model: SigLIP pools the last position
        from clipstudy import encode

        longest = hf_hub.ProcessorTokenizer(loaded.tokenizer.tokenizer, True)
        other = encode.encode_texts(loaded.model, longest, texts, precision="fp32")
        assert not torch.allclose(other, ref["text"], atol=1e-3)


def test_the_format_is_detected_and_the_factors_come_from_each_config(on_hub):
    oc, biomed = zoo.get(f"hf-hub:{HM.OC_SAFE}"), zoo.get(f"hf-hub:{HM.OC_BIN}")
    clip, siglip = zoo.get(f"hf-hub:{HM.HF_CLIP}"), zoo.get(f"hf-hub:{HM.HF_SIGLIP}")
    assert {s.source for s in (oc, biomed, clip, siglip)} == {"hf-hub"}
    assert oc.notes.startswith("open_clip format") and clip.notes.startswith("transformers format")
    assert (oc.family, oc.loss, oc.resolution, oc.data) == ("vit", "clip", 32, "")  # data: unknown, not guessed
    assert (clip.family, clip.loss, clip.resolution) == ("vit", "clip", 32)
    assert (siglip.family, siglip.loss, siglip.resolution) == ("vit", "siglip", 32)  # model_type siglip
    assert biomed.pretrained == f"{HM.TEXT_REPO}@{on_hub.commit}"  # its second repo, pinned
    assert all(s.revision == on_hub.commit for s in (oc, biomed, clip, siglip))
    assert zoo.model_id(oc) == f"hf-hub:{HM.OC_SAFE}#{on_hub.commit}"
    # an open_clip config with a logit bias is a SigLIP; a ResNet tower is a ResNet
    on_hub.add(f"{HM.ORG}/sig", "open_clip_config.json", json.dumps(dict(model_cfg=dict(
        embed_dim=8, init_logit_bias=-10, vision_cfg=dict(timm_model_name="vit_base_patch16_siglip_224"),
        text_cfg={}))).encode())
    on_hub.add(f"{HM.ORG}/rn", "open_clip_config.json", json.dumps(dict(model_cfg=dict(
        embed_dim=8, vision_cfg=dict(layers=[1, 1, 1, 1], image_size=64), text_cfg={}),
        preprocess_cfg=dict(size=[64, 64]))).encode())
    sig, rn = zoo.get(f"hf-hub:{HM.ORG}/sig"), zoo.get(f"hf-hub:{HM.ORG}/rn")
    assert (sig.loss, sig.family) == ("siglip", "vit") and (rn.family, rn.resolution) == ("resnet", 64)
    # the hub file of an open_clip tag (its `hf_hub` entry) carries that tag's tags; LAION's repos hold both formats
    tag_repo = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    on_hub.add(tag_repo, "open_clip_config.json", json.dumps(dict(model_cfg=dict(
        embed_dim=512, vision_cfg=dict(image_size=224, layers=12, width=768, patch_size=32), text_cfg={}))).encode())
    on_hub.add(tag_repo, "config.json", b'{"model_type": "clip", "architectures": ["CLIPModel"]}')  # not read
    mirror = zoo.get(f"hf-hub:{tag_repo}")
    tag = zoo.get("ViT-B-32/laion2b_s34b_b79k")
    assert mirror.notes.startswith("open_clip format")  # both configs present: open_clip's wins
    assert (mirror.arch, mirror.data, mirror.samples_seen, mirror.loss) == ("ViT-B-32", tag.data, tag.samples_seen,
                                                                           tag.loss)
    assert "ViT-B-32/laion2b_s34b_b79k" in hf_hub.mirrored_tags(tag_repo)
    # a config.json that is not a CLIP (timm's image classifiers) says what it is
    on_hub.add(f"{HM.ORG}/timm-only", "config.json", b'{"architecture": "resnet50", "num_classes": 1000}')
    with pytest.raises(CheckpointError, match="model_type None, not a CLIP.*timm:NAME"):
        zoo.get(f"hf-hub:{HM.ORG}/timm-only")
    on_hub.add(f"{HM.ORG}/empty", "README.md", b"nothing")
    with pytest.raises(CheckpointError, match="neither open_clip_config.json .* nor config.json"):
        zoo.get(f"hf-hub:{HM.ORG}/empty")


def test_hf_hub_names_take_precedence_and_nest_in_llava_names(on_hub):
    pinned = f"hf-hub:{HM.HF_CLIP}@{on_hub.commit}"
    spec = zoo.get(pinned)  # an @ inside hf-hub: is a revision, never ARCH@PATH
    assert spec.source == "hf-hub" and spec.revision == on_hub.commit
    ckpt, clip = llava.split(f"llava:llava-hf/llava-1.5-7b-hf@{pinned}")
    assert (ckpt, clip) == ("llava-hf/llava-1.5-7b-hf", pinned)
    assert "its CLIP: " + pinned in zoo.get(f"llava:llava-hf/llava-1.5-7b-hf@{pinned}").notes
    with pytest.raises(UnknownNameError, match="hf-hub:openai/clip-vit-base-patch32"):
        zoo.get("openai/clip-vit-base-patch32")  # a copied hub id is told its form
    with pytest.raises(ClipstudyError, match="expected hf-hub:ORG/REPO"):
        zoo.get("hf-hub:not a repo")


def test_a_remote_code_repo_is_refused(on_hub):
    on_hub.add(f"{HM.ORG}/remote", "config.json", json.dumps(dict(
        model_type="clip", auto_map={"AutoModel": "modeling_x.XModel"})).encode())
    with pytest.raises(CheckpointError, match="auto_map.*never runs downloaded code"):
        zoo.get(f"hf-hub:{HM.ORG}/remote")
    # an open_clip config whose second repo asks for remote code
    on_hub.add(f"{HM.ORG}/remote-text", "config.json", json.dumps(dict(
        model_type="bert", auto_map={"AutoModel": "m.M"})).encode())
    on_hub.add(f"{HM.ORG}/oc-remote", "open_clip_config.json", json.dumps(dict(model_cfg=dict(
        embed_dim=8, vision_cfg=dict(image_size=32), text_cfg=dict(hf_model_name=f"{HM.ORG}/remote-text")))).encode())
    with pytest.raises(CheckpointError, match="remote-text/config.json asks to run the repo's own code"):
        zoo.get(f"hf-hub:{HM.ORG}/oc-remote")


def test_a_tampered_file_is_deleted_and_never_loaded(on_hub, tmp_path):
    name = f"hf-hub:{HM.HF_SIGLIP}"
    on_hub.faults["model.safetensors"] = "corrupt"
    try:
        with pytest.raises(ChecksumError, match="arrived damaged: sha256 .* was deleted"):
            zoo.load(name)
    finally:
        on_hub.faults.pop("model.safetensors", None)
    assert hubcache.cached(HM.HF_SIGLIP, "model.safetensors", on_hub.commit) is None
    assert not [b for b in (tmp_path / "hf" / "hub").rglob("blobs/*") if b.stat().st_size > 100_000]
    assert zoo.load(name).spec.revision == on_hub.commit  # fetched again, whole


def test_a_revision_pins_one_commit_and_a_new_commit_is_a_new_unit(on_hub, data, tmp_path, monkeypatch):
    from clipstudy import run

    repo, name = HM.OC_SAFE, f"hf-hub:{HM.OC_SAFE}"
    old = on_hub.freeze(repo, "v1")
    first = run.plan([name], [data], axes="shifts", prompts="single", precision="fp32", device="cpu")
    try:
        new = on_hub.bump()
        weights = on_hub.repos[repo]["open_clip_model.safetensors"]
        on_hub.repos[repo]["open_clip_model.safetensors"] = weights[:-8] + bytes(8)  # the new commit's weights
        monkeypatch.setattr(hf_hub, "_RESOLVED", {})  # a new process: main resolves again
        second = run.plan([name], [data], axes="shifts", prompts="single", precision="fp32", device="cpu")
        pinned = zoo.get(f"{name}@v1")
        assert zoo.get(name).revision == new and pinned.revision == old and zoo.get(f"{name}@{old}").revision == old
        assert first.units[0].model_id.endswith(old) and second.units[0].model_id.endswith(new)
        assert first.units[0].key != second.units[0].key  # never served the old commit's results
        a, b = zoo.load(f"{name}@v1"), zoo.load(name)
        assert a.weights_id != b.weights_id
        sa, sb = a.model.state_dict(), b.model.state_dict()
        assert any(not torch.equal(sa[k], sb[k]) for k in sa)
    finally:
        on_hub.commit = old
        on_hub.repos[repo] = dict(on_hub.frozen[(repo, old)][1])


def _eval(name: str, data: str, out: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clipstudy.cli", "eval", name, data, "--prompts", "single",
                           "--precision", "fp32", "--device", "cpu", "--workers", "0", "--out", str(out), *extra],
                          env=env, capture_output=True, text=True, timeout=600)


def test_a_second_run_with_the_hub_stopped_is_served_from_the_cache(hub, data, tmp_path):
    import pandas as pd

    name = f"hf-hub:{HM.HF_CLIP}"
    env = env_for(hub.url, tmp_path / "hf", CLIPSTUDY_CACHE=str(tmp_path / "cache"))
    p = _eval(name, data, tmp_path / "out", env)
    assert p.returncode == 0, p.stderr[-3000:]
    t0 = time.monotonic()
    down = env_for(f"http://127.0.0.1:{closed_port()}", tmp_path / "hf", CLIPSTUDY_CACHE=str(tmp_path / "cache"))
    q = _eval(name, data, tmp_path / "out2", down)
    assert q.returncode == 0, q.stderr[-3000:]
    assert "unreachable" in q.stderr and "--offline" in q.stderr and "Traceback" not in q.stderr
    a, b = pd.read_csv(tmp_path / "out" / "eval.csv"), pd.read_csv(tmp_path / "out2" / "eval.csv")
    assert list(a["value"]) == list(b["value"]) and set(a["revision"]) == set(b["revision"]) == {hub.commit}
    assert time.monotonic() - t0 < 300


def test_offline_with_a_missing_file_is_a_clear_error(hub, data, tmp_path):
    env = env_for(f"http://127.0.0.1:{closed_port()}", tmp_path / "hf")
    p = _eval(f"hf-hub:{HM.HF_SIGLIP}", data, tmp_path / "out", env, "--offline")
    assert p.returncode == 2
    assert f"hf-hub:{HM.HF_SIGLIP}: {HM.HF_SIGLIP} is not in the local hub cache and offline mode is on" in p.stderr
    assert "clipstudy fetch model" in p.stderr and "Traceback" not in p.stderr
    # the config is cached, the weights are not: the file is named
    home = tmp_path / "hf2"
    on = env_for(hub.url, home)
    code = f"from huggingface_hub import hf_hub_download as d; d({HM.HF_SIGLIP!r}, 'config.json')"
    subprocess.run([sys.executable, "-c", code], env=on, check=True, capture_output=True, timeout=120)
    p = _eval(f"hf-hub:{HM.HF_SIGLIP}", data, tmp_path / "out", env_for(hub.url, home), "--offline")
    assert p.returncode == 2 and "model.safetensors is not in the local hub cache and offline mode is on" in p.stderr


def test_fetch_model_downloads_every_file_of_both_repos(hub, tmp_path):
    env = env_for(hub.url, tmp_path / "hf")
    p = subprocess.run([sys.executable, "-m", "clipstudy.cli", "fetch", "model", f"hf-hub:{HM.OC_BIN}"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    cached = {f.name for f in (tmp_path / "hf" / "hub").rglob("snapshots/*/*")}
    assert {"open_clip_config.json", "open_clip_pytorch_model.bin", "config.json", "vocab.txt",
            "tokenizer_config.json"} <= cached
    assert "open_clip_model.safetensors" not in cached


def test_a_cut_download_resumes_where_it_stopped(on_hub, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 1 << 20)  # huggingface_hub writes whole chunks (10 MB)
    name = f"hf-hub:{HM.HF_CLIP}"
    on_hub.faults["model.safetensors"] = "truncate"  # the first GET sends half the bytes and hangs up
    try:
        with pytest.raises(FetchError, match="model.safetensors .* failed .*Nothing half-written is read; run "
                                             "`clipstudy fetch model"):
            zoo.load(name)
    finally:
        on_hub.faults.pop("model.safetensors", None)
    partial = list((tmp_path / "hf" / "hub").glob("models--clipstudy-test--hf-clip/blobs/*.incomplete"))
    assert len(partial) == 1 and partial[0].stat().st_size > 0
    kept = partial[0].stat().st_size
    n = len(on_hub.log)
    assert zoo.load(name).spec.revision == on_hub.commit
    assert [r for m, _, r in on_hub.log[n:] if m == "GET" and r] == [f"bytes={kept}-"]  # resumed, not restarted


def test_tables_written_before_the_revision_column_still_load(tmp_path):
    from clipstudy import results

    old_eval = tmp_path / "eval.csv"
    old_eval.write_text("model,dataset,prompts,metric,value,precision,n,n_skipped,skipped,root\n"
                        "RN50/openai,imagenet,single,top1,0.5,fp32,10,0,,/data/imagenet\n")
    df = results.read(old_eval)
    assert list(df["revision"]) == [""]
    new = df.assign(model="hf-hub:org/repo", revision="a" * 40)
    merged = results.upsert(old_eval, new)
    assert list(merged["revision"].fillna("")) == ["", "a" * 40]
    study = tmp_path / "study"
    study.mkdir()
    (study / "results.csv").write_text("model,dataset,axis,part,metric,value,n,prompts,precision\n"
                                       "RN50/openai,imagenet,shifts,all,top1,0.5,10,single,fp32\n")
    t = results.read_study(study)
    assert list(t.columns) == results.STUDY_COLUMNS and list(t["revision"]) == [""]
    results.write_study(study, t.assign(model="hf-hub:org/repo", revision="b" * 40))
    both = results.read_study(study)
    assert dict(zip(both["model"], both["revision"])) == {"RN50/openai": "", "hf-hub:org/repo": "b" * 40}


def test_the_open_clip_folder_follows_the_hub_cache(on_hub, tmp_path, point_hub, monkeypatch):
    """open_clip reads a folder of links into the hub cache: another cache, or one emptied since, never leaves it
    reading links that lead nowhere."""
    name = f"hf-hub:{HM.OC_SAFE}"
    first = zoo.load(name).model.state_dict()
    point_hub(on_hub.url, tmp_path / "hf2")
    monkeypatch.setattr(hf_hub, "_RESOLVED", {})
    assert all(torch.equal(first[k], v) for k, v in zoo.load(name).model.state_dict().items())
    shutil.rmtree(tmp_path / "hf")  # the first cache is gone: its folder's links lead nowhere
    point_hub(on_hub.url, tmp_path / "hf")
    monkeypatch.setattr(hf_hub, "_RESOLVED", {})
    assert all(torch.equal(first[k], v) for k, v in zoo.load(name).model.state_dict().items())


def _open_clip_hub_config(model_cfg: dict) -> dict:
    """An open_clip_config.json as open_clip's own hub writer lays it out (`push_to_hf_hub.save_config_for_hf`)."""
    return {"model_cfg": model_cfg, "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                                                       "std": [0.26862954, 0.26130258, 0.27577711]}}


# BiomedCLIP's open_clip_config.json as its public copies show it: a timm image tower, a BERT text tower and
# tokenizer in a second repo (not an open_clip tag, so nothing is known of its data)
BIOMEDCLIP = {"embed_dim": 512,
              "vision_cfg": {"timm_model_name": "vit_base_patch16_224", "timm_model_pretrained": False, "timm_pool": "",
                             "timm_proj": "linear", "image_size": 224},
              "text_cfg": {"hf_model_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
                           "hf_tokenizer_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
                           "hf_proj_type": "mlp", "hf_pooler_type": "cls_last_hidden_state_pooler",
                           "context_length": 256}}


@pytest.mark.parametrize("repo,arch,family,loss,data", [
    ("timm/ViT-B-16-SigLIP", "ViT-B-16-SigLIP", "vit", "siglip", "webli"),
    ("laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", "ViT-bigG-14", "vit", "clip", "laion2b"),
    ("apple/DFN2B-CLIP-ViT-L-14", "ViT-L-14-quickgelu", "vit", "clip", "dfn-2b"),
    ("microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224", None, "vit", "clip", ""),
])
def test_real_open_clip_repo_layouts_give_their_factors(repo, arch, family, loss, data):
    """The configs of real open_clip-format repos (open_clip's own model configs in its hub layout; BiomedCLIP's as
    published): a repo that is an open_clip tag's hub file takes that tag's factors, another its config's."""
    import open_clip

    cfg = _open_clip_hub_config(open_clip.get_model_config(arch) if arch else BIOMEDCLIP)
    spec = hf_hub._open_clip_fields(hf_hub.Repo(f"hf-hub:{repo}", repo, "main", "0" * 40, "open_clip", cfg))
    assert (spec["family"], spec["loss"], spec["resolution"]) == (family, loss, 224)
    assert spec["data"] == data


@pytest.mark.parametrize("kind,vision,loss,size", [("clip", {"image_size": 224, "patch_size": 32}, "clip", 224),
                                                   ("clip", {"image_size": 224, "patch_size": 14}, "clip", 224),
                                                   ("siglip", {"image_size": 384, "patch_size": 14}, "siglip", 384)])
def test_real_transformers_repo_layouts_give_their_factors(kind, vision, loss, size):
    """config.json as transformers writes it for openai/clip-vit-base-patch32, openai/clip-vit-large-patch14 and
    google/siglip-so400m-patch14-384 (the config classes' own to_dict, with each repo's vision tower size)."""
    from transformers import CLIPConfig, SiglipConfig

    cfg = (CLIPConfig if kind == "clip" else SiglipConfig)(vision_config=vision).to_dict()
    assert cfg["model_type"] == kind
    spec = hf_hub._transformers_fields(hf_hub.Repo("hf-hub:o/r", "o/r", "main", "0" * 40, "transformers", cfg))
    assert (spec["family"], spec["loss"], spec["resolution"]) == ("vit", loss, size)


def test_calibration_and_ood_say_which_score_a_siglip_was_given(capsys):
    """A SigLIP among the live models (its loss from its tags) gets one sentence naming the softmax score it was
    given; a panel without one gets none."""
    from clipstudy import live

    text = live.scoring_note(["ViT-B-32/openai", "ViT-B-16-SigLIP/webli", "ViT-B-16-SigLIP/webli"])
    assert text is not None and "(ViT-B-16-SigLIP/webli)" in text and "softmax" in text
    assert "ViT-B-16-SigLIP/webli" in capsys.readouterr().out
    assert live.scoring_note(["ViT-B-32/openai", "nosuch-model"]) is None
