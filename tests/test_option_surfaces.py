"""The options table drives every surface: flag, configured default, payload, sliders, copy as code.

One round trip per option with a flag: option value -> ``%%glm`` flag -> the request a real shell
sends to the test server -> the playground's "Copy as code" -> the same flag again.
"""

from __future__ import annotations

import shlex

import pytest
from _constants import TEST_KEY
from IPython.utils.capture import capture_output

from glm_notebook import GLMClient
from glm_notebook._options import FLAG_OPTIONS, OPTIONS, SAMPLING_OPTIONS, build_options, slider_spec
from glm_notebook.playground._code import flag_words, magic_flags

# A value per flag option that is not a default anywhere, zero where zero is allowed (0 must survive).
EXAMPLES = {
    "temperature": [0.0, 0.35],
    "top_p": [0.55],
    "max_tokens": [77],
    "stop": [["END"], ["two words", "x'y"]],
    "seed": [0, 12345],
    "thinking": [True, False],
    "reasoning_effort": ["high", "max", "none"],
    "clear_thinking": [False, True],
}


def _cases():
    return [(name, value) for name in FLAG_OPTIONS for value in EXAMPLES[name]]


def test_every_flag_option_has_an_example():
    # A new flag option in the table must get a round-trip case here.
    assert set(EXAMPLES) == set(FLAG_OPTIONS)


def test_the_flags_and_defaults_come_from_the_table(ip):
    magics = ip.magics_manager.registry["GLMMagics"]
    flags = {s for action in magics.glm.parser._actions for s in action.option_strings}
    for name in FLAG_OPTIONS:
        opt = OPTIONS[name]
        assert opt.flag_name in flags
        if opt.kind == "bool":
            assert f"--no-{opt.flag_name[2:]}" in flags
        assert magics.trait_metadata(name, "config"), f"%config GLMMagics.{name} is not configurable"
    # Options without flag=True get no flag (they are sent from Python only). One exception by
    # design (DESIGN.md): `--tools f,g` names the user's functions; the payload's `tools` is built
    # from them (their schemas), never the flag's text (tests/test_tool_magics.py checks what is sent).
    for opt in OPTIONS.values():
        if not opt.flag and opt.name != "tools":
            assert opt.flag_name not in flags
    assert SAMPLING_OPTIONS == tuple(n for n, o in OPTIONS.items() if o.step and o.slider_default is not None)


@pytest.mark.parametrize(("name", "value"), _cases(), ids=lambda v: repr(v))
def test_option_flag_payload_copy_as_code_round_trip(ip, zai_env, name, value):
    words = flag_words(name, value)
    line = " ".join(words)
    with capture_output():
        ip.run_cell_magic("glm", line, "Q")
    body = zai_env.requests[-1].json
    # clear_thinking travels inside "thinking": compare every field the option puts on the wire.
    for field, wire in build_options("zai", {name: value}).items():
        assert body[field] == wire and type(body[field]) is type(wire)
    # Copy as code, from the playground built with the same option: the same flag words come back.
    with GLMClient(provider="zai", base_url=zai_env.base_url, api_key=TEST_KEY) as client:
        from glm_notebook.playground import Playground

        pg = Playground("Q", client=client, auto_run=False, **{name: value})
        try:
            first_line = pg.code().split("\n", 1)[0]
        finally:
            pg.close()
    assert first_line.startswith("%%glm ")
    copied = shlex.split(first_line[len("%%glm ") :])
    expected = shlex.split(line)
    # Sliders are sent by default, so the playground's line also carries the other sliders' values.
    start = next(i for i in range(len(copied)) if copied[i : i + len(expected)] == expected)
    assert copied[start : start + len(expected)] == expected
    assert magic_flags(model=None, system=None, options={name: value}) == line


