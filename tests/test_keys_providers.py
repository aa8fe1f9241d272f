"""A key goes only to the server it belongs to (the rule is in glm_notebook/_settings.py).

Over a real socket, the test server records every request's headers: a Zhipu or Z.ai key set in
the environment must never reach an OpenAI-compatible server (a vLLM, a proxy) given by
GLM_BASE_URL; GLM_API_KEY or an explicit api_key= goes there instead.
"""

from __future__ import annotations

import traceback

import pytest

import glm_notebook as glm
from glm_notebook._settings import resolve_settings
from glm_notebook.testing import Reply

ZHIPU_KEY = "zhipu-secret-0123456789.abcdWXYZ"
ZAI_KEY = "zai-secret-9876543210.efghQRST"
OWN_KEY = "vllm-key-own-server-5555"
ENV_VARS = ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "GLM_API_KEY", "GLM_PROVIDER", "GLM_BASE_URL", "GLM_MODEL")


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment (no keys, no .env in the working directory); returns monkeypatch."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def keys_seen(server) -> list[str]:
    """Every header value of every recorded request that carries one of the cloud keys."""
    return [
        value
        for request in server.requests
        for value in request.headers.values()
        if ZHIPU_KEY in value or ZAI_KEY in value
    ]


def ask(**kwargs) -> glm.ChatResult:
    with glm.GLMClient(max_retries=0, **kwargs) as client:
        return client.chat("hi")


# -- over a real socket ------------------------------------------------------------------------


@pytest.mark.parametrize("cloud_var", ["ZHIPUAI_API_KEY", "ZAI_API_KEY"])
def test_a_cloud_key_never_reaches_an_openai_compatible_server(env, glm_server, cloud_var):
    env.setenv(cloud_var, ZHIPU_KEY if cloud_var == "ZHIPUAI_API_KEY" else ZAI_KEY)
    env.setenv("GLM_BASE_URL", glm_server.base_url)  # e.g. http://my-vllm:8000/v1
    glm_server.enqueue(Reply(text="answered without a key"))
    assert ask().text == "answered without a key"
    [request] = glm_server.requests
    assert "authorization" not in request.headers
    assert keys_seen(glm_server) == []


def test_an_openai_compatible_server_gets_glm_api_key(env, glm_server):
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)
    env.setenv("ZAI_API_KEY", ZAI_KEY)
    env.setenv("GLM_API_KEY", OWN_KEY)
    env.setenv("GLM_BASE_URL", glm_server.base_url)
    glm_server.api_key = OWN_KEY  # the server refuses any other key
    assert ask().text == "You said: hi"
    assert glm_server.requests[0].headers["authorization"] == f"Bearer {OWN_KEY}"
    assert keys_seen(glm_server) == []


def test_an_explicit_api_key_goes_where_the_user_says(env, glm_server):
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)
    glm_server.api_key = OWN_KEY
    assert ask(api_key=OWN_KEY, base_url=glm_server.base_url, provider="bigmodel").text == "You said: hi"
    assert glm_server.requests[0].headers["authorization"] == f"Bearer {OWN_KEY}"


@pytest.mark.parametrize("pasted", [f"{OWN_KEY}\n", f"  {OWN_KEY}\r\n", f"\t{OWN_KEY} "])
def test_a_pasted_key_with_whitespace_around_it_still_works(env, glm_server, pasted):
    env.setenv("GLM_API_KEY", pasted)
    env.setenv("GLM_BASE_URL", glm_server.base_url)
    glm_server.api_key = OWN_KEY  # wants exactly "Bearer <key>"
    assert ask().text == "You said: hi"
    assert glm_server.requests[0].headers["authorization"] == f"Bearer {OWN_KEY}"


def test_a_key_in_dotenv_with_a_trailing_newline_still_works(env, glm_server, tmp_path):
    # A quoted value keeps the "\n" a copy-paste brought along; unquoted ones lose it anyway.
    (tmp_path / ".env").write_text(f'GLM_API_KEY="{OWN_KEY}\\n"\nGLM_BASE_URL={glm_server.base_url}  \n')
    glm_server.api_key = OWN_KEY
    assert ask().text == "You said: hi"
    assert glm_server.requests[0].headers["authorization"] == f"Bearer {OWN_KEY}"


def test_a_cloud_provider_on_this_machine_gets_its_key(env, glm_server):
    """The documented exception: GLM_PROVIDER names the cloud provider and the URL is loopback
    (a local proxy or test server in front of it), so the key does not leave the machine."""
    env.setenv("GLM_PROVIDER", "zai")
    env.setenv("GLM_BASE_URL", glm_server.base_url)
    env.setenv("ZAI_API_KEY", ZAI_KEY)
    glm_server.api_key = ZAI_KEY
    assert ask().text == "You said: hi"


# -- a cloud provider's key goes only to its own https host --------------------------------------


