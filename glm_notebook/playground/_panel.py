"""ParameterPanel: the controls of the playground and the exact options they stand for.

Owns the sliders (one per ``SAMPLING_OPTIONS`` entry of the options table: temperature, top_p,
max_tokens; bounds, step and start value from ``slider_spec(name, provider)``, so GLM cloud temperature ends at 1 and local servers at 2), a
"send" checkbox per slider (unchecked: the option is not sent), the model picker (an editable
Combobox), the thinking choice (not sent / on / off), on GLM's cloud providers the pickers of the
table's GLM controls (``glm_control``: reasoning effort, a Dropdown of ``not sent`` and the allowed
values; clear thinking, not sent / keep (False) / clear (True)) and the system prompt. On
OpenAI-compatible and local servers those pickers are not shown; a value given from Python is
then sent as given (``chat_template_kwargs``, see ``glm_notebook._options``).

``options()`` returns what a request carries. Slider values are rounded to the slider's step
decimals (a front end computing ``0.1 + 0.2`` must not send 0.30000000000000004), but a value set
from Python off the step grid (0.333) is kept as given: the request shows what the panel shows.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ipywidgets as widgets

from .._options import LOCAL_LIKE_PROVIDERS, OPTIONS, SAMPLING_OPTIONS, build_options, slider_spec

__all__ = ["CLEAR_THINKING_CHOICES", "THINKING_CHOICES", "ParameterPanel", "request_value"]

THINKING_CHOICES = {"not sent": None, "on": True, "off": False}
CLEAR_THINKING_CHOICES = {"not sent": None, "keep": False, "clear": True}
#: Options with a picker on GLM providers (reasoning_effort, clear_thinking), in table order.
GLM_CONTROLS = tuple(name for name, opt in OPTIONS.items() if opt.glm_control)
NOT_SENT = "not sent"
KNOWN_MODELS = ("glm-4.7-flash", "glm-4.7", "glm-4.5-air", "glm-5", "glm-5.1", "glm-5.2")


def _decimals(step: float) -> int:
    exponent = Decimal(repr(float(step))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def request_value(name: str, value: Any, step: float) -> Any:
    """The value a request carries for a slider showing ``value`` (see the module docstring)."""
    if OPTIONS[name].kind == "int":
        return int(value)
    value = float(value)
    on_grid = round(value, _decimals(step))
    return on_grid if abs(on_grid - value) < 1e-9 else round(value, 9)


class ParameterPanel(widgets.VBox):
    """Sliders, model picker, thinking choice and system prompt for one provider."""

    #: The table options this panel has a control for on GLM providers (every other option is
    #: sent as given). ``controls(provider)`` leaves out the GLM controls on other servers.
    CONTROLS = (*SAMPLING_OPTIONS, "thinking", *GLM_CONTROLS)

    @classmethod
    def controls(cls, provider: str) -> tuple[str, ...]:
        if provider in LOCAL_LIKE_PROVIDERS:
            return tuple(n for n in cls.CONTROLS if n not in GLM_CONTROLS)
        return cls.CONTROLS

    def __init__(
        self,
        *,
        provider: str,
        model: str | None = None,
        system: str | None = None,
        thinking: bool | None = None,
        reasoning_effort: str | None = None,
        clear_thinking: bool | None = None,
        models: list[str] | None = None,
        **start: Any,
    ) -> None:
        """``start``: a starting value per slider option (``SAMPLING_OPTIONS``; None: the table's)."""
        unknown = sorted(set(start) - set(SAMPLING_OPTIONS))
        if unknown:
            raise TypeError(
                f"ParameterPanel has sliders for {', '.join(SAMPLING_OPTIONS)}, not {', '.join(unknown)}"
            )
        self.provider = provider
        starting = {name: start.get(name) for name in SAMPLING_OPTIONS}
        glm = {"reasoning_effort": reasoning_effort, "clear_thinking": clear_thinking}
        if provider in LOCAL_LIKE_PROVIDERS and any(v is not None for v in glm.values()):
            raise TypeError(f"ParameterPanel has no {' / '.join(GLM_CONTROLS)} picker for {provider!r}")
        build_options(provider, {**starting, "thinking": thinking, **glm})  # bad starts fail here
        self.sliders: dict[str, widgets.FloatSlider | widgets.IntSlider] = {}
        self.send: dict[str, widgets.Checkbox] = {}
        rows = []
        for name in SAMPLING_OPTIONS:
            slider = self._slider(name, starting[name])
            check = widgets.Checkbox(
                value=True,
                description="send",
                indent=False,
                layout=widgets.Layout(width="70px"),
                tooltip=f"unchecked: {name} is not sent (the server decides)",
            )
            check.observe(lambda change, s=slider: setattr(s, "disabled", not change["new"]), "value")
            self.sliders[name], self.send[name] = slider, check
            rows.append(widgets.HBox([slider, check]))
        choices = list(dict.fromkeys([m for m in [model, *(models or []), *KNOWN_MODELS] if m]))
        self.model = widgets.Combobox(
            value=model or "",
            options=choices,
            description="model",
            placeholder="the provider's default",
            ensure_option=False,
            continuous_update=False,
        )
        self.thinking = widgets.ToggleButtons(
            options=list(THINKING_CHOICES),
            value=next(k for k, v in THINKING_CHOICES.items() if v is thinking),
            description="thinking",
            tooltips=["leave thinking to the server", "send thinking: enabled", "send thinking: disabled"],
            style={"button_width": "80px"},
        )
        self.system = widgets.Textarea(
            value=system or "",
            description="system",
            placeholder="optional system prompt",
            continuous_update=False,
            layout=widgets.Layout(width="98%", height="4em"),
        )
        #: name -> picker of each GLM control (empty on OpenAI-compatible and local servers).
        self.pickers: dict[str, widgets.Dropdown | widgets.ToggleButtons] = {}
        if provider not in LOCAL_LIKE_PROVIDERS:
            effort = OPTIONS["reasoning_effort"]
            self.pickers["reasoning_effort"] = widgets.Dropdown(
                options=[NOT_SENT, *effort.choices],
                value=reasoning_effort or NOT_SENT,
                description="effort",
                tooltip=effort.help,
            )
            self.pickers["clear_thinking"] = widgets.ToggleButtons(
                options=list(CLEAR_THINKING_CHOICES),
                value=next(k for k, v in CLEAR_THINKING_CHOICES.items() if v is clear_thinking),
                description="earlier reasoning",
                tooltips=[
                    "GLM's default: kept on the coding endpoint, cleared on the standard one",
                    "send clear_thinking: false (preserved thinking)",
                    "send clear_thinking: true",
                ],
                style={"button_width": "80px", "description_width": "120px"},
            )
        pickers = list(self.pickers.values())
        super().__init__([*rows, self.model, self.thinking, *pickers, self.system])

    def _slider(self, name: str, start: float | None) -> widgets.FloatSlider | widgets.IntSlider:
        spec = slider_spec(name, self.provider)
        value = spec["value"] if start is None else start
        common = {
            "description": name,
            "continuous_update": False,  # a drag sends one change, on release
            "style": {"description_width": "90px"},
            "layout": widgets.Layout(width="420px"),
            "tooltip": OPTIONS[name].help,
        }
        if OPTIONS[name].kind == "int":
            high = max(int(spec["max"]), int(value))
            return widgets.IntSlider(
                value=int(value), min=int(spec["min"]), max=high, step=int(spec["step"]), **common
            )
        digits = _decimals(spec["step"])
        low = min(spec["min"], float(value))  # top_p=0.01 from a flag stays reachable
        return widgets.FloatSlider(
            value=float(value),
            min=low,
            max=spec["max"],
            step=spec["step"],
            readout_format=f".{max(digits, 2)}f",
            **common,
        )

    # -- reading the panel ----------------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """The sampling options and thinking exactly as a request carries them (None: not sent)."""
        out: dict[str, Any] = {}
        for name, slider in self.sliders.items():
            out[name] = request_value(name, slider.value, slider.step) if self.send[name].value else None
        out["thinking"] = THINKING_CHOICES[self.thinking.value]
        if "reasoning_effort" in self.pickers:
            effort = self.pickers["reasoning_effort"].value
            out["reasoning_effort"] = None if effort == NOT_SENT else effort
        if "clear_thinking" in self.pickers:
            out["clear_thinking"] = CLEAR_THINKING_CHOICES[self.pickers["clear_thinking"].value]
        return out

    def model_name(self) -> str | None:
        return self.model.value.strip() or None

    def system_prompt(self) -> str | None:
        return self.system.value if self.system.value.strip() else None

    def set_models(self, names: list[str]) -> None:
        current = self.model.value
        self.model.options = list(dict.fromkeys([n for n in [current, *names] if n]))

    def on_change(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(name)`` whenever a value that changes the request changes."""
        for name, slider in self.sliders.items():
            slider.observe(lambda change, n=name: callback(n), "value")
            self.send[name].observe(lambda change, n=name: callback(n), "value")
        self.model.observe(lambda change: callback("model"), "value")
        self.thinking.observe(lambda change: callback("thinking"), "value")
        for name, picker in self.pickers.items():
            picker.observe(lambda change, n=name: callback(n), "value")
        self.system.observe(lambda change: callback("system"), "value")
