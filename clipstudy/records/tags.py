"""Six-factor tags derived from model names and pretrained tags (small pure functions).

Tag columns (shared by every records frame):
  family        image tower: vit | resnet | convnext | other (clipstudy.factors: the registry's vocabulary; EVA is a vit)
  data          training source (openai-wit, laion400m, laion2b, datacomp-1b, commonpool-xl-clip, dfn-5b, ...)
  dataset_size  images in that source (NaN where the tag does not say, e.g. filtered CommonPool)
  samples_seen  images seen in training: `sNNb` in the tag, or epochs x size for `eNN` tags
  finetuned     weights were fine-tuned after pre-training (ImageNet for timm CLIP-FT; MSCOCO or
                higher resolution for a few open_clip tags, see `finetune_data`)
  loss          clip | siglip | coca (NaN for ImageNet-trained models)
  resolution    input side in pixels
  group         zero-shot CLIP | CLIP fine-tuned | ImageNet model | human | LMM
  kind          who decides: human | model | lmm (KINDS)
  prompts       the test-time prompts (PROMPTS): ensemble80 (the 80 OpenAI ImageNet templates, averaged),
                bare-name (the class name alone), one-template ("a photo of a {}."), vqa (a multiple-choice
                question to an LMM), caption (an LMM's free caption, classified afterwards); NaN where
                the source does not say or prompts do not apply (classifiers, humans)

A model the rules below do not know keeps its row: its unknown tags are "unknown" (strings) or NaN
(numbers) and `tagged` is False, so it is counted (`decisions.unknown_models`), never dropped.
Sizes are the published sizes of each source; they are metadata about the training sets, not results.
"""
from __future__ import annotations

import math
import re

from .. import data_sources as DS, factors as F

NAN = float("nan")

ZS_CLIP, CLIP_FT, IMAGENET, HUMAN = "zero-shot CLIP", "CLIP fine-tuned", "ImageNet model", "human"
LMM = "LMM"
UNKNOWN = "unknown"
GROUPS = (ZS_CLIP, CLIP_FT, IMAGENET, HUMAN, LMM)
KINDS = ("human", "model", "lmm")
ENSEMBLE80, BARE_NAME, ONE_TEMPLATE, VQA, CAPTION = "ensemble80", "bare-name", "one-template", "vqa", "caption"
PROMPTS = (ENSEMBLE80, BARE_NAME, ONE_TEMPLATE, VQA, CAPTION)
TAG_COLUMNS = ["family", "data", "dataset_size", "samples_seen", "finetuned", "finetune_data",
               "loss", "resolution", "group", "kind", "prompts"]

# Published sizes (images) of the training sources, and the rules that tag a model: one vocabulary with the
# model registry (clipstudy.factors), so registry rows and records rows join on family, data and loss.
DATA_SIZES = F.DATA_SIZES
OPENAI_EPOCHS = 32  # Radford et al. 2021 train every CLIP for 32 epochs over WIT-400M

_DATA_RULES = F.DATA_RULES  # (regex on the pretrained tag, data source); first match wins

_SCALE = {"b": 1e9, "m": 1e6, "k": 1e3}


def _samples(tag: str) -> float:
    m = re.search(r"(?:^|_)s(\d+(?:\.\d+)?)([bmk])(?:_|$)", tag)
    return float(m.group(1)) * _SCALE[m.group(2)] if m else NAN


def parse_pretrained(tag: str, model: str = "") -> dict:
    """open_clip pretrained tag -> data, dataset_size, samples_seen, finetuned, finetune_data."""
    t = tag.lower()
    out = {"data": None, "dataset_size": NAN, "samples_seen": NAN, "finetuned": False, "finetune_data": None}
    if t.startswith("frozen_"):          # frozen (pre-trained) text tower; same image data
        t = t[len("frozen_"):]
    if t.startswith("mscoco_finetuned_"):
        t = t[len("mscoco_finetuned_"):]
        out.update(finetuned=True, finetune_data="mscoco")
    out["data"] = F.data_of(t)
    if out["data"] is None and t == "v1" and model.startswith("nllb-clip"):
        out["data"] = "laion-coco-nllb"  # NLLB-CLIP: LAION-COCO captions translated by NLLB
    out["dataset_size"] = DATA_SIZES.get(out["data"], NAN) if out["data"] else NAN
    out["samples_seen"] = _samples(t)
    ep = re.search(r"(?:^|_)e(\d+)(?:_|$)", t)
    if math.isnan(out["samples_seen"]):
        if ep and not math.isnan(out["dataset_size"]):
            out["samples_seen"] = int(ep.group(1)) * out["dataset_size"]
        elif out["data"] == "openai-wit":
            out["samples_seen"] = OPENAI_EPOCHS * out["dataset_size"]
    if re.search(r"_ft(?:_soup)?$", t):  # convnext_large_d_320 ..._ft: higher-resolution fine-tune, same data
        out.update(finetuned=True, finetune_data=out["data"])
    return out


