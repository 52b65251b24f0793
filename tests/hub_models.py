"""Tiny random CLIPs in the real hub repo layouts, for the local hub (tests/hubserver.py): pipeline checks only.

- `OC_SAFE`: open_clip's hub format with `open_clip_model.safetensors` (a QuickGELU ViT with open_clip's own BPE
  tokenizer), as timm's and LAION's repos are laid out;
- `OC_BIN`: open_clip's hub format with `open_clip_pytorch_model.bin` whose config names a Hugging Face text tower
  and tokenizer in a second repo, `TEXT_REPO` (BiomedCLIP's layout: `text_cfg.hf_model_name`, `hf_tokenizer_name`);
- `HF_CLIP`: transformers' `CLIPModel` with its real BPE tokenizer files (vocab.json, merges.txt, tokenizer.json),
  written from open_clip's vocabulary (the same 49,408 entries as OpenAI's), and a `CLIPImageProcessor`;
- `HF_SIGLIP`: transformers' `SiglipModel` with a SentencePiece `SiglipTokenizer` (spiece.model, trained here on a
  few sentences) and a `SiglipImageProcessor`.

`build(root)` writes each repo's files into `root/ORG--NAME/`; `serve(hub, root)` serves them.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

ORG = "clipstudy-test"
OC_SAFE = f"{ORG}/oc-vit-safetensors"
OC_BIN = f"{ORG}/oc-hftext-bin"
TEXT_REPO = f"{ORG}/tiny-bert"
HF_CLIP = f"{ORG}/hf-clip"
HF_SIGLIP = f"{ORG}/hf-siglip"
REPOS = (OC_SAFE, OC_BIN, TEXT_REPO, HF_CLIP, HF_SIGLIP)
MODELS = {"open_clip safetensors": OC_SAFE, "open_clip bin + second repo": OC_BIN, "transformers clip": HF_CLIP,
          "transformers siglip": HF_SIGLIP}
OPENAI_MEAN, OPENAI_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
WORDS = ("a photo of the cat dog fox bird tree car house red blue small big picture drawing sketch rendition "
         "itap good bad close up bright dark clean dirty black white origami toy plastic plushie sculpture "
         "cropped jpeg corrupted blurry pixelated nice weird large tattoo embroidered art graffiti painting "
         "video game hard to see low resolution of my one").split()


def _dir(root: Path, repo: str) -> Path:
    d = Path(root) / repo.replace("/", "--")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _quiet():
    logging.disable(logging.WARNING)


def oc_safetensors(root: Path) -> Path:
    import open_clip
    import safetensors.torch
    import torch

    d = _dir(root, OC_SAFE)
    model_cfg = dict(embed_dim=16, quick_gelu=True,
                     vision_cfg=dict(image_size=32, layers=1, width=32, head_width=16, patch_size=8),
                     text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1))
    torch.manual_seed(1)
    model = open_clip.CLIP(**model_cfg)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    (d / "open_clip_model.safetensors").write_bytes(safetensors.torch.save(sd))
    (d / "open_clip_config.json").write_text(json.dumps(dict(
        model_cfg=model_cfg, preprocess_cfg=dict(mean=OPENAI_MEAN, std=OPENAI_STD, interpolation="bicubic",
                                                 resize_mode="shortest")), indent=1))
    return d


def tiny_bert(root: Path) -> Path:
    """The second repo: a tiny BERT config and its WordPiece tokenizer (what BiomedCLIP's config names)."""
    from transformers import BertConfig, BertTokenizerFast

    d = _dir(root, TEXT_REPO)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + sorted(set(WORDS)) + list("abcdefghijklmnopqrstuvwxyz")
    (d / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    tok = BertTokenizerFast(vocab_file=str(d / "vocab.txt"), do_lower_case=True, model_max_length=16)
    tok.save_pretrained(d)
    BertConfig(vocab_size=len(dict.fromkeys(vocab)), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=64, max_position_embeddings=32).save_pretrained(d)
    return d


def oc_hftext_bin(root: Path) -> Path:
    import open_clip
    import torch

    bert = tiny_bert(root)
    d = _dir(root, OC_BIN)
    model_cfg = dict(embed_dim=16, vision_cfg=dict(image_size=32, layers=1, width=32, head_width=16, patch_size=8),
                     text_cfg=dict(hf_model_name=TEXT_REPO, hf_tokenizer_name=TEXT_REPO, hf_proj_type="mlp",
                                   hf_pooler_type="cls_last_hidden_state_pooler", context_length=16))
    # built once from a local copy of the text repo (random weights), then saved as the hub repo names it
    local = json.loads(json.dumps(model_cfg))
    local["text_cfg"]["hf_model_name"] = str(bert)
    build = d / "build"
    build.mkdir(exist_ok=True)
    (build / "open_clip_config.json").write_text(json.dumps(dict(model_cfg=local)))
    torch.manual_seed(2)
    _quiet()
    try:
        model = open_clip.create_model(f"local-dir:{build}", pretrained_text=False)
    finally:
        logging.disable(logging.NOTSET)
    torch.save(model.state_dict(), d / "open_clip_pytorch_model.bin")
    for f in build.iterdir():
        f.unlink()
    build.rmdir()
    (d / "open_clip_config.json").write_text(json.dumps(dict(
        model_cfg=model_cfg, preprocess_cfg=dict(mean=OPENAI_MEAN, std=OPENAI_STD)), indent=1))
    return d


def clip_bpe_files(d: Path) -> tuple[Path, Path]:
    """vocab.json and merges.txt of CLIP's BPE, written from open_clip's vocabulary (its special tokens under the
    names Hugging Face's CLIP tokenizer uses)."""
    from open_clip.tokenizer import SimpleTokenizer

    t = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(k, k): v for k, v in t.encoder.items()}
    (d / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    merges = sorted(t.bpe_ranks.items(), key=lambda kv: kv[1])
    (d / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m, _ in merges) + "\n",
                                  encoding="utf-8")
    return d / "vocab.json", d / "merges.txt"


def hf_clip(root: Path) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizerFast

    d = _dir(root, HF_CLIP)
    vocab, merges = clip_bpe_files(d)
    tok = CLIPTokenizerFast(vocab_file=str(vocab), merges_file=str(merges), model_max_length=77)
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, resample=3,
                            image_mean=OPENAI_MEAN, image_std=OPENAI_STD)
    CLIPProcessor(image_processor=ip, tokenizer=tok).save_pretrained(d)
    cfg = CLIPConfig(text_config=dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu"),
                     vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=32, patch_size=8, hidden_act="quick_gelu"),
                     projection_dim=16)
    torch.manual_seed(3)
    CLIPModel(cfg).save_pretrained(d, safe_serialization=True)
    return d