def test_zhipu_key_is_not_sent_to_a_gateway_of_another_host(env):
    env.setenv("GLM_PROVIDER", "bigmodel")
    env.setenv("GLM_BASE_URL", "https://gateway.example.com/api/paas/v4")
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)
    with pytest.raises(glm.ConfigurationError) as info:
        glm.GLMClient()
    message = str(info.value)
    assert "ZHIPUAI_API_KEY is sent only to https://open.bigmodel.cn" in message
    assert "GLM_API_KEY" in message and "api_key=" in message
    assert ZHIPU_KEY not in message and ZHIPU_KEY[-4:] not in message


def test_zhipu_key_is_not_sent_over_plain_http_even_to_the_official_host(env):
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)
    with pytest.raises(glm.ConfigurationError, match="sent only to https://open.bigmodel.cn"):
        resolve_settings(provider="bigmodel", base_url="http://open.bigmodel.cn/api/paas/v4")


@pytest.mark.parametrize(
    "url",
    [
        "https://open.bigmodel.cn.evil.example/api/paas/v4",
        "https://open.bigmodel.cn:8443/api/paas/v4",
        "https://open.bigmodel.cn@evil.example/api/paas/v4",
        "http://10.0.0.7:8000/v1",
    ],
)
def test_look_alike_hosts_do_not_get_the_key(env, url):
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)
    with pytest.raises(glm.ConfigurationError, match="ZHIPUAI_API_KEY is sent only to"):
        resolve_settings(provider="bigmodel", base_url=url)


def test_a_gateway_to_a_cloud_provider_uses_glm_api_key(env):
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)
    env.setenv("GLM_API_KEY", OWN_KEY)
    s = resolve_settings(provider="bigmodel", base_url="https://gateway.example.com/api/paas/v4")
    assert (s.provider, s.api_key) == ("bigmodel", OWN_KEY)


def test_the_official_hosts_get_their_own_keys(env):
    env.setenv("ZHIPUAI_API_KEY", f"{ZHIPU_KEY}\n")
    env.setenv("ZAI_API_KEY", ZAI_KEY)
    env.setenv("GLM_API_KEY", OWN_KEY)
    assert resolve_settings(provider="bigmodel").api_key == ZHIPU_KEY
    assert resolve_settings(provider="zai").api_key == ZAI_KEY
    coding = resolve_settings(provider="zai-coding")
    assert coding.api_key == ZAI_KEY and coding.base_url == "https://api.z.ai/api/coding/paas/v4"
    # The official URL given explicitly (even with a trailing slash) is still that provider.
    s = resolve_settings(base_url="https://open.bigmodel.cn/api/paas/v4/")
    assert (s.provider, s.api_key) == ("bigmodel", ZHIPU_KEY)


def test_an_explicit_key_goes_to_any_url(env):
    s = resolve_settings(api_key=f" {OWN_KEY}\n", provider="zai", base_url="http://10.0.0.7:8000/v4")
    assert s.api_key == OWN_KEY


def test_a_key_with_a_line_break_inside_is_refused_without_showing_it(env):
    env.setenv("GLM_API_KEY", "vllm-key-\nown-server-5555")
    with pytest.raises(glm.ConfigurationError, match="GLM_API_KEY contains a space or a line break") as info:
        resolve_settings(base_url="http://10.0.0.7:8000/v1")
    assert "own-server" not in str(info.value)


# -- the key is never shown --------------------------------------------------------------------


def test_settings_repr_and_str_never_show_the_key(env):
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)
    s = resolve_settings()
    for text in (repr(s), str(s), f"{s}", repr(s.api_key), repr([s.api_key]), repr({"k": s.api_key})):
        assert ZHIPU_KEY not in text and "0123456789" not in text
    assert "WXYZ" in repr(s)  # masked, but still tells keys apart
    assert f"Bearer {s.api_key}" == f"Bearer {ZHIPU_KEY}"  # the header still gets the real key


def test_a_configuration_error_traceback_with_locals_does_not_show_the_key(env):
    """As pytest --showlocals, rich or Sentry would print it: the frames of the settings code
    hold the environment and the keys, but their locals print masked."""
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)
    env.setenv("GLM_API_KEY", OWN_KEY)
    for explicit in (None, OWN_KEY, f"{OWN_KEY}\n"):
        with pytest.raises(glm.ConfigurationError) as info:
            resolve_settings(api_key=explicit, provider="openia")
        tb = traceback.TracebackException.from_exception(info.value, capture_locals=True)
        frames = [frame for frame in tb.stack if frame.filename.endswith("_settings.py")]
        assert frames and "Unknown provider" in "".join(tb.format())
        shown = "".join(f"{name}={value}" for frame in frames for name, value in (frame.locals or {}).items())
        assert "env=" in shown  # the environment is there, by name only
        assert ZHIPU_KEY not in shown and OWN_KEY not in shown
