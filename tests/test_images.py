"""images=[...] and %%glm --image: image_url parts with data URIs, every check's message, downscaling."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import textwrap

import matplotlib
import numpy as np
import pytest
from _constants import TEST_KEY
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from PIL import Image

import glm_notebook as glm
from glm_notebook.context._images import MAX_BYTES, image_parts, image_size, png_from_array

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

VISION = "glm-4.6v-flash"


def png_bytes(width=4, height=3, mode="RGB", color=(255, 0, 0)):
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(width=8, height=6):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (0, 128, 0)).save(buffer, format="JPEG")
    return buffer.getvalue()


def data_uri(data, mime="image/png"):
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def decoded(part):
    url = part["image_url"]["url"]
    assert part["type"] == "image_url" and url.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def one(image, model=VISION):
    parts, notes = image_parts([image], model=model)
    assert len(parts) == 1
    return parts[0], notes


def test_png_and_jpeg_bytes_become_data_uris_as_they_are():
    png, jpeg = png_bytes(), jpeg_bytes()
    assert one(png)[0] == {"type": "image_url", "image_url": {"url": data_uri(png)}}
    assert one(jpeg)[0] == {"type": "image_url", "image_url": {"url": data_uri(jpeg, "image/jpeg")}}
    assert image_size(png) == (4, 3) and image_size(jpeg) == (8, 6)


def test_paths_urls_and_ready_parts(tmp_path):
    path = tmp_path / "plot.png"
    path.write_bytes(png_bytes())
    assert one(path)[0]["image_url"]["url"] == data_uri(png_bytes())
    assert one(str(path))[0]["image_url"]["url"] == data_uri(png_bytes())
    url = "https://example.org/cat.jpg"
    assert one(url)[0] == {"type": "image_url", "image_url": {"url": url}}
    ready = {"type": "image_url", "image_url": {"url": url}}
    assert one(ready)[0] is ready


def test_numpy_arrays_are_encoded_without_pillow():
    rgb = np.zeros((3, 5, 3), np.uint8)
    rgb[1, 2] = (10, 20, 30)
    image = decoded(one(rgb)[0])
    assert image.size == (5, 3) and image.mode == "RGB" and image.getpixel((2, 1)) == (10, 20, 30)
    gray = decoded(one(np.linspace(0, 1, 12).reshape(3, 4))[0])
    assert gray.mode == "L" and gray.getpixel((0, 0)) == 0 and gray.getpixel((3, 2)) == 255
    rgba = decoded(one(np.full((2, 2, 4), 7, np.uint8))[0])
    assert rgba.mode == "RGBA" and rgba.getpixel((1, 1)) == (7, 7, 7, 7)
    assert decoded(one(np.eye(3, dtype=bool))[0]).getpixel((1, 1)) == 255


def test_pil_images_and_matplotlib_figures():
    assert decoded(one(Image.new("RGB", (9, 7), "blue"))[0]).size == (9, 7)
    assert decoded(one(Image.new("CMYK", (3, 3)))[0]).mode == "RGB"
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([1, 2, 3])
    from_fig = decoded(one(fig)[0])
    assert from_fig.format == "PNG" and 50 < from_fig.width <= 200
    assert decoded(one(ax)[0]).size == from_fig.size  # an Axes sends its figure
    plt.close(fig)


@pytest.mark.parametrize(
    "image,message",
    [
        (b"GIF89a....", "image 1 is GIF: GLM takes PNG or JPEG only; convert it first"),
        (b"RIFF....WEBP", "image 1 is WebP: GLM takes PNG or JPEG only"),
        (b"hello", "image 1 is not an image: GLM takes PNG or JPEG only"),
        ("http://example.org/a.png", "plain http: give an https URL, or download it"),
        ("/no/such/file.png", "no file '/no/such/file.png'; give a path to a PNG or JPEG file"),
        (42, "a int is not an image; give a matplotlib Figure, a PIL image, a numpy array"),
        (np.zeros((2, 2, 2)), r"shape \(2, 2, 2\) is not an image; give H×W \(gray\)"),
        (np.full((2, 2), 2.0), "float pixel values must be within 0-1"),
        (np.full((2, 2), 300), "integer pixel values must be within 0-255"),
        ({"type": "text"}, "a dict must be an image_url part"),
    ],
)
def test_bad_images_say_what_to_do(image, message):
    with pytest.raises(glm.InvalidOptionError, match=message):
        image_parts([image], model=VISION)


def test_a_text_only_glm_model_with_an_image_names_a_vision_model():
    with pytest.raises(
        glm.InvalidOptionError,
        match="GLM-4.7 reads text only: for images use a vision model, e.g. model=.glm-4.6v-flash.",
    ):
        image_parts([png_bytes()], model="GLM-4.7")
    assert image_parts([png_bytes()], model="my-llava")[0]  # unknown names are sent as asked


@pytest.mark.parametrize("model", ["glm-5.2", "GLM-5.1", "glm-5.3", "glm-5-turbo"])
def test_current_text_only_models_with_an_image_name_a_vision_model(glm_server, model):
    with glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, model=model) as client:
        with pytest.raises(glm.InvalidOptionError, match=f"{model} reads text only.*model='glm-4.6v-flash'"):
            client.chat("What is this?", images=[png_bytes()])
    assert glm_server.requests == []  # nothing sent


@pytest.mark.parametrize("model", ["glm-5v-turbo", "glm-4.6v", "glm-5.3-flash", "glm-5.4"])
def test_current_vision_models_take_images(model):
    from glm_notebook.context._images import TEXT_ONLY_MODELS, VISION_MODEL, VISION_MODELS

    assert model in VISION_MODELS and not VISION_MODELS & TEXT_ONLY_MODELS and VISION_MODEL in VISION_MODELS
    assert image_parts([png_bytes()], model=model)[0][0]["type"] == "image_url"


def test_too_many_pixels_are_downscaled_with_pillow_and_a_note_says_so():
    wide = png_from_array(np.zeros((10, 7000), np.uint8))
    part, notes = one(wide)
    assert decoded(part).size == (6000, 8)
    assert notes == [
        "image 1 was downscaled from 7000x10 px, 0.0 MB to 6000x8 px, 0.0 MB (with Pillow) to fit "
        "GLM's limits (under 5 MB, at most 6000x6000 px)."
    ]


def test_too_many_bytes_are_downscaled_until_under_5_mb():
    noise = png_from_array(np.random.default_rng(0).integers(0, 256, (1400, 1400, 3), dtype=np.uint8))
    assert len(noise) > MAX_BYTES
    part, notes = one(noise)
    assert len(base64.b64decode(part["image_url"]["url"].split(",", 1)[1])) < MAX_BYTES
    assert decoded(part).width < 1400 and "downscaled from 1400x1400 px" in notes[0]


def test_without_pillow_a_large_image_is_an_error_saying_how_to_shrink_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(
        glm.InvalidOptionError,
        match="under 5 MB and at most 6000x6000 px. Make it smaller .* pip install pillow",
    ):
        image_parts([png_from_array(np.zeros((6001, 1), np.uint8))], model=VISION)


def test_plain_images_import_neither_pillow_nor_numpy():
    code = textwrap.dedent(
        f"""
        import sys
        from glm_notebook.context._images import image_parts
        image_parts([{png_bytes()!r}, "https://example.org/a.png"], model="glm-4.6v-flash")
        print(sorted(m for m in ("PIL", "numpy", "matplotlib") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- over the test server --------------------------------------------------------------------


def test_chat_with_images_sends_image_parts_then_the_text(glm_server):
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, model=VISION)
    png = png_bytes()
    client.chat("What does this plot show?", images=[png, "https://example.org/b.jpg"], context={"n": 1})
    content = glm_server.wait_for_requests(1)[0].json["messages"][0]["content"]
    assert content == [
        {"type": "image_url", "image_url": {"url": data_uri(png)}},
        {"type": "image_url", "image_url": {"url": "https://example.org/b.jpg"}},
        {
            "type": "text",
            "text": f'<context name="n">\n{glm.describe(1)}\n</context>\n\nWhat does this plot show?',
        },
    ]


async def test_async_chat_with_an_image_and_the_downscale_warning(glm_server):
    async with glm.AsyncGLMClient(base_url=glm_server.base_url, api_key=TEST_KEY) as aclient:
        with pytest.warns(UserWarning, match="image 1 was downscaled from 6100x1 px"):
            await aclient.chat("Q", images=png_from_array(np.zeros((1, 6100), np.uint8)), model=VISION)
    content = glm_server.wait_for_requests(1)[0].json["messages"][0]["content"]
    assert decoded(content[0]).size == (6000, 1) and content[1] == {"type": "text", "text": "Q"}


def test_chat_with_an_image_on_a_text_model_sends_nothing(glm_server):
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, model="glm-4.7-flash")
    with pytest.raises(glm.InvalidOptionError, match="glm-4.6v-flash"):
        client.chat("Q", images=[png_bytes()])
    assert glm_server.requests == []


