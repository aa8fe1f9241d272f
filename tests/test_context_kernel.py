"""The notebook as context in a real kernel (nbclient): --context, {df} with --vars, the exact
request sent to the test server, and that a 1,000,000-row DataFrame makes a small request."""

from __future__ import annotations

from test_saved_notebook import run_notebook

MAKE_DF = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
n = 1_000_000
df = pd.DataFrame({"id": np.arange(n), "price": np.where(rng.random(n) < 0.3, np.nan, 1.0),
                   "city": np.where(rng.random(n) < 0.1, None, "Paris")})
"""


def test_a_million_row_dataframe_as_context_makes_a_small_request(tmp_path, glm_server):
    nb = run_notebook(
        tmp_path,
        glm_server,
        [
            "%load_ext glm_notebook",
            MAKE_DF,
            "%%glm --context df\nWhich column has the most missing values?",
            "%%glm --vars\nWhich column has the most missing values in {df}?",
            "import glm_notebook as glm\nprint(len(glm.describe(df)))",
        ],
    )
    with_context, with_vars = (r for r in glm_server.requests if r.path.endswith("/chat/completions"))
    for request in (with_context, with_vars):
        assert len(request.body) < 5_000, len(request.body)
    content = with_context.json["messages"][0]["content"]
    assert content.startswith('<context name="df">\npandas DataFrame: 1,000,000 rows × 3 columns\n')
    assert content.endswith("\n</context>\n\nWhich column has the most missing values?")
    assert "- price: float64, 29" in content and "missing (30.0%)" in content
    vars_content = with_vars.json["messages"][0]["content"]
    assert vars_content.startswith(
        "Which column has the most missing values in pandas DataFrame: 1,000,000 rows"
    )
    described = vars_content[len("Which column has the most missing values in ") : -1]
    assert described in content  # the same summary either way
    assert int(nb.cells[4].outputs[0]["text"]) == len(described)


def test_unknown_context_name_fails_the_cell_with_one_line_and_sends_nothing(tmp_path, glm_server):
    nb = run_notebook(
        tmp_path,
        glm_server,
        [
            "%load_ext glm_notebook",
            "try:\n    get_ipython().run_cell_magic('glm', '--context missing_df', 'Q')\nexcept Exception as e:\n    print(type(e).__name__, e)",
        ],
    )
    assert nb.cells[1].outputs[0]["text"].strip() == (
        "UsageError --context: 'missing_df' is not a defined variable; run the cell that defines it first."
    )
    assert [r for r in glm_server.requests if r.path.endswith("/chat/completions")] == []


def test_image_of_a_figure_in_a_real_kernel(tmp_path, glm_server):
    nb = run_notebook(
        tmp_path,
        glm_server,
        [
            "%load_ext glm_notebook",
            "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\nax.plot([1, 4, 9])",
            "%%glm --model glm-4.6v-flash --image fig\nWhat does this plot show?",
            "try:\n    get_ipython().run_cell_magic('glm', '--model glm-4.6v-flash --image gcf', 'Q')\n"
            "except Exception as e:\n    print(type(e).__name__, e)",
        ],
    )
    (request,) = (r for r in glm_server.requests if r.path.endswith("/chat/completions"))
    image, text = request.json["messages"][0]["content"]
    assert text == {"type": "text", "text": "What does this plot show?"}
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith(
        "data:image/png;base64,iVBORw0KGgo"
    )
    import base64
    import io

    from PIL import Image

    png = base64.b64decode(image["image_url"]["url"].split(",", 1)[1])
    width, height = Image.open(io.BytesIO(png)).size
    assert 200 <= width <= 320 and 150 <= height <= 220 and len(png) < 100_000
    assert (
        nb.cells[3]
        .outputs[0]["text"]
        .startswith("UsageError --image gcf: there is no current matplotlib figure")
    )
