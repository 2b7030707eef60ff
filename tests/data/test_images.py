"""open_image / load_image: every mode to RGB, resizing, and a clear error for every bad file."""
from __future__ import annotations

import io
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modiste.data import BadImageError, ImagePolicy, load_image, open_image, to_size


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny valid PNG whose IHDR then claims ``width`` x ``height`` (CRC fixed up)."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    data = bytearray(buf.getvalue())
    # Signature (8) + chunk length (4) + b"IHDR" (4), then width and height.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def truncated_jpeg(path: Path) -> Path:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "JPEG", quality=95)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 6 // 10])
    return path


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
        (truncated_jpeg, "truncated or corrupt image data"),
        (lambda p: p.write_text("hello, not a photo\n"), "not an image Pillow can read"),
        (lambda p: Image.new("RGB", (1, 1)).save(p, "PNG"), "too small: 1x1 px (min_side 8)"),
        (
            lambda p: png_claiming(p, 30000, 30000),
            "30000x30000 = 900.0 Mpx exceeds the 89.5 Mpx limit (max_pixels)",
        ),
        (lambda p: None, "file not found"),
    ],
    ids=["empty", "truncated", "text", "1x1", "bomb", "missing"],
)
def test_bad_files_raise_bad_image_error(tmp_path, make, reason):
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(BadImageError) as info:
        open_image(path, size=32)
    assert str(path) in str(info.value)
    assert reason in info.value.reason
    assert str(info.value) == f"{path}: {info.value.reason}"
    assert info.value.path == str(path)


def test_bomb_below_pillows_hard_limit_is_ours(tmp_path):
    # Pillow only warns between its limit and twice it; our header check must still refuse.
    path = png_claiming(tmp_path / "big.png", 10000, 10000)
    expected = r"10000x10000 = 100.0 Mpx exceeds the 89.5 Mpx limit \(max_pixels\)"
    with pytest.raises(BadImageError, match=expected):
        open_image(path)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # global untouched


def test_raised_max_pixels_names_pillows_limit(tmp_path):
    path = png_claiming(tmp_path / "huge.png", 30000, 30000)
    with pytest.raises(BadImageError, match=r"MAX_IMAGE_PIXELS"):
        open_image(path, max_pixels=10**9)


def test_max_pixels_is_a_setting(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (100, 100)).save(path)
    with pytest.raises(BadImageError, match="max_pixels"):
        open_image(path, ImagePolicy(max_pixels=5000))
    assert open_image(path, ImagePolicy(max_pixels=10_000)).size == (100, 100)


def test_bad_image_error_pickles():
    e = pickle.loads(pickle.dumps(BadImageError("a.jpg", "file not found")))
    assert (e.path, e.reason, str(e)) == ("a.jpg", "file not found", "a.jpg: file not found")


def _rgb(path, **kw) -> np.ndarray:
    return np.asarray(open_image(path, **kw))


def test_rgba_transparent_becomes_fill(tmp_path):
    im = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    im.putpixel((0, 0), (0, 0, 0, 0))
    im.save(tmp_path / "a.png")
    a = _rgb(tmp_path / "a.png")
    assert a[0, 0].tolist() == [255, 255, 255]
    assert a[5, 5].tolist() == [255, 0, 0]
    assert _rgb(tmp_path / "a.png", fill=(0, 0, 0))[0, 0].tolist() == [0, 0, 0]


def test_la_half_transparent_composites_on_white(tmp_path):
    Image.new("LA", (10, 10), (0, 128)).save(tmp_path / "a.png")
    assert np.allclose(_rgb(tmp_path / "a.png")[3, 3], 127, atol=1)


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (10, 10), 1)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    im.putpixel((0, 0), 0)
    im.info["transparency"] = 0
    im.save(tmp_path / "a.png", transparency=0)
    a = _rgb(tmp_path / "a.png")
    assert a[0, 0].tolist() == [255, 255, 255]
    assert a[5, 5].tolist() == [0, 0, 255]


@pytest.mark.parametrize(
    "mode, fmt, value, expected",
    [
        ("CMYK", "JPEG", (0, 255, 255, 0), (255, 0, 0)),
        ("L", "PNG", 200, (200, 200, 200)),
        ("1", "PNG", 1, (255, 255, 255)),
        ("P", "GIF", 3, None),
    ],
)
def test_modes_become_rgb(tmp_path, mode, fmt, value, expected):
    path = tmp_path / f"a.{fmt.lower()}"
    Image.new(mode, (16, 16), value).save(path, fmt)
    im = open_image(path)
    assert im.mode == "RGB" and im.size == (16, 16)
    if expected is not None:
        assert np.allclose(np.asarray(im)[8, 8], expected, atol=3)


def test_16bit_gradient_spans_full_range(tmp_path):
    ramp = np.linspace(0, 65535, 256).round().astype(np.uint16)
    Image.fromarray(np.tile(ramp, (8, 1))).save(tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "I;16"
    row = _rgb(tmp_path / "g.png")[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row.astype(int)) >= 0) and len(np.unique(row)) > 200


def test_float_and_int32_are_scaled(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 1))
    Image.fromarray(ramp).save(tmp_path / "f.tif")
    row = _rgb(tmp_path / "f.tif")[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    Image.fromarray((ramp * 1e6).astype(np.int32)).save(tmp_path / "i.tif")
    row = _rgb(tmp_path / "i.tif")[0, :, 0]
    assert row[0] == 0 and row[-1] == 255


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 10, 10))  # red block top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display = rotate 90 degrees clockwise
    im.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = open_image(tmp_path / "r.jpg")
    assert out.size == (20, 40)
    a = np.asarray(out)
    assert a[2, 17, 0] > 200 and a[2, 17, 2] < 60  # top-left went to top-right
    assert a[2, 2, 2] > 200


