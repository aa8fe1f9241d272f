"""Images for GLM's vision models: ``chat(..., images=[...])`` and ``%%glm --image x``.

Each image becomes an ``image_url`` part, ``{"type": "image_url", "image_url": {"url": ...}}``:
an https URL as given, anything local as a ``data:image/png;base64,...`` (or jpeg) URI. Accepted: a
matplotlib Figure (saved as PNG), a PIL image, a numpy array (H×W gray, H×W×3 RGB or H×W×4 RGBA;
uint8, bool, or floats in 0-1; encoded here with zlib, no Pillow needed), PNG or JPEG bytes, a
path, an https URL, or a ready ``image_url`` part.

Checked before sending, with the fix in each message (GLM_PROTOCOL.md): PNG or JPEG only, under
5 MB and at most 6000×6000 px. A larger image is downscaled when Pillow is installed, and a note
says so (the magic prints it, plain Python gets a UserWarning); without Pillow it is an error
that says how to shrink it. A GLM model known to read text only, asked with an image, is an error
naming a vision model (``glm-4.6v-flash``); other model names (OpenAI-compatible servers) are sent
as asked. Pillow, numpy and matplotlib are never imported for an image that does not need them.

Bounded before anything is read or decoded: a file is stat'ed first and one over 50 MB
(``MAX_READ_BYTES``) is refused unread (and read with that cap, in case it grows); the pixel count
comes from the header (ours, else Pillow's lazy ``Image.open``) and an image of more than 40
million pixels (``MAX_DECODE_PIXELS``) is never decoded at full size: a JPEG is decoded reduced
(``Image.draft``), a PNG is refused with what to do. An image whose header cannot be read, or
that must be downscaled and is corrupt or truncated, is an InvalidOptionError (a UsageError in the
magic) saying so, never Pillow's own error. (One within the limits is sent as it is, unchecked
and without importing Pillow; the server says if it cannot read it.)
"""

from __future__ import annotations

import base64
import io
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import InvalidOptionError

__all__ = ["MAX_BYTES", "MAX_SIDE", "TEXT_ONLY_MODELS", "VISION_MODEL", "VISION_MODELS", "image_parts"]

VISION_MODEL = "glm-4.6v-flash"  # free on z.ai's price list
MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 6000
MAX_READ_BYTES = 50 * 1024 * 1024  # a bigger file is refused before it is read
MAX_DECODE_PIXELS = 40_000_000  # about 6000x6000 plus room; RGBA at this size is 160 MB
MAX_IMAGES = 150  # GLM-4.6V and 5V; GLM-4.5V takes 50
# Model knowledge as read on 2026-12-05 (GLM's API reference and model overviews). GLM-5.3-Flash/X
# and GLM-5.4 (released 2026-12-02) are reported to read images; GLM-5.3, 5.2 and 5.1 read text only.
#: GLM models that take images (for reference; names not in TEXT_ONLY_MODELS are sent as asked).
VISION_MODELS = frozenset(
    {
        "glm-5.4",
        "glm-5.3-flash",
        "glm-5.3-flashx",
        "glm-5v-turbo",
        "glm-4.6v",
        "glm-4.6v-flash",
        "glm-4.6v-flashx",
        "glm-4.5v",
        "glm-4.1v-thinking-flash",
        "glm-4.1v-thinking-flashx",
        "glm-4v-flash",
    }
)
#: GLM models known to read text only: an image for one of them is an error naming VISION_MODEL.
TEXT_ONLY_MODELS = frozenset(
    {
        "glm-5.3",
        "glm-5.2",
        "glm-5.1",
        "glm-5-turbo",
        "glm-5",
        "glm-4.7",
        "glm-4.7-flash",
        "glm-4.7-flashx",
        "glm-4.6",
        "glm-4.5",
        "glm-4.5-x",
        "glm-4.5-air",
        "glm-4.5-airx",
        "glm-4.5-flash",
        "glm-4-plus",
        "glm-4-air",
        "glm-4-flash",
        "glm-4-long",
    }
)

