"""The notebooks as committed read well where widgets do not run (GitHub, nbconvert)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_widget_output_carries_a_markdown_copy(path):
    nb = nbformat.read(path, as_version=4)
    widget_outputs = [o for c in nb.cells for o in c.get("outputs", []) if WIDGET in o.get("data", {})]
    for output in widget_outputs:
        text = output["data"].get("text/markdown", "")
        assert text.strip(), f"{path.name}: a widget output with no text/markdown copy"
        assert not re.match(r"\W*\w+\(\w+=", text), (
            f"{path.name}: the copy is a bare widget repr: {text[:60]}"
        )


def test_the_notebooks_are_committed_with_outputs():
    assert len(NOTEBOOKS) == 8
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
