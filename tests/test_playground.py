"""The Playground driven from Python (sliders, Run, Stop, history, copy as code) against the test server."""

from __future__ import annotations

import json

import pytest
from _constants import TEST_KEY
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from glm_notebook import GLMClient, InvalidOptionError
from glm_notebook.playground import Playground
from glm_notebook.testing import Reply

SLOW = "one two three four five six seven eight nine ten eleven twelve"


@pytest.fixture
def client(zai_env):
    with GLMClient(provider="zai", base_url=zai_env.base_url, api_key=TEST_KEY) as c:
        yield c


@pytest.fixture
def make(client):
    made = []

    def build(prompt="Say hi", **kwargs):
        kwargs.setdefault("auto_run", False)
        kwargs.setdefault("debounce", 0.05)
        pg = Playground(prompt, client=client, **kwargs)
        made.append(pg)
        return pg

    yield build
    for pg in made:
        pg.close()
        pg.wait(5)


def run_once(pg):
    pg.run_button.click()
    assert pg.wait(10)
    return pg.last_result


@pytest.mark.parametrize("temperature", [0.0, 0.35, 1.0])
def test_run_sends_exactly_the_slider_values(make, zai_env, temperature):
    pg = make()
    pg.sliders["temperature"].value = temperature
    pg.sliders["top_p"].value = 0.35
    pg.sliders["max_tokens"].value = 7
    result = run_once(pg)
    assert result.text == "You said: Say hi"
    body = zai_env.requests[-1].json
    assert body["temperature"] == temperature and type(body["temperature"]) is float
    assert repr(body["top_p"]) == "0.35"
    assert body["max_tokens"] == 7 and type(body["max_tokens"]) is int
    assert "thinking" not in body


def test_float_artifacts_from_the_front_end_are_not_sent(make, zai_env):
    pg = make()
    pg.sliders["temperature"].value = 0.1 + 0.2  # 0.30000000000000004, as a browser may compute it
    pg.sliders["top_p"].value = 0.333  # set from Python, off the step grid: kept as shown
    run_once(pg)
    body = zai_env.requests[-1].json
    assert repr(body["temperature"]) == "0.3"
    assert body["top_p"] == 0.333


def test_thinking_is_tri_state_and_unchecked_options_are_not_sent(make, zai_env):
    pg = make()
    pg.panel.send["top_p"].value = False
    pg.panel.send["max_tokens"].value = False
    assert pg.sliders["top_p"].disabled
    for choice, expected in (("on", {"type": "enabled"}), ("off", {"type": "disabled"}), ("not sent", None)):
        pg.panel.thinking.value = choice
        run_once(pg)
        body = zai_env.requests[-1].json
        assert body.get("thinking") == expected
        assert "top_p" not in body and "max_tokens" not in body
    assert "thinking" not in body


def test_model_and_system_prompt_are_sent(make, zai_env):
    pg = make(system="Be terse.")
    pg.panel.model.value = "glm-5"
    run_once(pg)
    body = zai_env.requests[-1].json
    assert body["model"] == "glm-5"
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}


def test_slider_bounds_follow_the_provider(zai_env):
    for provider, t_max in (("zai", 1.0), ("openai-compatible", 2.0), ("local", 2.0)):
        with GLMClient(provider=provider, base_url=zai_env.base_url, api_key=TEST_KEY) as c:
            pg = Playground("Q", client=c, auto_run=False)
            temperature, top_p, max_tokens = (pg.sliders[n] for n in ("temperature", "top_p", "max_tokens"))
            assert (temperature.min, temperature.max, temperature.step) == (0.0, t_max, 0.05)
            assert 0 < top_p.min and top_p.max == 1.0
            assert (max_tokens.min, max_tokens.max) == (1, 4096)
            assert not temperature.continuous_update and not max_tokens.continuous_update
            pg.close()
    assert zai_env.requests == []


def test_starting_values_are_validated_for_the_provider(client, zai_env):
    with pytest.raises(InvalidOptionError, match="allowed from 0.0 to 1.0"):
        Playground("Q", client=client, temperature=1.5)
    assert zai_env.requests == []


def test_changing_a_slider_cancels_the_run_and_auto_run_starts_a_new_one(make, zai_env):
    zai_env.enqueue(Reply(text=SLOW, delay=0.2), Reply(text="fresh answer"))
    pg = make(auto_run=True, temperature=0.7)
    zai_env.wait_for_requests(1)  # the first automatic run is streaming slowly
    pg.sliders["temperature"].value = 0.35
    assert pg.wait(10)
    first, second = zai_env.wait_until_finished()
    assert first.outcome == "client_disconnected"
    assert (first.json["temperature"], second.json["temperature"]) == (0.7, 0.35)
    assert pg.last_result.text == "fresh answer"
    assert [e.result.stopped for e in pg.history] == [True, False]
    assert "stopped" in pg.history[0].status


def test_a_burst_of_changes_starts_one_run(make, zai_env):
    pg = make(auto_run=True, debounce=0.2)
    for value in (0.1, 0.2, 0.3):
        pg.sliders["temperature"].value = value
    assert pg.wait(10)
    assert [r.json["temperature"] for r in zai_env.requests] == [0.3]


def test_without_auto_run_a_change_only_cancels(make, zai_env):
    zai_env.enqueue(Reply(text=SLOW, delay=0.2))
    pg = make()
    pg.run()
    zai_env.wait_for_requests(1)
    pg.sliders["max_tokens"].value = 100
    assert pg.wait(10)
    assert [r.outcome for r in zai_env.wait_until_finished()] == ["client_disconnected"]
    assert pg.last_result.stopped