_PNG = b"\x89PNG\r\n\x1a\n"
_KINDS = (
    "a matplotlib Figure, a PIL image, a numpy array (H×W, H×W×3 or H×W×4), PNG or JPEG bytes, "
    "a file path or an https URL"
)


def image_parts(images: Sequence[Any], *, model: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``image_url`` parts for ``images`` and notes on what was changed (downscaling)."""
    images = list(images)
    if not images:
        return [], []
    if model and model.lower() in TEXT_ONLY_MODELS:
        raise InvalidOptionError(
            f"{model} reads text only: for images use a vision model, e.g. model={VISION_MODEL!r} "
            f"(%%glm --model {VISION_MODEL})."
        )
    limit = 50 if model and model.lower().startswith("glm-4.5v") else MAX_IMAGES
    if len(images) > limit:
        raise InvalidOptionError(
            f"{len(images)} images: {model or 'GLM'} takes at most {limit} in one message."
        )
    parts, notes = [], []
    for number, image in enumerate(images, 1):
        part, note = _part(image, number)
        parts.append(part)
        if note:
            notes.append(note)
    return parts, notes


def _url_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def _part(image: Any, number: int) -> tuple[dict[str, Any], str | None]:
    label = f"image {number}"
    if isinstance(image, dict):
        url = (image.get("image_url") or {}).get("url") if image.get("type") == "image_url" else None
        if not isinstance(url, str):
            raise InvalidOptionError(
                f"{label}: a dict must be an image_url part, {{'type': 'image_url', ...}}."
            )
        return image, None
    if isinstance(image, str) and image.startswith(("https://", "data:image/")):
        return _url_part(image), None
    if isinstance(image, str) and image.startswith("http://"):
        raise InvalidOptionError(
            f"{label}: {image!r} is plain http: give an https URL, or download it and pass the path."
        )
    data = _encoded(image, label)
    data, note = _within_limits(data, label)
    mime = "image/png" if data.startswith(_PNG) else "image/jpeg"
    return _url_part(f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"), note


def _module(obj: Any) -> str:
    return type(obj).__module__.partition(".")[0]


def _encoded(image: Any, label: str) -> bytes:
    """PNG or JPEG bytes for one local image (format checked)."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image).expanduser()
        if not path.is_file():
            raise InvalidOptionError(
                f"{label}: no file {str(path)!r}; give a path to a PNG or JPEG file, or an https URL."
            )
        data = _read_capped(path, label)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        if len(image) > MAX_READ_BYTES:
            raise InvalidOptionError(_too_large(label, len(image)))
        data = bytes(image)
    elif _module(image) == "matplotlib" and hasattr(image, "savefig"):
        buffer = io.BytesIO()
        image.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        data = buffer.getvalue()
    elif _module(image) == "matplotlib" and hasattr(getattr(image, "figure", None), "savefig"):
        return _encoded(image.figure, label)  # an Axes: its figure
    elif _module(image) == "PIL" and hasattr(image, "save"):
        data = _from_pil(image)
    elif _module(image) == "numpy" and hasattr(image, "shape"):
        data = png_from_array(image, label)
    else:
        raise InvalidOptionError(f"{label}: a {type(image).__name__} is not an image; give {_KINDS}.")
    _format(data, label)
    return data


def _too_large(label: str, size: int) -> str:
    return (
        f"{label} is {size / 1e6:,.1f} MB: images over {MAX_READ_BYTES // 2**20} MB are not read; "
        "save a smaller copy first (fewer pixels, or JPEG), e.g. with Pillow: "
        "img = PIL.Image.open(path); img.thumbnail((4000, 4000)); img.save('small.jpg')."
    )


def _read_capped(path: Path, label: str) -> bytes:
    """The file's bytes, refused by its size before reading (and read with the cap regardless)."""
    try:
        size = path.stat().st_size
        if size > MAX_READ_BYTES:
            raise InvalidOptionError(_too_large(label, size))
        with path.open("rb") as file:
            data = file.read(MAX_READ_BYTES + 1)
    except OSError as exc:
        raise InvalidOptionError(f"{label}: cannot read {str(path)!r} ({exc.strerror or exc}).") from None
    if len(data) > MAX_READ_BYTES:  # it grew while we looked
        raise InvalidOptionError(_too_large(label, len(data)))
    return data


def _from_pil(image: Any) -> bytes:
    buffer = io.BytesIO()
    if image.format == "JPEG" and image.mode in ("RGB", "L"):
        image.save(buffer, format="JPEG", quality=90)
    else:
        if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_from_array(array: Any, label: str = "image") -> bytes:
    """A PNG from an H×W, H×W×1, H×W×3 or H×W×4 array (uint8, bool, or floats in 0-1)."""
    import numpy as np  # already imported: ``array`` is a numpy array

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or 0 in a.shape:
        raise InvalidOptionError(
            f"{label}: an array of shape {a.shape} is not an image; give H×W (gray), H×W×3 (RGB) or H×W×4 (RGBA)."
        )
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise InvalidOptionError(
                f"{label}: float pixel values must be within 0-1 (no NaN); scale the array first."
            )
        a = np.round(a * 255).astype(np.uint8)
    elif a.dtype.kind in "iu":
        if a.min() < 0 or a.max() > 255:
            raise InvalidOptionError(
                f"{label}: integer pixel values must be within 0-255; scale the array first."
            )
        a = a.astype(np.uint8)
    else:
        raise InvalidOptionError(
            f"{label}: pixels of dtype {a.dtype} are not an image; use uint8 or floats in 0-1."
        )
    height, width = a.shape[:2]
    color = {2: 0, 3: 2, 4: 6}[a.ndim if a.ndim == 2 else a.shape[2]]
    rows = np.concatenate([np.zeros((height, 1), np.uint8), a.reshape(height, -1)], axis=1)  # filter 0

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (
        _PNG + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b"")
    )


