"""The live book end to end: `clipstudy build --profile live-smoke` against a local hub on 127.0.0.1
(tests/hubserver.py) and tiny datasets in their real layouts.

The hub serves, in the real repo layouts, random-weight models (the profile's live panel: RN50/openai, a QuickGELU
open_clip tag; ViT-B-32/laion2b_s34b_b79k, a GELU one; timm's vit_base_patch32_clip_224.laion2b_ft_in1k, a
fine-tuned CLIP whose zero-shot parent is that ViT-B-32) and CLIP_benchmark's `wds_*` dataset repos of every family
with a wds form (tiny shards of generated images). The families without one are tiny folders: ImageNet val (real
ILSVRC2012 file names, so ImageNet-X joins), the OOD sets, ImageNet-3DCC, ImageNet-D, and the cue-conflict, edge and
silhouette stimuli (a few per class, copied from the shared data). The researcher's own models ("yours") are a tiny
open_clip folder (`local-dir:`) and one tiny `hf-hub:` repo of each format the hub serves (tests/hub_models.py:
open_clip's and transformers'). The build runs the live grid through the runner,
then every chapter; each live section must show rows, and every live number (chapter and claims page) is marked as
a pipeline check, since the weights are random.
"""
from __future__ import annotations

import html
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import hub_models as HM
from fixtures_layouts import make_3dcc, make_imagenet, make_imagenet_d, make_ood
from fixtures_wds import classification, image_bytes, layout
from hubserver import COMMIT as HUB_COMMIT, Hub, env_for

from clipstudy import book, datasets
from clipstudy.axes import claims
from clipstudy.config import PIPELINE_CHECK
from clipstudy.profiles import PROFILES
from clipstudy.datasets import wds

pytestmark = pytest.mark.slow  # one live-smoke build (about 5-6 minutes on 2 CPU cores), read by every test here

REPO = Path(__file__).resolve().parents[1]
PROFILE = PROFILES["live-smoke"]
MISSING = "Live models or data missing"
MARK = "Pipeline check (random weights), not a finding"
# each chapter's live table (results/CHAPTER/NAME.csv), written only when its live section shows rows
LIVE_TABLES = {"01_introduction": "live_models", "02_natural_shifts": "live_er", "03_visual_factors": "live_imagenet_x",
               "04_shape_bias": "live_shape_bias", "05_calibration": "live_calibration",
               "06_ood_detection": "live_detection", "07_retrieval": "live_retrieval", "08_3d_awareness": "live_3dcc",
               "09_lmm": "live_gains"}
LIVE_CLAIMS = ("C1", "C3", "C7")  # the claims with a live contrast the runner's grid measures (C4 is chapter 09's)
# families read from folders (no wds form; ImageNet's folder is what ImageNet-X joins on)
FOLDERS = ("imagenet", "imagenet-x", "inaturalist", "sun", "places", "textures", "ninco", "imagenet-3dcc",
           "imagenet-d", "cue-conflict", "edges", "silhouettes")


