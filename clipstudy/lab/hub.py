"""The trained lab zoo on a Hugging Face hub repo: publish it once, fetch and verify it instead of training.

    publish(repo, profile, llavas)  upload every trained model of the profile's zoo (each recipe x seed), its
                             training record, the mini-LLaVAs of `llavas` (chapter 09's (recipe, seed) pairs) and a
                             manifest, `<profile>/zoo.json`, in one commit (huggingface_hub.HfApi)
    fetch(repo, profile)     download the manifest and the missing models (huggingface_hub.hf_hub_download:
                             HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE as everywhere else), verify them, install
                             what passed into the lab cache; returns a FetchReport and never raises for a
                             network, repo or verification failure: what is not installed is left to train
    book_fetch(spec, profile, llavas)  the book's hook (CLIPSTUDY_LAB_HUB=ORG/NAME[@REVISION]): fetch, one line

The pairs are the caller's (the CLI and the book pass `axes.lmm.lab_pairs(profile)`): `axes` is above this layer.

Repo layout (one folder per profile, so `lab` and `smoke` zoos share a repo):

    <profile>/zoo.json                   format, clipstudy and torch versions, profile, and per model: label
                                         (`base#1`), recipe, seed, file, record, sha256 of the weights file,
                                         sha256 of the record, key (lab.zoo.model_key), store_key (its fields);
                                         and `llavas`, per mini-LLaVA: label (`llava:base#1`), recipe, seed,
                                         files and their sha256 (by name: model.pt, meta.json), key (the cache
                                         key, lab.llava.key_of). A manifest without `llavas` (published before
                                         them) is still format 1: its CLIPs fetch, its LMMs are left to train
    <profile>/<store key name>.pt        the weights, as lab.zoo caches them
    <profile>/<store key name>.json      the training record, as lab.zoo caches it
    <profile>/llava/<cache dir>/model.pt, meta.json   a mini-LLaVA, as lab.llava caches it

Models and mini-LLaVAs are artifacts of one protocol (`Artifact`: key, files, verify, install; `LabCLIP` and
`MiniLLaVA` say what is their own), over which publish and fetch loop once. Verification, per artifact, before
anything is installed: the manifest's key must be the key this checkout trains or caches it under (a model:
`model_key`, of recipe, profile, world and training code versions, the parent's key for a fine-tune, the training
precision; a mini-LLaVA: `llava.key_of`, computed from its CLIP's weights here with the settings and LLAVA_VERSION,
so mini-LLaVAs are verified after the CLIPs are installed, and a pair whose CLIP is not in the lab cache is left to
train after it); each file's SHA-256 must be the manifest's; the record (training record, meta.json) must name that
key and the weights' SHA-256; the weights must load with `weights_only=True` and be what the record describes (a
model's file names its key; a mini-LLaVA's state fits the model its meta describes). One that passes is installed as
training writes it (weights first, the record last, each atomically), so `zoo.is_trained` is true, `zoo.load` loads
it with the same `weights_id` as on the machine that trained it, and `llava.load` reads it without training. Files
from one fetch all come from the manifest's commit.
"""
from __future__ import annotations

import abc
import dataclasses
import functools
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterable

from .. import store
from ..errors import ClipstudyError
from . import llava as L
from . import zoo as Z

HUB_ENV = "CLIPSTUDY_LAB_HUB"  # ORG/NAME[@REVISION]: the book fetches the zoo from there before training
MANIFEST = "zoo.json"
FORMAT = 1


class LabHubError(ClipstudyError):
    """The zoo cannot be published (untrained models, a bad repo name)."""


class _Unavailable(Exception):
    """Why a file of the hub zoo could not be had (offline, unreachable, no repo, no file)."""


def manifest_path(profile: str) -> str:
    return f"{profile}/{MANIFEST}"


def split_repo(spec: str) -> tuple[str, str | None]:
    """`ORG/NAME[@REVISION]` -> (repo, revision)."""
    repo, _, rev = spec.strip().partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise LabHubError(f"lab hub repo {spec!r}: expected ORG/NAME (optionally @REVISION)")
    return repo, rev or None


