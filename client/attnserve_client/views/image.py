"""PNG heatmap overlay for vision explanations: a grid of patch scores laid over the input image.

``Explanation.to_png(method)`` draws an image model's answer over the image the request sent (its
``patch_scores(method)`` are the grid). Pillow is an optional extra (``pip install
'attnserve-client[views]'``), imported only here.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from types import ModuleType

HEAT = (255, 64, 0)


def _pillow() -> ModuleType:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "PNG overlays need Pillow, an optional extra: pip install 'attnserve-client[views]'"
        ) from None
    return Image


def overlay_png(image: bytes, scores: Sequence[Sequence[float]], opacity: float = 0.6) -> bytes:
    """``scores``: rows x columns of patch scores (row 0 at the top). Positive scores are drawn, scaled
    by the largest one, up to ``opacity``; negative scores are left clear. Returns PNG bytes at the
    image's own size."""
    Image = _pillow()
    rows, columns = len(scores), len(scores[0]) if scores else 0
    if rows == 0 or columns == 0 or any(len(row) != columns for row in scores):
        raise ValueError(f"scores must be a non-empty rectangular grid, got row lengths {[len(r) for r in scores]}")
    if not 0 <= opacity <= 1:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    base = Image.open(io.BytesIO(image)).convert("RGBA")
    peak = max(max(row) for row in scores)
    grid = Image.new("L", (columns, rows))
    grid.putdata([round(255 * opacity * max(value, 0.0) / peak) if peak > 0 else 0 for row in scores for value in row])
    heat = Image.new("RGBA", base.size, (*HEAT, 255))
    heat.putalpha(grid.resize(base.size, Image.Resampling.BILINEAR))
    out = io.BytesIO()
    Image.alpha_composite(base, heat).save(out, format="PNG")
    return out.getvalue()
