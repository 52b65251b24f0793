"""ImageNet-D (Zhang et al. 2024): diffusion-generated images of 113 object classes (the
ObjectNet/ImageNet overlap) with hard backgrounds, textures and materials.

Labels run over the 113 classes in the release's own order
(`preprocessing/imgnet_d_dir2imgnet_d_id.txt`); `imagenet_indices[c]` lists the
ImageNet-1k classes of class c (`preprocessing/imgnet_d2imgnet_id.txt`), both
recorded below from chenshuang-zhang/imagenet_d. The zero-shot class names are
formatted as its `evaluate_vlm.py` does ("coffee/french press" -> "coffee or french press").
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import MissingDataError
from .base import ImageListDataset, check_class_folders, list_images, missing, require_dir, resolve_root, subdirs

NAME = "imagenet-d"
FETCHABLE = False
SUBSETS = ("background", "texture", "material")
HOW = ("ImageNet-D is published as a Hugging Face dataset repository (git LFS) and a Google Drive tar: "
       "`git lfs clone https://huggingface.co/datasets/zcs15/ImageNet-D <root>` or download ImageNet-D.tar "
       "from the link in https://github.com/chenshuang-zhang/imagenet_d and `tar -xf` it so that "
       "<root>/background/ exists.")
LAYOUT = """\
<root>/{background,texture,material}/<class folder>/<file>.jpg   (113 class folders, e.g. alarm_clock/)
<root>/questions/{background,texture,material}.csv               (optional: the two-choice questions for LMMs)
   (<root> may also be the folder holding ImageNet-D/)"""

# folder -> (display name, ImageNet-1k indices); order = class index
CLASSES: dict[str, tuple[str, list[int]]] = {
    "alarm_clock": ("alarm_clock", [409, 530]), "backpack": ("backpack", [414]), "banana": ("banana", [954]),
    "band_aid": ("band_aid", [419]), "bath_towel": ("bath_towel", [434]), "beer_bottle": ("beer_bottle", [440]),
    "bench": ("bench", [703]), "bicycle": ("bicycle", [671, 444]), "binder_closed": ("binder_(closed)", [446]),
    "bottle_cap": ("bottle_cap", [455]), "bread_loaf": ("bread_loaf", [930]), "broom": ("broom", [462]),
    "bucket": ("bucket", [463]), "can_opener": ("can_opener", [473]), "candle": ("candle", [470]),
    "cellphone": ("cellphone", [487]), "chair": ("chair", [423, 559, 765]), "cleaver": ("cleaver", [499]),
    "clothes_hamper": ("clothes_hamper", [588]), "coffee_or_french_press": ("coffee/french press", [550]),
    "combination_lock": ("combination_lock", [507]), "computer_mouse": ("computer_mouse", [673]),
    "desk_lamp": ("desk_lamp", [846]), "dishcloth": ("dishcloth", [533]), "doormat": ("doormat", [539]),
    "dress_shoe_men": ("dress_shoe_(men)", [630]), "drill": ("drill", [740]),
    "drying_rack_for_plates": ("drying_rack_for_plates", [729]), "envelope": ("envelope", [549]),
    "fan": ("fan", [545]), "frying_pan": ("frying_pan", [567]), "gown": ("gown", [578]),
    "hair_dryer": ("hair_dryer", [589]), "hammer": ("hammer", [587]), "helmet": ("helmet", [560, 518]),
    "iron_for_clothes": ("iron_(for_clothes)", [606]), "jeans": ("jeans", [608]), "keyboard": ("keyboard", [508]),
    "ladle": ("ladle", [618]), "lampshade": ("lampshade", [619]), "laptop_open": ("laptop_(open)", [620]),
    "lemon": ("lemon", [951]), "letter_opener": ("letter_opener", [623]), "lighter": ("lighter", [626]),
    "lipstick": ("lipstick", [629]), "matchstick": ("matchstick", [644]), "measuring_cup": ("measuring_cup", [647]),
    "microwave": ("microwave", [651]), "mixing_or_salad_bowl": ("mixing/salad_bowl", [659]),
    "monitor": ("monitor", [664]), "mug": ("mug", [504]), "nail_fastener": ("nail_(fastener)", [677]),
    "necklace": ("necklace", [679]), "orange": ("orange", [950]), "padlock": ("padlock", [695]),
    "paintbrush": ("paintbrush", [696]), "paper_towel": ("paper_towel", [700]), "pen": ("pen", [418, 749, 563]),
    "pill_bottle": ("pill_bottle", [720]), "pillow": ("pillow", [721]), "pitcher": ("pitcher", [725]),
    "plastic_bag": ("plastic_bag", [728]), "plate": ("plate", [923]), "plunger": ("plunger", [731]),
    "pop_can": ("pop_can", [737]), "portable_heater": ("portable_heater", [811]), "printer": ("printer", [742]),
    "remote_control": ("remote_control", [761]), "ruler": ("ruler", [769]), "running_shoe": ("running_shoe", [770]),
    "safety_pin": ("safety_pin", [772]), "salt_shaker": ("salt_shaker", [773]), "sandal": ("sandal", [774]),
    "screw": ("screw", [783]), "shopping_basket": ("shopping_basket", [790]), "shovel": ("shovel", [792]),
    "skirt": ("skirt", [601, 655, 689]), "sleeping_bag": ("sleeping_bag", [797]),
    "soap_dispenser": ("soap_dispenser", [804]), "sock": ("sock", [806]), "soup_bowl": ("soup_bowl", [809]),
    "spatula": ("spatula", [813]), "speaker": ("speaker", [632]), "still_camera": ("still_camera", [732, 759]),
    "strainer": ("strainer", [828]), "suit_jacket": ("suit_jacket", [834]), "sunglasses": ("sunglasses", [837]),
    "sweater": ("sweater", [841]), "swimming_trunks": ("swimming_trunks", [842]), "t_shirt": ("t-shirt", [610]),
    "tea_cup": ("tea_cup", [968]), "teapot": ("teapot", [849]), "teddy_bear": ("teddy_bear", [850]),
    "tennis_racket": ("tennis_racket", [752]), "tie": ("tie", [457, 906]), "toaster": ("toaster", [859]),
    "toilet_paper_roll": ("toilet_paper_roll", [999]), "trash_bin": ("trash_bin", [412]), "tray": ("tray", [868]),
    "tv": ("tv", [851]), "umbrella": ("umbrella", [879]), "vacuum_cleaner": ("vacuum_cleaner", [882]),
    "vase": ("vase", [883]), "wallet": ("wallet", [893]), "watch": ("watch", [531]),
    "water_bottle": ("water_bottle", [898]), "weight_exercise": ("weight_(exercise)", [543]),
    "weight_scale": ("weight_scale", [778]), "wheel": ("wheel", [479, 694]), "whistle": ("whistle", [902]),
    "wine_bottle": ("wine_bottle", [907]), "winter_glove": ("winter_glove", [658]), "wok": ("wok", [909]),
}
FOLDERS = list(CLASSES)


def classnames() -> list[str]:
    return [CLASSES[f][0].replace("_", " ").replace("-", " ").replace("/", " or ").lower() for f in FOLDERS]


def imagenet_indices() -> list[list[int]]:
    return [sorted(CLASSES[f][1]) for f in FOLDERS]


def _base(root: Path) -> Path:
    return root / "ImageNet-D" if (root / "ImageNet-D").is_dir() else root


def load(root=None, transform=None, subset: str | None = None, verify: bool = False, **kw) -> ImageListDataset:
    """All three subsets (or one); frame has `subset` (the nuisance: background/texture/material)."""
    root = resolve_root(root, NAME)
    require_dir(root, NAME, LAYOUT, FETCHABLE, HOW)
    base = _base(root)
    wanted = SUBSETS if subset is None else (subset,)
    if subset is not None and subset not in SUBSETS:
        from ..errors import UnknownNameError

        raise UnknownNameError("ImageNet-D subset", subset, list(SUBSETS))
    present = [s for s in wanted if (base / s).is_dir()]
    if not present:
        raise missing(NAME, root, LAYOUT, FETCHABLE, HOW, what=f"ImageNet-D {'/'.join(wanted)} folder(s)")
    index = {f: i for i, f in enumerate(FOLDERS)}
    paths, labels, subs = [], [], []
    for s in present:
        folders = subdirs(base / s)
        check_class_folders(base / s, folders, FOLDERS, NAME, LAYOUT, what="ImageNet-D class folder")
        for f in folders:
            imgs = list_images(f)
            paths += imgs
            labels += [index[f.name]] * len(imgs)
            subs += [s] * len(imgs)
    if not paths:
        raise missing(NAME, root, LAYOUT, FETCHABLE, HOW, what="ImageNet-D images")
    ds = ImageListDataset(NAME, base, paths, labels, classnames(), transform, extra={"subset": subs},
                          imagenet_indices=imagenet_indices(), verify=verify)
    qdir = base / "questions"
    ds.questions = {s: pd.read_csv(qdir / f"{s}.csv") for s in present if (qdir / f"{s}.csv").is_file()}
    return ds


def fetch(dest=None):
    raise MissingDataError("a direct-download URL for ImageNet-D", "https://huggingface.co/datasets/zcs15/ImageNet-D",
                           layout=LAYOUT, fetch=HOW)