@pytest.mark.parametrize(("name", "value"), _cases(), ids=lambda v: repr(v))
def test_configured_default_reaches_the_payload(ip, zai_env, name, value):
    magics = ip.magics_manager.registry["GLMMagics"]
    old = getattr(magics, name)
    setattr(magics, name, value)
    try:
        with capture_output():
            ip.run_cell_magic("glm", "", "Q")
    finally:
        setattr(magics, name, old)
    body = zai_env.requests[-1].json
    for field, wire in build_options("zai", {name: value}).items():
        assert body[field] == wire


def test_a_flag_overrides_the_configured_default_and_zero_is_kept(ip, zai_env):
    magics = ip.magics_manager.registry["GLMMagics"]
    magics.temperature = 0.9
    try:
        with capture_output():
            ip.run_cell_magic("glm", "--temperature 0", "Q")
    finally:
        magics.temperature = None
    assert zai_env.requests[-1].json["temperature"] == 0.0


@pytest.mark.parametrize("name", SAMPLING_OPTIONS)
def test_sliders_follow_the_table_per_provider(name):
    from glm_notebook.playground import ParameterPanel

    for provider in ("zai", "local"):
        panel = ParameterPanel(provider=provider)
        slider, spec = panel.sliders[name], slider_spec(name, provider)
        assert (slider.min, slider.max, slider.step) == (spec["min"], spec["max"], spec["step"])
        panel.close()


def test_copy_as_code_says_which_options_have_no_flag(zai_env):
    with GLMClient(provider="local", base_url=zai_env.base_url) as client:
        from glm_notebook.playground import Playground

        pg = Playground("Q", client=client, auto_run=False, top_k=5)
        try:
            code = pg.code()
        finally:
            pg.close()
    assert "--top-k" not in code.splitlines()[0]
    assert "top_k=5" in code and "top_k: no %%glm flag" in code


# -- reasoning_effort and clear_thinking: where each provider reads them, and a bad value -------


def _sent(server, provider, base_path="/api/paas/v4", **options):
    """The body one chat() sends to the test server as ``provider``."""
    base_url = server.url + base_path
    key = None if provider == "openai-compatible" else TEST_KEY
    with GLMClient(provider=provider, base_url=base_url, api_key=key, model="glm-5.2") as client:
        client.chat("Q", **options)
    body = server.requests[-1].json
    return {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}


def test_glm_cloud_gets_clear_thinking_inside_thinking_and_effort_on_top(glm_server):
    glm_server.api_key = None
    assert _sent(glm_server, "zai", reasoning_effort="high", clear_thinking=False) == {
        "reasoning_effort": "high",
        "thinking": {"type": "enabled", "clear_thinking": False},
    }
    assert _sent(glm_server, "bigmodel", thinking=True, clear_thinking=True) == {
        "thinking": {"type": "enabled", "clear_thinking": True}
    }
    # Thinking off: clear_thinking means nothing there and is not sent; the effort is sent as asked.
    assert _sent(glm_server, "zai", thinking=False, clear_thinking=False, reasoning_effort="max") == {
        "thinking": {"type": "disabled"},
        "reasoning_effort": "max",
    }
    # Unset: nothing is sent, GLM's own default per endpoint applies.
    assert _sent(glm_server, "zai") == {}


def test_coding_endpoint_sends_the_same_shape_and_keeps_reasoning_by_default(glm_server):
    from glm_notebook._options import preserves_thinking

    glm_server.api_key = None
    coding = "/api/coding/paas/v4"
    assert _sent(glm_server, "zai-coding", coding) == {}  # GLM's default there: preserved
    assert _sent(glm_server, "zai-coding", coding, clear_thinking=True, reasoning_effort="low") == {
        "thinking": {"type": "enabled", "clear_thinking": True},
        "reasoning_effort": "low",
    }
    assert preserves_thinking("zai-coding", {}) is True
    assert preserves_thinking("zai", {}) is False
    assert preserves_thinking("bigmodel", {"clear_thinking": False}) is True
    assert preserves_thinking("zai-coding", {"clear_thinking": True}) is False
    assert preserves_thinking("zai-coding", {"thinking": False}) is False


