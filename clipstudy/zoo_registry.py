"""The curated zoo of real models, as plain data: open_clip (architecture, pretrained tag) pairs and
timm names, each annotated with the study's factors.

Columns of `OPEN_CLIP` rows: arch, tag, family, data, samples_seen, loss, resolution.
Columns of `TIMM` rows: timm name, family, data, samples_seen (of the CLIP pre-training), resolution.
`DATA_SIZES` gives the size of each training-data source (image-text pairs in the pool).

Sources of the numbers: the tags themselves (`s34b` = 34B samples seen, `e32` = 32 epochs),
open_clip's `docs/PRETRAINED.md` and model cards, the DataComp paper (pool scales small 12.8M,
medium 128M, large 1.28B, xlarge 12.8B samples seen = pool size), and the original papers for
OpenAI CLIP (32 epochs over 400M pairs), SigLIP (40B samples on WebLI) and DFN. Values marked
approximate in `NOTES` are epoch-count x dataset-size estimates.
"""
from __future__ import annotations

B, M = 1e9, 1e6

# data source -> number of image-text pairs (the training pool)
DATA_SIZES: dict[str, float] = {
    "openai-wit": 400 * M, "laion400m": 400 * M, "laion2b": 2.32 * B, "laion5b": 5.85 * B,
    "datacomp-1b": 1.4 * B, "datacomp-l": 140 * M, "datacomp-m": 14 * M, "datacomp-s": 1.4 * M,
    "commonpool-xl": 12.8 * B, "commonpool-l": 1.28 * B, "commonpool-m": 128 * M, "commonpool-s": 12.8 * M,
    "dfn-2b": 2 * B, "dfn-5b": 5 * B, "metaclip-400m": 400 * M, "metaclip-2.5b": 2.5 * B,
    "yfcc15m": 15 * M, "cc12m": 12 * M, "webli": 10 * B, "merged-2b": 2 * B,
}

