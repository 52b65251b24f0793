"""The lab zoo through a hub (clipstudy.lab.hub) against a local hub on 127.0.0.1 (tests/hubserver.py, which takes
regular-file commits): publish then fetch into an empty cache loads the same weights without training; bytes that
differ from the manifest's SHA-256, or a training key that is not this checkout's, are refused and left to train;
offline or with the hub gone, fetch says so and nothing breaks; the CLI and the book's CLIPSTUDY_LAB_HUB hook.

Only `size-small` of the smoke zoo is published (its two seeds train in seconds, once per test session, into the
session's cache, where other tests reuse them); for chapter 09's mini-LLaVAs, `base` and the LMM of (base, seed 0):
fetched, it loads without training; a corrupted one is refused and left to train; a manifest from before them still
fetches its CLIPs."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hubserver import closed_port, env_for

from clipstudy.lab import hub as lab_hub
from clipstudy.lab import zoo as lab_zoo
from clipstudy.profiles import SMOKE_LAB

REPO = Path(__file__).resolve().parents[1]
HUB_REPO = "clipstudy-test/lab-zoo"
RECIPES = ["size-small"]  # two models in smoke: size-small (seed 0) and size-small#1
LABELS = ["size-small", "size-small#1"]
CLIPS, LLAVAS = lab_hub.LabCLIP, lab_hub.MiniLLaVA  # the report's tallies by kind of artifact


class Trained(AssertionError):
    """Raised by the patched training function: nothing may train."""


@pytest.fixture
def published(point_hub, local_hub, tmp_path, monkeypatch):
    """(hub, session cache holding the trained models): `size-small` of the smoke zoo published to HUB_REPO; this
    process then uses an empty lab cache (CLIPSTUDY_CACHE) and an empty hub cache."""
    import os

    trained_in = Path(os.environ["CLIPSTUDY_CACHE"])  # the session's cache (conftest): trained once per session
    lab_zoo.train(RECIPES, profile="smoke", progress=False)
    hub = local_hub
    point_hub(hub.url, tmp_path / "hf")
    done = lab_hub.publish(HUB_REPO, "smoke", recipes=RECIPES)
    assert done["models"] == 2 and done["commit"] == hub.commit
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path / "empty-cache"))
    return hub, trained_in


def _no_training(monkeypatch) -> list[str]:
    calls: list[str] = []

    def fit(r, p, progress):
        calls.append(lab_zoo.label(r))
        raise Trained(f"{lab_zoo.label(r)} was trained")

    monkeypatch.setattr(lab_zoo, "_fit", fit)
    return calls


def _state(cache: Path, name: str, monkeypatch) -> dict[str, torch.Tensor]:
    with monkeypatch.context() as m:
        m.setenv("CLIPSTUDY_CACHE", str(cache))
        return lab_zoo.load(name, profile="smoke", progress=False).model.state_dict()


def test_publish_writes_the_models_records_and_a_manifest_of_their_hashes_and_keys(published):
    hub, _ = published
    files = hub.repos[HUB_REPO]
    man = json.loads(files["smoke/zoo.json"])
    assert man["profile"] == "smoke" and man["format"] == lab_hub.FORMAT and man["clipstudy"]
    assert [m["label"] for m in man["models"]] == LABELS
    for m in man["models"]:
        r = lab_zoo.recipe(f"{m['recipe']}#{m['seed']}")
        assert m["key"] == lab_zoo.model_key(r, SMOKE_LAB)
        assert m["store_key"] == json.loads(json.dumps(lab_zoo.store_key(r, SMOKE_LAB).fields()))
        assert hashlib.sha256(files[m["file"]]).hexdigest() == m["sha256"]
        assert json.loads(files[m["record"]])["key"] == m["key"]
    assert hub.commits[-1][0] == HUB_REPO and len(hub.commits[-1][2]) == 5  # 2 x (weights, record) + manifest


def test_fetch_into_an_empty_cache_installs_verified_models_that_load_without_training(published, monkeypatch,
                                                                                        capsys):
    hub, trained_in = published
    calls = _no_training(monkeypatch)
    assert not any(lab_zoo.is_trained(n, SMOKE_LAB) for n in LABELS)
    rep = lab_hub.fetch(HUB_REPO, "smoke", recipes=RECIPES)
    assert rep.ok and rep[CLIPS].fetched == LABELS and not rep[CLIPS].present and rep.commit == hub.commit, rep.table()
    assert rep.line() == f"lab zoo: 2 of 2 models fetched from {HUB_REPO} and verified"
    assert all(lab_zoo.is_trained(n, SMOKE_LAB) for n in LABELS)
    df = lab_zoo.train(RECIPES, profile="smoke", progress=False)  # what the book calls next: nothing to train
    assert len(df) == 2 and calls == []
    fetched = lab_zoo.load("size-small#1", profile="smoke", progress=False)
    here = _state(trained_in, "size-small#1", monkeypatch)
    got = fetched.model.state_dict()
    assert here.keys() == got.keys() and all(torch.equal(here[k], got[k]) for k in here)
    with monkeypatch.context() as m:
        m.setenv("CLIPSTUDY_CACHE", str(trained_in))
        assert lab_zoo.load("size-small#1", profile="smoke", progress=False).weights_id == fetched.weights_id
    assert fetched.extra["record"]["fetched_from"] == f"{HUB_REPO}@{hub.commit}"

    # a second fetch asks the hub for nothing
    n = len(hub.log)
    again = lab_hub.fetch(HUB_REPO, "smoke", recipes=RECIPES)
    assert again[CLIPS].present == LABELS and not again[CLIPS].fetched and len(hub.log) == n
    assert again.line() == f"lab zoo: all 2 models already in the cache; {HUB_REPO} was not asked"


def test_bytes_that_differ_from_the_manifest_are_refused_and_reported(published, monkeypatch):
    hub, _ = published
    man = json.loads(hub.repos[HUB_REPO]["smoke/zoo.json"])
    bad = man["models"][1]["file"]
    data = hub.repos[HUB_REPO][bad]
    hub.repos[HUB_REPO][bad] = data[:-64] + bytes(64)  # other bytes: the hub serves their own sha256 as the ETag
    rep = lab_hub.fetch(HUB_REPO, "smoke", recipes=RECIPES)
    assert rep[CLIPS].fetched == ["size-small"] and list(rep[CLIPS].failed) == ["size-small#1"]
    assert "sha256" in rep[CLIPS].failed["size-small#1"] and "manifest" in rep[CLIPS].failed["size-small#1"]
    assert lab_zoo.is_trained("size-small", SMOKE_LAB) and not lab_zoo.is_trained("size-small#1", SMOKE_LAB)
    assert not lab_zoo.paths("size-small#1", SMOKE_LAB)[0].exists()  # nothing of it was installed
    assert "training 1 model(s): size-small#1: weights sha256" in rep.line()
    calls = _no_training(monkeypatch)
    with pytest.raises(Trained):
        lab_zoo.train(RECIPES, profile="smoke", progress=False)
    assert calls == ["size-small#1"]  # only the refused model is left to train


def test_a_training_key_that_is_not_this_checkouts_is_refused_and_left_to_train(published, monkeypatch):
    hub, _ = published
    man = json.loads(hub.repos[HUB_REPO]["smoke/zoo.json"])
    theirs = man["models"][1]["key"] = "0123456789ab"  # trained by other code, say
    hub.repos[HUB_REPO]["smoke/zoo.json"] = json.dumps(man).encode()
    rep = lab_hub.fetch(HUB_REPO, "smoke", recipes=RECIPES)
    ours = lab_zoo.model_key(lab_zoo.recipe("size-small#1"), SMOKE_LAB)
    assert rep[CLIPS].fetched == ["size-small"] and list(rep[CLIPS].failed) == ["size-small#1"]
    assert theirs in rep[CLIPS].failed["size-small#1"] and ours in rep[CLIPS].failed["size-small#1"]
    assert not lab_zoo.is_trained("size-small#1", SMOKE_LAB)
    # its weights were never downloaded
    assert not any(path.endswith(man["models"][1]["file"]) for _, path, _ in hub.log)
    calls = _no_training(monkeypatch)
    with pytest.raises(Trained):
        lab_zoo.train(RECIPES, profile="smoke", progress=False)
    assert calls == ["size-small#1"]


def test_a_zoo_published_before_the_training_code_moved_is_refused_and_left_to_train(published, monkeypatch):
    """TRAIN_VERSION is in every model's key, so when the training code moves (issue 34's schedule), the zoo on the
    hub, published under the version before, is refused model by model and left to train: never loaded as if it were
    what this checkout trains."""
    from clipstudy.lab import train as T

    before = {n: lab_zoo.model_key(lab_zoo.recipe(n), SMOKE_LAB) for n in LABELS}
    monkeypatch.setattr(T, "TRAIN_VERSION", T.TRAIN_VERSION + 1)
    after = {n: lab_zoo.model_key(lab_zoo.recipe(n), SMOKE_LAB) for n in LABELS}
    assert all(before[n] != after[n] for n in LABELS)
    rep = lab_hub.fetch(HUB_REPO, "smoke", recipes=RECIPES)
    assert not rep[CLIPS].fetched and sorted(rep[CLIPS].failed) == LABELS
    for n in LABELS:
        assert before[n] in rep[CLIPS].failed[n] and after[n] in rep[CLIPS].failed[n]
    assert not any(lab_zoo.is_trained(n, SMOKE_LAB) for n in LABELS)
    calls = _no_training(monkeypatch)
    with pytest.raises(Trained):
        lab_zoo.train(RECIPES, profile="smoke", progress=False)
    assert calls


def test_offline_or_without_a_hub_fetch_says_why_and_installs_nothing(published, point_hub, tmp_path, monkeypatch,
                                                                     capsys):
    hub, _ = published
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # an empty hub cache: the manifest is not there
    n = len(hub.log)
    rep = lab_hub.fetch(HUB_REPO, "smoke", recipes=RECIPES)
    assert rep.error and "offline" in rep.error and not rep[CLIPS].fetched and len(hub.log) == n
    assert rep.line().startswith(f"lab zoo: fetching from {HUB_REPO} failed (offline") and "training 2" in rep.line()
    assert not any(lab_zoo.is_trained(n_, SMOKE_LAB) for n_ in LABELS)

    point_hub(f"http://127.0.0.1:{closed_port()}", tmp_path / "hf2")  # a hub that is gone (and not offline)
    rep = lab_hub.book_fetch(HUB_REPO, SMOKE_LAB)
    assert rep.error and "unreachable" in rep.error and rep[CLIPS].total == len(lab_hub.zoo_models(SMOKE_LAB))
    assert "failed (the hub at" in capsys.readouterr().out

    point_hub(hub.url, tmp_path / "hf3")  # back on the local hub, a repo it does not hold
    rep = lab_hub.fetch("clipstudy-test/no-such-zoo", "smoke", recipes=RECIPES)
    assert "has no repo clipstudy-test/no-such-zoo" in rep.error and not rep[CLIPS].fetched


def test_publishing_an_untrained_zoo_is_refused_naming_the_models(published):
    with pytest.raises(lab_hub.LabHubError, match=r"2 of 2 model\(s\) of the smoke lab zoo are not trained: "
                                                  r"size-small, size-small#1"):
        lab_hub.publish(HUB_REPO, "smoke", recipes=RECIPES)  # this process's lab cache is now the empty one


def test_the_book_fetches_before_it_trains(published, monkeypatch, tmp_path, capsys):
    from clipstudy import book

    trained = []
    monkeypatch.setenv("CLIPSTUDY_LAB_HUB", HUB_REPO)
    monkeypatch.setattr(book.chapters, "select", lambda only=None: [])
    monkeypatch.setattr(book.grids, "run_lab", lambda *a, **k: None)
    monkeypatch.setattr(lab_zoo, "train", lambda recipes=None, profile=None, **k: trained.append(
        [lab_zoo.label(r) for r in lab_hub.zoo_models(profile) if not lab_zoo.is_trained(r, profile)]))
    assert book.build("smoke", device="cpu", skip_html=True, out=tmp_path / "out", fetch=False) == 0
    out = capsys.readouterr().out
    total = len(lab_hub.zoo_models(SMOKE_LAB))
    assert f"lab zoo: 2 of {total} models fetched from {HUB_REPO} and verified; training {total - 2} model(s): " in out
    assert "not in the hub zoo" in out
    assert len(trained) == 1 and "size-small" not in trained[0] and len(trained[0]) == total - 2


def test_cli_publish_and_fetch(published, tmp_path):
    hub, trained_in = published

    def cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
        env = env_for(hub.url, tmp_path / "hf-cli", CLIPSTUDY_CACHE=str(cache))
        return subprocess.run([sys.executable, "-m", "clipstudy.cli", "lab", *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=300)

    p = cli("publish", "--repo", "clipstudy-test/cli-zoo", "--profile", "smoke", "--revision", "v1", *RECIPES,
            cache=trained_in)
    assert p.returncode == 0, p.stderr
    assert "published 2 lab model(s) (smoke) to clipstudy-test/cli-zoo@v1" in p.stdout
    assert "smoke/zoo.json" in hub.repos["clipstudy-test/cli-zoo"]
    p = cli("fetch", "--repo", "clipstudy-test/cli-zoo", "--profile", "smoke", *RECIPES, cache=tmp_path / "c2")
    assert p.returncode == 0, p.stderr
    assert "size-small#1: fetched and verified" in p.stdout and "2 of 2 models fetched" in p.stdout
    p = cli("fetch", "--repo", "clipstudy-test/cli-zoo", "--profile", "smoke", cache=tmp_path / "c2")  # whole zoo
    assert p.returncode == 1 and "2 already in the cache" in p.stdout and "clipstudy lab train" in p.stderr
    p = cli("publish", "--repo", "clipstudy-test/cli-zoo", "--profile", "smoke", cache=tmp_path / "c2")
    assert p.returncode == 2 and "are not trained" in p.stderr


def test_offline_a_zoo_already_in_the_hub_cache_is_verified_and_installed(published, tmp_path, monkeypatch):
    """A Binder image may carry the hub cache (HF_HOME) but not the lab cache: offline, fetch installs from it."""
    hub, _ = published
    assert lab_hub.fetch(HUB_REPO, "smoke", recipes=RECIPES).ok  # into the hub cache and this lab cache
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path / "another-empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(hub.log)
    rep = lab_hub.fetch(HUB_REPO, "smoke", recipes=RECIPES)
    assert rep.ok and rep[CLIPS].fetched == LABELS and len(hub.log) == n, rep.table()
    assert all(lab_zoo.is_trained(x, SMOKE_LAB) for x in LABELS)


# ---------------------------------------------------------------- mini-LLaVAs (chapter 09's LMMs)
LMM_RECIPES = ["base"]  # the CLIPs under the one smoke pair: base (seed 0) and base#1
PAIR = ("base", 0)
LMM = "llava:base"


@pytest.fixture
def published_lmm(point_hub, local_hub, tmp_path, monkeypatch):
    """(hub, session cache): `base` of the smoke zoo and the mini-LLaVA of PAIR published to HUB_REPO (both train
    in seconds, once per session); this process then uses an empty lab cache and an empty hub cache."""
    import os

    from clipstudy.lab import llava

    trained_in = Path(os.environ["CLIPSTUDY_CACHE"])
    lab_zoo.train(LMM_RECIPES, profile="smoke", progress=False)
    llava.load(PAIR[0], "smoke", seed=PAIR[1], progress=False)
    point_hub(local_hub.url, tmp_path / "hf")
    done = lab_hub.publish(HUB_REPO, "smoke", recipes=LMM_RECIPES, llavas=[PAIR])
    assert done["models"] == 2 and done["llavas"] == 1
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path / "empty-cache"))
    return local_hub, trained_in


def _no_llava_training(monkeypatch) -> None:
    from clipstudy.lab import llava

    _no_training(monkeypatch)

    def fit(*a, **k):
        raise Trained("a mini-LLaVA was trained")

    monkeypatch.setattr(llava, "training_scenes", fit)  # its first step: nothing is rendered either
    monkeypatch.setattr(llava, "fit", fit)


def test_the_mini_llavas_are_published_and_fetched_so_they_load_without_training(published_lmm, monkeypatch):
    from clipstudy.lab import llava

    hub, trained_in = published_lmm
    files = hub.repos[HUB_REPO]
    man = json.loads(files["smoke/zoo.json"])
    (entry,) = man["llavas"]
    assert (entry["label"], entry["recipe"], entry["seed"]) == (LMM, *PAIR)
    assert set(entry["files"]) == {"model.pt", "meta.json"}
    for name, path in entry["files"].items():
        assert hashlib.sha256(files[path]).hexdigest() == entry["sha256"][name]
    assert json.loads(files[entry["files"]["meta.json"]])["key"] == entry["key"]
    assert len(hub.commits[-1][2]) == 7  # 2 x (weights, record) + (state, meta) + manifest

    _no_llava_training(monkeypatch)
    rep = lab_hub.fetch(HUB_REPO, "smoke", recipes=LMM_RECIPES, llavas=[PAIR])
    assert rep.ok and rep[CLIPS].fetched == ["base", "base#1"] and rep[LLAVAS].fetched == [LMM], rep.table()
    assert rep.line() == (f"lab zoo: 2 of 2 models fetched from {HUB_REPO} and verified, "
                          "1 of 1 mini-LLaVAs fetched")
    got = llava.load(PAIR[0], "smoke", seed=PAIR[1], progress=False)  # from the cache: fit raises
    assert got.meta["key"] == entry["key"] and got.meta["fetched_from"] == f"{HUB_REPO}@{hub.commit}"
    with monkeypatch.context() as m:
        m.setenv("CLIPSTUDY_CACHE", str(trained_in))
        here = llava.load(PAIR[0], "smoke", seed=PAIR[1], progress=False).model.state_dict()
    theirs = got.model.state_dict()
    assert here.keys() == theirs.keys() and all(torch.equal(here[k], theirs[k]) for k in here)

    n = len(hub.log)  # a second fetch asks the hub for nothing
    again = lab_hub.fetch(HUB_REPO, "smoke", recipes=LMM_RECIPES, llavas=[PAIR])
    assert again[LLAVAS].present == [LMM] and not again[LLAVAS].fetched and len(hub.log) == n
    assert again.line() == f"lab zoo: all 2 models and 1 mini-LLaVAs already in the cache; {HUB_REPO} was not asked"


def test_a_corrupted_mini_llava_is_refused_reported_and_left_to_train(published_lmm, monkeypatch):
    from clipstudy.lab import llava

    hub, _ = published_lmm
    man = json.loads(hub.repos[HUB_REPO]["smoke/zoo.json"])
    bad = man["llavas"][0]["files"]["model.pt"]
    data = hub.repos[HUB_REPO][bad]
    hub.repos[HUB_REPO][bad] = data[:-64] + bytes(64)
    rep = lab_hub.fetch(HUB_REPO, "smoke", recipes=LMM_RECIPES, llavas=[PAIR])
    assert rep[CLIPS].fetched == ["base", "base#1"] and not rep[LLAVAS].fetched and list(rep[LLAVAS].failed) == [LMM]
    assert "model.pt sha256" in rep[LLAVAS].failed[LMM] and "manifest" in rep[LLAVAS].failed[LMM] and not rep.ok
    assert f"; training 1 mini-LLaVA(s): {LMM}: model.pt sha256" in rep.line()
    assert not (llava.cache_dir(PAIR[0], SMOKE_LAB, PAIR[1]) / "model.pt").exists()  # nothing of it was installed
    _no_llava_training(monkeypatch)
    with pytest.raises(Trained, match="mini-LLaVA"):  # the CLIPs came from the hub; the LMM trains
        llava.load(PAIR[0], "smoke", seed=PAIR[1], progress=False)


def test_a_manifest_published_before_the_mini_llavas_still_fetches_its_clips(published_lmm, monkeypatch):
    hub, _ = published_lmm
    man = json.loads(hub.repos[HUB_REPO]["smoke/zoo.json"])
    del man["llavas"]
    hub.repos[HUB_REPO]["smoke/zoo.json"] = json.dumps(man).encode()
    _no_training(monkeypatch)
    rep = lab_hub.fetch(HUB_REPO, "smoke", recipes=LMM_RECIPES, llavas=[PAIR])
    assert rep.error is None and rep[CLIPS].fetched == ["base", "base#1"], rep.table()
    assert rep[LLAVAS].failed == {LMM: "not in the hub zoo"}
    assert lab_zoo.is_trained("base#1", SMOKE_LAB)


def test_publishing_an_untrained_mini_llava_is_refused_naming_the_pair(published_lmm):
    assert lab_hub.fetch(HUB_REPO, "smoke", recipes=LMM_RECIPES).ok  # the CLIPs only, into the empty cache
    with pytest.raises(lab_hub.LabHubError, match=r"1 of 1 mini-LLaVA\(s\) of the smoke lab zoo are not trained: "
                                                  r"llava:base\. .*clipstudy lab train --profile smoke --llavas"):
        lab_hub.publish(HUB_REPO, "smoke", recipes=LMM_RECIPES, llavas=[PAIR])