def test_stop_closes_the_connection_and_keeps_the_partial_text(make, zai_env):
    zai_env.enqueue(Reply(text=SLOW, delay=0.15))
    pg = make()
    pg.run_button.click()
    assert not pg.stop_button.disabled
    zai_env.wait_for_requests(1)
    for _ in range(100):  # until the first words have arrived
        if pg.view_box.children[0].text:
            break
        pg.wait(0.05)
    pg.stop_button.click()
    assert pg.wait(5)
    assert zai_env.wait_until_finished()[0].outcome == "client_disconnected"
    result = pg.last_result
    assert result.stopped and result.text and SLOW.startswith(result.text)
    assert pg.stop_button.disabled
    assert "stopped" in pg.history[-1].label()


def test_request_panel_shows_the_json_sent_without_the_key(make, zai_env):
    pg = make(temperature=0.35)
    result = run_once(pg)
    assert result.request == zai_env.requests[-1].json
    assert "&quot;temperature&quot;: 0.35" in pg.request_html.value
    assert TEST_KEY not in pg.request_html.value and TEST_KEY not in pg.code()


def test_history_records_runs_and_a_click_shows_one_again(make, zai_env):
    zai_env.enqueue(Reply(text="first answer here"), Reply(text="second answer"))
    pg = make()
    run_once(pg)
    pg.sliders["temperature"].value = 0.2
    run_once(pg)
    assert [e.number for e in pg.history] == [1, 2]
    assert [e.options["temperature"] for e in pg.history] == [0.7, 0.2]
    label = pg.history[0].label()
    assert "temperature=0.7" in label and "first answer here" in label and "stop" in label
    assert len(pg.history_list.options) == 2
    pg.history_list.value = 0  # what a click in the list does
    shown = pg.history_view.children[0]
    assert shown.text == "first answer here" and shown.done


def test_copy_as_code_round_trips_through_the_magic_parser(make, ip, zai_env):
    from glm_notebook.magics._magics import _parse_flags

    pg = make(prompt="Explain top_p.", system="Be 'very' brief.")
    pg.sliders["temperature"].value = 0.0
    pg.sliders["top_p"].value = 0.35
    pg.panel.model.value = "glm-5"
    pg.panel.thinking.value = "off"
    code = pg.code()
    first_line, prompt = code.split("\n", 2)[:2]
    assert first_line.startswith("%%glm ") and prompt == "Explain top_p."
    magics = ip.magics_manager.registry["GLMMagics"]
    args = _parse_flags(magics.glm, first_line[len("%%glm ") :])
    options = {k: v for k, v in magics.options_from(args).items() if v is not None}
    sent = {k: v for k, v in pg.settings()["options"].items() if v is not None}
    assert options == sent
    assert (args.model, args.system) == ("glm-5", "Be 'very' brief.")

    # The Python call sends the same request as the playground.
    run_once(pg)
    python = code[code.index("import glm_notebook") :]
    exec(python.replace("print(result.text)", ""), {})
    by_playground, by_code = (r.json for r in zai_env.requests)
    assert by_code == by_playground


def test_a_multi_line_system_prompt_is_left_to_the_python_call(make):
    pg = make(system="Line one.\nLine two.")
    code = pg.code()
    assert "--system" not in code.splitlines()[0]
    assert "system='Line one.\\nLine two.'" in code and "line breaks" in code


def test_magic_tune_shows_a_playground_and_returns_at_once(ip, zai_env):
    ip.run_line_magic("config", 'GLMMagics.display_mode = "widget"')
    zai_env.enqueue(Reply(text=SLOW, delay=0.1))
    with capture_output() as out:
        ip.run_cell_magic("glm", "--tune --temperature 0.2 --max-tokens 64 --seed 3 --out pg", "Q")
    pg = ip.user_ns["pg"]
    try:
        assert isinstance(pg, Playground) and not pg.last_result  # the run is still streaming
        assert "application/vnd.jupyter.widget-view+json" in out.outputs[0].data
        assert (pg.sliders["temperature"].value, pg.sliders["max_tokens"].value) == (0.2, 64)
        assert pg.wait(10)
        body = zai_env.requests[0].json
        assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.2, 64, 3)
        assert pg.last_result.text == SLOW
    finally:
        pg.close()


def test_magic_tune_needs_a_notebook_front_end(ip, zai_env):
    with pytest.raises(UsageError, match="needs a notebook front end"):
        ip.run_cell_magic("glm", "--tune", "Q")
    assert zai_env.requests == []


def test_request_json_is_valid_json(make):
    pg = make()
    run_once(pg)
    text = pg.request_html.value
    body = text[text.index(">") + 1 : text.rindex("<")]
    import html

    assert json.loads(html.unescape(body))["messages"][-1]["content"] == "Say hi"


def test_saved_playground_reads_as_a_sentence_not_a_widget_repr(glm_server):
    import glm_notebook as glm
    from glm_notebook.playground import Playground

    client = glm.GLMClient(provider="zai", base_url=glm_server.base_url, api_key="k")
    lab = Playground("Once upon a time", client=client, auto_run=False)
    text = lab._repr_mimebundle_()["text/plain"]
    assert "Once upon a time" in text and "Playground(" not in text and "children=" not in text
    assert "Once upon a time" in lab._repr_mimebundle_()["text/markdown"]
    lab.close()
