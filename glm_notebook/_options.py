"""The one table of generation options: names, types, bounds per provider, slider steps, help.

Every surface reads this table: the request payload (``build_options``), the ``%%glm`` flags and
the ``GLMMagics`` configurable defaults (``magics/_args.py``, for options with ``flag=True``), the
playground's sliders (options with a ``step`` and a ``slider_default``: ``SAMPLING_OPTIONS``),
"Copy as code" (``playground/_code.py``) and the keywords of ``Playground`` and ``compare()``.
Adding an option is one entry here; ``flag=True`` also gives it a flag and a default trait.
``build_options`` validates what the caller set and returns exactly that, unchanged: 0.0 stays
0.0, 1.0 stays 1.0, and an option left unset (None) is not sent. Nothing is clamped.

Where a value goes on the wire is in its entry too (``wire`` for GLM's cloud, ``wire_local`` for
OpenAI-compatible and local servers; a dotted path, default the option's own name at the top):

- ``reasoning_effort`` (GLM-5.2 and later): top level, ``"reasoning_effort": "high"``. Allowed:
  ``REASONING_EFFORTS``, the seven values of GLM's API reference. GLM-5.2 thinks at two real
  levels, ``high`` and ``max`` (its default), and maps the others (``none``/``minimal`` skip
  thinking, ``low``/``medium`` mean ``high``, ``xhigh`` means ``max``); GLM-5.3 has ``low`` too.
  Anything else is an InvalidOptionError naming the list, and nothing is sent. Older models ignore it.
- ``clear_thinking`` (GLM-4.7 and later): inside the thinking object, ``"thinking": {"type":
  "enabled", "clear_thinking": false}`` (with ``thinking`` unset the object says ``enabled``, GLM's
  default; with ``thinking=False`` it is not sent: GLM documents no meaning for it there). Unset,
  GLM's own default per endpoint holds: earlier turns' reasoning is kept (preserved thinking) on
  the coding endpoint (``zai-coding``) and cleared on the standard ones (``zai``, ``bigmodel``);
  ``preserves_thinking`` says which applies, so conversations know whether to send it back.
- On OpenAI-compatible and local servers (vLLM, SGLang, llama.cpp serving GLM weights) both are
  variables of GLM's chat template, not API fields: they go in ``"chat_template_kwargs":
  {"clear_thinking": false, "reasoning_effort": "high"}``, which those servers pass to the template.
  Such a per-request block replaces (does not merge with) a server's default template kwargs.
  The playground shows pickers for them only on GLM's cloud providers (``glm_control``).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from ._errors import InvalidOptionError

#: Providers that are OpenAI-compatible servers rather than GLM's cloud API.
LOCAL_LIKE_PROVIDERS = frozenset({"openai-compatible", "local"})
#: GLM's providers whose endpoint keeps earlier turns' reasoning when clear_thinking is not sent.
PRESERVING_PROVIDERS = frozenset({"zai-coding"})
#: reasoning_effort values GLM's API reference accepts (GLM-5.2: high and max are the real levels).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True)
class Option:
    """One generation option. ``low``/``high`` are inclusive unless ``low_exclusive``."""

    name: str
    kind: str  # "float", "int", "bool", "stop", "any", "str", "choice" (one of ``choices``)
    help: str
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    high_local: float | None = None  # upper bound on OpenAI-compatible / local servers
    step: float | None = None  # slider step
    slider_default: float | None = None  # where a slider starts when the user set nothing
    slider_high: float | None = None  # slider end when the bound is huge (max_tokens)
    local_only: bool = False  # only OpenAI-compatible / local servers know it (llama.cpp, vLLM)
    flag: bool = False  # a %%glm flag and a %config GLMMagics default (kinds float, int, bool, stop, choice)
    choices: tuple[str, ...] = ()  # the allowed values of a "choice" option
    wire: str | None = None  # where GLM's cloud reads it ("thinking.clear_thinking"); None: its name
    wire_local: str | None = None  # where OpenAI-compatible / local servers read it; None: as wire
    glm_control: bool = False  # a GLM cloud control: the playground offers it on GLM providers only

    def wire_path(self, provider: str) -> str:
        """Where the value goes in the request body, e.g. ``chat_template_kwargs.clear_thinking``."""
        if provider in LOCAL_LIKE_PROVIDERS and self.wire_local is not None:
            return self.wire_local
        return self.wire or self.name

    @property
    def flag_name(self) -> str:
        """``--top-p`` for ``top_p``; a bool option also has ``--no-<name>``."""
        return "--" + self.name.replace("_", "-")

    @property
    def slider(self) -> bool:
        """True when the playground shows a slider for it (it has a step and a start value)."""
        return self.step is not None and self.slider_default is not None

    def upper(self, provider: str) -> float | None:
        if provider in LOCAL_LIKE_PROVIDERS and self.high_local is not None:
            return self.high_local
        return self.high

    def range_text(self, provider: str) -> str:
        high = self.upper(provider)
        low_word = "above" if self.low_exclusive else "from"
        if self.low is None and high is None:
            return "any value"
        if high is None:
            return f"an integer {low_word} {_fmt(self.low)}"
        return f"{low_word} {_fmt(self.low)} to {_fmt(high)}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() and value > 10 else str(float(value))


OPTIONS: dict[str, Option] = {
    o.name: o
    for o in [
        Option(
            "temperature",
            "float",
            "sampling temperature: 0 is nearly greedy, higher is more random",
            low=0.0,
            high=1.0,
            high_local=2.0,
            step=0.05,
            slider_default=0.7,
            flag=True,
        ),
        Option(
            "top_p",
            "float",
            "nucleus sampling: keep the smallest set of tokens whose probability reaches top_p",
            low=0.0,
            high=1.0,
            low_exclusive=True,
            step=0.05,
            slider_default=1.0,
            flag=True,
        ),
        Option(
            "max_tokens",
            "int",
            "most tokens to generate (thinking tokens count too on GLM-5)",
            low=1,
            high=131072,
            step=1,
            slider_default=512,
            slider_high=4096,
            flag=True,
        ),
        Option("stop", "stop", "a string or a list of up to 4 strings that end the answer", flag=True),
        Option(
            "seed",
            "int",
            "random seed, for repeatable sampling where the server supports it",
            low=0,
            high=2**63 - 1,
            flag=True,
        ),
        Option(
            "thinking",
            "bool",
            "GLM thinking mode: True sends {'type': 'enabled'}, False 'disabled'",
            flag=True,
        ),
        Option(
            "reasoning_effort",
            "choice",
            "GLM-5.2+: how hard the model thinks (thinking on): high, or max (the default); "
            "also none, minimal, low, medium, xhigh (GLM maps them onto its levels)",
            choices=REASONING_EFFORTS,
            wire_local="chat_template_kwargs.reasoning_effort",
            glm_control=True,
            flag=True,
        ),
        Option(
            "clear_thinking",
            "bool",
            "GLM-4.7+: False keeps earlier turns' reasoning (preserved thinking; conversations send it "
            "back unmodified), True drops it; unset: kept on the coding endpoint, dropped on the standard one",
            wire="thinking.clear_thinking",
            wire_local="chat_template_kwargs.clear_thinking",
            glm_control=True,
            flag=True,
        ),
        Option("do_sample", "bool", "GLM: False makes decoding greedy"),
        Option("response_format", "any", "{'type': 'json_object'} (or 'json_object') asks for a JSON answer"),
        Option("tools", "any", "tool definitions, passed through unchanged"),
        Option("tool_choice", "any", "tool choice, passed through unchanged"),
        Option("tool_stream", "bool", "GLM: stream tool-call arguments"),
        Option("user_id", "str", "end-user id for the provider's abuse monitoring"),
        Option("request_id", "str", "your id for this request"),
        Option(
            "logprobs", "bool", "return log-probabilities of the chosen tokens (OpenAI-compatible servers)"
        ),
        Option(
            "top_logprobs", "int", "how many alternatives per token with logprobs (0 to 20)", low=0, high=20
        ),
        Option(
            "frequency_penalty",
            "float",
            "penalise repeated tokens (OpenAI-compatible servers)",
            low=-2.0,
            high=2.0,
        ),
        Option(
            "presence_penalty",
            "float",
            "penalise tokens already present (OpenAI-compatible servers)",
            low=-2.0,
            high=2.0,
        ),
        Option(
            "top_k",
            "int",
            "llama.cpp/vLLM: sample only from the k most likely tokens (0 turns it off)",
            low=0,
            high=1_000_000,
            local_only=True,
        ),
        Option(
            "min_p",
            "float",
            "llama.cpp/vLLM: drop tokens below min_p times the top token's probability (0: off)",
            low=0.0,
            high=1.0,
            local_only=True,
        ),
        Option(
            "repeat_penalty",
            "float",
            "llama.cpp: penalise repeated tokens (1.0 turns it off)",
            low=0.0,
            high=10.0,
            local_only=True,
        ),
    ]
}

#: Options with a playground slider (and the ones a compare grid may vary), in table order.
SAMPLING_OPTIONS = tuple(name for name, opt in OPTIONS.items() if opt.slider)
#: Options with a %%glm flag and a GLMMagics default, in table order.
FLAG_OPTIONS = tuple(name for name, opt in OPTIONS.items() if opt.flag)


def _unknown(name: str) -> InvalidOptionError:
    close = difflib.get_close_matches(name, OPTIONS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return InvalidOptionError(
        f"Unknown option {name!r}.{hint} Allowed options: {', '.join(sorted(OPTIONS))}."
    )


def _check_number(opt: Option, value: Any, provider: str) -> float | int:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if opt.kind == "int" and not is_int:
        raise InvalidOptionError(f"{opt.name} must be an integer, got {value!r}.")
    if opt.kind == "float" and not (is_int or isinstance(value, float)):
        raise InvalidOptionError(f"{opt.name} must be a number, got {value!r}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidOptionError(f"{opt.name} must be a finite number, got {value!r}.")
    high = opt.upper(provider)
    too_low = opt.low is not None and (value <= opt.low if opt.low_exclusive else value < opt.low)
    too_high = high is not None and value > high
    if too_low or too_high:
        extra = ""
        if opt.high_local is not None and provider not in LOCAL_LIKE_PROVIDERS:
            extra = f" (OpenAI-compatible and local servers allow up to {_fmt(opt.high_local)})"
        raise InvalidOptionError(
            f"{opt.name}={value!r} is out of range for provider {provider!r}: "
            f"allowed {opt.range_text(provider)}{extra}."
        )
    return value


def _wire_value(opt: Option, value: Any, provider: str) -> Any:
    if opt.kind in ("float", "int"):
        return _check_number(opt, value, provider)
    if opt.kind == "bool":
        if not isinstance(value, bool):
            raise InvalidOptionError(f"{opt.name} must be True or False, got {value!r}.")
        if opt.name == "thinking":
            return {"type": "enabled" if value else "disabled"}
        return value
    if opt.kind == "stop":
        stops = [value] if isinstance(value, str) else value
        if (
            not isinstance(stops, list)
            or not all(isinstance(s, str) and s for s in stops)
            or not 1 <= len(stops) <= 4
        ):
            raise InvalidOptionError("stop must be a non-empty string or a list of 1 to 4 non-empty strings.")
        return value
    if opt.kind == "choice":
        if value not in opt.choices:
            close = difflib.get_close_matches(str(value).lower(), opt.choices, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidOptionError(
                f"{opt.name}={value!r} is not a value GLM accepts.{hint} Allowed: {', '.join(opt.choices)}."
            )
        return value
    if opt.kind == "str":
        if not isinstance(value, str):
            raise InvalidOptionError(f"{opt.name} must be a string, got {value!r}.")
        return value
    if opt.name == "response_format" and isinstance(value, str):
        if value not in ("json_object", "text"):
            raise InvalidOptionError(
                "response_format must be 'json_object', 'text' or a dict like {'type': 'json_object'}."
            )
        return {"type": value}
    return value


def build_options(provider: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate ``options`` for ``provider`` and return the payload fields, unset ones dropped.

    ``thinking`` may also be given as the wire dict ({"type": "enabled"}) and passes through.
    Raises InvalidOptionError naming the allowed range before any request is made.
    """
    payload: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        opt = OPTIONS.get(name)
        if opt is None:
            raise _unknown(name)
        if opt.local_only and provider not in LOCAL_LIKE_PROVIDERS:
            raise InvalidOptionError(
                f"{name} is an option of OpenAI-compatible and local servers (llama.cpp, vLLM); "
                f"GLM's cloud ({provider!r}) does not accept it: drop it, or use provider 'local'."
            )
        if name == "thinking" and isinstance(value, dict):
            payload[name] = value
            continue
        payload[name] = _wire_value(opt, value, provider)
    for name in [n for n in payload if OPTIONS[n].wire_path(provider) != n]:
        _place(payload, OPTIONS[name].wire_path(provider), payload.pop(name))
    return payload