def spiece_model(d: Path, vocab_size: int = 160) -> Path:
    """A SentencePiece unigram model trained on a few sentences (SigLIP's tokenizer format: spiece.model)."""
    import io
    import itertools

    import sentencepiece as spm

    lines = [" ".join(w) for w in itertools.combinations(WORDS, 3)][::7] + WORDS
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, vocab_size=vocab_size,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", minloglevel=2,
                                   character_coverage=1.0, hard_vocab_limit=False)
    (d / "spiece.model").write_bytes(buf.getvalue())
    return d / "spiece.model"


def hf_siglip(root: Path) -> Path:
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor, SiglipTokenizer

    d = _dir(root, HF_SIGLIP)
    sp = spiece_model(d)
    tok = SiglipTokenizer(vocab_file=str(sp), model_max_length=64)
    ip = SiglipImageProcessor(size={"height": 32, "width": 32}, resample=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    SiglipProcessor(image_processor=ip, tokenizer=tok).save_pretrained(d)
    cfg = SiglipConfig(text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=64),
                       vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                          num_attention_heads=2, image_size=32, patch_size=8))
    torch.manual_seed(4)
    SiglipModel(cfg).save_pretrained(d, safe_serialization=True)
    return d


def build(root: Path) -> dict[str, Path]:
    """Every repo's files under `root` (written once); returns repo -> folder."""
    root = Path(root)
    done = root / ".built"
    if not done.exists():
        oc_safetensors(root)
        oc_hftext_bin(root)
        hf_clip(root)
        hf_siglip(root)
        done.write_text("ok")
    return {r: root / r.replace("/", "--") for r in REPOS}


def serve(hub, root: Path, repos=REPOS) -> None:
    """Every file of the repos under `root` on the local hub."""
    folders = build(root)
    for repo in repos:
        for f in sorted(folders[repo].rglob("*")):
            if f.is_file():
                hub.add(repo, f.relative_to(folders[repo]).as_posix(), f.read_bytes())
