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

Verification, per model, before anything is installed: the manifest's training key must be the key this checkout
would train the model under (`model_key`: recipe, profile, world and training code versions, the parent's key for
a fine-tune, the training precision), so a changed recipe or training code is a mismatch; the weights file's
SHA-256 must be the manifest's; the record must name that key and that SHA-256; the weights file must load with
`weights_only=True` and name that key. A model that passes is installed with the store's atomic publish (weights
first, the record last, as `store.save_entry` does), so `zoo.is_trained` is true and `zoo.load` loads it with the
same `weights_id` as on the machine that trained it. Files from one fetch all come from the manifest's commit.

A mini-LLaVA is verified after the CLIPs are installed, since its key is computed from its CLIP's weights here (with
the settings and LLAVA_VERSION, as `llava.load` computes it): the manifest's key and the key in its meta.json must be
that key (a pair whose CLIP is not in the lab cache is left to train after it); each file's SHA-256 must be the
manifest's, the meta must name the state file's SHA-256, and the state must load (`weights_only`) into the model its
meta describes. One that passes is installed as `llava.load` writes it (state, then meta.json last), so `load` reads
it from the cache and does not train.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

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


def _llava_key(recipe: str, seed: int, p: Z.Profile) -> str:
    """The key this checkout caches the pair's mini-LLaVA under (`llava.key_of`, as `llava.load` computes it).
    Its CLIP must be trained: loading an untrained one would train it."""
    clip = Z.load(recipe, profile=p.name, seed=seed, progress=False)
    return L.key_of(recipe, p.name, seed, clip)


def _llava_files(recipe: str, seed: int, p: Z.Profile) -> dict[str, Path]:
    folder = L.cache_dir(recipe, p.name, seed)
    return {L.STATE_FILE: folder / L.STATE_FILE, L.META_FILE: folder / L.META_FILE}


def _llava_cached(recipe: str, seed: int, p: Z.Profile, key: str) -> dict | None:
    """The meta of the pair's complete cached mini-LLaVA under `key` (the store's check), else None."""
    f = _llava_files(recipe, seed, p)
    return store.check_entry(f[L.STATE_FILE], key, f[L.META_FILE], what=f"mini-LLaVA {llava_label(recipe, seed)}")


def _llava_present(recipe: str, seed: int, p: Z.Profile) -> bool:
    """Whether `llava.load` would read the pair from the cache: its CLIP trained, its LMM cached under its key."""
    return Z.is_trained(_clip_of(recipe, seed), p) and _llava_cached(recipe, seed, p, _llava_key(recipe, seed, p)) \
        is not None


def zoo_models(profile: str | Z.Profile | None = None, recipes: Iterable[str] | None = None) -> list[Z.Recipe]:
    """Every model of the zoo (each recipe under each of the profile's seeds), as `zoo.train` expands them."""
    p = Z.profile_of(profile)
    if isinstance(recipes, str):
        recipes = [recipes]
    return [s for n in (recipes or Z.names()) for s in (Z.seeded(n, p) if "#" not in str(n) else [Z.recipe(n)])]


# ---------------------------------------------------------------- publish
def manifest(profile: str | Z.Profile | None = "lab", recipes: Iterable[str] | None = None,
             llavas: Iterable[tuple[str, int]] = ()) -> dict:
    """The manifest of the trained zoo in the lab cache, with the mini-LLaVAs of the (recipe, seed) pairs `llavas`;
    LabHubError naming every model or mini-LLaVA that is not trained."""
    import torch

    from .. import __version__
    from ..store import sha256_file

    p = Z.profile_of(profile)
    rs = zoo_models(p, recipes)
    recs = {Z.label(r): Z.record(r, p) for r in rs}  # check_entry: the file matches its record's sha256
    missing = [k for k, v in recs.items() if v is None]
    if missing:
        raise LabHubError(f"{len(missing)} of {len(rs)} model(s) of the {p.name} lab zoo are not trained: "
                          f"{', '.join(missing)}. Train them first (`clipstudy lab train --profile {p.name}`); "
                          "a zoo is published whole, or not at all.")
    models = []
    for r in rs:
        rec, (pt, js) = recs[Z.label(r)], Z.paths(r, p)
        models.append(dict(label=Z.label(r), recipe=r.name, seed=r.seed, profile=p.name,
                           file=f"{p.name}/{pt.name}", record=f"{p.name}/{js.name}", sha256=rec["sha256"],
                           record_sha256=sha256_file(js), size=pt.stat().st_size, key=Z.model_key(r, p),
                           store_key=Z.store_key(r, p).fields()))
    return dict(format=FORMAT, clipstudy=__version__, torch=torch.__version__, profile=p.name,
                created_at=time.strftime("%Y-%m-%dT%H:%M:%S"), models=models, llavas=_llava_entries(p, llavas))


