"""ImageNet-V2 (Recht et al. 2019): new test images for ImageNet, in class-index folders `0`-`999`."""
from __future__ import annotations

from . import imagenet
from .base import ImageListDataset, class_folder_dataset, fetch_archive, resolve_root

NAME = "imagenet-v2"
FETCHABLE = True
VARIANTS = {  # variant -> (archive URL, folder inside the archive)
    "matched-frequency": ("https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/"
                          "imagenetv2-matched-frequency.tar.gz", "imagenetv2-matched-frequency-format-val"),
    "threshold-0.7": ("https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/"
                      "imagenetv2-threshold0.7.tar.gz", "imagenetv2-threshold0.7-format-val"),
    "top-images": ("https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/"
                   "imagenetv2-top-images.tar.gz", "imagenetv2-top-images-format-val"),
}
# Mirror of the same tarballs: https://imagenetv2public.s3-us-west-2.amazonaws.com/<file>.
# No SHA-256 is published for them, so none is recorded (sha256=None): integrity rests on
# the archive extracting cleanly.
SHA256: dict[str, str | None] = {v: None for v in VARIANTS}
LAYOUT = """\
<root>/imagenetv2-matched-frequency-format-val/<class index 0..999>/<sha1>.jpeg   (10 images per class)
   (<root> may also be that folder itself; other variants: threshold0.7, top-images)"""


def classnames() -> list[str]:
    return imagenet.classnames()


def load(root=None, transform=None, variant: str = "matched-frequency", verify: bool = False, **kw
         ) -> ImageListDataset:
    """Label = the folder's class index (the V2 release names folders by index, not by synset)."""
    root = resolve_root(root, NAME)
    folder = VARIANTS[variant][1]
    if (root / folder).is_dir():
        root = root / folder
    return class_folder_dataset(NAME, root, [str(i) for i in range(1000)], classnames(), LAYOUT, FETCHABLE,
                                transform, what="class index (0..999)", verify=verify)


def fetch(dest=None, variant: str = "matched-frequency", url: str | None = None):
    dest = resolve_root(dest, NAME)
    u, folder = VARIANTS[variant]
    return fetch_archive(url or u, {folder: dest / folder}, sha256=SHA256[variant])[0]
