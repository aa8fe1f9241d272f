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
    wire = build_options("zai", {name: value})[name]
    assert body[name] == wire and type(body[name]) is type(wire)
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
    assert zai_env.requests[-1].json[name] == build_options("zai", {name: value})[name]


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