def _llava_entries(p: Z.Profile, llavas: Iterable[tuple[str, int]]) -> list[dict]:
    """The manifest's `llavas`: per pair its files, their sha256 and its key; LabHubError naming every pair whose
    mini-LLaVA (or its CLIP) is not trained, since a zoo is published whole."""
    from ..store import sha256_file

    pairs, entries, missing = list(llavas), [], []
    for rec, sd in pairs:
        lab = llava_label(rec, sd)
        if not Z.is_trained(_clip_of(rec, sd), p):
            missing.append(f"{lab} (its CLIP {Z.label(_clip_of(rec, sd))} too)")
            continue
        key = _llava_key(rec, sd, p)
        if _llava_cached(rec, sd, p, key) is None:  # absent, stale (another CLIP or settings) or damaged
            missing.append(lab)
            continue
        files = _llava_files(rec, sd, p)
        entries.append(dict(label=lab, recipe=rec, seed=sd, profile=p.name, key=key,
                            files={n: f"{p.name}/llava/{f.parent.name}/{n}" for n, f in files.items()},
                            sha256={n: sha256_file(f) for n, f in files.items()}))
    if missing:
        raise LabHubError(f"{len(missing)} of {len(pairs)} mini-LLaVA(s) of the {p.name} lab zoo are not trained: "
                          f"{', '.join(missing)}. Train them first (`clipstudy lab train --profile {p.name} "
                          "--llavas`, or build chapter 09); a zoo is published whole, or not at all.")
    return entries


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
    man = manifest(p, recipes, llavas)
    ops = []
    for m in man["models"]:
        pt, js = Z.paths(Z.recipe(f"{m['recipe']}#{m['seed']}"), p)
        ops += [CommitOperationAdd(m["file"], str(pt)), CommitOperationAdd(m["record"], str(js))]
    for m in man["llavas"]:
        local = _llava_files(m["recipe"], m["seed"], p)
        ops += [CommitOperationAdd(m["files"][n], str(local[n])) for n in (L.STATE_FILE, L.META_FILE)]
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
class FetchReport:
    """What one fetch did, per model label (`base#1`): fetched and verified, already in the cache, or not
    installed and why (`failed`; those are left to train). The same for the mini-LLaVAs asked for (`lmms` of
    them, labels `llava:base#1`). `error`: why the hub zoo could not be read at all."""

    repo: str
    profile: str
    total: int = 0
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    commit: str | None = None
    lmms: int = 0
    lmm_fetched: list[str] = field(default_factory=list)
    lmm_present: list[str] = field(default_factory=list)
    lmm_failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed and not self.lmm_failed

    def line(self) -> str:
        """One line for the book's log: what came from the hub, and why anything else is trained."""
        n_train = self.total - len(self.fetched) - len(self.present)
        n_lmm = self.lmms - len(self.lmm_fetched) - len(self.lmm_present)
        if self.error is not None:
            todo = [f"{n_train} model(s)"] * bool(n_train) + [f"{n_lmm} mini-LLaVA(s)"] * bool(n_lmm)
            return (f"lab zoo: fetching from {self.repo} failed ({self.error}): "
                    + (f"training {' and '.join(todo)}" if todo else "nothing to train"))
        if (not self.fetched and not self.failed and len(self.present) == self.total
                and len(self.lmm_present) == self.lmms):
            lmms = f" and {self.lmms} mini-LLaVAs" if self.lmms else ""
            return f"lab zoo: all {self.total} models{lmms} already in the cache; {self.repo} was not asked"
        parts = [f"{len(self.fetched)} of {self.total} models fetched from {self.repo} and verified"]
        if self.present:
            parts.append(f"{len(self.present)} already in the cache")
        if self.lmms:  # chapter 09's LMMs: said apart, so the CLIP counts read as before
            parts.append(f"{len(self.lmm_fetched)} of {self.lmms} mini-LLaVA LMMs fetched"
                         + (f" ({len(self.lmm_present)} already in the cache)" if self.lmm_present else ""))
        line = "lab zoo: " + ", ".join(parts)
        if self.failed:
            line += f"; training {n_train}: {_whys(self.failed)}"
        if self.lmm_failed:
            line += f"; training {n_lmm} LMM(s): {_whys(self.lmm_failed)}"
        return line

    def table(self) -> str:
        rows = [f"{k}: fetched and verified" for k in self.fetched + self.lmm_fetched]
        rows += [f"{k}: already in the cache" for k in self.present + self.lmm_present]
        rows += [f"{k}: NOT installed ({v})" for k, v in {**self.failed, **self.lmm_failed}.items()]
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