loss_from_name = F.loss_of  # coca_* -> coca; *SigLIP* -> siglip; otherwise clip
family_from_name = F.family_of  # vit | resnet | convnext | other (EVA, DeiT, BEiT are ViTs)


def resolution_from_name(name: str, default: int = 224) -> int:
    """`-336`, `_320`, `-plus-240`, `_384` suffixes; RN50xN sizes; else `default`."""
    m = re.search(r"(?:[-_])(2[4-9]\d|[3-5]\d\d)(?=$|[-_.])", name)
    if m:
        return int(m.group(1))
    # names that do not carry their resolution (open_clip's model_configs)
    known = {"RN50x4": 288, "RN50x16": 384, "RN50x64": 448, "convnext_base_w": 256, "convnext_large_d": 256,
             "convnext_xxlarge": 256}
    return known.get(name.split("-")[0], default)


def open_clip_arch(model: str, config: dict | None = None) -> dict:
    """Family and resolution of an open_clip model; `config` is open_clip's model config if known."""
    vision = (config or {}).get("vision_cfg", {})
    if vision:
        timm_name = vision.get("timm_model_name") or ""
        if "convnext" in timm_name:
            family = "convnext"
        elif isinstance(vision.get("layers"), (list, tuple)):
            family = "resnet"  # open_clip's ModifiedResNet
        else:
            family = "vit"
        res = int(vision.get("image_size") if not isinstance(vision.get("image_size"), (list, tuple))
                  else vision["image_size"][0])
    else:
        family, res = family_from_name(model), resolution_from_name(model)
    return {"family": family, "resolution": res}


def open_clip_tags(model: str, pretrained: str, config: dict | None = None) -> dict:
    """All tag columns for one open_clip (model, pretrained) pair; every one is zero-shot."""
    tags = {**open_clip_arch(model, config), **parse_pretrained(pretrained, model)}
    tags.update(loss=loss_from_name(model), group=ZS_CLIP, kind="model", prompts=None)
    return tags


# ---- timm names: "<arch>.<pretrained tag>" ----------------------------------------------------

_TIMM_DATA = list(DS.TIMM_RULES)  # (token regex in the tag, data source); first match wins (clipstudy.data_sources)


def is_clip_ft(name: str) -> bool:
    """timm CLIP (and SigLIP) towers fine-tuned on ImageNet: 'clip'/'siglip' in the name and a
    `ft_in1k` / `ft_in12k` tag. SigLIP is included because it is an image-text model too."""
    n = name.lower()
    return ("clip" in n or "siglip" in n) and bool(re.search(r"ft_in1k|ft_in12k", n))


def timm_tags(name: str, img_size: float | None = None) -> dict:
    """Tag columns for a timm results name such as `vit_base_patch16_clip_224.openai_ft_in1k`."""
    arch, _, tag = name.partition(".")
    clip = is_clip_ft(name)
    data = "imagenet-1k"
    if "clip_ft" in tag and arch.startswith("eva"):
        data = "eva-clip"  # EVA-CLIP weights (laion400m/merged data), then ImageNet fine-tune
    else:
        data = DS.of_timm_tag(tag) or data
    res = int(img_size) if img_size is not None and not math.isnan(img_size) else resolution_from_name(arch)
    return {
        "family": family_from_name(arch), "data": data, "dataset_size": DATA_SIZES.get(data, NAN),
        "samples_seen": NAN, "finetuned": clip or "ft_" in tag,
        "finetune_data": ("imagenet-12k+1k" if "in12k" in tag else "imagenet-1k") if clip else None,
        "loss": loss_from_name(arch) if clip else None, "resolution": res,
        "group": CLIP_FT if clip else IMAGENET, "kind": "model", "prompts": None,
    }


# ---- ImageNet-X testbed names -------------------------------------------------------------------