def test_exif_orientation_with_jpeg_draft(tmp_path):
    im = Image.new("RGB", (800, 400), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(tmp_path / "r.jpg", exif=exif)
    a = load_image(tmp_path / "r.jpg", ImagePolicy(size=(100, 100)))
    # Displayed 400x800 portrait -> 50x100 red column centred, white at the sides.
    assert a.shape == (3, 100, 100)
    assert a[:, 50, 5].tolist() == [255, 255, 255]
    assert a[0, 50, 50] > 240 and a[1, 50, 50] < 15


def test_letterbox_pads_portrait_left_right(tmp_path):
    Image.new("RGB", (30, 60), (0, 0, 0)).save(tmp_path / "p.png")
    a = load_image(tmp_path / "p.png", size=32)
    assert a.shape == (3, 32, 32) and a.dtype == torch.uint8 and a.is_contiguous()
    # 30x60 -> 16x32 centred: columns 8..23 black, the rest white.
    assert (a[:, :, :8] == 255).all() and (a[:, :, 24:] == 255).all()
    assert (a[:, :, 9:23] == 0).all()


def test_center_crop_fills(tmp_path):
    im = Image.new("RGB", (30, 60), (0, 0, 0))
    im.paste((255, 0, 0), (0, 0, 30, 10))  # red band at the top: cropped away (rows 0..14 go)
    im.save(tmp_path / "p.png")
    a = load_image(tmp_path / "p.png", size=(32, 32), resize="center-crop")
    assert a.shape == (3, 32, 32) and (a == 0).all()


def test_stretch_and_keep_size(tmp_path):
    Image.new("RGB", (30, 60), (9, 9, 9)).save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png", size=(20, 50), resize="stretch").shape == (3, 20, 50)
    assert load_image(tmp_path / "p.png").shape == (3, 60, 30)


def test_jpeg_draft_never_below_target(tmp_path):
    Image.new("RGB", (1600, 1200), (0, 200, 0)).save(tmp_path / "big.jpg")
    for resize in ("letterbox", "center-crop", "stretch"):
        a = load_image(tmp_path / "big.jpg", size=(90, 70), resize=resize)
        assert a.shape == (3, 90, 70)


def test_policy_validation_and_to_size():
    assert to_size(5) == (5, 5) and to_size([4, 6]) == (4, 6)
    assert ImagePolicy(size=[8, 9], fill=[0, 0, 0]) == ImagePolicy(size=(8, 9), fill=(0, 0, 0))
    with pytest.raises(ValueError):
        ImagePolicy(resize="squash")
    with pytest.raises(ValueError):
        to_size(0)


def _photo(w: int, h: int, seed: int) -> Image.Image:
    """Smooth colour gradients plus noise: a JPEG with real detail at every scale."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("kind", ["small", "draft", "grey", "progressive", "exif-upright", "exif-rotated", "cmyk"])
@pytest.mark.parametrize("resize", ["letterbox", "center-crop", "stretch"])
def test_plain_jpeg_fast_path_gives_pillows_pixels(tmp_path, kind, resize):
    """The libjpeg-turbo path for plain JPEGs decodes exactly what the Pillow path gives, at the
    same draft scale; the files it does not take (rotated, CMYK) still come out right."""
    from modiste.data import images

    im = _photo(64, 64, 0) if kind == "small" else _photo(461, 343, 1)
    kw: dict = {"quality": 90}
    if kind == "grey":
        im = im.convert("L")
    elif kind == "progressive":
        kw["progressive"] = True
    elif kind == "cmyk":
        im = im.convert("CMYK")
    elif kind.startswith("exif"):
        exif = Image.Exif()
        exif[0x0112] = 1 if kind == "exif-upright" else 6
        exif[0x010F] = "modiste"  # a tag before it, so the walk has entries to pass over
        kw["exif"] = exif
    path = tmp_path / "a.jpg"
    im.save(path, "JPEG", **kw)
    data = path.read_bytes()
    expected_fast = kind not in ("exif-rotated", "cmyk")
    for size in [None, (64, 64), (90, 70), (40, 100), (170, 230)]:
        policy = ImagePolicy(size=size, resize=resize)
        assert (images._decode_plain_jpeg(data, policy) is not None) == expected_fast
        pillow = np.asarray(open_image(path, policy)).transpose(2, 0, 1)
        np.testing.assert_array_equal(load_image(path, policy).numpy(), pillow, err_msg=f"{kind} {size}")


def test_fast_path_refuses_what_pillow_would_refuse(tmp_path):
    from modiste.data import images

    data = truncated_jpeg(tmp_path / "t.jpg").read_bytes()
    assert images._decode_plain_jpeg(data, ImagePolicy(size=(32, 32))) is None
    _photo(64, 64, 2).save(tmp_path / "b.jpg", quality=90)
    with pytest.raises(BadImageError, match="exceeds the 0.0 Mpx limit"):
        load_image(tmp_path / "b.jpg", max_pixels=100)
    assert images._jpeg_orientation(b"\xff\xd8\xff\xe1\x00\x08Exif\x00\x00") is None  # a cut-off EXIF block