def _inside(p: Z.Profile, name: object) -> bool:
    """Whether a manifest's file name lies in the profile's folder of the repo (never outside the lab cache)."""
    return str(name).startswith(f"{p.name}/") and ".." not in str(name)


def _clip_of(recipe: str, seed: int) -> Z.Recipe:
    """The CLIP a mini-LLaVA pair sits on (`llava.load` loads it as `zoo.load(recipe, seed=seed)`)."""
    return dataclasses.replace(Z.recipe(recipe), seed=int(seed))


def llava_label(recipe: str, seed: int) -> str:
    """`llava:base`, `llava:base#1`: the mini-LLaVA on that CLIP."""
    return f"llava:{Z.label(_clip_of(recipe, seed))}"


def zoo_models(profile: str | Z.Profile | None = None, recipes: Iterable[str] | None = None) -> list[Z.Recipe]:
    """Every model of the zoo (each recipe under each of the profile's seeds), as `zoo.train` expands them."""
    p = Z.profile_of(profile)
    if isinstance(recipes, str):
        recipes = [recipes]
    return [s for n in (recipes or Z.names()) for s in (Z.seeded(n, p) if "#" not in str(n) else [Z.recipe(n)])]


# ---------------------------------------------------------------- the artifacts: one protocol, two kinds
class Artifact(abc.ABC):
    """One artifact of the hub zoo, trained on (recipe, seed) under a profile: its key, its two files (weights, and a
    record that names the key and the weights' SHA-256), how it is checked and installed.

    Publish and fetch loop over the artifacts of every kind alike; a kind says only what is its own (`LabCLIP`: a
    trained lab model; `MiniLLaVA`: chapter 09's LMM on one). The manifest lists each kind under `listed`, one
    entry per artifact with its label, recipe, seed, key and files."""

    listed: ClassVar[str]  # the manifest's list of this kind
    noun: ClassVar[str]  # what one is called in the report
    train_hint: ClassVar[str]  # how to train the missing ones before publishing
    weights: ClassVar[str]  # the names of its two files (in the report, and the keys of `local` and `remote`)
    record: ClassVar[str]
    key: str  # the key this checkout trains or caches it under (a cached property of each kind)

    def __init__(self, recipe: str, seed: int, p: Z.Profile):
        self.recipe, self.seed, self.p = recipe, int(seed), p

    @property
    @abc.abstractmethod
    def label(self) -> str: ...

    @abc.abstractmethod
    def local(self) -> dict[str, Path]:
        """Its weights file and its record in the lab cache."""

    @abc.abstractmethod
    def entry(self) -> dict:
        """Its manifest entry (it is trained)."""

    @abc.abstractmethod
    def remote(self, entry: dict) -> dict[str, tuple[object, object]] | None:
        """(repo file, SHA-256) of its weights and record by a manifest entry; None when the entry names none."""

    @abc.abstractmethod
    def stale(self, theirs: object) -> str:
        """Why an entry under another key is refused."""

    @abc.abstractmethod
    def unfit(self, blob: object, meta: dict) -> str | None:
        """Why loaded weights are not what their record describes, or None."""

    def cached(self) -> dict | None:
        """The record of its complete copy in the lab cache under `key` (the store's check), else None."""
        f = self.local()
        return store.check_entry(f[self.weights], self.key, f[self.record], what=self.label)

    def present(self) -> bool:
        return self.cached() is not None

    def untrained(self) -> str | None:
        """Why it cannot be published (its label, and what else is missing), or None."""
        return None if self.present() else self.label

    def blocked(self) -> str | None:
        """Why it cannot be verified here yet (its key needs what is not in the lab cache), or None."""
        return None