IMAGENET_X_ZS_CLIP = {"vit_b_32_clip_zeroshot": "vit", "resnet50_clip_zeroshot": "resnet",
                      "clip": "vit", "clipRN50": "resnet"}


def imagenet_x_tags(name: str) -> dict:
    """The four zero-shot OpenAI CLIPs of the ImageNet-X tables vs every other (ImageNet) model.
    `resnet50_clip_{hard,soft}_labels` are ResNet-50s trained on ImageNet with CLIP-made labels."""
    if name in IMAGENET_X_ZS_CLIP:
        return {"family": IMAGENET_X_ZS_CLIP[name], "data": "openai-wit", "dataset_size": DATA_SIZES["openai-wit"],
                "samples_seen": OPENAI_EPOCHS * DATA_SIZES["openai-wit"], "finetuned": False,
                "finetune_data": None, "loss": "clip", "resolution": 224, "group": ZS_CLIP, "kind": "model",
                "prompts": None}
    return {"family": family_from_name(name), "data": None, "dataset_size": NAN, "samples_seen": NAN,
            "finetuned": False, "finetune_data": None, "loss": None, "resolution": NAN, "group": IMAGENET,
            "kind": "model", "prompts": None}


REQUIRED_OPEN_CLIP_TAGS = ["family", "data", "loss", "resolution", "group", "finetuned"]


# ---- decision records: model-vs-human names, Gavrikov et al.'s file names, LMMs ------------------

def unknown_tags(name: str, kind: str = UNKNOWN, group: str = UNKNOWN, prompts: str | None = None) -> dict:
    """Tags of a decider the rules do not know: kept and counted, never guessed (`arch` is its name)."""
    return {"family": UNKNOWN, "data": UNKNOWN, "dataset_size": NAN, "samples_seen": NAN, "finetuned": None,
            "finetune_data": None, "loss": None, "resolution": NAN, "group": group, "kind": kind,
            "prompts": prompts, "arch": name, "tagged": False}


def human_tags() -> dict:
    """A human observer: no model factors apply."""
    return {"family": None, "data": None, "dataset_size": NAN, "samples_seen": NAN, "finetuned": None,
            "finetune_data": None, "loss": None, "resolution": NAN, "group": HUMAN, "kind": "human",
            "prompts": None, "arch": "human", "tagged": True}


def _imagenet_model(arch: str, family: str, data: str = "imagenet-1k", finetune_data: str | None = None) -> dict:
    return {"family": family, "data": data, "dataset_size": DATA_SIZES.get(data, NAN), "samples_seen": NAN,
            "finetuned": finetune_data is not None, "finetune_data": finetune_data, "loss": None,
            "resolution": NAN, "group": IMAGENET, "kind": "model", "prompts": None, "arch": arch, "tagged": True}


def _clip(model: str, pretrained: str, prompts: str | None, arch: str | None = None) -> dict:
    t = open_clip_tags(model, pretrained)
    t.update(prompts=prompts, arch=arch or model, tagged=t["data"] is not None)
    return t


# model-vs-human decider names (file names of the `swag` branch and of the CLIP fork). The fork's CLIPs
# decide through model-vs-human's ImageNet head: a 1000-way zero-shot head built from the 80 OpenAI
# templates (wrappers/pytorch.py, ClipPytorchModel), mapped to the 16 categories.
MVH_MODELS: dict[str, dict] = {
    "resnet50": _imagenet_model("ResNet-50", "resnet"),
    "bagnet33": _imagenet_model("BagNet-33", "resnet"),
    "simclr-resnet50x1": _imagenet_model("ResNet-50 (SimCLR, linear read-out)", "resnet"),
    "clip": _clip("ViT-B-32", "openai", ENSEMBLE80, "CLIP ViT-B/32"),
    "clip-16": _clip("ViT-B-16", "openai", ENSEMBLE80, "CLIP ViT-B/16"),
    "clip-14": _clip("ViT-L-14", "openai", ENSEMBLE80, "CLIP ViT-L/14"),
}
# SWAG (Singh et al. 2022): weakly supervised on Instagram-3.6B hashtags, then fine-tuned on ImageNet-1k
_SWAG = re.compile(r"^swag-(vit-[bhl]\d+|regnety-\d+gf)-in1k$")


