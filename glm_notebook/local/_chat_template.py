"""How chat messages become a prompt for the packaged BASE model.

The packaged gemma-3-270m GGUF carries no ``tokenizer.chat_template``, so llama-cpp-python falls
back to the ``llama-2`` format (``[INST] ... [/INST]``), to which this base model answers with an
immediate end-of-text: every chat completion came back empty. Instead we hand the server a plain
transcript it can continue::

    <bos>A conversation between a curious user and a helpful, knowledgeable assistant.

    User: What is the capital of France?
    Assistant: The capital of France is Paris.

through llama-cpp-python's ``hf-tokenizer-config`` chat format (a tokenizer_config.json with a
Jinja template). That format stops on the strings it calls ``eos_token`` and ``bos_token``; we use
them as the two stop strings ``"\\nUser:"`` and ``"\\nAssistant:"`` (the real ``<bos>`` is written
literally in the template), so the model ends its turn instead of inventing the user's next one.
A system message replaces the one-line preamble. Answers start with a space (" Paris"), as the
model writes them after "Assistant:".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PREAMBLE = "A conversation between a curious user and a helpful, knowledgeable assistant."

TEMPLATE = (
    "<bos>"
    "{% if messages[0].role != 'system' %}" + PREAMBLE + "\n\n{% endif %}"
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}User: {{ m.content }}\n"
    "{% elif m.role == 'assistant' %}Assistant:{% if m.content %} {{ m.content }}\n{% endif %}"
    "{% endif %}"
    "{% endfor %}"
)

STOP_STRINGS = ("\nUser:", "\nAssistant:")


def tokenizer_config() -> dict[str, str]:
    """The tokenizer_config.json the server's ``hf-tokenizer-config`` chat format reads."""
    return {"chat_template": TEMPLATE, "eos_token": STOP_STRINGS[0], "bos_token": STOP_STRINGS[1]}


def write_tokenizer_config(directory: Path) -> Path:
    """Write the config into ``directory`` (only when it changed) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "base-model-chat-template.json"
    text = json.dumps(tokenizer_config(), indent=1)
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path
