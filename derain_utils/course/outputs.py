"""A notebook's outputs as a reader should see them, on GitHub or in the report's pages:
progress bars in their last state, and pictures stored in few bytes."""

from __future__ import annotations

import base64
import copy
import io
import re

import numpy as np
from PIL import Image

JPEG_QUALITY = 85
# Sheets of photos have tens of thousands of distinct colours, plots a few thousand at most
# (anti-aliasing included): photos compress well as JPEG, a plot's thin lines would blur.
PHOTO_COLOURS = 10_000


def clean_outputs(outputs: list) -> list:
    """Consecutive stream outputs merged, and stderr (where progress bars draw) as a
    terminal would leave it: each line in its last state, at the place it was last drawn,
    however the run's own printing interleaved with its redraws."""
    import nbformat
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    kept, line, at = [], "", None  # at: the stderr output where the line now drawn will stay
    for output in map(copy.deepcopy, outputs):
        if output.output_type != "stream" or output.name != "stderr":
            kept.append(output)
            continue
        for piece in re.split(r"(\n)", output.text):
            if piece == "\n":
                if line.strip():
                    kept[at].text += line + "\n"
                line = ""
            elif piece:
                line = piece.rsplit("\r", 1)[-1] if "\r" in piece else line + piece
                if line.strip() and (at is None or at != len(kept) - 1):
                    at = len(kept)
                    kept.append(nbformat.v4.new_output("stream", name="stderr", text=""))
    if line.strip():
        kept[at].text += line
    cell = nbformat.v4.new_code_cell(outputs=[o for o in kept if o.output_type != "stream" or o.text])
    return CoalesceStreamsPreprocessor().preprocess_cell(cell, {}, 0)[0].outputs


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