class LabCLIP(Artifact):
    """A trained lab model (`lab.zoo`: its weights and training record, keyed by `model_key`)."""

    listed, noun, weights, record = "models", "model", "weights", "training record"
    train_hint = "`clipstudy lab train --profile {profile}`"

    def __init__(self, recipe: str, seed: int, p: Z.Profile):
        super().__init__(recipe, seed, p)
        self.r = _clip_of(recipe, seed)

    @property
    def label(self) -> str:
        return Z.label(self.r)

    @functools.cached_property
    def key(self) -> str:
        return Z.model_key(self.r, self.p)

    def local(self) -> dict[str, Path]:
        pt, js = Z.paths(self.r, self.p)
        return {self.weights: pt, self.record: js}

    def entry(self) -> dict:
        pt, js = Z.paths(self.r, self.p)
        return dict(label=self.label, recipe=self.recipe, seed=self.seed, profile=self.p.name,
                    file=f"{self.p.name}/{pt.name}", record=f"{self.p.name}/{js.name}", sha256=self.cached()["sha256"],
                    record_sha256=store.sha256_file(js), size=pt.stat().st_size, key=self.key,
                    store_key=Z.store_key(self.r, self.p).fields())

    def remote(self, entry: dict) -> dict[str, tuple[object, object]] | None:
        return {self.weights: (entry.get("file", ""), entry.get("sha256")),
                self.record: (entry.get("record", ""), entry.get("record_sha256"))}

    def stale(self, theirs: object) -> str:
        return (f"trained under key {theirs}, this checkout trains it under {self.key} "
                "(its recipe, profile, precision or training code differ)")

    def unfit(self, blob: object, meta: dict) -> str | None:
        if not isinstance(blob, dict) or blob.get("key") != self.key or "state_dict" not in blob:
            return "weights file names another training key"
        return None


class MiniLLaVA(Artifact):
    """Chapter 09's mini-LLaVA on a lab CLIP (`lab.llava`: its state and meta, keyed by `llava.key_of`, which is
    computed from its CLIP's weights here, so it is verified once its CLIP is in the lab cache)."""

    listed, noun, weights, record = "llavas", "mini-LLaVA", L.STATE_FILE, L.META_FILE
    train_hint = "`clipstudy lab train --profile {profile} --llavas`, or build chapter 09"

    @property
    def label(self) -> str:
        return llava_label(self.recipe, self.seed)

    @functools.cached_property
    def key(self) -> str:
        # its CLIP must be trained: loading an untrained one would train it
        clip = Z.load(self.recipe, profile=self.p.name, seed=self.seed, progress=False)
        return L.key_of(self.recipe, self.p.name, self.seed, clip)

    def local(self) -> dict[str, Path]:
        folder = L.cache_dir(self.recipe, self.p.name, self.seed)
        return {self.weights: folder / self.weights, self.record: folder / self.record}

    def present(self) -> bool:
        """Whether `llava.load` would read it from the cache: its CLIP trained, itself cached under its key."""
        return self.blocked() is None and super().present()

    def untrained(self) -> str | None:
        if self.blocked() is not None:
            return f"{self.label} (its CLIP {Z.label(_clip_of(self.recipe, self.seed))} too)"
        return super().untrained()

    def entry(self) -> dict:
        files = self.local()
        return dict(label=self.label, recipe=self.recipe, seed=self.seed, profile=self.p.name, key=self.key,
                    files={n: f"{self.p.name}/llava/{f.parent.name}/{n}" for n, f in files.items()},
                    sha256={n: store.sha256_file(f) for n, f in files.items()})

    def remote(self, entry: dict) -> dict[str, tuple[object, object]] | None:
        files, sums = entry.get("files"), entry.get("sha256")
        if not isinstance(files, dict) or set(files) != {self.weights, self.record}:
            return None
        sums = sums if isinstance(sums, dict) else {}
        return {n: (files[n], sums.get(n)) for n in (self.weights, self.record)}

    def blocked(self) -> str | None:
        clip = _clip_of(self.recipe, self.seed)
        return None if Z.is_trained(clip, self.p) else f"its CLIP {Z.label(clip)} is not in the lab cache"

    def stale(self, theirs: object) -> str:
        return (f"cached under key {theirs}, this checkout caches it under {self.key} (its CLIP's weights, "
                "settings or LLAVA_VERSION differ)")

    def unfit(self, blob: object, meta: dict) -> str | None:
        if L.model_from(blob, meta, L.settings_of(self.p.name, self.seed)) is None:  # `llava.load` would retrain
            return f"{self.weights} does not fit the model its {self.record} describes"
        return None