def _verify(r: Z.Recipe, p: Z.Profile, entry: dict, pt: Path, js: Path) -> tuple[str | None, dict | None]:
    """(why not, None) or (None, record) for a downloaded model against the manifest and this checkout's key."""
    from ..store import sha256_file

    want = Z.model_key(r, p)
    got = sha256_file(pt)
    if got != entry.get("sha256"):
        return f"weights sha256 {got[:12]} differs from the manifest's {str(entry.get('sha256'))[:12]}", None
    if entry.get("record_sha256") and sha256_file(js) != entry["record_sha256"]:
        return "training record differs from the manifest's sha256", None
    try:
        rec = json.loads(js.read_text())
    except (ValueError, UnicodeDecodeError, OSError, RecursionError) as e:
        return f"training record unreadable ({type(e).__name__})", None
    if not isinstance(rec, dict) or rec.get("key") != want or rec.get("sha256") != got:
        return "training record names another key or file", None
    try:
        blob = store.safe_load(pt)  # the one loader: weights only; a damaged download is removed
    except (OSError, store.CacheError) as e:  # not damage (permissions, I/O): a refusal, never a crash
        return f"weights file unreadable ({type(e).__name__})", None
    if blob is None:
        return "weights file unreadable (damaged)", None
    if not isinstance(blob, dict) or blob.get("key") != want or "state_dict" not in blob:
        return "weights file names another training key", None
    return None, rec


def _install(r: Z.Recipe, p: Z.Profile, src_pt: Path, rec: dict, origin: str) -> str | None:
    """Copy a verified model into the lab cache (weights, then its record, each atomically); None when
    `zoo.record` accepts it, else why not (and nothing stays)."""
    from ..store import atomic_write, atomic_write_text, discard

    pt, js = Z.paths(r, p)
    with open(src_pt, "rb") as src:
        atomic_write(pt, lambda f: shutil.copyfileobj(src, f))
    atomic_write_text(json.dumps(dict(rec, fetched_from=origin), indent=1, default=str), js)
    if Z.record(r, p) is None:  # check_entry: key and sha256 of the installed file
        discard(pt, js)
        return "the installed copy does not match its record"
    return None