# -- the magic ----------------------------------------------------------------------------------


def test_image_flag_sends_a_figure_and_gcf(ip, zai_env):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.bar(["a", "b"], [3, 5])
    ip.user_ns["fig"] = fig
    with capture_output():
        ip.run_cell_magic("glm", f"--model {VISION} --image fig", "What does this plot show?")
        ip.run_cell_magic("glm", f"--model {VISION} --image gcf", "And now?")
    first, second = (r.json["messages"][0]["content"] for r in zai_env.wait_for_requests(2))
    assert decoded(first[0]).format == "PNG" and first[1] == {
        "type": "text",
        "text": "What does this plot show?",
    }
    assert first[0] == second[0]  # gcf is the same figure
    plt.close("all")


def test_image_flag_paths_and_several_images(ip, zai_env, tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes())
    ip.user_ns["arr"] = np.zeros((2, 2, 3), np.uint8)
    with capture_output():
        ip.run_cell_magic(
            "glm", f"--model {VISION} --image {path},arr --image https://example.org/c.png", "Q"
        )
    content = zai_env.wait_for_requests(1)[0].json["messages"][0]["content"]
    assert [p["type"] for p in content] == ["image_url"] * 3 + ["text"]
    assert content[0]["image_url"]["url"] == data_uri(png_bytes())
    assert content[2]["image_url"]["url"] == "https://example.org/c.png"