def _state(model, dtype=None) -> dict:
    return {k: (v.to(dtype) if dtype and v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}


def serve_models(hub: Hub) -> dict[str, str]:
    """Random weights of the profile's live panel, each in its real hub repo and file (fp16 for open_clip, as the
    real safetensors are); returns model -> repo."""
    import open_clip
    import safetensors.torch
    import timm
    import torch

    from clipstudy import zoo
    from clipstudy.models import weights

    served = {}
    logging.disable(logging.WARNING)
    try:
        for i, name in enumerate(PROFILE.live_models):
            spec, files = zoo.get(name), weights.hub_files(zoo.get(name))
            torch.manual_seed(i)
            if spec.source == "open_clip":
                sd = _state(open_clip.create_model(spec.arch, pretrained=None), torch.float16)
                hub.add(files.repo_id, "open_clip_config.json", b'{"model_cfg": {}}')
            else:
                sd = _state(timm.create_model(spec.arch, pretrained=False))
                hub.add(files.repo_id, "config.json", json.dumps({"architecture": spec.arch.split(".")[0],
                                                                  "num_classes": 1000}).encode())
            hub.add(files.repo_id, files.filenames[0], safetensors.torch.save(sd))
            served[name] = files.repo_id
    finally:
        logging.disable(logging.NOTSET)
    return served


def serve_wds(hub: Hub) -> list[str]:
    """Every family with a wds form as its `clip-benchmark/wds_NAME` repo: a few generated images in two shards
    (captions for the retrieval sets); returns the wds names."""
    for short, fam in wds.FAMILIES.items():
        if fam.task == "retrieval":
            caps = [{"__key__": f"i{i}", "jpg": image_bytes(i, "JPEG"),
                     "txt": f"a photo number {i}\na picture of thing {i}\n".encode()} for i in range(4)]
            files = layout([], [caps[:2], caps[2:]], kind="retrieval")
        elif fam.classes == "own":  # objectnet: its own 113 class names
            files = layout([f"object {i}" for i in range(113)], classification(6, 113))
        elif fam.task == "ood":
            files = layout([f"ood class {i}" for i in range(200)], classification(4, 200))
        else:
            names = datasets.get(fam.family).classnames()
            files = layout(names, classification(6, len(names)))
        for path, data in files.items():
            hub.add(f"{wds.ORG}/wds_{short}", path, data, repo_type="dataset")
    return wds.names()


def make_folders(root: Path, shared: Path, per_class: int = 2) -> Path:
    """The families without a wds form, in their real folder layouts; the records from the shared data."""
    make_imagenet(root / "imagenet", n_classes=3)
    for name in ("inaturalist", "sun", "places", "textures", "ninco"):
        make_ood(root / name, name)
    make_3dcc(root / "imagenet-3dcc")
    make_imagenet_d(root / "imagenet-d")
    for name, src in (("cue-conflict", "cue-conflict-sample"), ("edges", "edges"),
                      ("silhouettes", "filled-silhouettes")):
        for cls in sorted(p for p in (shared / "stimuli" / src).iterdir() if p.is_dir()):
            (root / name / cls.name).mkdir(parents=True, exist_ok=True)
            for f in sorted(cls.glob("*.png"))[:per_class]:
                shutil.copy2(f, root / name / cls.name / f.name)
    (root / "records").symlink_to(shared / "records")
    return root


@pytest.fixture(scope="module")
def live_book(tmp_path_factory, shared_data):
    """The live-smoke book built through the CLI against the local hub: (process, out folder, seconds)."""
    tmp = tmp_path_factory.mktemp("live-book")
    hub = Hub()
    try:
        serve_models(hub)
        serve_wds(hub)
        HM.serve(hub, tmp / "hub-models", repos=HUB_REPOS)
        data = make_folders(tmp / "data", shared_data)
        serve_llava(hub, tmp, tmp / "hf")
        out = tmp / "out"
        env = env_for(hub.url, tmp / "hf", CLIPSTUDY_DATA=str(data), MPLBACKEND="Agg")
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "clipstudy.cli", "build", "--profile", "live-smoke",
                               "--out", str(out), "--device", "cpu", "--models", YOURS(tmp), *HUB_YOURS,
                               LLAVA(tmp)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=2700)
        took = time.monotonic() - t0
        print(f"live-smoke build: {took:.0f} s\n{proc.stdout[-3000:]}")
        yield proc, out, took
    finally:
        hub.close()


# markup in a name a researcher gives (their model's folder): every page must show it as text, never run it
PAYLOADS = ("<img src=x onerror=alert(1)>", "<svg onload=alert(2)>")


def YOURS(tmp: Path) -> str:
    """The researcher's own checkpoint the build adds (`--models`): a tiny random open_clip folder, whose name holds
    both markup payloads, as a hostile or careless name would."""
    import runner_fixtures

    folder = tmp / f"my-clip {PAYLOADS[0]} {PAYLOADS[1]}"
    return f"local-dir:{folder}" if folder.exists() else runner_fixtures.tiny_local_dir(folder, 3)


# one hub repo of each format, also "yours": open_clip's hub format and transformers'
HUB_REPOS = (HM.OC_SAFE, HM.HF_CLIP)
HUB_YOURS = [f"hf-hub:{r}" for r in HUB_REPOS]
LLAVA_REPO = "clipstudy-test/tiny-llava"


def LLAVA(tmp: Path) -> str:
    """Chapter 09's live LMM (`--models llava:HUB_ID@CLIP`): a tiny random LLaVA the local hub serves in the
    Hugging Face layout, compared with the researcher's tiny CLIP."""
    return f"llava:{LLAVA_REPO}@{YOURS(tmp)}"


