"""Open any image the way users' photos come: safely, upright, RGB, at the size a model wants."""
from __future__ import annotations

import io
import math
import os
import stat
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Iterable

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # libjpeg-turbo without Pillow's per-file Python work: about 4x faster on small JPEGs
    import simplejpeg
except ImportError:  # pragma: no cover - an optional speed-up; Pillow decodes everything
    simplejpeg = None

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
RESIZE_MODES = ("letterbox", "center-crop", "stretch")

# Antialiased in Pillow's resize; reducing_gap first shrinks by an integer box filter, which is
# much faster on big photos and, at a gap of 3, indistinguishable from resampling all the way.
_RESAMPLE = Image.Resampling.BICUBIC
_REDUCING_GAP = 3.0
_ORIENTATION_TAG = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # these EXIF orientations swap width and height


class BadImageError(ValueError):
    """A file that cannot become a model input; ``reason`` is meant for humans."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        # The default pickling replays args (the formatted message) into __init__, which
        # wants two arguments; DataLoader workers and multiprocessing pickle exceptions.
        return type(self), (self.path, self.reason)


class BadImageWarning(UserWarning):
    """A bad file was skipped; the run goes on without it."""


def to_size(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``64 -> (64, 64)``; a pair is (height, width)."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        pair = (int(size), int(size))
    else:
        try:
            h, w = size  # type: ignore[misc]
            pair = (int(h), int(w))
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or a (height, width) pair, got {size!r}") from None
    if min(pair) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return pair


@dataclass(frozen=True)
class ImagePolicy:
    """How an image file becomes a model input."""

    # (height, width) like torch tensors; None keeps each image's own size (no batching then).
    size: tuple[int, int] | None = None
    # Product photos are mostly portrait and the whole garment matters, so by default nothing
    # is cut off: the image is fitted whole and the rest padded with `fill`.
    resize: str = "letterbox"
    # White, like product-photo backgrounds; also what transparent pixels become.
    fill: tuple[int, int, int] = (255, 255, 255)
    # Decompression-bomb guard, checked on the header before any pixel is decoded;
    # the same number as Pillow's default PIL.Image.MAX_IMAGE_PIXELS.
    max_pixels: int = 89_478_485
    # Smaller images (icons, tracking pixels) carry no usable content.
    min_side: int = 8
    # A region cut out before resizing, as shares of the width and height: (left, top, right,
    # bottom), e.g. the torso of aligned person photos. None keeps the whole photo.
    box: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        # Normalise what comes back from JSON/CLI (ints, lists) so equal policies compare equal.
        if self.size is not None:
            object.__setattr__(self, "size", to_size(self.size))
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}; got {self.resize!r}")
        fill = tuple(int(c) for c in self.fill)
        if len(fill) != 3 or not all(0 <= c <= 255 for c in fill):
            raise ValueError(f"fill must be three ints in 0..255, got {self.fill!r}")
        object.__setattr__(self, "fill", fill)
        if self.max_pixels < 1 or self.min_side < 1:
            raise ValueError("max_pixels and min_side must be positive")
        if self.box is not None:
            box = tuple(float(v) for v in self.box)
            if len(box) != 4 or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
                raise ValueError(f"box must be (left, top, right, bottom) shares with 0 <= left < right <= 1 "
                                 f"and 0 <= top < bottom <= 1, got {self.box!r}")
            object.__setattr__(self, "box", box)


def resolve_policy(policy: ImagePolicy | None = None, **overrides) -> ImagePolicy:
    """``policy`` (or the default) with the non-None ``overrides`` applied."""
    policy = policy if policy is not None else ImagePolicy()
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(policy, **overrides) if overrides else policy


def open_image(
    path: str | os.PathLike,
    policy: ImagePolicy | None = None,
    *,
    size: int | tuple[int, int] | None = None,
    resize: str | None = None,
    fill: tuple[int, int, int] | None = None,
    max_pixels: int | None = None,
    min_side: int | None = None,
) -> Image.Image:
    """Open ``path`` as an upright RGB image resized per ``policy``; raises BadImageError.

    Keyword options override the policy's fields. Multi-frame files give their first frame.
    """
    policy = resolve_policy(
        policy, size=size, resize=resize, fill=fill, max_pixels=max_pixels, min_side=min_side
    )
    path = Path(path)
    return _fit(_decode(io.BytesIO(_read_bytes(path)), path, policy), policy)


def _read_bytes(path: Path) -> bytes:
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a folder, or a pipe that would never end
            raise BadImageError(path, "not a file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadImageError(path, "file not found") from None
    except OSError as e:
        raise BadImageError(path, f"cannot read file: {e.strerror or e}") from None
    if not data:
        raise BadImageError(path, "empty file (0 bytes)")
    return data


def load_image(path: str | os.PathLike, policy: ImagePolicy | None = None, **overrides) -> torch.Tensor:
    """Like open_image, as a contiguous uint8 tensor of shape (3, H, W)."""
    path = Path(path)
    return load_image_bytes(_read_bytes(path), path, resolve_policy(policy, **overrides))


def load_image_bytes(data: bytes, path: str | os.PathLike, policy: ImagePolicy | None = None) -> torch.Tensor:
    """``load_image`` for a file's bytes already read (``path`` names it in errors): one read
    serves both a content hash and the decode."""
    policy = resolve_policy(policy)
    if not data:
        raise BadImageError(path, "empty file (0 bytes)")
    pixels = _decode_plain_jpeg(data, policy) if policy.box is None else None
    if pixels is None:
        pixels = np.asarray(_fit(_cut(_decode(io.BytesIO(data), Path(path), policy), policy.box), policy))
    elif policy.size is not None and pixels.shape[:2] != policy.size:
        pixels = np.asarray(_fit(Image.fromarray(pixels, "RGB"), policy))
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


def _decode_plain_jpeg(data: bytes, policy: ImagePolicy) -> np.ndarray | None:
    """A plain JPEG (upright, YCbCr or grey, within the size limits) decoded by libjpeg-turbo
    directly, at the same reduced scale Pillow's draft mode picks, as (H, W, 3) uint8: the
    very pixels Pillow gives. None for anything else (other formats, EXIF rotations, CMYK,
    sizes the policy refuses, damaged data), which then takes Pillow's path and its errors."""
    if simplejpeg is None or data[:3] != b"\xff\xd8\xff" or _jpeg_orientation(data) != 1:
        return None
    try:
        h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        if colorspace not in ("YCbCr", "Gray") or w * h > policy.max_pixels or min(w, h) < policy.min_side:
            return None
        mins = {}
        if policy.size is not None:
            # Pillow's draft: the largest of 1/8, 1/4, 1/2 that still leaves the size needed
            tw, th = _draft_size_for(w, h, policy)
            scale = min(w // tw, h // th)
            a = next((a for a in (8, 4, 2) if scale >= a), 1)
            mins = {"min_width": -(-w // a), "min_height": -(-h // a)}
        pixels = simplejpeg.decode_jpeg(data, "RGB", strict=True, **mins)
    except (ValueError, ZeroDivisionError):
        return None
    if mins and pixels.shape[:2] != (mins["min_height"], mins["min_width"]):
        return None  # not Pillow's scale: let Pillow decode it
    return pixels


def _jpeg_orientation(data: bytes) -> int | None:
    """The EXIF orientation of JPEG ``data`` (1 when it has none), from the segments before the
    image data; None when they cannot be read."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\x00\x00":
            return _tiff_orientation(data[pos + 10:pos + 2 + length])
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):  # past the APPn/COM segments: no EXIF
            return 1
        pos += 2 + length
    return None


def _tiff_orientation(tiff: bytes) -> int | None:
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return None
    for i in range(int.from_bytes(tiff[ifd:ifd + 2], order)):
        entry = tiff[ifd + 2 + 12 * i:ifd + 14 + 12 * i]
        if len(entry) < 12:
            return None
        if int.from_bytes(entry[:2], order) == _ORIENTATION_TAG:
            value = int.from_bytes(entry[8:10], order)  # a SHORT, left-justified in the value field
            return value if 1 <= value <= 8 else None
    return 1


def _decode(fp: IO[bytes], path: Path, policy: ImagePolicy) -> Image.Image:
    """Header checks, then decode, orient and convert to RGB; every failure is a BadImageError."""
    try:
        # Our own header check below is the guard; Pillow's warning for sizes between its
        # limit and twice that would only repeat it (or contradict a raised max_pixels).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # A damaged EXIF block: the photo is still used (upright as far as the tags can be read),
            # and Pillow's note would not even name the file.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
            # Not `with Image.open(...)`: closing an image frees its pixels, and the caller's
            # `with open(path)` already closes the file.
            im = Image.open(fp)
            _check_header(path, im.size, policy)
            if im.format == "JPEG" and policy.size is not None and policy.box is None:
                im.draft("RGB", _draft_size(im, policy))
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
            return _to_rgb(im, policy.fill)
    except BadImageError:
        raise
    except Image.DecompressionBombError as e:
        raise BadImageError(path, _refused_size_reason(fp, e, policy)) from None
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image Pillow can read") from None
    except (OSError, SyntaxError, EOFError, ValueError) as e:
        # Pillow reports damaged data as OSError ("image file is truncated"), SyntaxError
        # (broken chunks) or ValueError, depending on the plugin.
        raise BadImageError(path, f"truncated or corrupt image data: {e}") from None
    except Exception as e:  # a crash on one user's file must not end the run
        raise BadImageError(path, f"cannot decode image: {type(e).__name__}: {e}") from e


def _check_header(path: Path, size: tuple[int, int], policy: ImagePolicy) -> None:
    w, h = size
    if w * h > policy.max_pixels:
        raise BadImageError(path, _too_big(w, h, policy.max_pixels, "max_pixels"))
    if min(w, h) < policy.min_side:
        raise BadImageError(path, f"too small: {w}x{h} px (min_side {policy.min_side})")


def _too_big(w: int, h: int, limit: int, name: str) -> str:
    return f"{w}x{h} = {w * h / 1e6:.1f} Mpx exceeds the {limit / 1e6:.1f} Mpx limit ({name})"


def _refused_size_reason(fp: IO[bytes], err: Exception, policy: ImagePolicy) -> str:
    """Pillow refuses images over twice its global limit inside Image.open, before we see the
    size; read just the header again with the plugins (they do not check) to name it."""
    size = _header_size(fp)
    if size is None:
        return f"decompression bomb guard: {err}"
    w, h = size
    if w * h > policy.max_pixels:
        return _too_big(w, h, policy.max_pixels, "max_pixels")
    # The policy allows it but Pillow's process-wide limit does not; say which one to raise.
    return _too_big(w, h, 2 * (Image.MAX_IMAGE_PIXELS or 0), "2 x PIL.Image.MAX_IMAGE_PIXELS")


def _header_size(fp: IO[bytes]) -> tuple[int, int] | None:
    try:
        fp.seek(0)
        prefix = fp.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            if accept is not None and accept(prefix) is not True:
                continue
            try:
                fp.seek(0)
                return factory(fp, "").size
            except Exception:
                continue
    except Exception:
        pass
    return None


def _draft_size(im: Image.Image, policy: ImagePolicy) -> tuple[int, int]:
    """The smallest (width, height) to decode at, in the file's stored orientation, such that
    resizing to the target never has to upscale: JPEG can decode at 1/2, 1/4 or 1/8 scale."""
    w, h = im.size
    if im.getexif().get(_ORIENTATION_TAG, 1) in _TRANSPOSING_ORIENTATIONS:
        need = _draft_size_for(h, w, policy)
        return need[1], need[0]
    return _draft_size_for(w, h, policy)


def _draft_size_for(w: int, h: int, policy: ImagePolicy) -> tuple[int, int]:
    """The (width, height) needed from an upright ``w`` x ``h`` image."""
    th, tw = policy.size  # type: ignore[misc]
    if policy.resize == "stretch":
        return tw, th
    fit = min if policy.resize == "letterbox" else max
    s = fit(tw / w, th / h)
    return math.ceil(w * s), math.ceil(h * s)


def _to_rgb(im: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """Any Pillow mode -> RGB; transparency is composited on ``fill``."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(im), im.mode), "L").convert("RGB")
    has_alpha = im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    if not has_alpha:
        return im.convert("RGB")
    if im.mode == "La":  # Pillow has no direct La -> RGBA conversion
        im = im.convert("LA")
    rgba = im.convert("RGBA")
    out = Image.new("RGB", rgba.size, fill)
    out.paste(rgba, mask=rgba.getchannel("A"))
    return out


def _to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit, 32-bit and float pixels to 0..255 instead of clipping them at 255.

    16-bit data keeps its meaning (65535 -> 255). Mode "I" often holds 16-bit data too
    (Pillow reads some 16-bit files that way) and is scaled as such when it fits; floats in
    0..1 are taken as normalised. Anything else is stretched from its min to its max.
    """
    a = a.astype(np.float64)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
    if mode.startswith("I;16") or (mode == "I" and 0 <= lo and hi <= 65535):
        scaled = a / 257.0
    elif mode == "F" and 0 <= lo and hi <= 1:
        scaled = a * 255.0
    elif hi > lo:
        scaled = (a - lo) * (255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(a)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def load_readable(paths: Iterable[str | os.PathLike], policy: ImagePolicy | None = None,
                  stacklevel: int = 3) -> tuple[list[torch.Tensor], list[str]]:
    """(images, their paths as str) for the files that can be read; each one that cannot is
    skipped with a BadImageWarning naming it and the reason."""
    images, names = [], []
    for path in paths:
        try:
            images.append(load_image(path, policy))
            names.append(str(path))
        except BadImageError as e:
            warnings.warn(str(e), BadImageWarning, stacklevel=stacklevel)
    return images, names


def fit_image(image: torch.Tensor, policy: ImagePolicy) -> torch.Tensor:
    """A decoded uint8 (3, H, W) image resized as ``policy`` says (e.g. a crop, to a model's input)."""
    im = Image.fromarray(image.permute(1, 2, 0).contiguous().numpy(), "RGB")
    return torch.from_numpy(np.asarray(_fit(im, policy)).transpose(2, 0, 1).copy())


def _cut(im: Image.Image, box: tuple[float, float, float, float] | None) -> Image.Image:
    if box is None:
        return im
    w, h = im.size
    left, top = min(int(box[0] * w), w - 1), min(int(box[1] * h), h - 1)
    return im.crop((left, top, max(left + 1, round(box[2] * w)), max(top + 1, round(box[3] * h))))


def _fit(im: Image.Image, policy: ImagePolicy) -> Image.Image:
    """Resize an RGB image to ``policy.size`` as ``policy.resize`` says."""
    if policy.size is None:
        return im
    th, tw = policy.size
    w, h = im.size
    if (w, h) == (tw, th):
        return im
    if policy.resize == "stretch":
        return im.resize((tw, th), _RESAMPLE, reducing_gap=_REDUCING_GAP)
    if policy.resize == "center-crop":
        # Resample only the centre region that survives the crop: one pass, no wasted pixels.
        s = max(tw / w, th / h)
        cw, ch = tw / s, th / s
        left, top = (w - cw) / 2, (h - ch) / 2
        # clamped: on the side that is kept whole, rounding can put the box a hair outside
        box = (max(left, 0.0), max(top, 0.0), min(left + cw, w), min(top + ch, h))
        return im.resize((tw, th), _RESAMPLE, box=box, reducing_gap=_REDUCING_GAP)
    s = min(tw / w, th / h)
    nw, nh = min(tw, max(1, round(w * s))), min(th, max(1, round(h * s)))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), _RESAMPLE, reducing_gap=_REDUCING_GAP)
    canvas = Image.new("RGB", (tw, th), policy.fill)
    canvas.paste(im, ((tw - nw) // 2, (th - nh) // 2))
    return canvas
