"""A Batch API job's recorded base URL never decides where a key goes (glm_notebook/_settings.py
``key_for_url``). The "gateway" is the real loopback test server: a job submitted there, then a
later kernel whose shared client holds a cloud key asks for the job's status."""

from __future__ import annotations

import dataclasses
import json

import pytest
from _constants import TEST_KEY

import glm_notebook as glm
from glm_notebook import reset_client
from glm_notebook._errors import ConfigurationError
from glm_notebook._settings import Settings, key_for_url, resolve_settings

ZHIPU_KEY = "0123456789abcdef0123456789abcdef.AbCdEfGh12345678"
ZAI_KEY = "fedcba9876543210fedcba9876543210.ZyXwVu9876543210"
GATEWAY_KEY = "gateway-key-7777"
ENV_VARS = ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "GLM_API_KEY", "GLM_PROVIDER", "GLM_BASE_URL", "GLM_MODEL")


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GLM_NOTEBOOK_CACHE", str(tmp_path / "answers.sqlite3"))
    return monkeypatch


def keys_seen(server, since: int = 0) -> list[str]:
    """The Authorization headers of the requests recorded after the first ``since``."""
    requests = server.requests[since:]
    return [v for r in requests for k, v in r.headers.items() if k.lower() == "authorization"]


@pytest.fixture
def gateway_job(env, glm_server):
    """A job submitted to the gateway with the gateway's own key; the server's record then cleared."""
    glm_server.api_key = GATEWAY_KEY
    with glm.GLMClient(base_url=glm_server.base_url, api_key=GATEWAY_KEY, provider="zai") as client:
        job = glm.batch.submit("{text}", ["x", "y"], client=client)
    assert set(keys_seen(glm_server)) == {f"Bearer {GATEWAY_KEY}"}
    job.seen = len(glm_server.requests)  # the later kernel's requests come after these
    reset_client()  # "a later kernel"
    return job


@pytest.mark.parametrize("cloud_var", ["ZHIPUAI_API_KEY", "ZAI_API_KEY"])
def test_a_later_kernel_does_not_send_its_cloud_key_to_a_jobs_recorded_host(
    gateway_job, glm_server, env, cloud_var
):
    env.setenv(cloud_var, ZHIPU_KEY if cloud_var == "ZHIPUAI_API_KEY" else ZAI_KEY)
    [job] = glm.batch.jobs()  # read back from the jobs store, with the shared (cloud) client
    for ask in (job.status, job.cancel, job.results):
        with pytest.raises(ConfigurationError, match=r"pass client=glm\.GLMClient\(base_url=") as info:
            ask()
        assert ZHIPU_KEY not in str(info.value) and ZAI_KEY not in str(info.value)
    assert keys_seen(glm_server, gateway_job.seen) == []


def test_the_recorded_provider_does_not_open_the_loopback_exception(gateway_job, glm_server, env):
    # The job says provider 'zai' at a loopback URL; GLM_PROVIDER=zai with that URL would send
    # ZAI_API_KEY there, but a stored record is not the user's choice.
    env.setenv("ZAI_API_KEY", ZAI_KEY)
    [job] = glm.batch.jobs()
    assert job.record["provider"] == "zai"
    with pytest.raises(ConfigurationError):
        job.status()
    assert keys_seen(glm_server, gateway_job.seen) == []


def test_a_client_for_another_port_on_this_machine_does_not_lend_its_key(gateway_job, glm_server, env):
    other = glm_server.base_url.replace(f":{glm_server.port}", f":{glm_server.port + 1}")
    with glm.GLMClient(base_url=other, api_key=TEST_KEY, provider="zai") as client:
        [job] = glm.batch.jobs(client=client)
        with pytest.raises(ConfigurationError, match="only for"):
            job.status()
    assert keys_seen(glm_server, gateway_job.seen) == []


