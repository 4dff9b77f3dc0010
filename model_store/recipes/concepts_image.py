"""Image concepts: a packaged model's own folders of images, or textures generated here.

A concept with an ``examples_dir`` is read from that folder (PNG or JPEG files, decoded and resized
exactly as the server decodes a request), contrasted with the ``pool_dir`` images (counterpart
`random`). A concept with a ``texture`` is drawn here, like the paper's striped/dotted/zigzagged
textures (the shipped fashion model's set).

The paper takes its textures from Broden/DTD, which are not installable offline; these are drawn
procedurally at the model's input size (28×28 grayscale), each image with its own random frequency,
orientation, phase and contrast, so a CAV has to find the texture rather than one fixed picture.
Concepts are contrasted with each other (relative CAVs, as the paper does); the random-vs-random
CAVs draw from a pool of real Fashion-MNIST training images plus noise images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model_store.recipes.image_files import image_files, read_files

if TYPE_CHECKING:
    from model_store.recipes.bundles import Bundle
    from model_store.recipes.concept_examples import Examples

SIZE = 28
BATCH = 256
Texture = Callable[[np.random.Generator], tuple[np.ndarray, str]]  # rng -> (image [28, 28] in [0, 1], params)


def _grid(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel coordinates rotated by a random angle, so textures come in every orientation."""
    angle = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    return x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle), angle


def _shade(pattern: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map a [0, 1] pattern to a random background level and contrast, staying inside [0, 1]."""
    contrast = rng.uniform(0.4, 1.0)
    low = rng.uniform(0, 1 - contrast)
    return low + contrast * pattern


def striped(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    u, _, angle = _grid(rng)
    period, phase = rng.uniform(3, 9), rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * u / period + phase)
    pattern = (wave > 0).astype(np.float64) if rng.random() < 0.5 else (wave + 1) / 2  # square or sine stripes
    return _shade(pattern, rng), f"striped period {period:.1f} px, angle {np.degrees(angle):.0f}°"


def dotted(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    u, v, angle = _grid(rng)
    spacing = rng.uniform(4, 9)
    radius = rng.uniform(0.8, spacing / 3)
    du, dv = (np.mod(c + rng.uniform(0, spacing), spacing) - spacing / 2 for c in (u, v))
    pattern = np.clip(radius + 0.5 - np.hypot(du, dv), 0, 1)  # anti-aliased discs on a lattice
    return _shade(
        pattern, rng
    ), f"dotted spacing {spacing:.1f} px, radius {radius:.1f} px, angle {np.degrees(angle):.0f}°"


def zigzag(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    u, v, angle = _grid(rng)
    period, wavelength, amplitude = rng.uniform(4, 9), rng.uniform(4, 10), rng.uniform(1.5, 4)
    triangle = 2 * np.abs(np.mod(v / wavelength, 1) - 0.5)  # 0..1..0 along the lines
    wave = np.sin(2 * np.pi * (u + amplitude * triangle) / period + rng.uniform(0, 2 * np.pi))
    pattern = (wave > 0).astype(np.float64)
    return _shade(
        pattern, rng
    ), f"zigzag period {period:.1f} px, amplitude {amplitude:.1f} px, angle {np.degrees(angle):.0f}°"


def solid(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    level, noise = rng.uniform(0.05, 0.95), rng.uniform(0, 0.03)
    image = np.clip(level + rng.normal(0, noise, (SIZE, SIZE)), 0, 1)
    return image, f"solid level {level:.2f}, noise {noise:.3f}"


def noise(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Uniform noise, box-blurred by a random radius: random images with no texture of the concept set."""
    radius = int(rng.integers(0, 3))
    image = rng.uniform(0, 1, (SIZE + 2 * radius, SIZE + 2 * radius))
    kernel = np.ones(2 * radius + 1) / (2 * radius + 1)
    for axis in (0, 1):
        image = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="valid"), axis, image)
    return _shade((image - image.min()) / max(np.ptp(image), 1e-9), rng), f"noise blur {radius}"


TEXTURES: dict[str, Texture] = {"striped": striped, "dotted": dotted, "zigzag": zigzag, "solid": solid}


