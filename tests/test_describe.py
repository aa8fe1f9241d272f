"""glm.describe: what the model sees of each kind of object, within the budget, keys masked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import polars as pl
import pytest
from _constants import TEST_KEY

import glm_notebook as glm
from glm_notebook.context._describe import describe


@pytest.fixture(scope="module")
def big_df():
    n = 1_000_000
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "price": np.where(rng.random(n) < 0.25, np.nan, rng.random(n) * 100),
            "city": np.where(rng.random(n) < 0.01, None, "Paris"),
        }
    )


def test_a_million_row_dataframe_is_a_small_summary(big_df):
    text = glm.describe(big_df)
    assert len(text) <= 4000
    assert text.startswith("pandas DataFrame: 1,000,000 rows × 3 columns")
    missing = big_df.isna().sum()
    assert f"- price: float64, {missing['price']:,} missing (25.0%)" in text
    assert f"- city: {big_df['city'].dtype}, {missing['city']:,} missing" in text
    assert "- id: int64, 0 missing, min 0, max 999,999, mean 500,000" in text
    assert "First 5 rows:\n|  | id | price | city |\n|---|---|---|---|\n| 0 | 0 |" in text
    assert "Random sample of 5 other rows (seed 0):" in text
    assert "[999,990 rows not shown]" in text


def test_the_sample_is_seeded_so_reruns_send_the_same_prompt(big_df):
    assert glm.describe(big_df) == glm.describe(big_df.copy())


def test_a_wide_table_lists_columns_within_budget_and_says_what_it_left_out():
    df = pd.DataFrame({f"col{i}": range(20) for i in range(300)})
    text = describe(df, budget=2000)
    assert len(text) <= 2000
    assert "300 columns" in text.splitlines()[0]
    assert "more columns not listed" in text
    assert "columns not in the tables" in text


@pytest.mark.parametrize("budget", [120, 300, 800, 2000, 4000, 10_000])
def test_every_kind_stays_within_any_budget(budget, big_df):
    objects = [
        big_df,
        big_df["price"],
        pl.DataFrame({"a": list(range(500)), "b": ["x" * 300] * 500}),
        np.arange(1_000_000.0).reshape(1000, 1000),
        "y" * 50_000,
        {"k": list(range(10_000)), "nested": [{"a": [1] * 500}] * 50},
        list(range(100_000)),
        os.environ,
        pd,
        pd.DataFrame,
        describe,
        ValueError("x" * 20_000),
        object(),
    ]
    for obj in objects:
        assert len(describe(obj, budget=budget)) <= budget, type(obj)


def test_series_shows_dtype_missing_and_values(big_df):
    text = describe(big_df["price"])
    assert text.startswith("pandas Series 'price': 1,000,000 values\ndtype float64,")
    assert "First 5 rows:\n|  | price |" in text


def test_polars_dataframe_and_series():
    df = pl.DataFrame({"a": [1, 2, None, 4], "s": ["p", "q", "r", None]})
    text = describe(df)
    assert text.startswith("polars DataFrame: 4 rows × 2 columns")
    assert "- a: Int64, 1 missing (25.0%), min 1, max 4, mean 2.333" in text
    assert "- s: String, 1 missing (25.0%)" in text
    assert "| 2 | None | r |" in text
    series = describe(pl.Series("a", [1.5, None]))
    assert series.startswith("polars Series 'a': 2 values\ndtype Float64, 1 missing (50.0%)")


def test_numpy_array_shape_dtype_stats_and_a_corner():
    arr = np.arange(10_000, dtype=float).reshape(100, 100)
    arr[0, 1] = np.nan
    text = describe(arr)
    lines = text.splitlines()
    assert lines[0] == "numpy ndarray: shape (100, 100) = 100×100, dtype float64"
    assert lines[1] == "min 0, max 9,999, mean 5,000, 1 NaN"
    assert "..." in text and "corners" in text
    assert describe(np.array([1, 2, 3])).endswith("Values:\n[1 2 3]")


def test_str_is_cut_in_the_middle_with_a_note():
    text = describe("A" * 500 + "B" * 9_000 + "C" * 500, budget=600)
    assert len(text) <= 600
    assert text.startswith("str, 10,000 characters:\nAAAA")
    assert text.endswith("CCCC")
    assert "characters left out of 10,000]" in text
    assert describe("short") == "str, 5 characters:\nshort"


def test_containers_are_json_like_and_count_what_is_left_out():
    assert describe({"a": 1, "b": [1, 2]}) == "dict, 2 keys:\n{'a': 1, 'b': [1, 2]}"
    assert describe((1,)) == "tuple, 1 item:\n(1,)"
    assert describe(set()) == "set, 0 items:\nset()"
    text = describe(list(range(1000)), budget=300)
    assert text.startswith("list, 1,000 items:\n[0, 1, 2")
    assert "more]" in text and "entries left out]" in text


def test_functions_show_signature_and_source_when_short():
    def area(width: float, height: float = 1.0) -> float:
        """Area of a rectangle."""
        return width * height

    text = describe(area)
    assert text.startswith("function test_functions_show_signature_and_source_when_short.<locals>.area(")
    assert "(width: float, height: float = 1.0) -> float" in text
    assert 'def area(width: float, height: float = 1.0) -> float:\n        """Area of a rectangle."""' in text


def test_long_functions_and_builtins_show_signature_and_docstring_only():
    text = describe(pd.read_csv, budget=1500)
    assert text.startswith("function read_csv(")
    assert "Source:" not in text
    assert "source not shown" in text
    assert describe(len).startswith("function len(obj, /)")
    assert "Return the number of items in a container." in describe(len)


def test_classes_and_modules():
    text = describe(pd.DataFrame, budget=3000)
    assert text.startswith(
        "class DataFrame(NDFrame, OpsMixin) (module pandas)\nconstructor DataFrame(data=None"
    )
    assert "Public methods:" in text
    module = describe(pd)
    assert module.startswith("module pandas (")
    assert "Public names: " in module and "DataFrame" in module


def test_exceptions_show_type_message_and_traceback():
    def inner():
        raise KeyError("price")

    try:
        inner()
    except KeyError as exc:
        text = describe(exc)
    assert text.startswith("exception KeyError: 'price'\nTraceback:\nTraceback (most recent call last):")
    assert 'in inner\n    raise KeyError("price")' in text
    assert describe(ValueError("\x1b[31mred\x1b[0m")).startswith("exception ValueError: red\n")
    assert "(not raised: no traceback)" in describe(ValueError("never raised"))


def test_repr_llm_protocol_with_and_without_budget():
    class Plain:
        def _repr_llm_(self):
            return "a plain summary"

    class Sized:
        def _repr_llm_(self, budget):
            return f"fits in {budget}" + "z" * 10_000

    assert describe(Plain()) == "a plain summary"
    text = describe(Sized(), budget=500)
    assert text.startswith("fits in 500") and len(text) <= 500 and "left out" in text


def test_anything_else_is_its_repr_cut():
    class Big:
        def __repr__(self):
            return "Big(" + "q" * 10_000 + ")"

    text = describe(Big(), budget=400)
    assert text.startswith("test_describe.test_anything_else_is_its_repr_cut.<locals>.Big:\nBig(qqq")
    assert len(text) <= 400 and "characters left out" in text

    class Broken:
        def __repr__(self):
            raise RuntimeError("no")

    assert "repr() failed: RuntimeError: no" in describe(Broken())


@pytest.mark.parametrize("budget", [0, 119, 1.5, "4000", True])
def test_a_bad_budget_says_what_to_give(budget):
    with pytest.raises(glm.InvalidOptionError, match="budget must be a whole number of characters"):
        describe("x", budget=budget)


def test_no_api_key_shows_in_settings_environ_client_or_mappings(monkeypatch):
    monkeypatch.setenv("ZAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789abcdef")
    monkeypatch.setenv("GLM_PROVIDER", "zai")
    client = glm.GLMClient(base_url="http://127.0.0.1:9/v4")
    settings = client.settings
    objects = [
        settings,
        client,
        os.environ,
        {"api_key": "sk-unrelated-9999888877776666", "password": "hunter2hunter2"},
        {"nested": [{"token": "abc-123456789"}]},
        settings.api_key,
        f"the key is {TEST_KEY}",
        [TEST_KEY],
    ]
    for obj in objects:
        text = describe(obj, budget=20_000)
        for secret in (
            TEST_KEY,
            "tok-0123456789abcdef",
            "sk-unrelated-9999888877776666",
            "hunter2hunter2",
            "abc-123456789",
        ):
            assert secret not in text, (type(obj), text[:200])
    environ = describe(os.environ, budget=20_000)
    assert "'MY_SERVICE_TOKEN': 'tok…cdef'" in environ
    assert "'GLM_PROVIDER': 'zai'" in environ
    assert "api_key='" in describe(client)


def test_describe_imports_no_pandas_polars_or_numpy_for_plain_objects():
    code = textwrap.dedent(
        """
        import sys, glm_notebook as glm
        class Thing:
            pass
        for obj in ["text", {"a": [1, 2]}, (1, 2), 3.5, Thing(), Thing, glm.describe, ValueError("x"), sys]:
            glm.describe(obj)
        print(sorted(m for m in ("pandas", "polars", "numpy") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_describe_is_public():
    assert "describe" in glm.__all__
    assert glm.describe is describe


def test_duplicate_labels_odd_indexes_and_empty_tables():
    dup = pd.DataFrame([[1, 2.5], [3, None]], columns=["x", "x"], index=["b", 7])
    text = describe(dup)
    assert "- x: int64, 0 missing, min 1, max 3, mean 2\n- x: float64, 1 missing (50.0%)" in text
    assert "| b | 1 | 2.5 |\n| 7 | 3 | nan |" in text
    empty = describe(pd.DataFrame({"a": []}))
    assert empty.startswith("pandas DataFrame: 0 rows × 1 columns") and "First" not in empty
    assert describe(pl.DataFrame()).startswith("polars DataFrame: 0 rows × 0 columns")