def _format(data: bytes, label: str) -> str:
    if data.startswith(_PNG):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    kind = next((name for magic, name in _OTHER_FORMATS if data.startswith(magic)), "not an image")
    raise InvalidOptionError(
        f"{label} is {kind}: GLM takes PNG or JPEG only; convert it first, e.g. with Pillow: "
        "PIL.Image.open(path).save('image.png')."
    )


_OTHER_FORMATS = (
    (b"GIF8", "GIF"),
    (b"RIFF", "WebP"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG or JPEG header; None when the header cannot be read."""
    if data.startswith(_PNG):
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return (width, height) if width and height else None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01, 0xFF) or 0xD0 <= marker <= 0xD7:
            i += 1 if marker == 0xFF else 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return (width, height) if width and height else None
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def _broken(label: str, data: bytes, exc: BaseException) -> InvalidOptionError:
    kind = "PNG" if data.startswith(_PNG) else "JPEG"
    return InvalidOptionError(
        f"{label} is a {kind} file that cannot be read (corrupt or cut short: {type(exc).__name__}). "
        "Open it in an image viewer to check it, save it again, and pass the new file."
    )


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _too_many_pixels(label: str, what: str, pixels: int) -> InvalidOptionError:
    return InvalidOptionError(
        f"{label} is {what}: {pixels / 1e6:,.0f} million pixels is too many to downscale here (at "
        f"most {MAX_DECODE_PIXELS / 1e6:.0f} million: decoding it would take gigabytes). Resize it "
        "first with a tool that streams (e.g. vips or ImageMagick), or save it as JPEG, which is "
        "decoded reduced."
    )


def _checked(Image: Any, data: bytes, label: str) -> tuple[int, int]:
    """The size from Pillow's header reading; the file's structure checked without decoding it at
    full size (PNG: chunk CRCs; JPEG: the whole stream decoded at 1/8 scale)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            size = image.size
            if data.startswith(_PNG):
                image.verify()
            else:
                image.draft("L", (max(1, size[0] // 8), max(1, size[1] // 8)))
                image.load()  # a truncated JPEG fails here, at a few MB at most
    except Image.DecompressionBombError:
        known = image_size(data)
        what = f"{known[0]}x{known[1]} px" if known else f"{len(data) / 1e6:.1f} MB"
        pixels = known[0] * known[1] if known else 2 * Image.MAX_IMAGE_PIXELS
        raise _too_many_pixels(label, what, pixels) from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for a bad file
        raise _broken(label, data, exc) from None
    return size


def _within_limits(data: bytes, label: str) -> tuple[bytes, str | None]:
    size = image_size(data)
    Image = None
    if size is None:  # our header reading failed: Pillow's, or a clear error
        Image = _pillow()
        if Image is None:
            raise InvalidOptionError(
                f"{label}: its size cannot be read from the header (corrupt or cut short?). Open it "
                "in an image viewer to check it, save it again, and pass the new file."
            )
        size = _checked(Image, data, label)
    too_big = len(data) >= MAX_BYTES
    too_wide = max(size) > MAX_SIDE
    if not (too_big or too_wide):
        return data, None
    what = f"{size[0]}x{size[1]} px, {len(data) / 1e6:.1f} MB"
    Image = Image or _pillow()
    if Image is None:
        raise InvalidOptionError(
            f"{label} is {what}: GLM takes under 5 MB and at most {MAX_SIDE}x{MAX_SIDE} px. Make it "
            "smaller (fewer pixels, or JPEG), or pip install pillow and glm_notebook downscales it."
        )
    _checked(Image, data, label)
    try:
        return _downscale(Image, data, label, what)
    except InvalidOptionError:
        raise
    except Exception as exc:  # noqa: BLE001 - a pixel stream broken past its header
        raise _broken(label, data, exc) from None


def _downscale(Image: Any, data: bytes, label: str, what: str) -> tuple[bytes, str]:
    import warnings

    with warnings.catch_warnings():  # the pixel count is checked below, with our own cap
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))  # lazy: the header only
    jpeg = data.startswith(b"\xff\xd8\xff")
    pixels = image.width * image.height
    if jpeg and pixels > MAX_DECODE_PIXELS:
        # Decode at 1/2, 1/4 or 1/8 size, no full bitmap: draft() picks the smallest scale that is
        # at least the size asked, so asking half the size that fits lands within the cap.
        fit = (MAX_DECODE_PIXELS / pixels) ** 0.5 / 2
        image.draft("RGB", (max(1, int(image.width * fit)), max(1, int(image.height * fit))))
    if image.width * image.height > MAX_DECODE_PIXELS:
        raise _too_many_pixels(label, what, image.width * image.height)
    image.load()
    scale = min(1.0, MAX_SIDE / max(image.size))
    for _ in range(12):
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        small = image.resize(size, Image.LANCZOS) if size != image.size else image
        buffer = io.BytesIO()
        if jpeg:
            small.save(buffer, format="JPEG", quality=85)
        else:
            small.save(buffer, format="PNG", optimize=True)
        out = buffer.getvalue()
        if len(out) < MAX_BYTES:
            note = (
                f"{label} was downscaled from {what} to {size[0]}x{size[1]} px, {len(out) / 1e6:.1f} MB "
                f"(with Pillow) to fit GLM's limits (under 5 MB, at most {MAX_SIDE}x{MAX_SIDE} px)."
            )
            return out, note
        scale *= 0.7
    raise InvalidOptionError(f"{label} is {what} and stays over 5 MB when downscaled: save it as JPEG first.")


THUMBNAIL_SIDE = 160


def describe_part(part: dict[str, Any], number: int) -> tuple[str, bytes | None]:
    """A line saying what was sent as image ``number``, and a small PNG of it (None for a URL, or
    when Pillow is not installed: a thumbnail needs resampling)."""
    url = part["image_url"]["url"]
    if not url.startswith("data:"):
        return f"image {number}: {url}", None
    data = base64.b64decode(url.split(",", 1)[1])
    size = image_size(data)
    kind = "PNG" if data.startswith(_PNG) else "JPEG"
    pixels = f"{size[0]}x{size[1]} px " if size else ""
    line = f"image {number}: {pixels}{kind}, {len(data) / 1024:,.0f} KB"
    try:
        from PIL import Image
    except ImportError:
        return line, None
    try:
        image: Any = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_DECODE_PIXELS:
            return line, None  # an image_url part given ready-made: not decoded here
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            image = image.convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
    except Exception:  # noqa: BLE001 - a thumbnail is a nicety: a bad image just has none
        return line, None
    return line, buffer.getvalue()