def mvh_tags(name: str) -> dict:
    """Tags of a model-vs-human decider from its file name: `subject-NN` is a human observer."""
    if re.fullmatch(r"subject-\d+", name):
        return human_tags()
    if name in MVH_MODELS:
        return dict(MVH_MODELS[name])
    m = _SWAG.match(name)
    if m:
        tower, size = m.group(1).split("-")
        return _imagenet_model(f"SWAG {dict(vit='ViT', regnety='RegNetY')[tower]}-{size.upper()}",
                               family_from_name(tower), data="instagram-3.6b", finetune_data="imagenet-1k")
    return unknown_tags(name, kind="model")


# Gavrikov et al.'s zero-shot CLIP files: raw-data/clip/<model>_<prompt set>.csv (eval_clip.py, --template)
GAVRIKOV_PROMPTS = {"None": ENSEMBLE80, "CLS": BARE_NAME, "a_photo_of_a_CLS.": ONE_TEMPLATE}
# a model whose name carries no open_clip pretrained tag. EVA-CLIP-8B (Sun et al. 2024, "EVA-CLIP-18B"):
# an 8B-parameter EVA ViT trained on Merged-2B (LAION-2B + COYO-700M); this file evaluates it at 448 px.
GAVRIKOV_KNOWN = {
    "BAAI_EVA_CLIP_8B_448_None": {
        "family": "vit", "data": "merged-2b", "dataset_size": DATA_SIZES["merged-2b"], "samples_seen": NAN,
        "finetuned": False, "finetune_data": None, "loss": "clip", "resolution": 448, "group": ZS_CLIP,
        "kind": "model", "arch": "EVA-CLIP-8B-448", "tagged": True},
}


def split_prompt(stem: str) -> tuple[str, str | None]:
    """'clip_RN50_openai_CLS' -> ('clip_RN50_openai', 'bare-name'); an unknown suffix -> (stem, None)."""
    for suffix, prompts in sorted(GAVRIKOV_PROMPTS.items(), key=lambda kv: -len(kv[0])):
        if stem.endswith("_" + suffix):
            return stem[: -len(suffix) - 1], prompts
    return stem, None


def gavrikov_clip_tags(model: str, prompts: str | None) -> dict:
    """Tags of a zero-shot CLIP named like open_clip with underscores: `<arch>_<pretrained tag>`,
    e.g. `EVA02_E_14_plus_laion2b_s9b_b144k` -> (EVA02-E-14-plus, laion2b_s9b_b144k); OpenAI's
    CLIPs are `clip_RN50_openai` or `ViT_L_14_openai`."""
    if model in GAVRIKOV_KNOWN:
        return {**GAVRIKOV_KNOWN[model], "prompts": prompts}
    tokens = model.split("_")
    for i in range(1, len(tokens)):
        tag = "_".join(tokens[i:])
        if parse_pretrained(tag)["data"] is not None:
            arch_tokens = tokens[1:i] if tokens[0] == "clip" else tokens[:i]
            arch = "-".join(arch_tokens)
            return _clip(arch, tag, prompts, arch=f"{arch} ({tag})")
    return unknown_tags(model, kind="model", group=ZS_CLIP, prompts=prompts)


# timm's CLIP towers -> open_clip architecture names (for pairing a fine-tuned CLIP with its zero-shot self)
TIMM_CLIP_ARCH = {"vit_base_patch32_clip_224": "ViT-B-32", "vit_base_patch16_clip_224": "ViT-B-16",
                  "vit_large_patch14_clip_224": "ViT-L-14", "vit_large_patch14_clip_336": "ViT-L-14-336"}


def zero_shot_base(timm_name: str) -> str | None:
    """The zero-shot CLIP a timm CLIP fine-tune starts from, in Gavrikov et al.'s file naming:
    `vit_large_patch14_clip_336.openai_ft_in12k_in1k` -> `ViT_L_14_336_openai`; None if unknown."""
    arch, _, tag = timm_name.partition(".")
    pretrained = tag.split("_ft")[0] if "_ft" in tag else None
    if arch not in TIMM_CLIP_ARCH or not pretrained:
        return None
    return TIMM_CLIP_ARCH[arch].replace("-", "_") + "_" + pretrained


def classifier_tags(timm_name: str) -> dict:
    """An ImageNet classifier named by timm (`vit_large_patch14_clip_224.openai_ft_in1k`); `tv_resnet50`
    is torchvision's ResNet-50 in timm's old naming. CLIP fine-tunes get `zs_base` (`zero_shot_base`)."""
    t = timm_tags(timm_name)
    t.update(arch=timm_name, tagged=t["family"] != "other" or t["group"] == CLIP_FT,
             zs_base=zero_shot_base(timm_name) if t["group"] == CLIP_FT else None)
    return t


