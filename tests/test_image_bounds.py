"""--image / images= are bounded before they are read or decoded: a huge file by its size (a sparse
3 GB file, never read), a PNG bomb by its declared pixels (peak memory measured in a subprocess),
and corrupt or truncated images are clear errors (UsageError in the magic), never Pillow's own."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from PIL import Image

from glm_notebook import InvalidOptionError
from glm_notebook.context._images import MAX_READ_BYTES, image_parts

VISION = "glm-4.6v-flash"


def png_bytes(width, height):
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 60).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(width, height, noise=True):
    buffer = io.BytesIO()
    image = (
        Image.effect_noise((width, height), 60).convert("RGB") if noise else Image.new("RGB", (width, height))
    )
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png_bomb(path, side=13_000):
    """A real, valid PNG of side x side black RGB pixels, written row by row (a few MB of memory)."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (side * 3 + 1)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)))
        file.write(chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def test_a_3_gb_file_is_refused_by_its_size_without_reading_it(tmp_path):
    path = tmp_path / "huge.png"
    with open(path, "wb") as file:
        file.write(png_bytes(4, 4))
    os.truncate(path, 3 * 1024**3)  # sparse: takes no disk space, and no memory unless read
    code = textwrap.dedent(
        f"""
        from glm_notebook.context._images import image_parts
        try:
            image_parts([{str(path)!r}], model="glm-4.6v-flash")
        except Exception as exc:
            print(type(exc).__name__, exc)
        # VmHWM: this process's own peak (ru_maxrss would keep the forking pytest's across exec)
        peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
        print(int(peak.split()[1]) // 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    message, peak_mb = out.stdout.strip().rsplit("\n", 1)
    assert message.startswith("InvalidOptionError image 1 is 3,221.2 MB: images over 50 MB are not read")
    assert "save a smaller copy first" in message
    assert int(peak_mb) < 200, out.stdout  # reading it would take 3 GB


def test_bytes_over_the_read_cap_are_refused():
    with pytest.raises(InvalidOptionError, match="are not read"):
        image_parts([b"\x89PNG\r\n\x1a\n" + bytes(MAX_READ_BYTES)], model=VISION)


def test_a_png_bomb_is_refused_by_its_pixel_count_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    png_bomb(path)
    assert path.stat().st_size < 1_000_000  # about 500 KB on disk, 507 MB of pixels
    code = textwrap.dedent(
        f"""
        from PIL import Image
        from glm_notebook.context._images import image_parts
        try:
            image_parts([{str(path)!r}], model="glm-4.6v-flash")
        except Exception as exc:
            print(type(exc).__name__, exc)
        # VmHWM: this process's own peak (ru_maxrss would keep the forking pytest's across exec)
        peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
        print(int(peak.split()[1]) // 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    message, peak_mb = out.stdout.strip().rsplit("\n", 1)
    assert message.startswith("InvalidOptionError image 1 is 13000x13000 px"), out
    assert "169 million pixels is too many to downscale here" in message
    assert int(peak_mb) < 300, out.stdout  # decoding it took 1.7 GB


def test_a_big_jpeg_is_decoded_reduced(tmp_path):
    data = jpeg_bytes(9000, 6000, noise=False)  # 54 million pixels: over the decode cap, fine as a draft
    parts, notes = image_parts([data], model=VISION)
    assert "downscaled from 9000x6000 px" in notes[0]


@pytest.mark.parametrize(
    "kind",
    ["png-cut-in-header", "png-cut-big", "png-bad-crc-big", "jpeg-cut-big", "garbage-after-magic"],
)
def test_corrupt_or_truncated_images_say_what_to_do(kind):
    big_png = png_bytes(7000, 10)  # wider than 6000 px: needs decoding to downscale
    if kind == "png-cut-in-header":
        data = big_png[:20]
    elif kind == "png-cut-big":
        data = big_png[: len(big_png) // 2]
    elif kind == "png-bad-crc-big":
        data = bytearray(big_png)
        data[40] ^= 0xFF
        data = bytes(data)
    elif kind == "jpeg-cut-big":
        full = jpeg_bytes(7000, 200)
        data = full[: len(full) // 2]
    else:
        data = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    with pytest.raises(InvalidOptionError) as info:
        image_parts([data], model=VISION)
    message = str(info.value)
    assert message.startswith("image 1") and ("save it again" in message or "cannot be read" in message)
    assert info.value.__cause__ is None and "PIL" not in type(info.value).__module__


def test_the_magic_turns_a_truncated_image_into_a_usage_error(ip, zai_env, tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(png_bytes(7000, 10)[:60_000])
    with (
        capture_output(),
        pytest.raises(UsageError, match=r"--image: image 1 is a PNG file that cannot be read"),
    ):
        ip.run_cell_magic("glm", f"--model {VISION} --image {path}", "What is this?")
    assert zai_env.requests == []
