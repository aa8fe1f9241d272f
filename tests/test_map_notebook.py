"""glm.map in the notebook layer: %%glm --map in a real shell, the live line in a real kernel."""

from __future__ import annotations

import pandas as pd
import pytest
from _constants import TEST_KEY
from IPython.core.error import UsageError
from test_saved_notebook import run_notebook


def test_map_cell_fills_each_row_and_stores_the_batch(ip, zai_env):
    ip.user_ns["df"] = pd.DataFrame({"text": ["good", "bad"], "stars": [5, 1]})
    ip.run_cell_magic("glm", "--map df --out labels --temperature 0", "Classify ({stars}): {text}\n")
    labels = ip.user_ns["labels"]
    assert ip.user_ns["_glm"] is labels
    assert labels.texts == ["You said: Classify (5): good", "You said: Classify (1): bad"]
    assert [r.json["temperature"] for r in zai_env.requests] == [0, 0]


def test_map_cell_mistakes_are_one_line(ip, zai_env):
    with pytest.raises(UsageError, match="no variable 'nope'"):
        ip.run_cell_magic("glm", "--map nope", "{text}")
    ip.user_ns["rows"] = [{"text": "a"}]
    with pytest.raises(UsageError, match="has no {name}"):
        ip.run_cell_magic("glm", "--map rows", "{name}")
    with pytest.raises(UsageError, match="cannot be combined"):
        ip.run_cell_magic("glm", "--map rows --tune", "{text}")
    assert zai_env.requests == []


def test_map_cell_stopped_by_a_bad_key_keeps_the_partial_batch(ip, zai_env):
    zai_env.api_key = TEST_KEY + "-not-this-one"
    ip.user_ns["rows"] = ["a", "b", "c"]
    with pytest.raises(UsageError, match="glm.map stopped: AuthenticationError"):
        ip.run_cell_magic("glm", "--map rows", "{}")
    assert ip.user_ns["_glm"].done == 0 and len(zai_env.requests) == 1


def test_the_saved_notebook_keeps_a_one_line_summary(tmp_path, glm_server, cache_file):
    glm_server.latency = 0.02
    nb = run_notebook(
        tmp_path,
        glm_server,
        [
            "%load_ext glm_notebook",
            f"import os; os.environ['GLM_NOTEBOOK_CACHE'] = {str(cache_file)!r}\n"
            "import glm_notebook as glm\nr = glm.map('Say {text}', [f'row {i}' for i in range(30)])",
            "print(_glm is r, r.done)",
        ],
    )
    outputs = nb.cells[1].outputs
    assert len(outputs) == 1 and set(outputs[0]["data"]) == {"text/markdown", "text/plain"}
    # glm-4.7-flash (the default model) is free: its cost is known, and zero
    assert outputs[0]["data"]["text/markdown"] == "**glm.map** 30/30 done, 240 tokens, 0 USD"
    assert nb.cells[2].outputs[0]["text"].strip() == "True 30"