def generate(texture: Texture, count: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """count images as uint8 [count, 28, 28] (quantised like a real PNG input would be) and their parameters."""
    drawn = [texture(rng) for _ in range(count)]
    return np.stack([np.round(image * 255).astype(np.uint8) for image, _ in drawn]), [p for _, p in drawn]


def data_key() -> dict[str, str]:
    """Textures are fully determined by this code and the seed; the Fashion-MNIST pool by the model key."""
    return {}


def build_examples(bundle: Bundle, model_dir: Path, settings: dict[str, Any], concepts: dict[str, Any]) -> Examples:
    """Activations of each concept's images, its counterparts and the random pool: from the concept
    folders (``examples_dir``, ``pool_dir``) or from generated textures (``texture``)."""
    import torch
    from transformers import AutoModelForImageClassification

    from attnserve.image.codec import ImageSpec, to_unit
    from model_store.recipes.cav import mean_hidden_states

    model = AutoModelForImageClassification.from_pretrained(model_dir, attn_implementation="eager").eval()
    spec = ImageSpec.from_model_dir(model_dir)
    rng = np.random.default_rng(settings["seed"])

    def activations(images: np.ndarray | list[np.ndarray]) -> torch.Tensor:
        """uint8 images at the model's input size -> token-mean hidden states (no token is padding)."""
        pixels = torch.stack([spec.normalise(to_unit(image)) for image in images])
        return mean_hidden_states(model, (({"pixel_values": b}, None) for b in pixels.split(BATCH)))

    if all("examples_dir" in c for c in concepts.values()):
        return _from_folders(spec, settings, concepts, activations, rng)
    return _from_textures(bundle, settings, concepts, activations, rng)


def _from_folders(
    spec: Any, settings: dict[str, Any], concepts: dict[str, Any], activations: Callable, rng: np.random.Generator
) -> Examples:
    """A packaged model's concept folders, each contrasted with (a sample of) the pool folder."""
    from model_store.recipes.concept_examples import ConceptExamples, Examples

    def sample(files: list[Path], limit: int) -> list[Path]:
        return [files[i] for i in sorted(rng.choice(len(files), min(limit, len(files)), replace=False))]

    pool_files = sample(image_files(Path(settings["pool_dir"])), settings["pool"])
    pool = activations(read_files(pool_files, spec))
    found = []
    for name, concept in concepts.items():
        files = image_files(Path(concept["examples_dir"]))
        if len(files) < settings["min_examples"]:
            raise ValueError(
                f"concept {name!r}: {len(files)} images in {concept['examples_dir']}, need {settings['min_examples']}"
            )
        chosen = sample(files, settings["examples"])
        acts = activations(read_files(chosen, spec))
        found.append(ConceptExamples(name, concept["description"], "random", acts, pool, [p.name for p in chosen[:5]]))
    return Examples(found, pool, [p.name for p in pool_files[:5]])


def _from_textures(
    bundle: Bundle, settings: dict[str, Any], concepts: dict[str, Any], activations: Callable, rng: np.random.Generator
) -> Examples:
    """Generated textures, each contrasted with the others (relative CAVs); the random pool is the model's
    training images (its recipe's `load_split`) plus noise images."""
    import torch

    from model_store.recipes.concept_examples import ConceptExamples, Examples

    if len(concepts) < 2:
        raise ValueError("relative CAVs need at least two concepts to contrast")
    sets = {}
    for name, spec in concepts.items():
        if spec["texture"] not in TEXTURES:
            raise ValueError(f"concept {name!r}: unknown texture {spec['texture']!r}; known: {', '.join(TEXTURES)}")
        images, params = generate(TEXTURES[spec["texture"]], settings["examples"], rng)
        sets[name] = (activations(images), params)
    found = [
        ConceptExamples(
            name,
            spec["description"],
            "relative",
            sets[name][0],
            torch.cat([acts for other, (acts, _) in sets.items() if other != name]),
            sets[name][1][:5],
        )
        for name, spec in concepts.items()
    ]
    train_images, _ = bundle.recipe.load_split("train")
    picked = rng.choice(len(train_images), settings["random"]["fashion_mnist_train"], replace=False)
    noise_images, noise_params = generate(noise, settings["random"]["noise"], rng)
    pool = torch.cat([activations(train_images[picked]), activations(noise_images)])
    return Examples(found, pool, [f"fashion-mnist train #{i}" for i in picked[:3]] + noise_params[:2])