# (arch, pretrained tag, family, data, samples_seen, loss, resolution)
OPEN_CLIP: list[tuple] = [
    # --- OpenAI WIT: the ResNet and ViT ladders
    ("RN50", "openai", "resnet", "openai-wit", 12.8 * B, "clip", 224),
    ("RN101", "openai", "resnet", "openai-wit", 12.8 * B, "clip", 224),
    ("RN50x4", "openai", "resnet", "openai-wit", 12.8 * B, "clip", 288),
    ("RN50x16", "openai", "resnet", "openai-wit", 12.8 * B, "clip", 384),
    ("RN50x64", "openai", "resnet", "openai-wit", 12.8 * B, "clip", 448),
    ("ViT-B-32", "openai", "vit", "openai-wit", 12.8 * B, "clip", 224),
    ("ViT-B-16", "openai", "vit", "openai-wit", 12.8 * B, "clip", 224),
    ("ViT-L-14", "openai", "vit", "openai-wit", 12.8 * B, "clip", 224),
    ("ViT-L-14-336", "openai", "vit", "openai-wit", 12.8 * B, "clip", 336),
    # --- small curated sets (ResNets, 32 epochs)
    ("RN50", "yfcc15m", "resnet", "yfcc15m", 32 * 15 * M, "clip", 224),
    ("RN101", "yfcc15m", "resnet", "yfcc15m", 32 * 15 * M, "clip", 224),
    ("RN50", "cc12m", "resnet", "cc12m", 32 * 12 * M, "clip", 224),
    # --- LAION-400M vs LAION-2B
    ("ViT-B-32", "laion400m_e32", "vit", "laion400m", 32 * 400 * M, "clip", 224),
    ("ViT-B-16", "laion400m_e32", "vit", "laion400m", 32 * 400 * M, "clip", 224),
    ("ViT-B-16-plus-240", "laion400m_e32", "vit", "laion400m", 32 * 400 * M, "clip", 240),
    ("ViT-L-14", "laion400m_e32", "vit", "laion400m", 32 * 400 * M, "clip", 224),
    ("ViT-B-32", "laion2b_s34b_b79k", "vit", "laion2b", 34 * B, "clip", 224),
    ("ViT-B-16", "laion2b_s34b_b88k", "vit", "laion2b", 34 * B, "clip", 224),
    ("ViT-L-14", "laion2b_s32b_b82k", "vit", "laion2b", 32 * B, "clip", 224),
    ("ViT-H-14", "laion2b_s32b_b79k", "vit", "laion2b", 32 * B, "clip", 224),
    ("ViT-g-14", "laion2b_s34b_b88k", "vit", "laion2b", 34 * B, "clip", 224),
    ("ViT-bigG-14", "laion2b_s39b_b160k", "vit", "laion2b", 39 * B, "clip", 224),
    # --- ConvNeXt
    ("convnext_base", "laion400m_s13b_b51k", "convnext", "laion400m", 13 * B, "clip", 224),
    ("convnext_base_w", "laion2b_s13b_b82k", "convnext", "laion2b", 13 * B, "clip", 256),
    ("convnext_base_w", "laion2b_s13b_b82k_augreg", "convnext", "laion2b", 13 * B, "clip", 256),
    ("convnext_large_d", "laion2b_s26b_b102k_augreg", "convnext", "laion2b", 26 * B, "clip", 256),
    ("convnext_xxlarge", "laion2b_s34b_b82k_augreg", "convnext", "laion2b", 34 * B, "clip", 256),
    # --- EVA
    ("EVA01-g-14", "laion400m_s11b_b41k", "eva", "laion400m", 11 * B, "clip", 224),
    ("EVA02-B-16", "merged2b_s8b_b131k", "eva", "merged-2b", 8 * B, "clip", 224),
    ("EVA02-L-14", "merged2b_s4b_b131k", "eva", "merged-2b", 4 * B, "clip", 224),
    ("EVA02-E-14", "laion2b_s4b_b115k", "eva", "laion2b", 4 * B, "clip", 224),
    # --- DataComp: filtered best pools, small -> xlarge
    ("ViT-B-32", "datacomp_s_s13m_b4k", "vit", "datacomp-s", 12.8 * M, "clip", 224),
    ("ViT-B-32", "datacomp_m_s128m_b4k", "vit", "datacomp-m", 128 * M, "clip", 224),
    ("ViT-B-16", "datacomp_l_s1b_b8k", "vit", "datacomp-l", 1.28 * B, "clip", 224),
    ("ViT-B-32", "datacomp_xl_s13b_b90k", "vit", "datacomp-1b", 12.8 * B, "clip", 224),
    ("ViT-B-16", "datacomp_xl_s13b_b90k", "vit", "datacomp-1b", 12.8 * B, "clip", 224),
    ("ViT-L-14", "datacomp_xl_s13b_b90k", "vit", "datacomp-1b", 12.8 * B, "clip", 224),
    # --- CommonPool: the unfiltered pool and its filters, at each scale
    ("ViT-B-32", "commonpool_s_s13m_b4k", "vit", "commonpool-s", 12.8 * M, "clip", 224),
    ("ViT-B-32", "commonpool_s_basic_s13m_b4k", "vit", "commonpool-s", 12.8 * M, "clip", 224),
    ("ViT-B-32", "commonpool_s_clip_s13m_b4k", "vit", "commonpool-s", 12.8 * M, "clip", 224),
    ("ViT-B-32", "commonpool_s_laion_s13m_b4k", "vit", "commonpool-s", 12.8 * M, "clip", 224),
    ("ViT-B-32", "commonpool_s_image_s13m_b4k", "vit", "commonpool-s", 12.8 * M, "clip", 224),
    ("ViT-B-32", "commonpool_s_text_s13m_b4k", "vit", "commonpool-s", 12.8 * M, "clip", 224),
    ("ViT-B-32", "commonpool_m_s128m_b4k", "vit", "commonpool-m", 128 * M, "clip", 224),
    ("ViT-B-32", "commonpool_m_basic_s128m_b4k", "vit", "commonpool-m", 128 * M, "clip", 224),
    ("ViT-B-32", "commonpool_m_clip_s128m_b4k", "vit", "commonpool-m", 128 * M, "clip", 224),
    ("ViT-B-32", "commonpool_m_laion_s128m_b4k", "vit", "commonpool-m", 128 * M, "clip", 224),
    ("ViT-B-32", "commonpool_m_image_s128m_b4k", "vit", "commonpool-m", 128 * M, "clip", 224),
    ("ViT-B-32", "commonpool_m_text_s128m_b4k", "vit", "commonpool-m", 128 * M, "clip", 224),
    ("ViT-B-16", "commonpool_l_s1b_b8k", "vit", "commonpool-l", 1.28 * B, "clip", 224),
    ("ViT-B-16", "commonpool_l_basic_s1b_b8k", "vit", "commonpool-l", 1.28 * B, "clip", 224),
    ("ViT-B-16", "commonpool_l_clip_s1b_b8k", "vit", "commonpool-l", 1.28 * B, "clip", 224),
    ("ViT-B-16", "commonpool_l_laion_s1b_b8k", "vit", "commonpool-l", 1.28 * B, "clip", 224),
    ("ViT-L-14", "commonpool_xl_s13b_b90k", "vit", "commonpool-xl", 12.8 * B, "clip", 224),
    ("ViT-L-14", "commonpool_xl_clip_s13b_b90k", "vit", "commonpool-xl", 12.8 * B, "clip", 224),
    ("ViT-L-14", "commonpool_xl_laion_s13b_b90k", "vit", "commonpool-xl", 12.8 * B, "clip", 224),
    # --- DFN and MetaCLIP
    ("ViT-B-16", "dfn2b", "vit", "dfn-2b", 12.8 * B, "clip", 224),
    ("ViT-L-14", "dfn2b", "vit", "dfn-2b", 12.8 * B, "clip", 224),
    ("ViT-H-14", "dfn5b", "vit", "dfn-5b", 39 * B, "clip", 224),
    ("ViT-B-32", "metaclip_400m", "vit", "metaclip-400m", 12.8 * B, "clip", 224),
    ("ViT-B-32", "metaclip_fullcc", "vit", "metaclip-2.5b", 12.8 * B, "clip", 224),
    ("ViT-B-16", "metaclip_400m", "vit", "metaclip-400m", 12.8 * B, "clip", 224),
    ("ViT-L-14", "metaclip_fullcc", "vit", "metaclip-2.5b", 12.8 * B, "clip", 224),
    ("ViT-H-14", "metaclip_fullcc", "vit", "metaclip-2.5b", 12.8 * B, "clip", 224),
    # --- other losses: SigLIP (sigmoid) and CoCa (contrastive + captioning)
    ("ViT-B-16-SigLIP", "webli", "vit", "webli", 40 * B, "siglip", 224),
    ("ViT-B-16-SigLIP-384", "webli", "vit", "webli", 40 * B, "siglip", 384),
    ("ViT-L-16-SigLIP-256", "webli", "vit", "webli", 40 * B, "siglip", 256),
    ("ViT-SO400M-14-SigLIP", "webli", "vit", "webli", 40 * B, "siglip", 224),
    ("coca_ViT-B-32", "laion2b_s13b_b90k", "vit", "laion2b", 13 * B, "coca", 224),
    ("coca_ViT-L-14", "laion2b_s13b_b90k", "vit", "laion2b", 13 * B, "coca", 224),
]

