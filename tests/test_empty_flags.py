"""Empty values for flags where empty means nothing (--model '', --chat '', ...) are UsageErrors that
say what to pass; nothing is sent."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (
            "--model ''",
            "argument --model/-m: the value is empty: give a model id, e.g. --model glm-4.7-flash",
        ),
        ('-m "  "', "give a model id"),
        ("--chat ''", "argument --chat/-c: the value is empty: give a conversation name"),
        ("--schema ''", "give a schema variable"),
        ("--tools ''", "give function names"),
        ("--out ''", "give a variable name"),
        ("--context ''", "give variable names"),
        ("--image ''", "give a variable, a path, an https URL or gcf"),
        ("--map ''", "give a variable holding the rows"),
        ("--compare ''", "give settings"),
    ],
)
def test_an_empty_flag_value_is_a_usage_error(ip, zai_env, flags, says):
    with capture_output(), pytest.raises(UsageError, match="the value is empty") as info:
        ip.run_cell_magic("glm", flags, "Say hi")
    assert says in str(info.value) and "or leave the flag out" in str(info.value)
    assert zai_env.requests == []
