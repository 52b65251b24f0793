"""`hf-hub:ORG/REPO[@REVISION]`: a CLIP published as a Hugging Face hub repo, in open_clip's format or transformers'.

The format is detected from the repo's files, at the commit the name resolves to:

- **open_clip's hub format** (`open_clip_config.json`, weights in `open_clip_model.safetensors` or
  `open_clip_pytorch_model.bin`): read as open_clip reads `hf-hub:` names: its model config (activation included),
  its preprocessing and its tokenizer. A Hugging Face text tower or tokenizer the config names
  (`text_cfg.hf_model_name`, `text_cfg.hf_tokenizer_name`) may live in a second repo: its files are fetched too,
  each repo pinned at its own resolved commit. open_clip then builds the model from a folder of those files
  (`local-dir:`, its own reader), so nothing is downloaded behind clipstudy's back.
- **transformers' format** (`config.json` with a `model_type` of `TRANSFORMERS_TYPES`, `model.safetensors`, the
  tokenizer and preprocessor files): read through transformers' own classes, `AutoModel` and `AutoProcessor`, with
  the repo's own resize, crop and normalisation (its image processor), and the padding its model card documents
  (`max_length` for SigLIP, the longest prompt for CLIP); the tokenizer lower-cases where its config says so.
  A repo holding both formats (LAION's) is read in open_clip's, the format it was trained in.

A repo that needs downloaded code (`auto_map`, `trust_remote_code`) is refused: clipstudy never runs it.

Files come through the hub cache service (`clipstudy.hubcache`): the hub cache, `HF_ENDPOINT`, offline mode, resume,
and a file whose hash differs from the hub's is deleted. A branch (default `main`) is resolved to its commit once
per process; the commit is the spec's `revision`, part of `registry.model_id`, so a repo that changes is a new
model to the feature cache and the runner's units, never a stale hit. `@REVISION` pins a branch, tag or commit.

Factors come from the repo's config where it says them: open_clip's model config (and, when the repo is the hub
file of an open_clip pretrained tag, that tag's tags), transformers' `model_type` (SigLIP types mean
`loss=siglip`) and vision config. What a config does not say stays unknown (`--model-info` declares it).
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import hubcache
from ...errors import CheckpointError, ClipstudyError, FetchError
from .. import registry
from ..spec import Loaded, ModelSpec

PREFIX = "hf-hub:"
SOURCE = "hf-hub"
OPEN_CLIP_CONFIG = "open_clip_config.json"
HF_CONFIG = "config.json"
OPEN_CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # open_clip's preference
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
# what AutoTokenizer and AutoProcessor read from a folder (each optional; a tokenizer needs its config and one vocab)
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.json", "merges.txt", "vocab.txt", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
REMOTE_CODE_KEYS = ("auto_map", "trust_remote_code")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class TransformersType:
    """A transformers `model_type` clipstudy reads: its contrastive loss, and the text padding its model card
    documents for `AutoProcessor(text=..., images=..., padding=...)`."""

    loss: str
    padding: bool | str


TRANSFORMERS_TYPES: dict[str, TransformersType] = {
    "clip": TransformersType("clip", True),
    "metaclip_2": TransformersType("clip", True),
    "siglip": TransformersType("siglip", "max_length"),
}
# types that are CLIPs but whose inputs the engine cannot batch yet, and why
UNSUPPORTED_TYPES: dict[str, str] = {
    "siglip2": "its NaFlex image processor gives each image its own number of patches (with a mask and spatial "
               "shapes); the fixed-resolution SigLIP 2 checkpoints (model_type siglip, e.g. "
               "google/siglip2-base-patch16-224) load",
}


@dataclass(frozen=True)
class Repo:
    """What a `hf-hub:` name resolved to: the repo, the asked revision and its commit, the format, its config, and
    the other repos the config names (`aux`: (repo, commit, role) with role `text` or `tokenizer`)."""

    name: str
    repo: str
    revision: str
    commit: str
    format: str  # open_clip | transformers
    config: dict
    aux: tuple[tuple[str, str, str], ...] = ()

    def pinned(self) -> str | None:
        """The other repos as `repo@commit`, joined by `+` (the spec's `pretrained`), or None."""
        return "+".join(dict.fromkeys(f"{r}@{c}" for r, c, _ in self.aux)) or None


_RESOLVED: dict[tuple, Repo] = {}  # (name, endpoint, cache, offline) -> Repo: a branch resolves once per process


def split(name: str) -> tuple[str, str]:
    """`hf-hub:ORG/REPO[@REVISION]` -> (ORG/REPO, REVISION or "main"); a malformed repo id is a clear error."""
    body = name[len(PREFIX):]
    repo, _, rev = body.partition("@")
    if not _REPO_ID.match(repo) or (rev == "" and "@" in body):
        raise ClipstudyError(f"{name}: expected hf-hub:ORG/REPO or hf-hub:ORG/REPO@REVISION (a branch, tag or commit), "
                             "e.g. hf-hub:timm/ViT-B-16-SigLIP or hf-hub:openai/clip-vit-base-patch32@main")
    return repo, rev or "main"


# ----------------------------------------------------------------- resolving: format, commit, second repos
def _read_json(path: Path, what: str) -> dict:
    try:
        out = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{what}: unreadable ({type(e).__name__}: {e})") from e
    if not isinstance(out, dict):
        raise CheckpointError(f"{what}: not a JSON object")
    return out


def remote_code(config: dict) -> str | None:
    """The key of a config that asks to run the repo's own code (`auto_map`, `trust_remote_code`), at any depth."""
    stack = [config]
    while stack:
        d = stack.pop()
        for k, v in d.items():
            if k in REMOTE_CODE_KEYS and v:
                return k
            if isinstance(v, dict):
                stack.append(v)
    return None


def _refuse_remote_code(name: str, repo: str, filename: str, config: dict) -> None:
    key = remote_code(config)
    if key is not None:
        raise CheckpointError(f"{name}: {repo}/{filename} asks to run the repo's own code ({key!r}); clipstudy never "
                              "runs downloaded code. Use a repo in open_clip's or transformers' own format.")


def _commit(name: str, repo: str, revision: str, probe_file: str) -> tuple[str | None, bool]:
    """(the cached commit when the hub may not be asked, local): online, (None, False): the first file fetched
    resolves the branch."""
    local = hubcache.offline()
    if not local:
        why = hubcache.probe(repo, probe_file, None if revision == "main" else revision)
        if why is not None:
            cached = hubcache.cached_commit(repo, revision)
            if cached is None:
                raise FetchError(f"{name}: cannot reach the hub at {hubcache.endpoint()} ({why}), and {repo} is not "
                                 f"in the local hub cache. {how_to_get(name, repo)}")
            print(f"clipstudy: the hub at {hubcache.endpoint()} is unreachable ({why}); using the cached {repo}@"
                  f"{cached[:10]}. To skip this check, work offline: HF_HUB_OFFLINE=1 or --offline.", file=sys.stderr)
            return cached, True
        return None, False
    cached = hubcache.cached_commit(repo, revision)
    if cached is None:
        raise FetchError(f"{name}: {repo}{'' if revision == 'main' else '@' + revision} is not in the local hub "
                         f"cache and offline mode is on (HF_HUB_OFFLINE=1 or --offline). {how_to_get(name, repo)}")
    return cached, True


def how_to_get(name: str, repo: str) -> str:
    return (f"Get it with `clipstudy fetch model {name}` on a machine that reaches the hub (HF_ENDPOINT selects a "
            f"mirror), or `hf download {repo}`, and copy the hub cache (HF_HOME, default ~/.cache/huggingface) here.")


def _get(name: str, repo: str, filename: str, commit: str | None, revision: str, local: bool,
         verify: bool = False) -> Path | None:
    """One file at the commit (or, before it is known, the branch); None when the repo has no such file."""
    try:
        return hubcache.get(repo, filename, revision=commit or revision, local=local, verify=verify, subject=name,
                            again=f"run `clipstudy fetch model {name}` again")
    except hubcache.EntryMissing:
        return None
    except hubcache.NotCached as e:
        if local:  # offline, a file this cache never fetched: the repo may still have it
            raise FetchError(f"{name}: {e.reason}. {how_to_get(name, repo)}") from e
        raise


def _resolve_repo(name: str, repo: str, revision: str) -> Repo:
    commit, local = _commit(name, repo, revision, OPEN_CLIP_CONFIG)
    found = None
    for fmt, filename in (("open_clip", OPEN_CLIP_CONFIG), ("transformers", HF_CONFIG)):
        try:
            path = _get(name, repo, filename, commit, revision, local)
        except FetchError:
            if local and fmt == "open_clip":  # offline: this cache may hold the repo in the other format
                continue
            raise
        if path is not None:
            found = fmt, filename, path
            break
    if found is None:
        raise CheckpointError(f"{name}: {repo}@{revision} has neither {OPEN_CLIP_CONFIG} (open_clip's hub format) "
                              f"nor {HF_CONFIG} (transformers' format): it is not a CLIP in either format")
    fmt, filename, path = found
    commit = hubcache.commit_of(path, filename)
    config = _read_json(path, f"{name}: {repo}/{filename}")
    _refuse_remote_code(name, repo, filename, config)
    aux: list[tuple[str, str, str]] = []
    if fmt == "open_clip":
        model_cfg = config.get("model_cfg")
        if not isinstance(model_cfg, dict) or not isinstance(model_cfg.get("vision_cfg"), dict):
            raise CheckpointError(f"{name}: {repo}/{OPEN_CLIP_CONFIG} has no model_cfg with a vision_cfg: not an "
                                  "open_clip model config")
        text = model_cfg.get("text_cfg") or {}
        for role, key, first in (("text", "hf_model_name", HF_CONFIG), ("tokenizer", "hf_tokenizer_name",
                                                                        "tokenizer_config.json")):
            other = text.get(key) if isinstance(text, dict) else None
            if not other:
                continue
            if other == repo:
                aux.append((repo, commit, role))
                continue
            if not _REPO_ID.match(str(other)):
                raise CheckpointError(f"{name}: its config's text_cfg.{key} is {other!r}, not a hub repo id")
            c, lo = _commit(name, other, "main", first)
            p = _get(name, other, first, c, "main", lo)
            if p is None:
                raise CheckpointError(f"{name}: its config names {other} as its {role} ({key}), and that repo has no "
                                      f"{first}")
            _refuse_remote_code(name, other, first, _read_json(p, f"{name}: {other}/{first}"))
            aux.append((other, hubcache.commit_of(p, first), role))
    else:
        kind = config.get("model_type")
        if kind in UNSUPPORTED_TYPES:
            raise CheckpointError(f"{name}: transformers model_type {kind!r} is not supported yet: "
                                  f"{UNSUPPORTED_TYPES[kind]}")
        if kind not in TRANSFORMERS_TYPES:
            raise CheckpointError(
                f"{name}: {repo}/{HF_CONFIG} has model_type {kind!r}, not a CLIP that clipstudy reads in transformers' "
                f"format ({', '.join(TRANSFORMERS_TYPES)}). An image classifier of timm loads as timm:NAME; a CLIP in "
                f"open_clip's format needs its {OPEN_CLIP_CONFIG}.")
    return Repo(name, repo, revision, commit, fmt, config, tuple(aux))


def repo_of(name: str) -> Repo:
    """The resolved repo of a `hf-hub:` name (once per process for a branch; a commit is fixed)."""
    repo, revision = split(name)
    key = (name, hubcache.endpoint(), str(hubcache.cache_dir()), hubcache.offline())
    hit = _RESOLVED.get(key)
    if hit is None:
        hit = _RESOLVED[key] = _resolve_repo(name, repo, revision)
    return hit


# ----------------------------------------------------------------- factors from the config
def mirrored_tags(repo: str) -> list[str]:
    """The open_clip pretrained pairs (`ARCH/TAG`) whose hub file is this repo (open_clip's `hf_hub` entries)."""
    import open_clip

    out = []
    for arch, tag in open_clip.list_pretrained():
        hub = ((open_clip.get_pretrained_cfg(arch, tag) or {}).get("hf_hub") or "").strip("/")
        if hub and "/".join(hub.split("/")[:2]) == repo:  # `org/repo/` or `org/repo/file.bin`
            out.append(f"{arch}/{tag}")
    return out


def _open_clip_fields(r: Repo) -> dict[str, Any]:
    from ... import factors
    from .open_clip import tag_factors

    model_cfg = r.config["model_cfg"]
    vision = model_cfg.get("vision_cfg") or {}
    pre = r.config.get("preprocess_cfg") or {}
    size = pre.get("size") or vision.get("image_size") or 224
    size = int(size[0] if isinstance(size, (list, tuple)) else size)
    tags = mirrored_tags(r.repo)
    if tags:  # the hub file of an open_clip tag: that tag's tags (the records' rules), its architecture name
        arch, tag = tags[0].split("/", 1)
        return dict(tag_factors(arch, tag), arch=arch, resolution=size)
    timm_name = vision.get("timm_model_name")
    family = factors.family_of(str(timm_name)) if timm_name else \
        "resnet" if isinstance(vision.get("layers"), (list, tuple)) else "vit"
    loss = "coca" if "multimodal_cfg" in model_cfg else "siglip" if "init_logit_bias" in model_cfg else "clip"
    return dict(arch=r.repo, family=family, data="", loss=loss, resolution=size)


def _transformers_fields(r: Repo) -> dict[str, Any]:
    vision = r.config.get("vision_config") or {}
    size = vision.get("image_size") or 224
    # every model type read here has a ViT image tower (CLIPVisionTransformer, SiglipVisionTransformer)
    return dict(arch=r.repo, family="vit", data="", loss=TRANSFORMERS_TYPES[r.config["model_type"]].loss,
                resolution=int(size[0] if isinstance(size, (list, tuple)) else size))


_SPECS: dict[tuple, ModelSpec] = {}  # (name, commit, second repos, config) -> spec, built once


def resolve(name: str) -> ModelSpec:
    """The ModelSpec of a `hf-hub:` name: its format detected, its revision resolved to a commit, its factors
    from its config (reads the config files only, never the weights)."""
    r = repo_of(name)
    key = (name, r.commit, r.aux, json.dumps(r.config, sort_keys=True, default=str))
    if key not in _SPECS:
        _SPECS[key] = _spec(r)
    return _SPECS[key]


def _spec(r: Repo) -> ModelSpec:
    name = r.name
    fields = _open_clip_fields(r) if r.format == "open_clip" else _transformers_fields(r)
    notes = f"{r.format} format, {r.repo}@{r.commit[:12]}"
    if r.format == "transformers":
        notes += f" (model_type {r.config['model_type']})"
    return ModelSpec(name=name, source=SOURCE, pretrained=r.pinned(), revision=r.commit, notes=notes, **fields)


# ----------------------------------------------------------------- files and loading
def _files(name: str, repo: str, commit: str, names: tuple[str, ...], verify: bool = False) -> dict[str, Path]:
    local = hubcache.offline()
    out = {}
    for f in names:
        p = _get(name, repo, f, commit, commit, local, verify)
        if p is not None:
            out[f] = p
    return out


def _first(name: str, repo: str, commit: str, names: tuple[str, ...], verify: bool = False) -> Path:
    for f in names:
        got = _files(name, repo, commit, (f,), verify)
        if got:
            return got[f]
    raise CheckpointError(f"{name}: {repo}@{commit[:10]} has none of {', '.join(names)} (the weights)")


def fetch(spec: ModelSpec, verify: bool = False) -> dict[str, Path]:
    """Every file the model reads, in the hub cache at its resolved commits (each checked against the hub's hash:
    new ones always, cached ones too with `verify`): {role or file name: path}."""
    r = _checked(spec)
    if r.format == "open_clip":
        got = {"config": hubcache.cached(r.repo, OPEN_CLIP_CONFIG, r.commit),
               "weights": _first(spec.name, r.repo, r.commit, OPEN_CLIP_WEIGHTS, verify)}
        for other, commit, role in r.aux:
            names = (HF_CONFIG,) if role == "text" else TOKENIZER_FILES
            for f, p in _files(spec.name, other, commit, names, verify).items():
                got[f"{role}:{f}"] = p
        return got
    got = {"config": hubcache.cached(r.repo, HF_CONFIG, r.commit),
           "weights": _first(spec.name, r.repo, r.commit, HF_WEIGHTS, verify)}
    got.update(_files(spec.name, r.repo, r.commit, PROCESSOR_FILES + TOKENIZER_FILES, verify))
    return got


def ensure(spec: ModelSpec, verify_cached: bool = False) -> Path:
    """`clipstudy fetch model hf-hub:...`: every file of the model into the hub cache; returns its snapshot."""
    files = fetch(spec, verify=verify_cached)
    return hubcache.snapshot_of(files["config"], OPEN_CLIP_CONFIG if _checked(spec).format == "open_clip" else HF_CONFIG)


def _checked(spec: ModelSpec) -> Repo:
    r = repo_of(spec.name)
    if r.commit != spec.revision:
        raise ClipstudyError(f"{spec.name}: it resolved to commit {spec.revision[:10]} before and to {r.commit[:10]} "
                             "now (the repo changed in between); run again")
    return r


def weights_identity(r: Repo, weights: Path) -> str:
    """What names the loaded weights without hashing the parameters: the repo, its commit, the weights file's blob
    (its sha256 on the hub) and the second repos' commits, with the library versions that build the model."""
    import open_clip
    import torch
    import transformers

    from ...store import digest

    return digest(["hf-hub", r.repo, r.commit, Path(weights).resolve().name, list(map(list, r.aux)), r.format,
                   open_clip.__version__, transformers.__version__, torch.__version__], 16)


def load(spec: ModelSpec, device: str) -> Loaded:
    """The model, its preprocessing and tokenizer, read as its own library reads the repo."""
    r = _checked(spec)
    files = fetch(spec)
    loader = _load_open_clip if r.format == "open_clip" else _load_transformers
    model, preprocess, tokenizer, transform_id = loader(spec, r, files, device)
    return Loaded(model, preprocess, tokenizer, spec, device, weights_id=weights_identity(r, files["weights"]),
                  transform_id=transform_id, extra={"repo": r.repo, "commit": r.commit, "format": r.format})


def model_folder(spec: ModelSpec, r: Repo, files: dict[str, Path]) -> Path:
    """An open_clip model folder (`local-dir:`) of the repo's files at their commits: links to the weights and the
    tokenizer files in the hub cache, and its config with a text tower named in a second repo pointed at that
    repo's snapshot. Named by what it links to (another hub cache is another folder), written once, atomically;
    a folder whose links no longer resolve is written again."""
    import os
    import shutil
    import tempfile

    from ...config import cache_root
    from ...store import digest

    config = json.loads(json.dumps(r.config))
    text = config["model_cfg"].get("text_cfg") or {}
    for other, commit, role in r.aux:
        if role == "text":
            text["hf_model_name"] = str(hubcache.snapshot_of(files[f"text:{HF_CONFIG}"], HF_CONFIG))
    links = {files["weights"].name: files["weights"].resolve()}
    links.update({k.split(":", 1)[1]: p.resolve() for k, p in files.items() if k.startswith("tokenizer:")})
    ident = digest([r.repo, r.commit, list(map(list, r.aux)), sorted((k, str(v)) for k, v in links.items()), config], 12)
    folder = cache_root() / "hf-hub" / f"{r.repo.replace('/', '--')}--{r.commit[:12]}-{ident}"
    if (folder / OPEN_CLIP_CONFIG).is_file() and all((folder / k).exists() for k in links):
        return folder
    if folder.exists():  # its links point into a hub cache that is gone: write it again
        shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        for k, target in links.items():
            os.symlink(target, tmp / k)
        (tmp / OPEN_CLIP_CONFIG).write_text(json.dumps(config, indent=1))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process wrote it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _load_open_clip(spec: ModelSpec, r: Repo, files: dict[str, Path], device: str):
    import open_clip

    folder = model_folder(spec, r, files)
    name = f"local-dir:{folder}"
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as e:  # open_clip raises RuntimeError/KeyError/ValueError/...: say it in plain words
        raise CheckpointError(f"{spec.name}: open_clip could not build {r.repo}@{r.commit[:10]} "
                              f"({type(e).__name__}: {e})") from e
    return model.eval(), preprocess, tokenizer, repr(preprocess)[:2000]


class TransformersClip:
    """Factories of the engine's view of a transformers CLIP: `encode_image`, `encode_text` and `logit_scale`."""

    @staticmethod
    def module(model: Any) -> Any:
        import torch

        class HFClip(torch.nn.Module):
            """A transformers CLIP/SigLIP as the engine sees a CLIP: `encode_image(pixel_values)` is
            `get_image_features`, `encode_text(tokens)` is `get_text_features` (tokens carry their attention mask as
            a second channel when the tokenizer gives one), `logit_scale` is the model's own (log scale)."""

            def __init__(self, inner: Any):
                super().__init__()
                self.model = inner

            @property
            def logit_scale(self) -> Any:
                return self.model.logit_scale

            def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
                return self.model.get_image_features(pixel_values=pixel_values)

            def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
                if tokens.dim() == 3:
                    return self.model.get_text_features(input_ids=tokens[:, 0], attention_mask=tokens[:, 1])
                return self.model.get_text_features(input_ids=tokens)

        return HFClip(model)


class ImageProcessorTransform:
    """The repo's image processor on one PIL image: its resize, crop, rescale and normalisation, as
    `AutoProcessor(images=...)` applies them."""

    def __init__(self, image_processor: Any):
        self.image_processor = image_processor

    def __call__(self, image: Any) -> Any:
        return self.image_processor(images=image, return_tensors="pt")["pixel_values"][0]

    def __repr__(self) -> str:
        cfg = self.image_processor.to_dict()
        return f"{type(self.image_processor).__name__}({json.dumps(cfg, sort_keys=True, default=str)})"


class ProcessorTokenizer:
    """The repo's tokenizer with the padding its model card documents: texts -> input ids [N, L], or ids and
    attention mask stacked as [N, 2, L] when the tokenizer gives a mask (what `HFClip.encode_text` reads)."""

    def __init__(self, tokenizer: Any, padding: bool | str):
        self.tokenizer, self.padding = tokenizer, padding

    def __call__(self, texts: Any) -> Any:
        import torch

        texts = [texts] if isinstance(texts, str) else list(texts)
        out = self.tokenizer(texts, padding=self.padding, truncation=True, return_tensors="pt")
        ids = out["input_ids"]
        mask = out.get("attention_mask")
        return ids if mask is None else torch.stack([ids, mask.to(ids.dtype)], dim=1)

    def __repr__(self) -> str:
        return f"ProcessorTokenizer({type(self.tokenizer).__name__}, padding={self.padding!r})"


def _load_transformers(spec: ModelSpec, r: Repo, files: dict[str, Path], device: str):
    from transformers import AutoModel, AutoProcessor

    folder = hubcache.snapshot_of(files["config"], HF_CONFIG)
    kind = TRANSFORMERS_TYPES[r.config["model_type"]]
    try:
        model = AutoModel.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    except Exception as e:  # transformers raises OSError/ValueError/ImportError (a missing tokenizer backend)...
        raise CheckpointError(f"{spec.name}: transformers could not read {r.repo}@{r.commit[:10]} "
                              f"({type(e).__name__}: {e})") from e
    image_processor = getattr(processor, "image_processor", None)
    tokenizer = getattr(processor, "tokenizer", None)
    if image_processor is None or tokenizer is None:
        raise CheckpointError(f"{spec.name}: {r.repo} has no image processor and tokenizer "
                              "(preprocessor_config.json and the tokenizer files) for AutoProcessor to read")
    transform = ImageProcessorTransform(image_processor)
    tok = ProcessorTokenizer(tokenizer, kind.padding)
    wrapped = TransformersClip.module(model).to(device).eval()
    return wrapped, transform, tok, f"transformers|{transform!r}|{tok!r}"[:4000]


registry.register_resolver("hf-hub:ORG/REPO[@REVISION]", resolve, prefix=PREFIX)
registry.register_source(SOURCE, load, fetch=ensure)
