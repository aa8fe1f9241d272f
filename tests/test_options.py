"""The options table: exact values, unset means absent, bounds per provider, clear messages."""

import pytest

import glm_notebook as glm
from glm_notebook._options import build_options, slider_spec
from glm_notebook.client._request import build_payload


@pytest.mark.parametrize("value", [0.0, 0, 1.0, 0.5, 0.99])
def test_temperature_sent_exactly(value):
    assert build_options("zai", {"temperature": value}) == {"temperature": value}


def test_unset_options_are_not_sent():
    payload = build_payload("zai", "glm-5", "hi", system=None, options={"temperature": None, "top_p": None})
    assert payload == {"model": "glm-5", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def test_zero_values_are_kept():
    payload = build_options("zai", {"temperature": 0.0, "seed": 0, "top_logprobs": 0})
    assert payload == {"temperature": 0.0, "seed": 0, "top_logprobs": 0}


def test_temperature_bounds_depend_on_provider():
    with pytest.raises(glm.InvalidOptionError, match=r"allowed from 0.0 to 1.0.*up to 2.0"):
        build_options("zai", {"temperature": 1.5})
    assert build_options("local", {"temperature": 1.5}) == {"temperature": 1.5}
    with pytest.raises(glm.InvalidOptionError, match="allowed from 0.0 to 2.0"):
        build_options("openai-compatible", {"temperature": 2.5})


def test_top_p_zero_is_rejected_with_range():
    with pytest.raises(glm.InvalidOptionError, match="above 0.0 to 1.0"):
        build_options("bigmodel", {"top_p": 0.0})
    assert build_options("bigmodel", {"top_p": 1.0}) == {"top_p": 1.0}


@pytest.mark.parametrize(
    "options,message",
    [
        ({"max_tokens": 0}, "max_tokens=0 is out of range"),
        ({"max_tokens": 1.5}, "must be an integer"),
        ({"temperature": "hot"}, "must be a number"),
        ({"temperature": True}, "must be a number"),
        ({"temperature": float("nan")}, "finite"),
        ({"temprature": 0.2}, "Did you mean 'temperature'"),
        ({"stop": []}, "stop must be"),
        ({"thinking": "yes"}, "True or False"),
        ({"clear_thinking": "false"}, "clear_thinking must be True or False"),
        (
            {"reasoning_effort": "MAX"},
            "Did you mean 'max'.*Allowed: none, minimal, low, medium, high, xhigh, max",
        ),
        ({"reasoning_effort": 1}, "reasoning_effort=1 is not a value GLM accepts"),
    ],
)
def test_bad_options_raise_clear_errors(options, message):
    with pytest.raises(glm.InvalidOptionError, match=message):
        build_options("zai", options)


def test_thinking_and_response_format_wire_shapes():
    assert build_options("zai", {"thinking": True}) == {"thinking": {"type": "enabled"}}
    assert build_options("zai", {"thinking": False}) == {"thinking": {"type": "disabled"}}
    assert build_options("zai", {"response_format": "json_object"}) == {
        "response_format": {"type": "json_object"}
    }
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert build_options("zai", {"tools": tools, "tool_choice": "auto"}) == {
        "tools": tools,
        "tool_choice": "auto",
    }


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh", "max"])
def test_every_documented_effort_is_sent_as_given(effort):
    assert build_options("bigmodel", {"reasoning_effort": effort}) == {"reasoning_effort": effort}


def test_clear_thinking_merges_into_a_given_thinking_dict():
    merged = build_options("zai", {"thinking": {"type": "enabled"}, "clear_thinking": False})
    assert merged == {"thinking": {"type": "enabled", "clear_thinking": False}}
    assert build_options("zai", {"thinking": {"type": "disabled"}, "clear_thinking": False}) == {
        "thinking": {"type": "disabled"}
    }


def test_system_prompt_goes_first():
    payload = build_payload("zai", "glm-5", "hi", system="Be brief.", options={})
    assert payload["messages"][0] == {"role": "system", "content": "Be brief."}


def test_empty_prompt_says_what_to_do():
    with pytest.raises(glm.InvalidOptionError, match="prompt is empty"):
        build_payload("zai", "glm-5", "   ", system=None, options={})


def test_slider_specs_follow_the_table():
    assert slider_spec("temperature", "zai")["max"] == 1.0
    assert slider_spec("temperature", "local")["max"] == 2.0
    assert slider_spec("top_p", "zai")["min"] > 0


def test_llama_cpp_sampler_options_are_for_local_servers_only():
    assert build_options("local", {"top_k": 0, "min_p": 0.0}) == {"top_k": 0, "min_p": 0.0}
    with pytest.raises(glm.InvalidOptionError, match="GLM's cloud"):
        build_options("zai", {"min_p": 0.0})
