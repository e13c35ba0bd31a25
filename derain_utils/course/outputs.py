"""A notebook's outputs as a reader should see them, on GitHub or in the report's pages:
progress bars in their last state, and pictures stored in few bytes."""

from __future__ import annotations

import base64
import copy
import io

import numpy as np
from PIL import Image

JPEG_QUALITY = 85
# Sheets of photos have tens of thousands of distinct colours, plots a few thousand at most
# (anti-aliasing included): photos compress well as JPEG, a plot's thin lines would blur.
PHOTO_COLOURS = 10_000


def clean_outputs(outputs: list) -> list:
    """Consecutive stream outputs merged, a progress bar's redraws (carriage returns)
    reduced to its last state, as a terminal would show it, and a bar left unfinished on
    stderr between two lines of the run's own output dropped: the bar's last, closed state
    follows it."""
    import nbformat
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    cell, _ = CoalesceStreamsPreprocessor().preprocess_cell(nbformat.v4.new_code_cell(outputs=outputs), {}, 0)
    kept = []
    for output in cell.outputs:
        if output.output_type == "stream":
            output.text = output.text.replace("\r", "")
            if output.name == "stderr":
                output.text = output.text[:output.text.rfind("\n") + 1]
            if not output.text:
                continue
        kept.append(output)
    cell.outputs = kept
    cell, _ = CoalesceStreamsPreprocessor().preprocess_cell(cell, {}, 0)  # streams the dropped bars kept apart
    return cell.outputs


def compact_images(outputs: list) -> list:
    """Each PNG picture of photos stored as a JPEG (about half the bytes), plots kept as
    PNG; a picture shown twice in a row is kept once."""
    kept = []
    for output in map(copy.deepcopy, outputs):
        data = output.get("data", {})
        if "image/png" in data:
            image = _flat(base64.b64decode(data["image/png"]))
            if len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > PHOTO_COLOURS:
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
                del data["image/png"]
                data["image/jpeg"] = base64.b64encode(buffer.getvalue()).decode()
        if kept and _picture(output) and _picture(output) == _picture(kept[-1]):
            continue
        kept.append(output)
    return kept


def _flat(png: bytes) -> Image.Image:
    """An RGB image, transparent pixels white as on the page."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")


def _picture(output) -> str | None:
    data = output.get("data", {})
    return data.get("image/jpeg") or data.get("image/png")