def _place(payload: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at the dotted ``path`` of the body (``thinking.clear_thinking``)."""
    head, _, leaf = path.partition(".")
    if head == "thinking":
        thinking = payload.get("thinking") or {"type": "enabled"}  # GLM's default type
        if thinking.get("type") == "disabled":
            return  # thinking off: nothing to keep or clear (see the module docstring)
        payload["thinking"] = {**thinking, leaf: value}
    else:
        payload[head] = {**payload.get(head, {}), leaf: value}


def preserves_thinking(provider: str, options: dict[str, Any]) -> bool:
    """Whether earlier assistant turns' ``reasoning_content`` should go back in a conversation.

    True when ``clear_thinking`` is False, or when it is unset on an endpoint that keeps reasoning
    by default (GLM's coding endpoint); False when thinking is turned off.
    """
    thinking = options.get("thinking")
    if thinking is False or (isinstance(thinking, dict) and thinking.get("type") == "disabled"):
        return False
    clear = options.get("clear_thinking")
    if clear is None:
        return provider in PRESERVING_PROVIDERS
    return clear is False


def slider_spec(name: str, provider: str) -> dict[str, float]:
    """Bounds, step and start value for a slider of a sampling option on this provider."""
    opt = OPTIONS[name]
    high = opt.slider_high if opt.slider_high is not None else opt.upper(provider)
    low = opt.low or 0.0
    if opt.low_exclusive:
        low = opt.step or 0.01
    assert high is not None and opt.step is not None and opt.slider_default is not None
    return {"min": low, "max": high, "step": opt.step, "value": opt.slider_default}
