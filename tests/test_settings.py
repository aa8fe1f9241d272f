"""Provider and key resolution, .env reading, and the key never shown."""

import pytest

import glm_notebook as glm
from glm_notebook._settings import mask_key, resolve_settings

KEY = "sk-secretsecret1234abcd"


def test_zhipuai_key_selects_bigmodel():
    s = resolve_settings(environ={"ZHIPUAI_API_KEY": KEY})
    assert (s.provider, s.base_url, s.api_key) == ("bigmodel", "https://open.bigmodel.cn/api/paas/v4", KEY)


def test_zai_key_selects_zai():
    s = resolve_settings(environ={"ZAI_API_KEY": KEY})
    assert s.provider == "zai" and s.base_url == "https://api.z.ai/api/paas/v4"


def test_no_key_means_local():
    s = resolve_settings(environ={})
    assert s.provider == "local" and s.base_url is None


def test_overrides_from_environment():
    s = resolve_settings(environ={"ZAI_API_KEY": KEY, "GLM_MODEL": "glm-5", "GLM_PROVIDER": "zai-coding"})
    assert s.provider == "zai-coding" and s.model == "glm-5"
    assert s.base_url == "https://api.z.ai/api/coding/paas/v4"


def test_base_url_alone_means_openai_compatible_and_strips_endpoint():
    s = resolve_settings(environ={"GLM_BASE_URL": "http://127.0.0.1:8000/v1/chat/completions"})
    assert s.provider == "openai-compatible" and s.base_url == "http://127.0.0.1:8000/v1"


def test_missing_key_for_cloud_provider_says_which_variable():
    with pytest.raises(glm.ConfigurationError, match="set ZAI_API_KEY"):
        resolve_settings(provider="zai", environ={})


def test_unknown_provider_lists_choices():
    with pytest.raises(glm.ConfigurationError, match="bigmodel, zai"):
        resolve_settings(provider="openia", environ={})


def test_dotenv_is_read_but_does_not_override_environment(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(f"ZAI_API_KEY={KEY}\nGLM_MODEL=glm-4.5\n")
    monkeypatch.chdir(tmp_path)
    for var in ("ZAI_API_KEY", "ZHIPUAI_API_KEY", "GLM_PROVIDER", "GLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GLM_MODEL", "glm-5")
    s = resolve_settings()
    assert s.provider == "zai" and s.api_key == KEY and s.model == "glm-5"


def test_key_is_masked_everywhere():
    client = glm.GLMClient(api_key=KEY, provider="zai")
    settings = resolve_settings(api_key=KEY, provider="zai", environ={})
    for text in (repr(client), str(client), repr(settings), str(settings)):
        assert KEY not in text and "abcd" in text
    assert mask_key(KEY) == "sk-…abcd"
    assert mask_key(None) == "(none)"
    client.close()