@pytest.mark.parametrize(
    "flags,message",
    [
        (
            "--model glm-4.7 --image img",
            "--image: glm-4.7 reads text only: for images use a vision model, e.g. model='glm-4.6v-flash'",
        ),
        (f"--model {VISION} --image nothing_here", "'nothing_here' is neither a defined variable nor a file"),
        (f"--model {VISION} --image gif", "--image: image 1 is GIF"),
        (f"--model {VISION} --image gcf", "there is no current matplotlib figure .* draw a plot first"),
    ],
)
def test_bad_image_flags_are_usage_errors_before_sending(ip, zai_env, flags, message):
    plt.close("all")
    ip.user_ns.update(img=png_bytes(), gif=b"GIF89a...")
    with pytest.raises(UsageError, match=message):
        ip.run_cell_magic("glm", flags, "Q")
    assert zai_env.requests == []


def test_the_magic_prints_the_downscale_note(ip, zai_env):
    ip.user_ns["big"] = np.zeros((6500, 10), np.uint8)
    with capture_output() as out:
        ip.run_cell_magic("glm", f"--model {VISION} --image big", "Q")
    assert "Note: image 1 was downscaled from 10x6500 px" in out.stdout
    assert decoded(zai_env.wait_for_requests(1)[0].json["messages"][0]["content"][0]).size == (9, 6000)


def test_the_magic_shows_a_thumbnail_and_a_line_for_each_image_sent(ip, zai_env):
    ip.user_ns["photo"] = Image.new("RGB", (800, 400), "orange")
    with capture_output() as out:
        ip.run_cell_magic("glm", f"--model {VISION} --image photo,https://example.org/d.png", "Q")
    first, second = (o.data for o in out.outputs[:2])
    assert first["text/plain"].startswith("[sent image 1: 800x400 px PNG, ")
    thumb = Image.open(io.BytesIO(base64.b64decode(first["image/png"])))
    assert thumb.size == (160, 80)
    assert second == {"text/plain": "[sent image 2: https://example.org/d.png]"}


def test_images_go_to_every_compare_panel_and_tune_refuses_them(ip, zai_env):
    ip.user_ns["img"] = png_bytes()
    with capture_output():
        ip.run_cell_magic("glm", f"--model {VISION} --image img --compare temperature=0,1", "What is it?")
    requests = zai_env.wait_for_requests(2)
    assert sorted(r.json["temperature"] for r in requests) == [0.0, 1.0]
    for r in requests:
        image, text = r.json["messages"][-1]["content"]
        assert image["type"] == "image_url" and text == {"type": "text", "text": "What is it?"}
    with pytest.raises(UsageError, match="do not work with --tune"):
        ip.run_cell_magic("glm", f"--model {VISION} --image img --tune", "Q")
    assert len(zai_env.requests) == 2
