import numpy as np
import pytest
from PIL import Image

from derain_utils.data.images import ImageReadError, read_rgb, to_rgb_uint8

from conftest import write_image


def test_grayscale_rgba_and_16_bit_become_rgb_uint8(tmp_path, rng):
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    deep = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    write_image(tmp_path / "gray.png", gray)
    write_image(tmp_path / "rgba.png", rgba)
    Image.fromarray(deep).save(tmp_path / "deep.png")

    out_gray, out_rgba, out_deep = (read_rgb(tmp_path / n) for n in ("gray.png", "rgba.png", "deep.png"))
    for out in (out_gray, out_rgba, out_deep):
        assert out.dtype == np.uint8 and out.shape == (20, 30, 3)
    assert np.array_equal(out_gray[:, :, 1], gray)
    assert np.array_equal(out_rgba, rgba[:, :, :3])
    assert np.array_equal(out_deep[:, :, 2], (deep >> 8).astype(np.uint8))


def test_float_and_bool_arrays_convert():
    assert to_rgb_uint8(np.array([[0.0, 1.0, 0.5]]))[0, :, 0].tolist() == [0, 255, 128]
    assert to_rgb_uint8(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]


def test_truncated_file_is_named(tmp_path, rng):
    path = write_image(tmp_path / "cut.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ImageReadError, match="cut.png"):
        read_rgb(path)


def test_not_an_image_is_named(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture")
    with pytest.raises(ImageReadError, match="notes.jpg: unreadable or corrupt"):
        read_rgb(path)
