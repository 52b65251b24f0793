"""The trained lab zoo on a Hugging Face hub repo: publish it once, fetch and verify it instead of training.

    publish(repo, profile)   upload every trained model of the profile's zoo (each recipe x seed), its training
                             record and a manifest, `<profile>/zoo.json`, in one commit (huggingface_hub.HfApi)
    fetch(repo, profile)     download the manifest and the missing models (huggingface_hub.hf_hub_download:
                             HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE as everywhere else), verify them, install
                             what passed into the lab cache; returns a FetchReport and never raises for a
                             network, repo or verification failure: what is not installed is left to train
    book_fetch(spec, profile)  the book's hook (CLIPSTUDY_LAB_HUB=ORG/NAME[@REVISION]): fetch, one line

Repo layout (one folder per profile, so `lab` and `smoke` zoos share a repo):

    <profile>/zoo.json                   format, clipstudy and torch versions, profile, and per model: label
                                         (`base#1`), recipe, seed, file, record, sha256 of the weights file,
                                         sha256 of the record, key (lab.zoo.model_key), store_key (its fields)
    <profile>/<store key name>.pt        the weights, as lab.zoo caches them
    <profile>/<store key name>.json      the training record, as lab.zoo caches it

Verification, per model, before anything is installed: the manifest's training key must be the key this checkout
would train the model under (`model_key`: recipe, profile, world and training code versions, the parent's key for
a fine-tune, the training precision), so a changed recipe or training code is a mismatch; the weights file's
SHA-256 must be the manifest's; the record must name that key and that SHA-256; the weights file must load with
`weights_only=True` and name that key. A model that passes is installed with the store's atomic publish (weights
first, the record last, as `store.save_entry` does), so `zoo.is_trained` is true and `zoo.load` loads it with the
same `weights_id` as on the machine that trained it. Files from one fetch all come from the manifest's commit.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .. import store
from ..errors import ClipstudyError
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


def zoo_models(profile: str | Z.Profile | None = None, recipes: Iterable[str] | None = None) -> list[Z.Recipe]:
    """Every model of the zoo (each recipe under each of the profile's seeds), as `zoo.train` expands them."""
    p = Z.profile_of(profile)
    if isinstance(recipes, str):
        recipes = [recipes]
    return [s for n in (recipes or Z.names()) for s in (Z.seeded(n, p) if "#" not in str(n) else [Z.recipe(n)])]


# ---------------------------------------------------------------- publish
def manifest(profile: str | Z.Profile | None = "lab", recipes: Iterable[str] | None = None) -> dict:
    """The manifest of the trained zoo in the lab cache; LabHubError naming every model that is not trained."""
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
                created_at=time.strftime("%Y-%m-%dT%H:%M:%S"), models=models)


def publish(repo: str, profile: str | Z.Profile | None = "lab", *, token: str | None = None,
            revision: str | None = None, recipes: Iterable[str] | None = None, private: bool | None = None,
            commit_message: str | None = None) -> dict:
    """Upload the trained zoo of `profile` (every recipe x seed, or only `recipes`) with its records and the
    manifest to the hub model repo `repo` (created if missing; `revision`: a branch, created if missing) in one
    commit. The manifest lists exactly the models of this commit. Returns {repo, revision, commit, url, models}."""
    from huggingface_hub import CommitOperationAdd, HfApi

    repo, rev = split_repo(repo)
    revision = revision or rev
    p = Z.profile_of(profile)
    man = manifest(p, recipes)
    ops = []
    for m in man["models"]:
        pt, js = Z.paths(Z.recipe(f"{m['recipe']}#{m['seed']}"), p)
        ops += [CommitOperationAdd(m["file"], str(pt)), CommitOperationAdd(m["record"], str(js))]
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
                                                                  f"models, clipstudy {man['clipstudy']}")
    except (requests.RequestException, ValueError) as e:  # HfHubHTTPError is a requests.HTTPError
        raise LabHubError(f"publishing the {p.name} lab zoo to {repo} at {weights._endpoint()} failed "
                          f"({type(e).__name__}: {weights._short(e)}). Is HF_ENDPOINT right, and is a token with "
                          "write access set (HF_TOKEN or `hf auth login`)?") from e
    return dict(repo=repo, revision=revision or "main", commit=info.oid, url=info.commit_url,
                models=len(man["models"]))