def _verify_llava(got: dict[str, Path], entry: dict, want: str, settings: L.Settings) -> tuple[str | None, dict | None]:
    """(why not, None) or (None, meta) for a downloaded mini-LLaVA against the manifest and this checkout's key."""
    from ..store import sha256_file

    sums = entry.get("sha256") if isinstance(entry.get("sha256"), dict) else {}
    for name, path in got.items():
        have = sha256_file(path)
        if have != sums.get(name):
            return f"{name} sha256 {have[:12]} differs from the manifest's {str(sums.get(name))[:12]}", None
    try:
        meta = json.loads(got[L.META_FILE].read_text())
    except (ValueError, UnicodeDecodeError, OSError, RecursionError) as e:
        return f"{L.META_FILE} unreadable ({type(e).__name__})", None
    if not isinstance(meta, dict) or meta.get("key") != want or meta.get("sha256") != sums.get(L.STATE_FILE):
        return f"{L.META_FILE} names another key or state file", None
    try:
        state = store.safe_load(got[L.STATE_FILE])  # weights only; a damaged download is removed
    except (OSError, store.CacheError) as e:  # not damage (permissions, I/O): a refusal, never a crash
        return f"{L.STATE_FILE} unreadable ({type(e).__name__})", None
    if state is None:
        return f"{L.STATE_FILE} unreadable (damaged)", None
    if L.model_from(state, meta, settings) is None:  # what `llava.load` would refuse and retrain
        return f"{L.STATE_FILE} does not fit the model its {L.META_FILE} describes", None
    return None, meta


def _install_llava(recipe: str, seed: int, p: Z.Profile, src: Path, meta: dict, key: str, origin: str) -> str | None:
    """Copy a verified mini-LLaVA into the lab cache as `llava.load` writes it (state, then meta.json last, each
    atomically); None when the store's check accepts it under `key`, else why not (and nothing stays)."""
    from ..store import atomic_write, atomic_write_text

    dest = _llava_files(recipe, seed, p)
    with open(src, "rb") as f:
        atomic_write(dest[L.STATE_FILE], lambda out: shutil.copyfileobj(f, out))
    atomic_write_text(json.dumps(dict(meta, fetched_from=origin), indent=1, default=str), dest[L.META_FILE])
    if _llava_cached(recipe, seed, p, key) is None:  # check_entry: key and sha256 (and it discards a mismatch)
        return f"the installed copy does not match its {L.META_FILE}"
    return None


def _fetch_llava(recipe: str, seed: int, p: Z.Profile, entry: dict | None, get, origin: str) -> str | None:
    """Download, verify and install one mini-LLaVA of the manifest (after the CLIPs: its key is computed from its
    CLIP's weights here); None when installed, else why not. `get(name)` downloads a file of the manifest's
    commit (it raises _Unavailable)."""
    from ..models import weights

    if entry is None:
        return "not in the hub zoo"
    clip = _clip_of(recipe, seed)
    if not Z.is_trained(clip, p):  # loading it to compute the key would train it: the LMM trains after it
        return f"its CLIP {Z.label(clip)} is not in the lab cache"
    want = _llava_key(recipe, seed, p)
    if entry.get("key") != want:
        return (f"cached under key {entry.get('key')}, this checkout caches it under {want} (its CLIP's weights, "
                "settings or LLAVA_VERSION differ)")
    files = entry.get("files")
    if not isinstance(files, dict) or set(files) != {L.STATE_FILE, L.META_FILE} \
            or not all(_inside(p, f) for f in files.values()):
        return "its manifest entry names files outside the profile's folder"
    got = {n: get(files[n]) for n in (L.STATE_FILE, L.META_FILE)}
    why, meta = _verify_llava(got, entry, want, L.settings_of(p.name, seed))
    if why is not None:  # damaged or foreign bytes in the hub cache: removed, so a later fetch downloads them again
        for path in got.values():
            weights.delete_cached(path)
        return why
    return _install_llava(recipe, seed, p, got[L.STATE_FILE], meta, want, origin)