def serve_llava(hub: Hub, tmp: Path, hf_home: Path) -> None:
    """The tiny LLaVA on the hub, then into the Hugging Face cache as a researcher fetches a LLaVA checkpoint
    (`huggingface-cli download ID`, which the runner's message for a missing checkpoint gives)."""
    from test_lmm import tiny_llava

    folder = tmp / "tiny-llava"
    tiny_llava(folder)
    names = [str(f.relative_to(folder)) for f in sorted(folder.rglob("*")) if f.is_file()]
    for n in names:
        hub.add(LLAVA_REPO, n, (folder / n).read_bytes())
    env = env_for(hub.url, hf_home)  # each file through huggingface_hub into the cache, as the CLI download does
    code = (f"from huggingface_hub import hf_hub_download\nfor n in {names!r}: hf_hub_download({LLAVA_REPO!r}, n)")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=300)


def _notebook(out: Path, stem: str) -> dict:
    path = out / "book" / "chapters" / f"{stem}.ipynb"
    assert path.exists(), f"{stem} was not written (failed: {book.chapters.failed_path(path.parent, stem).exists()})"
    return json.loads(path.read_text())


def _text(nb: dict) -> str:
    parts = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            parts += [o.get("text", "")] + [v for k, v in o.get("data", {}).items() if k.startswith("text/")]
    return "\n".join("".join(p) if isinstance(p, list) else str(p) for p in parts)


def _live_section(nb: dict) -> str:
    """The outputs of a chapter's live section: the cell that calls its axis' `live(ch)`."""
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and "axis.live(" in "".join(c["source"])]
    assert len(cells) == 1, f"{len(cells)} cells call axis.live"
    return _text(dict(cells=cells))


