"""Secrets held in the notebook never reach the model: %glm fix, --context, {name} with --vars and
glm.describe all go through one masker (glm_notebook/context/_text.py). Driven through a real
IPython shell against the test server; each test asserts on the request body as sent."""

from __future__ import annotations

import dataclasses
import sys

import pytest
from IPython.utils.capture import capture_output

import glm_notebook as glm
from glm_notebook.context._text import looks_secret, mask_secrets

# Values shaped like the real thing (made up).
OPENAI = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123"
ANTHROPIC = "sk-ant-api03-ZyXwVuTsRqPoNmLkJiHg-9876"
ZHIPU = "0123456789abcdef0123456789abcdef.AbCdEfGh12345678"
GITHUB = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
AWS = "AKIAIOSFODNN7EXAMPLE"
SLACK = "xoxb-123456789012-abcdefghijkl"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PASSWORD = "hunter2pw"  # short, no shape: found only because of its name
TOKEN = "plain-token-value-1"
ATTR_SECRET = "attribute-secret-42"
URL_PASSWORD = "pgpass-99x"

ALL = [OPENAI, ANTHROPIC, ZHIPU, GITHUB, AWS, SLACK, JWT, PASSWORD, TOKEN, ATTR_SECRET, URL_PASSWORD]


def leaked(body: bytes) -> list[str]:
    text = body.decode("utf-8")
    return [s for s in ALL if s in text or s.encode("unicode_escape").decode() in text]


@pytest.fixture
def no_last_error(monkeypatch):
    for name in ("last_exc", "last_value", "last_type", "last_traceback"):
        monkeypatch.delattr(sys, name, raising=False)


@pytest.fixture
def secrets_defined(ip):
    cell = f"""
import dataclasses
@dataclasses.dataclass
class Conf:
    user: str
    auth_token: str
api_key = {OPENAI!r}
password = "{PASSWORD}"
cfg = {{"token": {TOKEN!r}, "region": "eu"}}
conf = Conf("ann", {ATTR_SECRET!r})
zhipu = {ZHIPU!r}
notes = "keys seen: {ANTHROPIC} {GITHUB} {AWS} {SLACK} {JWT}"
db = "postgres://ann:{URL_PASSWORD}@db.internal:5432/sales"
"""
    result = ip.run_cell(cell, store_history=True)
    assert result.success
    return ip


def test_fix_masks_secrets_in_variables_cell_source_and_traceback(secrets_defined, zai_env, no_last_error):
    ip = secrets_defined
    failing = (
        f"headers = {{'Authorization': 'Bearer {JWT}'}}\n"
        f'client = make_client(api_key="{OPENAI}", region=cfg["region"])\n'
        "print(api_key, password, cfg, conf, zhipu, notes, db)\n"
        "raise ValueError('login failed for ' + password + ' at ' + db + ' with ' + conf.auth_token)\n"
    )
    with capture_output() as out:
        ip.run_cell(failing.replace("client = make_client", "# client = make_client"), store_history=True)
    assert "ValueError" in out.stdout + out.stderr
    with capture_output() as out:
        ip.run_line_magic("glm", "fix")
    request = zai_env.wait_for_requests(1)[0]
    assert leaked(request.body) == [] and [s for s in ALL if s in out.stdout] == []
    content = request.json["messages"][0]["content"]
    # still useful: the names, the structure and the code are there
    assert '<context name="api_key">' in content and "'region': 'eu'" in content
    assert "raise ValueError('login failed for ' + password" in content
    assert "api_key = " not in content or "sk-…0123" in content


def test_context_flag_masks_secret_names_and_shapes(secrets_defined, zai_env):
    with capture_output():
        secrets_defined.run_cell_magic(
            "glm", "--context api_key,password,cfg,conf,zhipu,notes,db", "Check these."
        )
    body = zai_env.wait_for_requests(1)[0].body
    assert leaked(body) == []
    assert b"'region': 'eu'" in body and b"user='ann'" in body