def test_openai_compatible_servers_get_chat_template_kwargs(glm_server):
    glm_server.api_key = None
    assert _sent(
        glm_server, "openai-compatible", "/v1", clear_thinking=False, reasoning_effort="high", thinking=True
    ) == {
        "thinking": {"type": "enabled"},
        "chat_template_kwargs": {"clear_thinking": False, "reasoning_effort": "high"},
    }


@pytest.mark.parametrize("bad", ["hgih", "HIGH", "", 3, True, ["high"]])
def test_a_bad_effort_sends_nothing_from_python(glm_server, bad):
    import glm_notebook as glm

    glm_server.api_key = None
    with GLMClient(provider="zai", base_url=glm_server.base_url, api_key=TEST_KEY, model="glm-5.2") as client:
        with pytest.raises(glm.InvalidOptionError, match="reasoning_effort.*Allowed: none, minimal"):
            client.chat("Q", reasoning_effort=bad)
    assert glm_server.requests == []


def test_a_bad_effort_is_a_usage_error_in_the_magic_and_sends_nothing(ip, zai_env):
    from IPython.core.error import UsageError
    from traitlets import TraitError

    with pytest.raises(UsageError, match="Did you mean 'high'.*Allowed: none, minimal, low"):
        ip.run_cell_magic("glm", "--reasoning-effort hihg", "Q")
    magics = ip.magics_manager.registry["GLMMagics"]
    with pytest.raises(TraitError):
        magics.reasoning_effort = "extreme"
    assert magics.reasoning_effort is None
    assert zai_env.requests == []


def test_clear_thinking_by_config_reaches_the_thinking_object(ip, zai_env):
    magics = ip.magics_manager.registry["GLMMagics"]
    ip.run_line_magic("config", "GLMMagics.clear_thinking = False")
    try:
        with capture_output():
            ip.run_cell_magic("glm", "--reasoning-effort high", "Q")
            ip.run_cell_magic("glm", "--clear-thinking", "Q")  # the flag wins over the default
    finally:
        ip.run_line_magic("config", "GLMMagics.clear_thinking = None")
    assert magics.clear_thinking is None
    first, second = (r.json for r in zai_env.requests)
    assert first["thinking"] == {"type": "enabled", "clear_thinking": False}
    assert first["reasoning_effort"] == "high"
    assert second["thinking"] == {"type": "enabled", "clear_thinking": True}


def test_pickers_only_on_glm_providers_and_copy_as_code(glm_server):
    from glm_notebook.playground import ParameterPanel, Playground

    glm_server.api_key = None
    with GLMClient(provider="zai", base_url=glm_server.base_url, api_key=TEST_KEY) as client:
        pg = Playground("Q", client=client, auto_run=False, reasoning_effort="max", clear_thinking=False)
        try:
            assert set(pg.panel.pickers) == {"reasoning_effort", "clear_thinking"}
            pg.panel.pickers["reasoning_effort"].value = "high"
            options = pg.settings()["options"]
            assert options["reasoning_effort"] == "high" and options["clear_thinking"] is False
            line = pg.code().split("\n", 1)[0]
            assert "--reasoning-effort high" in line and "--no-clear-thinking" in line
            assert "reasoning_effort='high'" in pg.code() and "clear_thinking=False" in pg.code()
        finally:
            pg.close()
    local = ParameterPanel(provider="local")
    assert local.pickers == {} and "reasoning_effort" not in local.options()
    local.close()
    with GLMClient(provider="openai-compatible", base_url=glm_server.url + "/v1") as client:
        pg = Playground("Q", client=client, auto_run=False, clear_thinking=False)
        try:  # no picker there: sent as given, into chat_template_kwargs
            assert pg.settings()["options"]["clear_thinking"] is False
        finally:
            pg.close()