KINDS: tuple[type[Artifact], ...] = (LabCLIP, MiniLLaVA)  # in this order: a mini-LLaVA's key needs its CLIP


def artifacts(p: Z.Profile, recipes: Iterable[str] | None = None,
              llavas: Iterable[tuple[str, int]] = ()) -> dict[type[Artifact], list[Artifact]]:
    """The zoo's artifacts by kind: every model of `recipes` (all recipes x seeds by default), and the mini-LLaVAs of
    the (recipe, seed) pairs `llavas`."""
    return {LabCLIP: [LabCLIP(r.name, r.seed, p) for r in zoo_models(p, recipes)],
            MiniLLaVA: [MiniLLaVA(rec, sd, p) for rec, sd in llavas]}


# ---------------------------------------------------------------- publish
def manifest(profile: str | Z.Profile | None = "lab", recipes: Iterable[str] | None = None,
             llavas: Iterable[tuple[str, int]] = ()) -> dict:
    """The manifest of the trained zoo in the lab cache, with the mini-LLaVAs of the (recipe, seed) pairs `llavas`;
    LabHubError naming every model or mini-LLaVA that is not trained (a zoo is published whole)."""
    p = Z.profile_of(profile)
    return _manifest(p, artifacts(p, recipes, llavas))


def _manifest(p: Z.Profile, arts: dict[type[Artifact], list[Artifact]]) -> dict:
    import torch

    from .. import __version__

    out = dict(format=FORMAT, clipstudy=__version__, torch=torch.__version__, profile=p.name,
               created_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    for kind, items in arts.items():
        missing = [why for why in (a.untrained() for a in items) if why is not None]
        if missing:
            raise LabHubError(f"{len(missing)} of {len(items)} {kind.noun}(s) of the {p.name} lab zoo are not "
                              f"trained: {', '.join(missing)}. Train them first "
                              f"({kind.train_hint.format(profile=p.name)}); a zoo is published whole, or not at all.")
        out[kind.listed] = [a.entry() for a in items]
    return out


def publish(repo: str, profile: str | Z.Profile | None = "lab", *, token: str | None = None,
            revision: str | None = None, recipes: Iterable[str] | None = None, private: bool | None = None,
            commit_message: str | None = None, llavas: Iterable[tuple[str, int]] = ()) -> dict:
    """Upload the trained zoo of `profile` (every recipe x seed, or only `recipes`) with its records, the
    mini-LLaVAs of the (recipe, seed) pairs `llavas` (the CLI passes chapter 09's, `axes.lmm.lab_pairs`) and the
    manifest to the hub model repo `repo` (created if missing; `revision`: a branch, created if missing) in one
    commit. The manifest lists exactly the models of this commit. Returns {repo, revision, commit, url, models,
    llavas}."""
    from huggingface_hub import CommitOperationAdd, HfApi

    repo, rev = split_repo(repo)
    revision = revision or rev
    p = Z.profile_of(profile)
    arts = artifacts(p, recipes, llavas)
    man = _manifest(p, arts)
    ops = []
    for kind, items in arts.items():
        for a, entry in zip(items, man[kind.listed]):
            local = a.local()
            ops += [CommitOperationAdd(str(path), str(local[n])) for n, (path, _) in a.remote(entry).items()]
    ops.append(CommitOperationAdd(manifest_path(p.name), (json.dumps(man, indent=1) + "\n").encode()))
    import requests

    from ..models import weights

    api = HfApi(token=token)
    try:
        api.create_repo(repo, exist_ok=True, private=private)
        if revision and revision != "main":
            api.create_branch(repo, branch=revision, exist_ok=True)
        info = api.create_commit(repo, ops, revision=revision,
                                 commit_message=commit_message or f"lab zoo ({p.name}): {len(man['models'])} "
                                                                  f"models, {len(man['llavas'])} mini-LLaVAs, "
                                                                  f"clipstudy {man['clipstudy']}")
    except (requests.RequestException, ValueError) as e:  # HfHubHTTPError is a requests.HTTPError
        raise LabHubError(f"publishing the {p.name} lab zoo to {repo} at {weights._endpoint()} failed "
                          f"({type(e).__name__}: {weights._short(e)}). Is HF_ENDPOINT right, and is a token with "
                          "write access set (HF_TOKEN or `hf auth login`)?") from e
    return dict(repo=repo, revision=revision or "main", commit=info.oid, url=info.commit_url,
                models=len(man["models"]), llavas=len(man["llavas"]))


# ---------------------------------------------------------------- fetch
@dataclass
class Tally:
    """What one fetch did with the artifacts of one kind, by label: fetched and verified, already in the cache,
    or not installed and why (`failed`; those are left to train)."""

    noun: str
    total: int = 0
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def to_train(self) -> int:
        return self.total - len(self.fetched) - len(self.present)


@dataclass
class FetchReport:
    """What one fetch did, per kind of artifact (`report[LabCLIP]`: the models, labels `base#1`; `report[MiniLLaVA]`:
    the mini-LLaVAs asked for, labels `llava:base#1`). `error`: why the hub zoo could not be read at all."""

    repo: str
    profile: str
    tallies: dict[type[Artifact], Tally] = field(default_factory=lambda: {k: Tally(k.noun) for k in KINDS})
    error: str | None = None
    commit: str | None = None

    def __getitem__(self, kind: type[Artifact]) -> Tally:
        return self.tallies[kind]

    @property
    def ok(self) -> bool:
        return self.error is None and not any(t.failed for t in self.tallies.values())

    def line(self) -> str:
        """One line for the book's log: what came from the hub, and why anything else is trained."""
        shown = [t for k, t in self.tallies.items() if t.total or k is KINDS[0]]
        if self.error is not None:
            todo = [f"{t.to_train} {t.noun}(s)" for t in shown if t.to_train]
            return (f"lab zoo: fetching from {self.repo} failed ({self.error}): "
                    + (f"training {' and '.join(todo)}" if todo else "nothing to train"))
        if all(len(t.present) == t.total for t in shown):
            every = " and ".join(f"{t.total} {t.noun}s" for t in shown)
            return f"lab zoo: all {every} already in the cache; {self.repo} was not asked"
        parts = [f"{len(t.fetched)} of {t.total} {t.noun}s fetched" + (f" from {self.repo} and verified" * (i == 0))
                 + (f" ({len(t.present)} already in the cache)" if t.present else "") for i, t in enumerate(shown)]
        return "lab zoo: " + ", ".join(parts) + "".join(
            f"; training {t.to_train} {t.noun}(s): {_whys(t.failed)}" for t in shown if t.failed)

    def table(self) -> str:
        ts = self.tallies.values()
        rows = [f"{k}: fetched and verified" for t in ts for k in t.fetched]
        rows += [f"{k}: already in the cache" for t in ts for k in t.present]
        rows += [f"{k}: NOT installed ({v})" for t in ts for k, v in t.failed.items()]
        return "\n".join(["  " + r for r in rows] + [self.line()])


def _whys(failed: dict[str, str]) -> str:
    """The first three refusals, and how many more."""
    whys = list(failed.items())
    return "; ".join(f"{k}: {v}" for k, v in whys[:3]) + (f"; and {len(whys) - 3} more" if len(whys) > 3 else "")


def _download(repo: str, filename: str, revision: str | None, token: str | None, local: bool) -> Path:
    """One file of the hub repo through hf_hub_download (from the cache only when `local`)."""
    import requests
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    from ..models import weights

    try:
        return Path(hf_hub_download(repo, filename, revision=revision, token=token, local_files_only=local))
    except LocalEntryNotFoundError:  # before EntryNotFoundError: it is one
        if weights.offline():
            raise _Unavailable("offline: HF_HUB_OFFLINE=1, and it is not in the local hub cache") from None
        raise _Unavailable(f"{filename} is not in the local hub cache and the hub at {weights._endpoint()} "
                           "does not answer") from None
    except EntryNotFoundError:
        raise _Unavailable(f"the repo has no {filename}") from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise _Unavailable(f"the hub at {weights._endpoint()} has no repo {repo}"
                           f"{'@' + revision if revision else ''} ({type(e).__name__})") from None
    except (requests.RequestException, OSError, ValueError) as e:
        raise _Unavailable(f"downloading {filename} from {weights._endpoint()} failed "
                           f"({type(e).__name__}: {weights._short(e)})") from None


def _verify(a: Artifact, got: dict[str, Path], files: dict[str, tuple[object, object]]
            ) -> tuple[str | None, dict | None]:
    """(why not, None) or (None, record) for a downloaded artifact against the manifest and this checkout's key: each
    file's SHA-256 is the manifest's, the record names the key and the weights' SHA-256, the weights load
    (`weights_only`) and are what the record describes."""
    sums = {name: store.sha256_file(path) for name, path in got.items()}
    for name, have in sums.items():
        want = files[name][1]
        if have != want and (want or name == a.weights):  # the weights' SHA-256 is required, the record's if given
            return f"{name} sha256 {have[:12]} differs from the manifest's {str(want)[:12]}", None
    try:
        meta = json.loads(got[a.record].read_text())
    except (ValueError, UnicodeDecodeError, OSError) as e:
        return f"{a.record} unreadable ({type(e).__name__})", None
    if not isinstance(meta, dict) or meta.get("key") != a.key or meta.get("sha256") != sums[a.weights]:
        return f"{a.record} names another key or {a.weights} file", None
    try:
        blob = store.safe_load(got[a.weights])  # the one loader: weights only; a damaged download is removed
    except (OSError, store.CacheError) as e:  # not damage (permissions, I/O): a refusal, never a crash
        return f"{a.weights} unreadable ({type(e).__name__})", None
    if blob is None:
        return f"{a.weights} unreadable (damaged)", None
    why = a.unfit(blob, meta)
    return (why, None) if why is not None else (None, meta)


def _install(a: Artifact, got: dict[str, Path], meta: dict, origin: str) -> str | None:
    """Copy a verified artifact into the lab cache as training writes it (weights, then the record last, each
    atomically); None when the store's check accepts it under its key, else why not (and nothing stays)."""
    dest = a.local()
    with open(got[a.weights], "rb") as src:
        store.atomic_write(dest[a.weights], lambda f: shutil.copyfileobj(src, f))
    store.atomic_write_text(json.dumps(dict(meta, fetched_from=origin), indent=1, default=str), dest[a.record])
    if a.cached() is None:  # check_entry: key and sha256 of the installed file
        store.discard(*dest.values())
        return f"the installed copy does not match its {a.record}"
    return None


def _fetch_one(a: Artifact, entry: dict | None, get: Callable[[str], Path], origin: str) -> str | None:
    """Download, verify and install one artifact of the manifest; None when installed, else why not. `get(name)`
    downloads a file of the manifest's commit (it raises _Unavailable)."""
    from ..models import weights

    if entry is None:
        return "not in the hub zoo"
    why = a.blocked()
    if why is not None:  # its key cannot be computed here yet: it trains after what it needs
        return why
    if entry.get("key") != a.key:
        return a.stale(entry.get("key"))
    files = a.remote(entry)
    if files is None or not all(_inside(a.p, path) for path, _ in files.values()):
        return "its manifest entry names files outside the profile's folder"
    got = {n: get(str(path)) for n, (path, _) in files.items()}
    why, meta = _verify(a, got, files)
    if why is not None:  # damaged or foreign bytes in the hub cache: removed, so a later fetch downloads them again
        for path in got.values():
            weights.delete_cached(path)
        return why
    return _install(a, got, meta, origin)


def fetch(repo: str, profile: str | Z.Profile | None = "lab", *, revision: str | None = None,
          recipes: Iterable[str] | None = None, token: str | None = None,
          llavas: Iterable[tuple[str, int]] = ()) -> FetchReport:
    """Fetch the missing models of the zoo (every recipe x seed of `profile`, or only `recipes`) and the missing
    mini-LLaVAs of the (recipe, seed) pairs `llavas` from the hub repo `repo` (ORG/NAME[@REVISION]), verify each
    against the manifest and against the key this checkout trains or caches it under, and install those that
    pass into the lab cache. Models already cached are not asked for. Nothing that fails is installed; the
    report says why, and `zoo.train` trains them."""
    from ..models import weights

    repo, rev = split_repo(repo)
    revision = revision or rev
    p = Z.profile_of(profile)
    rep = FetchReport(repo + (f"@{revision}" if revision else ""), p.name)
    todo: dict[type[Artifact], list[Artifact]] = {}
    for kind, items in artifacts(p, recipes, [(rec, int(sd)) for rec, sd in llavas]).items():
        rep[kind].total = len(items)
        for a in items:
            if a.present():
                rep[kind].present.append(a.label)
            else:
                todo.setdefault(kind, []).append(a)
    if not todo:
        return rep
    local, unreachable = weights.offline(), None
    first = manifest_path(p.name)
    if not local:  # one short probe, not huggingface_hub's minute of retries on a dead hub
        why = weights.probe(repo, first, revision=revision)
        if why is not None:  # unreachable: a zoo already in the hub cache may still serve
            local, unreachable = True, f"the hub at {weights._endpoint()} is unreachable ({why})"
    try:
        man_path = _download(repo, first, revision, token, local)
    except _Unavailable as e:
        rep.error = unreachable or str(e)
        return rep
    commit = man_path.parents[len(Path(first).parts) - 1].name  # snapshots/<commit>/<profile>/zoo.json
    rep.commit = commit
    try:
        man = json.loads(man_path.read_text())
        if man.get("format") != FORMAT or man.get("profile") != p.name or not isinstance(man.get("models"), list):
            raise ValueError(f"format {man.get('format')!r}, profile {man.get('profile')!r}")
    except (ValueError, AttributeError, UnicodeDecodeError) as e:
        rep.error = f"its manifest {first} is not a {p.name} zoo manifest ({type(e).__name__}: {e})"
        return rep
    origin = f"{repo}@{commit}"
    for kind in KINDS:  # in order: a mini-LLaVA is verified once its CLIP is installed
        try:  # a manifest from before a kind lists none of it: each is left to train
            entries, bad = {(m["recipe"], int(m["seed"])): m for m in man.get(kind.listed) or []}, None
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # a damaged list must not cost the others
            entries, bad = {}, f"the manifest's {kind.listed} are unreadable ({type(e).__name__}: {e})"
        for a in todo.get(kind, []):
            try:
                why = bad or _fetch_one(a, entries.get((a.recipe, a.seed)),
                                        lambda name: _download(repo, name, commit, token, local), origin)
            except _Unavailable as e:
                why = unreachable or str(e)
            if why is None:
                rep[kind].fetched.append(a.label)
            else:
                rep[kind].failed[a.label] = why
    return rep


def book_fetch(spec: str, profile: str, llavas: Iterable[tuple[str, int]] = ()) -> FetchReport:
    """The book's hook: fetch the zoo and the mini-LLaVAs of `llavas` (the book passes chapter 09's pairs) from
    `spec` (CLIPSTUDY_LAB_HUB) and say in one line what came from the hub; any failure is reported, never raised,
    so the book trains what is missing as without a hub."""
    llavas = list(llavas)
    try:
        rep = fetch(spec, profile, llavas=llavas)
    except Exception as e:  # noqa: BLE001  the book must build whatever the hub does
        rep = FetchReport(spec, str(profile), error=f"{type(e).__name__}: {e}")
        rep[LabCLIP].total, rep[MiniLLaVA].total = len(zoo_models(profile)), len(llavas)
        rep[LabCLIP].present = [Z.label(r) for r in zoo_models(profile) if Z.is_trained(r, profile)]
    print(rep.line(), flush=True)
    return rep
