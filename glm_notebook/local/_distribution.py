"""The model's next-token probabilities for a prompt, read from the running local server.

One ``/v1/completions`` request with ``max_tokens=1`` and ``logprobs=top_k``. llama-cpp-python
computes these log-probabilities from the raw logits (a softmax over the whole vocabulary at
temperature 1), before repeat penalty, top-k, top-p, min-p or temperature act: they are the model's
own distribution, which is what the sampling lesson then reshapes. Tokens are returned as text;
two tokens with the same text (rare, e.g. partial UTF-8 bytes) share one entry, so the listed
probabilities may sum to less than their true mass, never more than 1.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from .._errors import APIConnectionError, InvalidOptionError, make_api_error
from ._server import ensure_server

_MAX_TOP_K = 1000


def next_token_distribution(
    prompt: str, top_k: int = 20, *, timeout: float = 120.0
) -> list[tuple[str, float]]:
    """The ``top_k`` most likely next tokens after ``prompt`` with their probabilities, most likely first.

    Asks the base model (packaged gemma-3-270m, or ``GLM_LOCAL_BASE_MODEL``), whose own
    distribution is the point of the sampling lesson; starts its server if needed. Example::

        >>> next_token_distribution("The capital of France is", top_k=3)
        [(' Paris', 0.41), (' a', 0.09), (' the', 0.06)]
    """
    if not isinstance(prompt, str) or not prompt:
        raise InvalidOptionError("prompt must be a non-empty string")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= _MAX_TOP_K:
        raise InvalidOptionError(f"top_k must be a whole number from 1 to {_MAX_TOP_K}, got {top_k!r}")
    info = ensure_server("base")
    payload = {
        "model": info.model,
        "prompt": prompt,
        "max_tokens": 1,
        "logprobs": top_k,
        "temperature": 0.0,
        # Without this, a prompt whose likeliest continuation is end-of-text generates no token
        # and llama-cpp-python then returns no logprobs at all. It only masks the sampler; the
        # reported probabilities (end-of-text included) come from the raw logits.
        "min_tokens": 1,
    }
    try:
        with httpx.Client(trust_env=False, timeout=timeout) as http:
            response = http.post(f"{info.base_url}/completions", json=payload)
    except httpx.TimeoutException as exc:
        raise APIConnectionError(
            f"the offline model did not answer within {timeout:g} s: retry, or pass a larger timeout="
        ) from exc
    except httpx.HTTPError as exc:
        raise APIConnectionError(
            f"could not reach the offline model at {info.base_url} ({exc}); see {info.log_path}"
        ) from exc
    if response.status_code != 200:
        raise make_api_error(response.status_code, response.content)
    return _parse(response.json(), top_k)


def _parse(body: dict[str, Any], top_k: int) -> list[tuple[str, float]]:
    try:
        top = body["choices"][0]["logprobs"]["top_logprobs"][0]
    except (KeyError, IndexError, TypeError):
        raise APIConnectionError(
            "the offline model returned no logprobs; is it a llama-cpp-python server started with logits_all?"
        ) from None
    pairs = [(str(token), math.exp(float(logprob))) for token, logprob in (top or {}).items()]
    pairs.sort(key=lambda pair: pair[1], reverse=True)
    return pairs[:top_k]