# timm CLIP image towers fine-tuned on ImageNet, with their ImageNet classifier heads.
# (timm name, family, data of the CLIP pre-training, samples_seen of that pre-training, resolution)
TIMM: list[tuple] = [
    ("vit_base_patch32_clip_224.openai_ft_in1k", "vit", "openai-wit", 12.8 * B, 224),
    ("vit_base_patch16_clip_224.openai_ft_in1k", "vit", "openai-wit", 12.8 * B, 224),
    ("vit_base_patch16_clip_224.openai_ft_in12k_in1k", "vit", "openai-wit", 12.8 * B, 224),
    ("vit_base_patch16_clip_384.openai_ft_in12k_in1k", "vit", "openai-wit", 12.8 * B, 384),
    ("vit_large_patch14_clip_224.openai_ft_in1k", "vit", "openai-wit", 12.8 * B, 224),
    ("vit_large_patch14_clip_224.openai_ft_in12k_in1k", "vit", "openai-wit", 12.8 * B, 224),
    ("vit_large_patch14_clip_336.openai_ft_in12k_in1k", "vit", "openai-wit", 12.8 * B, 336),
    ("vit_base_patch32_clip_224.laion2b_ft_in1k", "vit", "laion2b", 34 * B, 224),
    ("vit_base_patch16_clip_224.laion2b_ft_in1k", "vit", "laion2b", 34 * B, 224),
    ("vit_base_patch16_clip_224.laion2b_ft_in12k_in1k", "vit", "laion2b", 34 * B, 224),
    ("vit_large_patch14_clip_224.laion2b_ft_in1k", "vit", "laion2b", 32 * B, 224),
    ("vit_large_patch14_clip_224.laion2b_ft_in12k_in1k", "vit", "laion2b", 32 * B, 224),
    ("vit_huge_patch14_clip_224.laion2b_ft_in1k", "vit", "laion2b", 32 * B, 224),
    ("vit_huge_patch14_clip_224.laion2b_ft_in12k_in1k", "vit", "laion2b", 32 * B, 224),
    ("convnext_base.clip_laion2b_augreg_ft_in1k", "convnext", "laion2b", 13 * B, 256),
    ("convnext_base.clip_laion2b_augreg_ft_in12k_in1k", "convnext", "laion2b", 13 * B, 256),
    ("convnext_large_mlp.clip_laion2b_augreg_ft_in1k", "convnext", "laion2b", 26 * B, 256),
]

