"""What an answer costs: result.cost, glm.set_prices, the status line and %glm usage."""

from __future__ import annotations

import pytest
from _constants import TEST_KEY
from IPython.utils.capture import capture_output

import glm_notebook as glm
from glm_notebook._prices import PRICES_AS_OF, cost_of, format_cost, price_for, reset_prices
from glm_notebook._status import status_line
from glm_notebook.testing import Reply


@pytest.fixture(autouse=True)
def _default_prices():
    reset_prices()
    yield
    reset_prices()


def usage(prompt, completion, cached=None):
    data = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if cached is not None:
        data["prompt_tokens_details"] = {"cached_tokens": cached}
    return data


def chat(server, model, reply):
    server.enqueue(reply)
    client = glm.GLMClient(base_url=server.base_url, api_key=TEST_KEY, model=model)
    return client.chat("Q")


def test_cost_from_the_servers_usage_and_the_dated_table(glm_server):
    assert PRICES_AS_OF == "2026-12-05"
    result = chat(glm_server, "glm-4.7", Reply(text="hi", usage=usage(1_000_000, 100_000)))
    assert result.cost == pytest.approx(0.60 + 0.22)
    result = chat(glm_server, "glm-5", Reply(text="hi", usage=usage(2_000, 500, cached=1_000)))
    assert result.cost == pytest.approx((1_000 * 1.00 + 1_000 * 0.20 + 500 * 3.20) / 1e6)


def test_cached_input_without_its_own_price_is_a_fifth_of_input():
    glm.set_prices({"my-model": {"input": 0.20, "output": 1.10}})
    price = price_for("my-model")
    assert price is not None and price.cached == pytest.approx(0.04)
    u = glm.Usage.from_json(usage(10_000, 0, cached=10_000))
    assert cost_of(u, "My-Model") == pytest.approx(10_000 * 0.04 / 1e6)  # names are case-insensitive


@pytest.mark.parametrize("model", ["glm-5.2", "GLM-5.1"])
def test_glm_5_2_and_5_1_answers_have_a_cost(glm_server, model):
    # 1M fresh input, 1M cached input, 100K output at 1.40 / 0.26 / 4.40 USD per 1M.
    result = chat(glm_server, model, Reply(text="hi", usage=usage(2_000_000, 100_000, cached=1_000_000)))
    assert result.cost == pytest.approx(1.40 + 0.26 + 0.44)


def test_published_cached_prices_are_used():
    assert price_for("glm-4.5-air").cached == pytest.approx(0.03)  # not input / 5 = 0.04
    assert price_for("glm-4.6v").cached == pytest.approx(0.05)
    assert price_for("glm-5.4") is None  # no official price seen yet: unknown, never guessed


def test_no_usage_or_no_price_is_none_never_a_guess(glm_server):
    assert chat(glm_server, "glm-4.7", Reply(text="hi", usage=False)).cost is None
    assert chat(glm_server, "my-finetune", Reply(text="hi")).cost is None
    free = chat(glm_server, "glm-4.7-flash", Reply(text="hi"))
    assert free.usage is not None and free.cost == 0.0


def test_set_prices_overrides_adds_and_removes(glm_server):
    glm.set_prices({"glm-4.7": {"input": 0.30, "output": 1.10}, "my-finetune": {"input": 2, "output": 4}})
    assert chat(glm_server, "glm-4.7", Reply(text="hi", usage=usage(1_000_000, 0))).cost == pytest.approx(
        0.30
    )
    assert chat(glm_server, "my-finetune", Reply(text="hi", usage=usage(0, 1_000_000))).cost == pytest.approx(
        4
    )
    glm.set_prices({"glm-4.7": None})
    assert price_for("glm-4.7") is None
    glm.set_prices({"x": {"input": 1, "output": 1}}, replace=True)
    assert price_for("glm-5") is None and price_for("x") is not None


@pytest.mark.parametrize(
    "table,message",
    [
        ({"glm-4.7": {"input": 1}}, r"missing \['output'\]"),
        ({"glm-4.7": {"input": 1, "output": 2, "cache": 1}}, r"unknown \['cache'\]"),
        ({"glm-4.7": {"input": -1, "output": 2}}, "0 or more"),
        ({"glm-4.7": {"input": "1", "output": 2}}, "must be a number"),
        ({"glm-4.7": 0.6}, "must be a dict of USD per 1M tokens"),
        ({"": {"input": 1, "output": 1}}, "keyed by model name"),
    ],
)
def test_bad_prices_say_what_to_give_and_change_nothing(table, message):
    before = price_for("glm-4.7")
    with pytest.raises(glm.InvalidOptionError, match=message):
        glm.set_prices({"glm-5": {"input": 9, "output": 9}, **table})
    assert price_for("glm-4.7") == before and price_for("glm-5").input == 1.0


def test_format_cost():
    assert [format_cost(c) for c in (0, 0.0000123, 0.0123, 1.234, 12.5)] == [
        "0 USD",
        "0.000012 USD",
        "0.012 USD",
        "1.23 USD",
        "12.50 USD",
    ]


def test_status_line_shows_the_cost_only_when_known(glm_server):
    priced = chat(glm_server, "glm-4.7", Reply(text="hi", usage=usage(1000, 200)))
    line = status_line(priced)
    assert " · 200 tokens · 0.0010 USD · stop" in line
    unpriced = chat(glm_server, "my-finetune", Reply(text="hi", usage=usage(1000, 200)))
    assert "USD" not in status_line(unpriced)
    no_usage = chat(glm_server, "glm-4.7", Reply(text="hi there", usage=False))
    assert "USD" not in status_line(no_usage) and "2 chunks" in status_line(no_usage)


def test_usage_command_totals_per_model_and_says_tokens_not_reported(ip, zai_env):
    zai_env.enqueue(
        Reply(text="one", usage=usage(1000, 200), model="glm-4.7"),
        Reply(text="two", usage=usage(3000, 800), model="glm-4.7"),
        Reply(text="three four five", usage=False, model="llama-local"),
    )
    with capture_output() as out:
        ip.run_cell_magic("glm", "--model glm-4.7", "a")
        ip.run_cell_magic("glm", "--model glm-4.7", "b")
        ip.run_cell_magic("glm", "--model llama-local", "c")
        ip.run_line_magic("glm", "usage")
    report = out.stdout[out.stdout.index("3 requests this session") :].splitlines()
    cost = (4000 * 0.60 + 1000 * 2.20) / 1e6
    assert report == [
        f"3 requests this session (0 failed, 0 stopped), {format_cost(cost)} for the priced calls",
        f"  glm-4.7: 2 calls, 4,000 prompt + 1,000 completion tokens, {format_cost(cost)}",
        "  llama-local: 1 call, tokens not reported (3 chunks), cost unknown",
    ]
    assert "0 prompt + 0 completion" not in out.stdout


def test_config_prices_sets_the_table(ip, zai_env):
    ip.run_line_magic("config", 'GLMMagics.prices = {"my-model": {"input": 1.5, "output": 3}}')
    assert price_for("my-model").input == 1.5
    zai_env.enqueue(Reply(text="hi", usage=usage(1_000_000, 0)))
    with capture_output() as out:
        ip.run_cell_magic("glm", "--model my-model", "Q")
    assert "1.50 USD" in out.stdout