def test_vars_placeholders_mask_secret_names_and_shapes(secrets_defined, zai_env):
    prompt = (
        "Key {api_key}, pw {password}, cfg {cfg}, token {cfg[token]}, attr {conf.auth_token}, {notes}, {db}"
    )
    with capture_output():
        secrets_defined.run_cell_magic("glm", "--vars", prompt)
    body = zai_env.wait_for_requests(1)[0].body
    assert leaked(body) == []
    assert b"'region': 'eu'" in body


@dataclasses.dataclass
class Service:
    name: str
    password: str
    options: dict


def test_describe_masks_attributes_dict_keys_and_shapes():
    objects = [
        Service("db", PASSWORD, {"client_secret": TOKEN, "retries": 3}),
        {"nested": [{"Authorization": f"Bearer {JWT}"}], "creds": {"aws": AWS}},
        [f"log line with {GITHUB} in it", SLACK],
        ValueError(f"bad key {ZHIPU}"),
        f"-----BEGIN RSA PRIVATE KEY-----\nMIIE{ATTR_SECRET}\n-----END RSA PRIVATE KEY-----",
    ]
    for obj in objects:
        text = glm.describe(obj)
        assert [s for s in ALL if s in text] == [], text
    assert "retries" in glm.describe(objects[0])


def test_describe_of_a_client_and_settings_as_json_show_no_key(monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", ZHIPU)
    for name in ("GLM_BASE_URL", "GLM_PROVIDER", "ZAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    client = glm.GLMClient()
    import json

    text = (
        glm.describe(client) + glm.describe(client.settings) + json.dumps(dataclasses.asdict(client.settings))
    )
    assert ZHIPU not in text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("KeyError: 'price'", "'price'"),
        ("author = 'Jane Austen'", "Jane Austen"),
        ("keyboard = 'qwerty-layout'", "qwerty-layout"),
        ("tokenizer_name = 'bert-base-uncased'", "bert-base-uncased"),
        ("api_key = os.environ['ZAI_API_KEY']", "os.environ['ZAI_API_KEY']"),
        ("token = make_token()", "make_token()"),
        ("AuthenticationError: HTTP 401 from the server", "HTTP 401"),
    ],
)
def test_the_masker_leaves_ordinary_code_alone(text, kept):
    assert kept in mask_secrets(text)


@pytest.mark.parametrize(
    "text",
    [
        f"api_key = '{PASSWORD}'",
        f'password: str = "{PASSWORD}"',
        f'os.environ["MY_TOKEN"] = "{PASSWORD}"',
        f'monkeypatch.setenv("DB_PASSWD", "{PASSWORD}")',
        f"DB_PASSWORD={PASSWORD}",
        f'{{"secret": "{PASSWORD}"}}',
        f"if password == '{PASSWORD}':",
        f"credential => '{PASSWORD}'",
        f"x = f(auth=r'{PASSWORD}')",
        f"curl -H 'Authorization: Bearer {PASSWORD}'",
        f"https://ann:{PASSWORD}@example.com/",
    ],
)
def test_the_masker_finds_a_secret_by_its_binding(text):
    assert PASSWORD not in mask_secrets(text)


def test_secret_names():
    assert all(
        map(looks_secret, ["api_key", "ZAI_API_KEY", "db_password", "passwd", "cfg.auth", "Credentials"])
    )
    assert not any(map(looks_secret, ["author", "keyboard", "tokenizer", "KeyError", "price"]))


