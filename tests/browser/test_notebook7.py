"""``%%glm`` in Notebook 7 (the ``notebook`` package) in headless Chromium: the answer streams in
the live view with widgets on, and as Markdown display updates with the widget manager disabled;
both end in the one saved copy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _lab import LabPage, LabServer, start_lab

from glm_notebook.testing import GLMTestServer, Reply
from glm_notebook.testing._script import split_words

pytestmark = pytest.mark.browser

ANSWER = " ".join(f"word{i}" for i in range(60))


def _notebook7(lab_env: dict[str, str], **kw: object) -> Iterator[LabServer]:
    try:
        import notebook
    except ImportError:
        pytest.fail("Notebook 7 is missing: pip install -e '.[test]' (notebook>=7)")
    assert int(notebook.__version__.split(".")[0]) >= 7, notebook.__version__
    with start_lab(env=lab_env, app="notebook", **kw) as server:  # type: ignore[arg-type]
        yield server


@pytest.fixture(scope="module")
def notebook7(lab_env: dict[str, str]) -> Iterator[LabServer]:
    yield from _notebook7(lab_env)


@pytest.fixture(scope="module")
def notebook7_no_widgets(lab_env: dict[str, str]) -> Iterator[LabServer]:
    yield from _notebook7(lab_env, disabled_extensions=["@jupyter-widgets/jupyterlab-manager"])


def _stream(lab_context, server: LabServer, glm: GLMTestServer, while_running: str) -> dict:
    lab = LabPage(lab_context.new_page(), server)
    try:
        lab.new_notebook(["%load_ext glm_notebook", "%%glm\nCount words"])
        # Notebook 7's own page and application, not JupyterLab
        assert "/notebooks/" in lab.page.url
        assert lab.page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"
        lab.run_cell(0)
        glm.enqueue(Reply(chunks=split_words(ANSWER), delay=0.1))  # ~6 s
        lab.run_cell(1, wait=False)
        seen = lab.wait_answer(1, while_running + " && a.text.length > 20")
        assert ANSWER.startswith(seen["text"].strip()) and seen["text"].strip() != ANSWER, seen
        assert lab.is_cell_running(1)
        lab.wait_cell_done(1)
        final = lab.wait_answer(1, "a.kind === 'static' && a.status.includes('stop')")
        assert final["text"].strip() == ANSWER
        outputs = lab.output_data(1)
        assert len(outputs) == 1 and "text/markdown" in outputs[0]["data"], outputs
        return seen
    finally:
        server.shutdown_kernels(lab.notebook)
        lab.page.close()


def test_notebook7_streams_in_the_live_view(lab_context, notebook7: LabServer, glm: GLMTestServer) -> None:
    _stream(lab_context, notebook7, glm, "a.kind === 'live'")


def test_notebook7_without_the_widget_manager_streams_markdown(
    lab_context, notebook7_no_widgets: LabServer, glm: GLMTestServer
) -> None:
    _stream(lab_context, notebook7_no_widgets, glm, "a.kind === 'static' && a.status.includes('streaming')")
