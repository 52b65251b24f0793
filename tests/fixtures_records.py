"""Miniature record sets in the real on-disk formats, with decider names the tag rules have never seen.

Each `make_*` writes files exactly as the sources publish them (names, headers, quirks) and returns
what a correct loader must find. Nothing here is real data.
"""
from __future__ import annotations

from pathlib import Path

MVH_HEADER = "subj,session,trial,rt,object_response,category,condition,imagename"


def make_model_vs_human(root: Path, source: str = "model_vs_human") -> dict:
    """records/<source>/raw-data/<dataset>/ with a human file named `session_1` whose header says
    `Session`, model files named `session-1` with NaN rt and (cue-conflict) NaN condition, and
    model-vs-human's image names (trial prefix for humans, bare stems for models on cue-conflict)."""
    raw = root / "records" / source / "raw-data"
    contrast = raw / "contrast"
    contrast.mkdir(parents=True)
    rows_h = [("knife", "knife", "c30", "n03041632_7380"), ("cat", "bicycle", "c05", "n02835271_1"),
              ("na", "oven", "c05", "n04111531_2")]
    lines = [MVH_HEADER.replace("session", "Session")]
    lines += [f"subject-01,1,{i + 1},0.8,{r},{c},{cond},{i + 1:04d}_cop_s01_{cond}_{c}_10_{img}.png"
              for i, (r, c, cond, img) in enumerate(rows_h)]
    (contrast / "contrast_subject-01_session_1.csv").write_text("\r\n".join(lines) + "\r\n")  # CRLF, as published
    rows_m = [("knife", "knife", "c30", "n03041632_7380"), ("bicycle", "bicycle", "c05", "n02835271_1"),
              ("clock", "oven", "c05", "n04111531_2")]
    lines = [MVH_HEADER] + [f"my_net_v2,1,{i + 1},NaN,{r},{c},{cond},{i + 1:04d}_cop_dnn_{cond}_{c}_10_{img}.png"
                            for i, (r, c, cond, img) in enumerate(rows_m)]
    (contrast / "contrast_my-net-v2_session-1.csv").write_text("\n".join(lines) + "\n")
    cue = raw / "cue-conflict"
    cue.mkdir()
    lines = [MVH_HEADER, "my_net_v2,1,1,NaN,cat,cat,NaN,cat1-elephant2.png",
             "my_net_v2,1,2,NaN,elephant,knife,NaN,knife3-elephant1.png",
             "my_net_v2,1,3,NaN,bird,bird,NaN,bird2-bird4.png"]
    (cue / "cue-conflict_my-net-v2_session-1.csv").write_text("\n".join(lines) + "\n")
    lines = [MVH_HEADER, "subject-01,1,1,1.1,cat,cat,0,0001_s5n_s01_0_cat_00_cat1-elephant2.png",
             "subject-01,1,2,0.9,knife,knife,0,0002_s5n_s01_0_knife_00_knife3-elephant1.png",
             "subject-01,1,3,0.9,bird,bird,0,0003_s5n_s01_0_bird_00_bird2-bird4.png"]
    (cue / "cue-conflict_subject-01_session_1.csv").write_text("\n".join(lines) + "\n")
    (raw / "performances").mkdir()  # summary tables live here and are not decisions
    (raw / "performances" / "my_net_v2.csv").write_text("subj,dataset_name,metric_name,performance\n")
    return {"models": {"subject-01", "my-net-v2"}, "contrast_correct": {"subject-01": 1 / 3, "my-net-v2": 2 / 3},
            "cue": {"my-net-v2": dict(n_shape=1, n_texture=1, n_conflict=2), "subject-01": dict(n_shape=2,
                                                                                               n_texture=0,
                                                                                               n_conflict=2)}}


GAVRIKOV_IMAGES = ["cat1-elephant2", "knife3-elephant1", "bird2-bird4", "oven4-clock3"]