def test_a_keyless_client_asks_the_gateway_with_no_authorization_header(gateway_job, glm_server, env):
    glm_server.api_key = None  # a gateway that needs no key
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)  # held, but for open.bigmodel.cn only
    with glm.GLMClient(base_url="http://127.0.0.1:9/v1") as client:  # an own server without a key
        [job] = glm.batch.jobs(client=client)
        assert job.wait(poll_interval=0.01).status == "completed"
        assert job.results().texts == ["You said: x", "You said: y"]
    assert len(glm_server.requests) > gateway_job.seen and keys_seen(glm_server, gateway_job.seen) == []


def test_the_key_passed_for_the_gateway_goes_there(gateway_job, glm_server, env):
    env.setenv("ZHIPUAI_API_KEY", ZHIPU_KEY)
    with glm.GLMClient(base_url=glm_server.base_url, api_key=GATEWAY_KEY) as client:
        job = glm.batch.job(gateway_job.id, client=client)
        assert job.wait(poll_interval=0.01).status == "completed"
        assert job.results().texts == ["You said: x", "You said: y"]
    assert set(keys_seen(glm_server, gateway_job.seen)) == {f"Bearer {GATEWAY_KEY}"}


def test_batch_requests_use_the_request_modules_headers(gateway_job, glm_server):
    with glm.GLMClient(base_url=glm_server.base_url, api_key=GATEWAY_KEY) as client:
        glm.batch.job(gateway_job.id, client=client).status()
    [request] = glm_server.requests[gateway_job.seen :]
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["user-agent"].startswith("glm-notebook/") and headers["accept"] == "application/json"


# -- the rule itself, for hosts the tests cannot reach ------------------------------------------


def cloud(url: str = "https://open.bigmodel.cn/api/paas/v4") -> Settings:
    return Settings(provider="bigmodel", base_url=url, model="glm-4.7-flash", api_key=ZHIPU_KEY)


@pytest.mark.parametrize(
    "url",
    [
        "https://open.bigmodel.cn.evil.example/api/paas/v4",  # a look-alike host
        "http://open.bigmodel.cn/api/paas/v4",  # not https
        "https://open.bigmodel.cn:8443/api/paas/v4",  # another port
        "https://evil.example/open.bigmodel.cn/api/paas/v4",
        "https://open.bigmodel.cn@evil.example/api/paas/v4",  # userinfo trick
        "http://127.0.0.1:8000/v1",
        "not a url",
    ],
)
def test_a_cloud_client_key_goes_nowhere_but_its_host(url):
    with pytest.raises(ConfigurationError):
        key_for_url(url, cloud(), environ={"ZHIPUAI_API_KEY": ZHIPU_KEY})


def test_a_provider_host_gets_its_own_variable_only():
    env = {"ZHIPUAI_API_KEY": ZHIPU_KEY, "ZAI_API_KEY": ZAI_KEY}
    gateway = Settings(provider="openai-compatible", base_url="http://127.0.0.1:8/v1", model="m", api_key="g")
    assert key_for_url("https://api.z.ai/api/paas/v4", gateway, environ=env) == ZAI_KEY
    assert key_for_url("https://open.bigmodel.cn/api/paas/v4", gateway, environ=env) == ZHIPU_KEY
    assert (
        key_for_url("https://open.bigmodel.cn/api/paas/v4", cloud(), environ={}) == ZHIPU_KEY
    )  # its own host
    with pytest.raises(ConfigurationError, match="set ZAI_API_KEY"):
        key_for_url("https://api.z.ai/api/paas/v4", cloud(), environ={"ZHIPUAI_API_KEY": ZHIPU_KEY})


def test_settings_as_dict_or_json_show_no_key():
    settings = resolve_settings(environ={"ZHIPUAI_API_KEY": ZHIPU_KEY})
    assert settings.api_key == ZHIPU_KEY  # still the real key for the header
    as_dict = dataclasses.asdict(settings)
    text = json.dumps(as_dict) + repr(as_dict) + str(dataclasses.astuple(settings))
    assert ZHIPU_KEY not in text and ZHIPU_KEY[-4:] in text  # masked: sk-…abcd style
    with pytest.raises(TypeError):
        vars(settings)  # no __dict__ holding the raw key
    assert dataclasses.replace(settings, model="x").api_key == ZHIPU_KEY