def test_the_build_runs_the_live_grid_and_every_chapter_without_error(live_book):
    proc, out, took = live_book
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "live grid: 6 model(s) x" in proc.stdout, proc.stdout[-3000:]  # the panel and the researcher's models
    for p in book.chapters.notebooks():
        nb = _notebook(out, p.name)
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{p.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    units = pd.read_csv(out / "book" / "results" / "live" / "units.csv", keep_default_na=False)
    failed = units[units["status"] == "failed"]
    # the one unit the runner refuses: an ImageNet classifier cannot be scored on wds/objectnet's own 113 classes
    assert [(r.model, r.dataset) for r in failed.itertuples()] == \
        [(m, "wds/objectnet") for m in PROFILE.live_models if m.startswith("timm:")], failed
    assert "only a zero-shot CLIP scores it" in failed["error"].iloc[0]
    res = pd.read_csv(out / "book" / "results" / "live" / "results.csv")
    mine = YOURS(out.parent)
    assert set(res["model"]) == set(PROFILE.live_models) | {mine, *HUB_YOURS, LLAVA(out.parent)}
    # the profile's one-template head for the CLIPs; the runner names a classifier's own head and caption sets so
    assert set(res["prompts"]) == {"single", "classifier-head", "captions"}, set(res["prompts"])
    read = set(res["dataset"])
    # the families with a wds form and no folder were read from the hub's wds repos; the rest from folders
    assert {"wds/imagenetv2", "wds/imagenet_sketch", "wds/imagenet-r", "wds/imagenet-a", "wds/objectnet",
            "wds/imagenet-o", "wds/mscoco_captions", "wds/flickr30k"} <= read, read
    assert {"imagenet", "imagenet-x", "cue-conflict", "edges", "silhouettes", "inaturalist", "sun", "places",
            "textures", "ninco", "imagenet-3dcc"} <= read, read
    evidence = json.loads((out / "book" / "results" / "live" / "evidence.json").read_text())
    assert evidence["pipeline_check"] is True and evidence["why"] == PIPELINE_CHECK
    assert evidence["yours"] == [mine, *HUB_YOURS, LLAVA(out.parent)]


def test_your_model_is_in_every_live_section_marked_as_yours(live_book):
    """`build --models`: the researcher's checkpoint is in the live tables, flagged in the saved tables and
    labelled "(yours)" where the chapters show it."""
    _, out, _ = live_book
    mine = YOURS(out.parent)
    for stem, name in LIVE_TABLES.items():
        if stem == "09_lmm":
            continue
        t = pd.read_csv(out / "book" / "results" / stem / f"{name}.csv")
        if "model" in t.columns:
            assert "yours" in t.columns and set(t.loc[t["yours"], "model"]) == {mine, *HUB_YOURS}, stem
    shown = "\n".join(_live_section(_notebook(out, s)) for s in LIVE_TABLES if s != "09_lmm")
    assert all(html.escape(f"{m} (yours)") in shown for m in [mine, *HUB_YOURS])  # as text, escaped (tables.show)


def test_hub_models_carry_their_revision_and_the_published_check_runs(live_book):
    """Each hf-hub model's rows carry the commit it resolved to; chapter 01 lists the live models' factors and
    revisions; chapter 02 checks the panel's open_clip tags against open_clip's published numbers, and says it
    cannot compare them under the profile's one template."""
    _, out, _ = live_book
    res = pd.read_csv(out / "book" / "results" / "live" / "results.csv", dtype={"revision": str},
                      keep_default_na=False)
    hub_rows = res[res["model"].isin(HUB_YOURS)]
    assert len(hub_rows) and set(hub_rows["revision"]) == {HUB_COMMIT}
    assert set(res.loc[~res["model"].isin(HUB_YOURS), "revision"]) == {""}
    models = pd.read_csv(out / "book" / "results" / "01_introduction" / "live_models.csv", keep_default_na=False)
    assert {"family", "data", "loss", "parent", "revision"} <= set(models.columns)
    assert set(models.loc[models["live model"].isin(HUB_YOURS), "revision"]) == {HUB_COMMIT}
    checked = pd.read_csv(out / "book" / "results" / "02_natural_shifts" / "live_published.csv")
    tags = [m for m in PROFILE.live_models if not m.startswith("timm:")]
    assert set(checked["model"]) == set(tags)
    assert checked["status"].str.startswith("cannot compare: measured under single").all()
    assert "cannot compare: measured under single" in _text(_notebook(out, "02_natural_shifts"))


@pytest.mark.parametrize("stem", [s for s in LIVE_TABLES if s != "09_lmm"])
def test_each_live_section_shows_rows_marked_as_a_pipeline_check(live_book, stem):
    _, out, _ = live_book
    section = _live_section(_notebook(out, stem))
    assert section.strip(), f"{stem}: no live section output"
    assert MISSING not in section, f"{stem}: {section[:1500]}"
    assert MARK in section, f"{stem}: its live numbers are not marked as a pipeline check"
    assert "**Finding.**" not in section, f"{stem}: a live number of random weights is called a finding"
    table = out / "book" / "results" / stem / f"{LIVE_TABLES[stem]}.csv"
    assert table.exists() and len(pd.read_csv(table)) > 0, f"{stem}: {table.name} is empty or missing"


def test_chapter_09_live_section_shows_rows(live_book):
    """Chapter 09's live LLaVA ran through the runner's `lmm` axis (the build's LMM grid) and its live section
    shows those rows, marked as a pipeline check."""
    _, out, _ = live_book
    section = _live_section(_notebook(out, "09_lmm"))
    assert MISSING not in section and MARK in section, section[:1500]
    gains = pd.read_csv(out / "book" / "results" / "09_lmm" / "live_gains.csv")
    assert list(gains["model"].unique()) == [LLAVA(out.parent)] and set(gains["clip_full"]) <= {"right", "wrong", "all"}
    res = pd.read_csv(out / "book" / "results" / "live" / "results.csv")
    assert set(res.loc[res["axis"] == "lmm", "model"]) == {LLAVA(out.parent)}


def test_the_claims_page_shows_live_cells_marked_as_pipeline_checks_and_never_judged(live_book):
    _, out, _ = live_book
    table = pd.read_csv(out / "book" / "results" / "11_claims" / "claims.csv", keep_default_na=False)
    t = table.set_index("id")
    for cid in LIVE_CLAIMS:
        assert t.loc[cid, "live"].startswith(claims.PIPELINE_CAVEAT + ": "), (cid, t.loc[cid, "live"])
        assert t.loc[cid, "live"] != claims.PIPELINE_CAVEAT + ": —"
        assert t.loc[cid, "live_verdict"] == claims.PIPELINE_VERDICT and t.loc[cid, "live_unit"], cid
        assert claims.PIPELINE_CAVEAT in t.loc[cid, "words"]
    # every live cell with a number is marked; no live verdict is a finding
    shown = table[table["live"] != "—"]
    assert shown["live"].str.startswith(claims.PIPELINE_CAVEAT).all(), shown[["id", "live"]]
    assert set(table["live_verdict"]) <= {claims.PIPELINE_VERDICT, "not measured"}
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    ev = pd.read_csv(out / "book" / "results" / "11_claims" / "claims_evidence.csv", keep_default_na=False)
    live = ev[(ev["source"] == "live") & (ev["effect"].astype(str) != "")]
    assert set(live["id"]) >= set(LIVE_CLAIMS) and set(live["verdict"]) == {claims.PIPELINE_VERDICT}
    assert live["caveat"].str.startswith(claims.PIPELINE_CAVEAT).all()
    # the page itself says so next to the cells
    assert claims.PIPELINE_CAVEAT in _text(_notebook(out, "11_claims"))


def test_the_live_effects_the_claims_read_were_written_by_their_chapters(live_book):
    _, out, _ = live_book
    res = out / "book" / "results"
    for stem, factor in (("08_3d_awareness", "architecture"), ("04_shape_bias", "fine-tuning"),
                         ("03_visual_factors", "training distribution")):
        eff = pd.read_csv(res / stem / "effects.csv")
        live = eff[(eff["source"] == "live") & (eff["factor"] == factor)]
        assert len(live) and live["effect"].notna().all(), (stem, eff[eff["source"] == "live"])


def _pages(out: Path) -> list[Path]:
    pages = sorted((out / "book" / "_build" / "html").rglob("*.html"))
    assert len(pages) > len(book.chapters.notebooks()), "the book's HTML was not built"
    return pages


def _live_payloads(text: str) -> list[str]:
    """The payloads' elements as a browser would build them: an <img> with onerror, an <svg> with onload."""
    from html.parser import HTMLParser

    found = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            names = {a.lower() for a, _ in attrs}
            if (tag == "img" and "onerror" in names) or (tag == "svg" and "onload" in names):
                found.append(f"<{tag} {' '.join(sorted(names))}>")

    P().feed(text)
    return found + [p for p in PAYLOADS if p in text]


def test_no_built_page_carries_a_name_as_live_html(live_book):
    """Every page of the built book (chapters, claims, intro, search, ...) holds the researcher's model name, whose
    folder name is markup, only as text: no <img onerror> or <svg onload> element, no payload verbatim. The name
    does reach the pages, escaped (the check is not vacuous)."""
    _, out, _ = live_book
    shown = []
    for page in _pages(out):
        text = page.read_text(encoding="utf-8", errors="replace")
        assert not _live_payloads(text), (page.name, _live_payloads(text)[:3])
        if "onerror=alert(1)" in html.unescape(text):
            shown.append(page.stem)
    assert "02_natural_shifts" in shown and len(shown) >= 5, shown


def test_no_page_shows_a_python_warning_or_the_build_machines_folders(live_book):
    """The HTML check on every page of the live book: no Python warning (a library's complaint, with the builder's
    path to it), no folder of the build machine (the data root the parameters cell used to publish, the book's
    folder, the Hugging Face cache, the environment), and no live markup in an output. The executed notebooks
    offered for download carry none of those folders either."""
    from clipstudy.htmlcheck import machine_paths, static_problems

    _, out, _ = live_book
    tmp = out.parent
    paths = sorted(set(machine_paths(out)) | {str(tmp / "data"), str((tmp / "data").resolve()), str(tmp / "hf"),
                                               str(out), str(out.resolve())}, key=len, reverse=True)
    bad = {}
    for page in _pages(out):
        problems = static_problems(page.read_text(encoding="utf-8", errors="replace"), paths)
        if problems:
            bad[str(page.relative_to(out))] = problems
    assert not bad, bad
    for nb in sorted((out / "book" / "_build" / "html" / "_sources").rglob("*.ipynb")):
        text = nb.read_text(encoding="utf-8", errors="replace")
        assert not [p for p in paths if p in text], (nb.name, [p for p in paths if p in text][:3])