def test_the_masker_is_linear_on_long_text():
    """A regex that backtracks would take minutes here (measured: 0.04 s for 1 MB)."""
    import subprocess

    code = (
        "import resource, time\n"
        "from glm_notebook.context._text import mask_secrets\n"
        "for text in ('a' * 1_000_000, 'key' * 300_000, 'x_' * 500_000, 'a.' * 500_000, 'key=' * 250_000):\n"
        "    mask_secrets(text)\n"
        "print('done')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "done", out.stderr


# -- describe(): broken objects and the number of repr calls -------------------------------------


class Counted:
    calls = 0

    def __repr__(self) -> str:
        Counted.calls += 1
        return "Counted(value=12345)"


@pytest.mark.parametrize("shape", ["list", "grid", "dict", "tuple_of_sets"])
def test_describe_calls_repr_about_as_often_as_it_shows_items(shape):
    Counted.calls = 0
    if shape == "list":
        obj = [Counted() for _ in range(10_000)]
    elif shape == "grid":
        obj = [[Counted() for _ in range(100)] for _ in range(100)]
    elif shape == "dict":
        obj = {f"k{i}": Counted() for i in range(10_000)}
    else:
        obj = tuple(frozenset([Counted()]) for _ in range(10_000))
    text = glm.describe(obj, budget=600)
    shown = text.count("Counted(value=12345)")
    assert 1 <= shown <= 30 and len(text) <= 600
    # 600 characters hold at most ~27 of these reprs; the retries reuse the ones already taken.
    assert Counted.calls <= 100, (Counted.calls, shown)


class BrokenHook:
    def _repr_llm_(self):
        raise RuntimeError("hook exploded")


class WrongHook:
    def _repr_llm_(self):
        return 42


class BrokenRepr:
    def __repr__(self):
        raise ValueError("repr exploded")


class BrokenEverything(Exception):
    def __str__(self):
        raise RuntimeError("str exploded")


class BrokenMapping(dict):
    def items(self):
        raise OSError("items exploded")


@pytest.mark.parametrize(
    ("obj", "said"),
    [
        (BrokenHook(), "_repr_llm_() raised RuntimeError: hook exploded"),
        (WrongHook(), "_repr_llm_() returned int, not a str"),
        (BrokenRepr(), "repr() failed: ValueError: repr exploded"),
        ([BrokenRepr()], "repr() failed: ValueError: repr exploded"),
        (BrokenEverything(), "exception"),
        (BrokenMapping(a=1), "could not be described (OSError: items exploded)"),
    ],
)
def test_a_broken_object_becomes_a_line_saying_so(obj, said):
    assert said in glm.describe(obj)


def test_a_broken_repr_llm_in_context_does_not_fail_the_cell(ip, zai_env):
    ip.user_ns["thing"] = BrokenHook()
    with capture_output():
        result = ip.run_cell_magic("glm", "--context thing", "What is it?")
    assert result is None
    body = zai_env.wait_for_requests(1)[0].json["messages"][0]["content"]
    assert "_repr_llm_() raised RuntimeError: hook exploded" in body


def test_data_under_a_secret_looking_name_is_not_blanked_elsewhere(ip, zai_env):
    # sort_key = "revenue" is data: masking "revenue" everywhere would corrupt the table sent.
    ip.run_cell(
        'import pandas as pd\nsort_key = "revenue"\ndf = pd.DataFrame({"region": ["eu"], "revenue": [3]})'
    )
    ip.run_cell(f"api_key = {OPENAI!r}")
    with capture_output():
        ip.run_cell_magic("glm", "--context df", "Which column holds money?")
    body = zai_env.requests[-1].body.decode()
    assert "revenue" in body and not leaked(zai_env.requests[-1].body)


def test_an_object_whose_attributes_raise_does_not_turn_the_masking_off(ip, zai_env):
    ip.run_cell(
        "class Odd:\n    __slots__ = ()\n    def __getattr__(self, name):\n        raise KeyError(name)\n"
        f"odd = Odd()\nmy_token = {TOKEN!r}\nnote = 'the token is ' + my_token"
    )
    with capture_output():
        ip.run_cell_magic("glm", "--context note", "What is this?")
    assert TOKEN not in zai_env.requests[-1].body.decode()