# LMMs of Gavrikov et al. and the zero-shot CLIP (a file stem of raw-data/clip/, without the prompt
# suffix) their vision tower starts from, with the source of that fact. Towers not among those CLIPs
# are named in words only; LMMs whose tower is not public are absent (tagged unknown).
OPENAI_L14_336, OPENAI_L14 = "ViT_L_14_336_openai", "ViT_L_14_openai"
EVA01_G14, EVA02_E14P = "EVA01_g_14_laion400m_s11b_b41k", "EVA02_E_14_plus_laion2b_s9b_b144k"
LMM_TOWERS: dict[str, tuple[str | None, str, str]] = {
    # name: (CLIP stem or None, tower in words, where it is stated)
    "llava_1_5_7b": (OPENAI_L14_336, "OpenAI CLIP ViT-L/14-336, frozen", "LLaVA-1.5 paper (Liu et al. 2023)"),
    "llava_1_5_13b": (OPENAI_L14_336, "OpenAI CLIP ViT-L/14-336, frozen", "LLaVA-1.5 paper (Liu et al. 2023)"),
    "llava_1_6_vicuna_7b": (OPENAI_L14_336, "OpenAI CLIP ViT-L/14-336", "LLaVA-NeXT (LLaVA-1.6) release notes"),
    "llava_1_6_vicuna_13b": (OPENAI_L14_336, "OpenAI CLIP ViT-L/14-336", "LLaVA-NeXT (LLaVA-1.6) release notes"),
    "llava_1_6_34b": (OPENAI_L14_336, "OpenAI CLIP ViT-L/14-336", "LLaVA-NeXT (LLaVA-1.6) release notes"),
    "llava_rlhf_1_5_7b": (OPENAI_L14, "OpenAI CLIP ViT-L/14 (224 px)", "checkpoint LLaVA-RLHF-7b-v1.5-224"),
    "llava_rlhf_1_5_13b": (OPENAI_L14_336, "OpenAI CLIP ViT-L/14-336", "checkpoint LLaVA-RLHF-13b-v1.5-336"),
    "moe_llava_stablelm": (OPENAI_L14_336, "OpenAI CLIP ViT-L/14-336", "MoE-LLaVA paper (Lin et al. 2024)"),
    "moe_llava_qwen": (OPENAI_L14_336, "OpenAI CLIP ViT-L/14-336", "MoE-LLaVA paper (Lin et al. 2024)"),
    "moe_llava_phi2": (OPENAI_L14_336, "OpenAI CLIP ViT-L/14-336", "MoE-LLaVA paper (Lin et al. 2024)"),
    "instructblip_vicuna_7b": (EVA01_G14, "EVA01-CLIP ViT-g/14, frozen, penultimate layer",
                               "BLIP-2 / InstructBLIP papers (Li et al. 2023; Dai et al. 2023)"),
    "instructblip_flan_t5_xl": (EVA01_G14, "EVA01-CLIP ViT-g/14, frozen, penultimate layer",
                                "BLIP-2 / InstructBLIP papers (Li et al. 2023; Dai et al. 2023)"),
    "emu2_chat": (EVA02_E14P, "initialised from EVA02-CLIP-E/14+", "Emu2 paper (Sun et al. 2023)"),
    "qwen_vl_plus": (None, "not public", "Qwen-VL-Plus is an API model"),
    "qwen_vl_max": (None, "not public", "Qwen-VL-Max is an API model"),
    "qwen_chat": (None, "OpenCLIP ViT-bigG/14 (not among the CLIPs here)", "Qwen-VL paper (Bai et al. 2023)"),
    "internvl_chat": (None, "InternViT-6B (not among the CLIPs here)", "InternVL paper (Chen et al. 2024)"),
    "internvl_chat_1_2_plus": (None, "InternViT-6B (not among the CLIPs here)", "InternVL paper (Chen et al. 2024)"),
    "cogvlm_chat": (None, "EVA2-CLIP-E (not among the CLIPs here)", "CogVLM paper (Wang et al. 2023)"),
    "cogagent_chat": (None, "EVA2-CLIP-E (not among the CLIPs here)", "CogAgent paper (Hong et al. 2023)"),
}


