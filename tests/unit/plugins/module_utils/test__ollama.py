"""The Ollama client with its HTTP layer (open_url) replaced: stream parsing, errors, retries,
name parsing, registry digests and Modelfile handling. The real server is used in
tests/integration/test_ollama_model.py."""
from __future__ import annotations

import hashlib
import io
import json
import socket
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _ollama
from ansible_collections.ailab.stack.plugins.module_utils._ollama import (
    ModelRef, ModelSource, OllamaClient, OllamaError, keep_alive_value, version_tuple)


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes = b"", headers: dict | None = None) -> None:
        super().__init__(body)
        self.headers = headers or {}


class FakeHTTP:
    """Answers queued per (method, url suffix); records every call."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, str, object, dict]] = []
        self.answers: list = []
        monkeypatch.setattr(_ollama, "open_url", self)

    def queue(self, *answers):
        self.answers.extend(answers)

    def __call__(self, url, data=None, method=None, headers=None, **kwargs):
        self.calls.append((method, url, data, headers or {}))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def http_error(url, code, body, headers=None):
    return HTTPError(url, code, "error", headers or {}, io.BytesIO(body.encode()))


def lines(*objs):
    return FakeResponse("".join(json.dumps(o) + "\n" for o in objs).encode())


@pytest.fixture
def http(monkeypatch):
    return FakeHTTP(monkeypatch)


@pytest.fixture
def client():
    return OllamaClient("http://ollama:11434/", retries=2, sleep=lambda s: None)


@pytest.mark.parametrize("name, full, short", [
    ("llama3.1", "registry.ollama.ai/library/llama3.1:latest", "llama3.1:latest"),
    ("llama3.1:8b", "registry.ollama.ai/library/llama3.1:8b", "llama3.1:8b"),
    ("team/model:v2", "registry.ollama.ai/team/model:v2", "team/model:v2"),
    ("127.0.0.1:5000/library/tiny", "127.0.0.1:5000/library/tiny:latest", "127.0.0.1:5000/library/tiny:latest"),
    ("mirror.lan/ns/m:q4_K_M", "mirror.lan/ns/m:q4_K_M", "mirror.lan/ns/m:q4_K_M"),
])
def test_model_names_split_like_ollama(name, full, short):
    ref = ModelRef.parse(name)
    assert (ref.full, ref.short) == (full, short)


@pytest.mark.parametrize("bad", ["", "a b", "x:", "/x", "a/b/c/d", "x:tag:again"])
def test_invalid_model_names_are_refused(bad):
    with pytest.raises(ValueError, match="is not a model name"):
        ModelRef.parse(bad)


def test_manifest_url_uses_http_only_when_insecure():
    ref = ModelRef.parse("127.0.0.1:5000/library/tiny:q4")
    assert ref.manifest_url() == "https://127.0.0.1:5000/v2/library/tiny/manifests/q4"
    assert ref.manifest_url(insecure=True) == "http://127.0.0.1:5000/v2/library/tiny/manifests/q4"


def test_helpers():
    assert version_tuple("0.5.4-ipexllm-20250407") == (0, 5, 4)
    assert version_tuple("garbage") == (0,)
    assert keep_alive_value("-1") == -1 and keep_alive_value("1.5") == 1.5 and keep_alive_value("24h") == "24h"


def test_tags_are_keyed_by_normalised_name(http, client):
    http.queue(FakeResponse(json.dumps({"models": [{"name": "Tiny:latest", "digest": "d1"}]}).encode()))
    assert client.tags() == {"tiny:latest": {"name": "Tiny:latest", "digest": "d1"}}
    assert http.calls[0][:2] == ("GET", "http://ollama:11434/api/tags")


def test_pull_reads_the_stream_and_returns_success(http, client):
    http.queue(lines({"status": "pulling manifest"}, {"status": "verifying sha256 digest"}, {"status": "success"}))
    assert client.pull("tiny", insecure=True) == {"status": "success"}
    method, url, data = http.calls[0][:3]
    assert (method, url, json.loads(data)) == ("POST", "http://ollama:11434/api/pull",
                                               {"model": "tiny", "insecure": True, "stream": True})


def test_error_line_inside_http_200_fails_with_ollamas_text(http, client):
    http.queue(lines({"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}))
    with pytest.raises(OllamaError, match="^pull model manifest: file does not exist$") as e:
        client.pull("nope")
    assert e.value.status == 200 and len(http.calls) == 1  # an answered error is never retried


def test_stream_that_ends_without_success_fails(http, client):
    http.queue(lines({"status": "pulling manifest"}))
    with pytest.raises(OllamaError, match="ended without success"):
        client.pull("tiny")


def test_connection_errors_are_retried_with_backoff(http):
    slept = []
    c = OllamaClient("http://ollama:11434", retries=3, sleep=slept.append)
    http.queue(URLError(ConnectionRefusedError(111, "refused")), URLError(socket.timeout("timed out")),
               FakeResponse(b'{"version": "0.5.4"}'))
    assert c.version() == "0.5.4"
    assert slept == [1, 2] and c.requests == 3


def test_connection_errors_give_up_after_retries(http):
    c = OllamaClient("http://ollama:11434", retries=1, sleep=lambda s: None)
    http.queue(URLError("refused"), URLError("refused"))
    with pytest.raises(OllamaError, match=r"cannot reach http://ollama:11434/api/version after 2 attempt\(s\): refused"):
        c.version()


def test_a_stream_broken_mid_way_is_pulled_again(http, client):
    class Broken(FakeResponse):
        def __iter__(self):
            yield b'{"status": "pulling manifest"}\n'
            raise ConnectionResetError(104, "reset")
    http.queue(Broken(), lines({"status": "success"}))
    assert client.pull("tiny")["status"] == "success"
    assert [c[1] for c in http.calls] == ["http://ollama:11434/api/pull"] * 2


def test_show_returns_none_for_404_and_delete_false(http, client):
    http.queue(http_error("u", 404, '{"error":"model \'x\' not found"}'),
               http_error("u", 404, '{"error":"model \'x\' not found"}'))
    assert client.show("x") is None
    assert client.delete("x") is False
    assert http.calls[1][0] == "DELETE" and json.loads(http.calls[1][2]) == {"model": "x"}


def test_http_errors_carry_ollamas_message_and_body(http, client):
    http.queue(http_error("u", 500, '{"error":"something broke"}'))
    with pytest.raises(OllamaError, match="answered HTTP 500: something broke") as e:
        client.copy("a", "b")
    assert e.value.status == 500 and e.value.body == '{"error":"something broke"}'


def test_load_sends_a_zero_token_generate(http, client):
    http.queue(FakeResponse(b'{"done": true, "done_reason": "load"}'))
    client.load("tiny", keep_alive="-1")
    assert json.loads(http.calls[0][2]) == {"model": "tiny", "prompt": "", "stream": False, "keep_alive": -1}


def test_api_key_is_sent_to_ollama_but_not_to_registries(http):
    c = OllamaClient("http://ollama:11434", api_key="s3cret", sleep=lambda s: None)
    http.queue(FakeResponse(b'{"version": "1"}'), FakeResponse(b"{}", {"Docker-Content-Digest": "sha256:" + "a" * 64}))
    c.version()
    c.registry_digest(ModelRef.parse("r.lan/ns/m:t"))
    assert http.calls[0][3]["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in http.calls[1][3]


def test_registry_digest_from_header_or_body(http, client):
    body = b'{"schemaVersion":2}'
    http.queue(FakeResponse(body, {"Docker-Content-Digest": "sha256:" + "b" * 64}), FakeResponse(body, {}))
    ref = ModelRef.parse("r.lan:5000/library/tiny")
    assert client.registry_digest(ref, insecure=True) == "b" * 64
    assert client.registry_digest(ref) == hashlib.sha256(body).hexdigest()
    assert http.calls[0][1] == "http://r.lan:5000/v2/library/tiny/manifests/latest"
    assert http.calls[0][3]["Accept"] == _ollama.MANIFEST_ACCEPT


def test_registry_bearer_challenge_fetches_an_anonymous_token(http, client):
    challenge = 'Bearer realm="https://auth.lan/token",service="reg",scope="repository:library/tiny:pull"'
    http.queue(http_error("u", 401, "", {"WWW-Authenticate": challenge}),
               FakeResponse(b'{"token": "tok"}'),
               FakeResponse(b"{}", {"Docker-Content-Digest": "sha256:" + "c" * 64}))
    assert client.registry_digest(ModelRef.parse("reg.lan/library/tiny")) == "c" * 64
    assert http.calls[1][1] == "https://auth.lan/token?service=reg&scope=repository:library/tiny:pull"
    assert http.calls[2][3]["Authorization"] == "Bearer tok"


def test_registry_errors_name_the_model(http, client):
    http.queue(http_error("u", 404, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'))
    with pytest.raises(OllamaError, match="cannot read the manifest of r.lan/library/x:latest"):
        client.registry_digest(ModelRef.parse("r.lan/library/x"))


def test_gguf_source_uploads_missing_blobs_then_creates(http, client, tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 100)
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    source = ModelSource(str(gguf))
    assert source.weights == digest and source.modelfile() == f"FROM @sha256:{digest}\n"
    http.queue(http_error("u", 404, ""), FakeResponse(b""), lines({"status": "success"}))
    client.create("tiny", source, "0.5.4")
    assert [c[:2] for c in http.calls] == [
        ("HEAD", f"http://ollama:11434/api/blobs/sha256:{digest}"),
        ("POST", f"http://ollama:11434/api/blobs/sha256:{digest}"),
        ("POST", "http://ollama:11434/api/create")]
    assert http.calls[1][3]["Content-Length"] == "104"
    assert json.loads(http.calls[2][2]) == {"model": "tiny", "modelfile": f"FROM @sha256:{digest}\n", "stream": True}


def test_modelfile_source_and_the_json_create_of_newer_servers(http, client, tmp_path):
    (tmp_path / "w.gguf").write_bytes(b"GGUF1234")
    digest = hashlib.sha256(b"GGUF1234").hexdigest()
    mf = tmp_path / "Modelfile"
    mf.write_text('# comment\nFROM ./w.gguf\nPARAMETER temperature 0.2\nPARAMETER stop "<eos>"\n'
                  'SYSTEM """You are\nhelpful."""\n')
    source = ModelSource(str(mf))
    assert source.blobs == {digest: str(tmp_path / "w.gguf")}
    assert source.modelfile() == (f"FROM @sha256:{digest}\nPARAMETER temperature 0.2\nPARAMETER stop \"<eos>\"\n"
                                  'SYSTEM """You are\nhelpful."""\n')
    http.queue(FakeResponse(b""), lines({"status": "success"}))  # blob exists: no upload
    client.create("assistant", source, "0.6.2")
    assert json.loads(http.calls[1][2]) == {
        "model": "assistant", "stream": True, "files": {"w.gguf": f"sha256:{digest}"},
        "system": "You are\nhelpful.", "parameters": {"temperature": 0.2, "stop": ["<eos>"]}}


def test_modelfile_from_another_model_has_no_weights(tmp_path):
    mf = tmp_path / "Modelfile"
    mf.write_text("FROM llama3.1:8b\nSYSTEM short\n")
    source = ModelSource(str(mf))
    assert source.weights is None and source.blobs == {}
    assert source.create_request() == {"from": "llama3.1:8b", "system": "short"}


def test_modelfile_errors(tmp_path):
    missing = tmp_path / "Modelfile"
    missing.write_text("FROM ./nothere.gguf\n")
    with pytest.raises(OllamaError, match="FROM ./nothere.gguf: no such file"):
        ModelSource(str(missing))
    nofrom = tmp_path / "Other"
    nofrom.write_text("SYSTEM hi\n")
    with pytest.raises(OllamaError, match="neither a GGUF file nor a Modelfile"):
        ModelSource(str(nofrom))
