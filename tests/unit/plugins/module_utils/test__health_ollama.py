"""The ollama check (plugins/module_utils/_health_ollama.py) against a loopback server answering
like Ollama 0.5: model names as ailab.stack.ollama_model accepts them, /api/ps, completions,
error answers, headers. The real Ollama is in tests/integration/test_health_gate_ollama.py."""
from __future__ import annotations

import time

import pytest

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_ollama import check_ollama


def spec(url, **kw):
    return {"url": url, "model": "tiny", "loaded": False, "prompt": None, "num_predict": 4, "headers": None,
            "validate_certs": True, "ca_path": None, "timeout": 5, **kw}


@pytest.fixture
def ollama(web):
    """Lists tiny:latest and llama3:8b (as Ollama lists models pulled by their short name); llama3:8b is loaded."""
    def generate(handler, body):
        if body["model"].lower() not in ("tiny:latest", "llama3:8b"):   # Ollama answers 404 for an unknown model
            return 404, {"error": f"model '{body['model']}' not found"}
        return 200, {"model": body["model"], "response": "OK", "done": True}

    web.routes.update({
        ("GET", "/api/version"): lambda h, b: (200, {"version": "0.5.4"}),
        ("GET", "/api/tags"): lambda h, b: (200, {"models": [{"name": "tiny:latest", "model": "tiny:latest"},
                                                             {"name": "llama3:8b", "model": "llama3:8b"}]}),
        ("GET", "/api/ps"): lambda h, b: (200, {"models": [{"name": "llama3:8b", "model": "llama3:8b"}]}),
        ("POST", "/api/generate"): generate,
    })
    return web


@pytest.mark.parametrize("name, shown", [
    ("tiny", "tiny:latest"),
    ("tiny:latest", "tiny:latest"),
    ("library/tiny", "tiny:latest"),
    ("registry.ollama.ai/library/tiny", "tiny:latest"),
    ("registry.ollama.ai/library/llama3:8b", "llama3:8b"),
    ("Llama3:8B", "Llama3:8B"),   # Ollama matches names case-insensitively
])
def test_model_names_that_ollama_model_accepts_pass(ollama, name, shown):
    assert check_ollama(spec(ollama.url, model=name), 5) == f"{shown} present"


def test_fully_qualified_name_is_found_loaded_and_answers(ollama):
    detail = check_ollama(spec(ollama.url, model="registry.ollama.ai/library/llama3:8b", loaded=True, prompt="hi"), 5)
    assert detail == "llama3:8b present, loaded, answered 'OK'"
    assert ollama.seen[-1]["body"] == {"model": "llama3:8b", "prompt": "hi", "stream": False,
                                       "options": {"num_predict": 4}}


def test_model_tag_defaults_to_latest(web):
    web.routes[("GET", "/api/tags")] = lambda h, b: (200, {"models": [{"name": "tiny:latest"}, {"name": "big:8b"}]})
    assert check_ollama(spec(web.url, model="tiny"), 5) == "tiny:latest present"
    with pytest.raises(CheckFailed, match=r"^model big:latest not present on .* \(have: tiny:latest, big:8b\)$"):
        check_ollama(spec(web.url, model="big"), 5)


def test_not_loaded_lists_what_is(ollama):
    with pytest.raises(CheckFailed, match=rf"^model tiny:latest not loaded on {ollama.url} \(loaded: llama3:8b\)$"):
        check_ollama(spec(ollama.url, loaded=True), 5)


def test_version_without_model(ollama):
    assert check_ollama(spec(ollama.url, model=None), 5) == "Ollama 0.5.4 answers"


def test_error_field_is_the_reason(web):
    web.routes[("GET", "/api/tags")] = lambda h, b: (200, {"models": [{"name": "tiny:latest"}]})
    web.routes[("POST", "/api/generate")] = lambda h, b: (500, {"error": "model requires more system memory"})
    with pytest.raises(CheckFailed, match=r"/api/generate \(tiny:latest\): model requires more system memory$"):
        check_ollama(spec(web.url, prompt="hi"), 5)


def test_http_error_without_error_field_and_no_completion(web):
    web.routes[("GET", "/api/tags")] = lambda h, b: (502, "Bad Gateway")   # a proxy in front of Ollama
    with pytest.raises(CheckFailed, match=rf"^GET {web.url}/api/tags returned HTTP 502 \(expected 200\): Bad Gateway$"):
        check_ollama(spec(web.url), 5)
    web.routes[("GET", "/api/tags")] = lambda h, b: (200, {"models": [{"name": "tiny:latest"}]})
    web.routes[("POST", "/api/generate")] = lambda h, b: (200, {"done": True, "response": ""})
    with pytest.raises(CheckFailed, match=r"\(tiny:latest\): no completion in the answer: \{.*\"response\": \"\"\}$"):
        check_ollama(spec(web.url, prompt="hi"), 5)


def test_not_a_model_name(ollama):
    with pytest.raises(CheckFailed, match=r"^'no such/model/name/here' is not a model name like "):
        check_ollama(spec(ollama.url, model="no such/model/name/here"), 5)


def test_headers_and_basic_auth_reach_every_request(ollama):
    url = ollama.url.replace("http://", "http://gate:pw@")
    check_ollama(spec(url, loaded=True, model="llama3:8b", prompt="hi", headers={"X-Api-Key": "k1"}), 5)
    assert [r["path"] for r in ollama.seen] == ["/api/tags", "/api/ps", "/api/generate"]
    assert {r["headers"]["x-api-key"] for r in ollama.seen} == {"k1"}
    assert {r["headers"]["authorization"] for r in ollama.seen} == {"Basic Z2F0ZTpwdw=="}   # gate:pw


def test_down_names_the_request_and_masks_the_url(closed_port):
    with pytest.raises(CheckFailed) as exc:
        check_ollama(spec(f"http://gate:s3cret@127.0.0.1:{closed_port}"), 2)
    assert str(exc.value) == (f"GET http://gate:********@127.0.0.1:{closed_port}/api/tags: cannot connect: "
                              "[Errno 111] Connection refused")


def test_no_answer_within_the_timeout(web):
    def slow(handler, body):
        time.sleep(1.5)
        return 200, {"models": []}
    web.routes[("GET", "/api/tags")] = slow
    with pytest.raises(CheckFailed, match=rf"^GET {web.url}/api/tags: no answer within 0.5s$"):
        check_ollama(spec(web.url), 0.5)