def lmm_tags(name: str, prompts: str) -> dict:
    """An LMM: the architecture and data tags are its vision tower's where that tower is one of the
    zero-shot CLIPs of the same source; `encoder` names that CLIP (else None)."""
    if name not in LMM_TOWERS:
        return {**unknown_tags(name, kind="lmm", group=LMM, prompts=prompts), "encoder": None, "encoder_note": None}
    stem, words, source = LMM_TOWERS[name]
    if stem is None:
        t = unknown_tags(name, kind="lmm", group=LMM, prompts=prompts)
        t["tagged"] = True  # known LMM, tower outside this source: its tower tags stay unknown
    else:
        t = dict(gavrikov_clip_tags(stem, prompts))
        t.update(group=LMM, kind="lmm", loss=None, finetuned=None)
    t.update(arch=name, prompts=prompts, encoder=stem, encoder_note=f"{words} ({source})")
    return t


# ---- cood_benchmarking names (Galil, Dabbah & El-Yaniv, ICLR 2023) -------------------------------
# `CLIP_<arch>` are OpenAI's zero-shot CLIPs, `CLIP_finetuned_<arch>` the same CLIPs fine-tuned on ImageNet
# (the source does not say how: `finetune_recipe` is "unknown"); every other name is an ImageNet classifier
# named by timm or torchvision (`_torchvision`). `~` in a name stands for `/`.
COOD_CLIP = re.compile(r"^CLIP_(finetuned_)?(.+)$")
# (regex on an ImageNet classifier's name, pre-training data, whether it was then fine-tuned on ImageNet-1k);
# first match wins, else ImageNet-1k only. Only what the name says is read: older timm default weights whose
# name carries no data token (e.g. the ViT AugReg, BEiT or Swin-B/L defaults) stay "imagenet-1k".
_COOD_DATA = [
    (r"facebookSWAG", "instagram-3.6b", True),             # SWAG: IG-3.6B hashtags, then ImageNet-1k
    (r"^ig_", "instagram-1b", True), (r"^swsl_", "instagram-1b", True),  # IG-1B hashtags (semi-weakly supervised)
    (r"^ssl_", "yfcc100m", True),                          # semi-supervised on YFCC100M, then ImageNet-1k
    (r"^tf_efficientnet.*_ns(?:_|$)", "jft-300m", False),  # Noisy Student: unlabelled JFT-300M, trained jointly
    (r"in22ft1k|in21ft1k|22kft1k|_in21k|bitm|bit_teacher|_miil", "imagenet-21k", True),
]


def cood_clip_arch(name: str) -> str | None:
    """`CLIP_ViT-L~14@336px` / `CLIP_finetuned_ViT-L~14@336px` -> open_clip's `ViT-L-14-336`; None if not a CLIP."""
    m = COOD_CLIP.match(name)
    if not m:
        return None
    arch = m.group(2).replace("~", "-")
    return re.sub(r"@(\d+)px$", r"-\1", arch)


def cood_parent(name: str) -> str | None:
    """The zero-shot CLIP a `CLIP_finetuned_<arch>` starts from (`CLIP_<arch>`); None for every other name."""
    m = COOD_CLIP.match(name)
    return f"CLIP_{m.group(2)}" if m and m.group(1) else None


def cood_tags(name: str, config: dict | None = None) -> dict:
    """Tag columns of a cood_benchmarking model name, plus `arch`, `pretrained` and `finetune_recipe`.
    `config` is open_clip's model config of a CLIP's architecture (family and resolution), if known."""
    arch = cood_clip_arch(name)
    if arch is not None:
        t = {**open_clip_tags(arch, "openai", config), "arch": arch, "pretrained": "openai", "finetune_recipe": None}
        if cood_parent(name):  # pre-training tags stay the parent's; the ImageNet fine-tune is on top
            t.update(finetuned=True, finetune_data="imagenet-1k", group=CLIP_FT, finetune_recipe=UNKNOWN)
        return t
    data, ft = "imagenet-1k", False
    for pat, d, tuned in _COOD_DATA:
        if re.search(pat, name):
            data, ft = d, tuned
            break
    return {"family": family_from_name(name), "data": data, "dataset_size": DATA_SIZES.get(data, NAN),
            "samples_seen": NAN, "finetuned": ft, "finetune_data": "imagenet-1k" if ft else None, "loss": None,
            "resolution": resolution_from_name(name), "group": IMAGENET, "kind": "model", "prompts": None,
            "arch": name, "pretrained": None, "finetune_recipe": None}