def make_vlm_shapebias(root: Path) -> dict:
    """raw-data/ of Gavrikov et al.: `image` stems without extension; the decision is `pred_label` (which
    differs from `response` here, as for LMMs whose response is a letter); prompt sets in file names."""
    raw = root / "records" / "vlm_shapebias" / "raw-data"
    (raw / "clip").mkdir(parents=True)
    (raw / "inet_classifier").mkdir()
    (raw / "vlm" / "vqa").mkdir(parents=True)
    (raw / "vlm" / "captioning").mkdir()
    clip = {"None": ["cat", "elephant", "bird", "car"], "CLS": ["elephant", "elephant", "bird", "clock"],
            "a_photo_of_a_CLS.": ["cat", "knife", "bird", "car"]}
    for prompt, preds in clip.items():
        lines = ["image,response,pred_label,pred_conf"] + [f"{im},{p},{p},0.5" for im, p in zip(GAVRIKOV_IMAGES, preds)]
        (raw / "clip" / f"ViT_L_14_336_openai_{prompt}.csv").write_text("\n".join(lines) + "\n")
    lines = ["image,pred_label"] + [f"{im},{p}" for im, p in zip(GAVRIKOV_IMAGES, ["elephant", "elephant", "cat",
                                                                                   "clock"])]
    (raw / "inet_classifier" / "vit_large_patch14_clip_336.openai_ft_in12k_in1k.csv").write_text("\n".join(lines) + "\n")
    lines = ["image,timestamp,response,pred_label,pred_conf"] + [
        f"{im},2024-02-05 20:50:48,{letter},{p},1" for im, letter, p in
        zip(GAVRIKOV_IMAGES, "HLDJ", ["cat", "knife", "bird", "None"])]
    (raw / "vlm" / "vqa" / "20240205_205018_llava_1_5_7b.csv").write_text("\n".join(lines) + "\n")
    lines = ["image,response,timestamp,pred_label,pred_conf,pred_llm_judge"] + [
        f'{im},"A photo, of something.",,{p},0.9,X' for im, p in zip(GAVRIKOV_IMAGES, ["cat", "cat", "bird", "oven"])]
    (raw / "vlm" / "captioning" / "2024xxxx_yyyyyy_brand_new_lmm.csv").write_text("\n".join(lines) + "\n")
    # 3 conflict images (bird2-bird4 has none). CLIP, 80 templates: cat (shape), elephant (texture), car
    # (neither) -> 0.5; bare name: 3 texture -> 0; one template: 2 shape -> 1. Fine-tuned: 3 texture -> 0.
    # LLaVA-1.5, VQA: cat, knife (shape), None (no answer) -> 1.0
    return {"clip_sb": {"ensemble80": 0.5, "bare-name": 0.0, "one-template": 1.0}, "llava_sb": 1.0,
            "llava_na": 1, "ft_sb": 0.0}


def make_scaling_laws(root: Path) -> dict:
    """zeroshot_results.csv with empty cells (retrieval metrics of classification rows and vice versa),
    trained_models_info.csv, for two grid models and one OpenAI reference."""
    d = root / "records" / "scaling_laws_openclip"
    d.mkdir(parents=True)
    head = ("arch,samples_seen,gmacs_total,gmacs,upstream_dataset,downstream_dataset,acc1,acc5,mean_per_class_recall,"
            "image_retrieval_recall@5,text_retrieval_recall@5,mean_average_precision,task,samples_seen_pretty,name")
    a = "Model-B-32_Data-80M_Samples-3B_lr-5e-4_bs-32k.pt"
    b = "Model-B-32_Data-400M_Samples-3B_lr-1e-3_bs-88k.pt"
    rows = [f"ViT-B-32,2560013312.0,1.1e13,4.4,LAION-80M,imagenet1k,0.5,0.8,0.5,,,,zeroshot_classification,3B,{a}",
            f"ViT-B-32,2560013312.0,1.1e13,4.4,LAION-80M,flickr30k,,,,0.7,0.8,,zeroshot_retrieval,3B,{a}",
            f"ViT-B-32,2443993088.0,1.1e13,4.4,LAION-400M,imagenet1k,0.6,0.85,0.6,,,,zeroshot_classification,3B,{b}",
            f"ViT-B-32,2443993088.0,1.1e13,4.4,LAION-400M,mscoco_captions,,,,0.5,0.6,,zeroshot_retrieval,3B,{b}",
            "ViT-B-32,12800000000.0,5.6e13,4.4,CLIP-WIT,imagenet1k,0.63,0.88,0.62,,,,zeroshot_classification,13B,openai"]
    (d / "zeroshot_results.csv").write_text("\n".join([head, *rows]) + "\n")
    info = ("name,arch,data,samples_seen_pretty,lr,warmup,epochs,gpus,samples_per_sec,samples_per_epoch,local_bs,"
            "detailed_training_info,url")
    (d / "trained_models_info.csv").write_text("\n".join([
        info, f"{a},ViT-B-32,80M,3B,0.0005,2000,32,128,5e4,8e7,256,,https://example.org/{a}",
        f"{b},ViT-B-32,400M,3B,0.001,2000,6,128,5e4,4.1e8,256,,https://example.org/{b}"]) + "\n")
    return {"rows": 3 + 2 + 3 + 2 + 3,  # the filled metric cells of each row
            "models": {f"ViT-B-32/{a[:-3]}", f"ViT-B-32/{b[:-3]}", "ViT-B-32/openai"}}