def _llava_manifest(man: dict) -> dict[tuple[str, int], dict]:
    """The manifest's mini-LLaVAs by (recipe, seed); none in a manifest published before them."""
    return {(m["recipe"], int(m["seed"])): m for m in man.get("llavas") or []}


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
    rs = zoo_models(p, recipes)
    pairs = [(rec, int(sd)) for rec, sd in llavas]
    rep = FetchReport(repo + (f"@{revision}" if revision else ""), p.name, total=len(rs), lmms=len(pairs))
    todo = []
    for r in rs:
        if Z.is_trained(r, p):
            rep.present.append(Z.label(r))
        else:
            todo.append(r)
    lmm_todo = []
    for rec, sd in pairs:
        if _llava_present(rec, sd, p):
            rep.lmm_present.append(llava_label(rec, sd))
        else:
            lmm_todo.append((rec, sd))
    if not todo and not lmm_todo:
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
        entries = {(m["recipe"], int(m["seed"])): m for m in man["models"]}
        if man.get("format") != FORMAT or man.get("profile") != p.name:
            raise ValueError(f"format {man.get('format')!r}, profile {man.get('profile')!r}")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as e:
        rep.error = f"its manifest {first} is not a {p.name} zoo manifest ({type(e).__name__}: {e})"
        return rep
    origin = f"{repo}@{commit}"
    for r in todo:
        lab = Z.label(r)
        entry = entries.get((r.name, r.seed))
        if entry is None:
            rep.failed[lab] = "not in the hub zoo"
            continue
        want = Z.model_key(r, p)
        if entry.get("key") != want:
            rep.failed[lab] = (f"trained under key {entry.get('key')}, this checkout trains it under {want} "
                               "(its recipe, profile, precision or training code differ)")
            continue
        if not all(_inside(p, entry.get(k, "")) for k in ("file", "record")):
            rep.failed[lab] = "its manifest entry names files outside the profile's folder"
            continue
        try:
            pt = _download(repo, entry["file"], commit, token, local)
            js = _download(repo, entry["record"], commit, token, local)
        except _Unavailable as e:
            rep.failed[lab] = unreachable or str(e)
            continue
        why, rec = _verify(r, p, entry, pt, js)
        if why is None:
            why = _install(r, p, pt, rec, origin)
        else:  # damaged or foreign bytes in the hub cache: removed, so a later fetch downloads them again
            weights.delete_cached(pt)
            weights.delete_cached(js)
        if why is None:
            rep.fetched.append(lab)
        else:
            rep.failed[lab] = why
    _fetch_llavas(rep, man, lmm_todo, p, lambda name: _download(repo, name, commit, token, local), origin,
                  unreachable)
    return rep


def _fetch_llavas(rep: FetchReport, man: dict, pairs: list[tuple[str, int]], p: Z.Profile, get, origin: str,
                  unreachable: str | None) -> None:
    """The mini-LLaVAs of `pairs` into the lab cache, each fetched or refused into `rep` (never raised)."""
    if not pairs:
        return
    try:
        entries = _llava_manifest(man)
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a damaged list must not cost the CLIPs
        entries, bad = {}, f"the manifest's llavas are unreadable ({type(e).__name__}: {e})"
    else:
        bad = None
    for rec, sd in pairs:
        lab = llava_label(rec, sd)
        try:
            why = bad or _fetch_llava(rec, sd, p, entries.get((rec, sd)), get, origin)
        except _Unavailable as e:
            why = unreachable or str(e)
        if why is None:
            rep.lmm_fetched.append(lab)
        else:
            rep.lmm_failed[lab] = why


def book_fetch(spec: str, profile: str, llavas: Iterable[tuple[str, int]] = ()) -> FetchReport:
    """The book's hook: fetch the zoo and the mini-LLaVAs of `llavas` (the book passes chapter 09's pairs) from
    `spec` (CLIPSTUDY_LAB_HUB) and say in one line what came from the hub; any failure is reported, never raised,
    so the book trains what is missing as without a hub."""
    llavas = list(llavas)
    try:
        rep = fetch(spec, profile, llavas=llavas)
    except Exception as e:  # noqa: BLE001  the book must build whatever the hub does
        rep = FetchReport(spec, str(profile), total=len(zoo_models(profile)),
                          error=f"{type(e).__name__}: {e}", lmms=len(llavas))
        rep.present = [Z.label(r) for r in zoo_models(profile) if Z.is_trained(r, profile)]
    print(rep.line(), flush=True)
    return rep