NOTES: dict[str, str] = {
    "RN50/yfcc15m": "samples_seen approximate (32 epochs x 15M)",
    "RN101/yfcc15m": "samples_seen approximate (32 epochs x 15M)",
    "RN50/cc12m": "samples_seen approximate (32 epochs x ~12M)",
    "EVA02-B-16/merged2b_s8b_b131k": "EVA-CLIP: MIM-initialised image tower; merged-2B = LAION-2B + COYO-700M",
    "EVA02-L-14/merged2b_s4b_b131k": "EVA-CLIP: MIM-initialised image tower; merged-2B = LAION-2B + COYO-700M",
}


def rows() -> list[dict]:
    """Every entry as a ModelSpec-shaped dict (name, source, arch, pretrained, family, data,
    samples_seen, finetuned, loss, resolution, notes)."""
    out = []
    for arch, tag, family, data, seen, loss, res in OPEN_CLIP:
        name = f"{arch}/{tag}"
        note = NOTES.get(name, "")
        filt = commonpool_filter(name)
        if filt is not None:
            note = (note + "; " if note else "") + f"CommonPool filter: {filt}"
        out.append(dict(name=name, source="open_clip", arch=arch, pretrained=tag, family=family, data=data,
                        samples_seen=float(seen), finetuned=False, loss=loss, resolution=int(res), notes=note))
    for tname, family, data, seen, res in TIMM:
        head = "in12k->in1k" if "ft_in12k_in1k" in tname else "in1k"
        out.append(dict(name=f"timm:{tname}", source="timm", arch=tname, pretrained=tname, family=family,
                        data=data, samples_seen=float(seen), finetuned=True, loss="clip", resolution=int(res),
                        notes=f"CLIP image tower fine-tuned on ImageNet ({head}) with its classifier head; "
                              "samples_seen is the CLIP pre-training's"))
    return out


def commonpool_filter(name: str) -> str | None:
    """'basic' | 'clip' | 'laion' | 'image' | 'text' | 'none' for CommonPool entries, else None."""
    tag = name.split("/", 1)[-1]
    if not tag.startswith("commonpool_"):
        return None
    part = tag.split("_")[2]
    return "none" if part.startswith("s") and part[1:].rstrip("mb").isdigit() else part


def specs():
    """The entries as `clipstudy.zoo.ModelSpec`s (what `zoo` registers)."""
    from .zoo import ModelSpec

    return [ModelSpec(**r) for r in rows()]