# ---------------------------------------------------------------- fetch
@dataclass
class FetchReport:
    """What one fetch did, per model label (`base#1`): fetched and verified, already in the cache, or not
    installed and why (`failed`; those are left to train). `error`: why the hub zoo could not be read at all."""

    repo: str
    profile: str
    total: int = 0
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    commit: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed

    def line(self) -> str:
        """One line for the book's log: what came from the hub, and why anything else is trained."""
        n_train = self.total - len(self.fetched) - len(self.present)
        if self.error is not None:
            return (f"lab zoo: fetching from {self.repo} failed ({self.error}): "
                    + (f"training {n_train} model(s)" if n_train else "nothing to train"))
        if not self.fetched and not self.failed and len(self.present) == self.total:
            return f"lab zoo: all {self.total} models already in the cache; {self.repo} was not asked"
        parts = [f"{len(self.fetched)} of {self.total} models fetched from {self.repo} and verified"]
        if self.present:
            parts.append(f"{len(self.present)} already in the cache")
        line = "lab zoo: " + ", ".join(parts)
        if self.failed:
            whys = list(self.failed.items())
            shown = "; ".join(f"{k}: {v}" for k, v in whys[:3]) + (f"; and {len(whys) - 3} more" if len(whys) > 3 else "")
            line += f"; training {n_train}: {shown}"
        return line

    def table(self) -> str:
        rows = [f"{k}: fetched and verified" for k in self.fetched] + [f"{k}: already in the cache"
                                                                       for k in self.present]
        rows += [f"{k}: NOT installed ({v})" for k, v in self.failed.items()]
        return "\n".join(["  " + r for r in rows] + [self.line()])


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
    except (ValueError, UnicodeDecodeError, OSError) as e:
        return f"training record unreadable ({type(e).__name__})", None
    if not isinstance(rec, dict) or rec.get("key") != want or rec.get("sha256") != got:
        return "training record names another key or file", None
    try:
        blob = store.safe_load(pt)  # the one loader: weights only; a damaged download is removed
    except OSError as e:  # not damage (permissions, I/O): a refusal, never a crash
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


def fetch(repo: str, profile: str | Z.Profile | None = "lab", *, revision: str | None = None,
          recipes: Iterable[str] | None = None, token: str | None = None) -> FetchReport:
    """Fetch the missing models of the zoo (every recipe x seed of `profile`, or only `recipes`) from the hub
    repo `repo` (ORG/NAME[@REVISION]), verify each against the manifest and against the key this checkout trains
    it under, and install those that pass into the lab cache. Models already cached are not asked for. Nothing
    that fails is installed; the report says why, and `zoo.train` trains them."""
    from ..models import weights

    repo, rev = split_repo(repo)
    revision = revision or rev
    p = Z.profile_of(profile)
    rs = zoo_models(p, recipes)
    rep = FetchReport(repo + (f"@{revision}" if revision else ""), p.name, total=len(rs))
    todo = []
    for r in rs:
        if Z.is_trained(r, p):
            rep.present.append(Z.label(r))
        else:
            todo.append(r)
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
        entries = {(m["recipe"], int(m["seed"])): m for m in man["models"]}
        if man.get("format") != FORMAT or man.get("profile") != p.name:
            raise ValueError(f"format {man.get('format')!r}, profile {man.get('profile')!r}")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
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
        if not all(str(entry.get(k, "")).startswith(f"{p.name}/") and ".." not in str(entry.get(k))
                   for k in ("file", "record")):
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
    return rep


def book_fetch(spec: str, profile: str) -> FetchReport:
    """The book's hook: fetch the zoo from `spec` (CLIPSTUDY_LAB_HUB) and say in one line what came from the hub;
    any failure is reported, never raised, so the book trains what is missing as without a hub."""
    try:
        rep = fetch(spec, profile)
    except Exception as e:  # noqa: BLE001  the book must build whatever the hub does
        rep = FetchReport(spec, str(profile), total=len(zoo_models(profile)),
                          error=f"{type(e).__name__}: {e}")
        rep.present = [Z.label(r) for r in zoo_models(profile) if Z.is_trained(r, profile)]
    print(rep.line(), flush=True)
    return rep
