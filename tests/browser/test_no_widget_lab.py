"""JupyterLab with the widget manager disabled (``@jupyter-widgets/jupyterlab-manager``, in the
server's own config dir): ``%%glm`` cannot show its live view there, so the answer streams as
Markdown display updates and ends in the saved copy, one output throughout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _lab import LabPage, LabServer, start_lab

from glm_notebook.testing import GLMTestServer, Reply
from glm_notebook.testing._script import split_words

pytestmark = pytest.mark.browser

ANSWER = " ".join(f"word{i}" for i in range(60))


@pytest.fixture(scope="module")
def no_widget_lab(lab_env: dict[str, str]) -> Iterator[LabServer]:
    with start_lab(env=lab_env, disabled_extensions=["@jupyter-widgets/jupyterlab-manager"]) as server:
        yield server


def test_without_the_widget_manager_the_answer_streams_as_markdown(
    lab_context, no_widget_lab: LabServer, glm: GLMTestServer
) -> None:
    lab = LabPage(lab_context.new_page(), no_widget_lab)
    try:
        lab.new_notebook(["%load_ext glm_notebook", "%%glm\nCount words"])
        lab.run_cell(0)
        glm.enqueue(Reply(chunks=split_words(ANSWER), delay=0.1))  # ~6 s
        lab.run_cell(1, wait=False)
        # Part of the answer, rendered as Markdown, while the cell still runs.
        seen = lab.wait_answer(
            1, "a.kind === 'static' && a.status.includes('streaming') && a.text.length > 20"
        )
        assert ANSWER.startswith(seen["text"].strip()) and seen["text"].strip() != ANSWER
        assert lab.is_cell_running(1)
        lab.wait_cell_done(1)
        final = lab.wait_answer(1, "a.kind === 'static' && a.status.includes('stop')")
        assert final["text"].strip() == ANSWER
        outputs = lab.output_data(1)
        assert len(outputs) == 1 and "text/markdown" in outputs[0]["data"], outputs
    finally:
        lab.page.close()
