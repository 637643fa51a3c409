"""The Ollama client with its HTTP layer (open_url) replaced: stream parsing, errors, retries,
name parsing, registry digests and Modelfile handling. The real server is used in
tests/integration/test_ollama_model.py."""
from __future__ import annotations

import hashlib
import io
import json
import re
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


# -- template, system, parameters, license and adapters of a GGUF source ----------------------

SHOWN_PARAMETERS = ('num_ctx                        4096\n'
                    'stop                           "<end_of_turn>"\n'
                    'stop                           "\\n\\nUser:"\n'
                    'temperature                    0.7\n'
                    'top_p                          0.95\n'
                    'use_mmap                       false')


@pytest.mark.parametrize("given, same_as", [
    (0.95, 0.95), ("0.95", 0.95), (" 0.95 ", 0.95), (1.0, 1), ("1", 1), (4096, 4096), ("4096", 4096),
    (True, True), ("true", True), ("False", False), ("1e-05", 1e-05),
    (0.1 + 0.2, 0.3),  # float32 keeps 0.3 for both
    ("<end_of_turn>", "<end_of_turn>"), ("\n\nUser:", "\n\nUser:"), ("inf", "inf"),
    ("a\u00a0b", "ab"),  # Ollama's Modelfile parser drops non-ASCII spaces and other unprintable runes
])
def test_parameter_values_compare_the_way_ollama_stores_them(given, same_as):
    assert _ollama.parameter_value(given) == _ollama.parameter_value(same_as)
    assert type(_ollama.parameter_value(given)) is type(_ollama.parameter_value(same_as))


def test_parameters_text_of_api_show_is_read_per_name():
    assert _ollama.parameters_from_show(SHOWN_PARAMETERS) == {
        "num_ctx": [4096], "stop": ["<end_of_turn>", "\n\nUser:"], "temperature": [0.7], "top_p": [0.95],
        "use_mmap": [False]}
    assert _ollama.parameters_from_show("") == {} and _ollama.parameters_from_show(None) == {}
    assert _ollama.parameters_from_show('stop "say \\"hi\\"\\t\\u00e9"') == {"stop": ['say "hi"\t\u00e9']}


GEMMA = ('{{- range $i, $_ := .Messages }}{{- $last := eq (len (slice $.Messages $i)) 1 }}'
         '{{- if eq .Role "user" }}<start_of_turn>user\n{{ .Content }}<end_of_turn>\n'
         '{{ if $last }}<start_of_turn>model\n{{ end }}{{- end }}{{- end }}')
SHOWN = {"template": GEMMA, "parameters": SHOWN_PARAMETERS, "license": "Gemma terms", "details": {"format": "gguf"},
         "modelfile": f"FROM /m/blobs/sha256-{'a' * 64}\nADAPTER /m/blobs/sha256-{'b' * 64}\nTEMPLATE ...\n"}


def config(**fields):
    return _ollama.ModelConfig(**fields)


def test_a_model_that_has_the_wanted_fields_has_no_changes(tmp_path):
    adapter = tmp_path / "lora.gguf"
    adapter.write_bytes(b"GGUF-lora")
    wanted = config(template=GEMMA, license="Gemma terms",
                    parameters={"stop": ["<end_of_turn>", "\n\nUser:"], "temperature": "0.7", "top_p": 0.95})
    assert wanted.changes(SHOWN) == []  # num_ctx and use_mmap are the model's, not managed here
    with_adapter = config(adapters=[str(adapter)])
    shown = dict(SHOWN, modelfile=SHOWN["modelfile"].replace("b" * 64, hashlib.sha256(b"GGUF-lora").hexdigest()))
    assert with_adapter.changes(shown) == [] and with_adapter.changes(SHOWN) == ["adapters"]


@pytest.mark.parametrize("fields, changed", [
    ({"template": GEMMA + " "}, ["template"]),
    ({"template": "{{ .Prompt }}"}, ["template"]),
    ({"system": "Be brief."}, ["system"]),          # /api/show leaves out an empty system
    ({"system": ""}, []),
    ({"license": "Gemma terms\nmore"}, ["license"]),
    ({"parameters": {"stop": ["<end_of_turn>"]}}, ["parameters"]),  # one stop word fewer
    ({"parameters": {"stop": ["\n\nUser:", "<end_of_turn>"]}}, ["parameters"]),  # order is kept by Ollama
    ({"parameters": {"top_k": 64}}, ["parameters"]),
    ({"parameters": {"temperature": 0.75}}, ["parameters"]),
    ({"parameters": {"num_ctx": 4096.0, "use_mmap": "false"}}, []),
    ({"adapters": []}, ["adapters"]),
    ({"template": GEMMA, "system": "x", "parameters": {"num_ctx": 2048}}, ["system", "parameters"]),
])
def test_changed_fields_are_changes_and_only_they(fields, changed):
    assert config(**fields).changes(SHOWN) == changed


def test_current_and_wanted_are_what_the_diff_shows():
    wanted = config(template="T", parameters={"stop": "<eos>", "top_k": "64"})
    assert wanted.wanted() == {"template": "T", "parameters": {"stop": ["<eos>"], "top_k": [64]}}
    assert wanted.current(SHOWN) == {"template": GEMMA, "parameters": {"stop": ["<end_of_turn>", "\n\nUser:"],
                                                                       "top_k": []}}


@pytest.mark.parametrize("fields, message", [
    ({"parameters": {"bad name": 1}}, "parameters: 'bad name' is not a parameter name"),
    ({"parameters": {"stop": [["x"]]}}, "parameters.stop: give a value or a list of values"),
    ({"parameters": {"stop": []}}, "parameters.stop: give a value or a list of values"),
    ({"parameters": {"temperature": None}}, "parameters.temperature: give a value"),
    ({"adapters": ["/no/such/lora.gguf"]}, "adapters: /no/such/lora.gguf is not a file"),
])
def test_invalid_fields_are_refused(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        config(**fields)


def test_from_source_is_none_without_fields():
    assert _ollama.ModelConfig.from_source({"path": "/x.gguf"}) is None
    assert _ollama.ModelConfig.from_source({"path": "/x.gguf", "system": ""}).managed == ["system"]


def gguf_with_config(tmp_path, **fields):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 12)
    lora = tmp_path / "lora.gguf"
    lora.write_bytes(b"GGUF-lora")
    source = ModelSource(str(gguf), config(adapters=[str(lora)], **fields))
    return source, hashlib.sha256(gguf.read_bytes()).hexdigest(), hashlib.sha256(lora.read_bytes()).hexdigest()


def test_create_request_of_ollama_0_5_4_is_a_modelfile_with_the_fields(http, client, tmp_path):
    source, weights, lora = gguf_with_config(
        tmp_path, template=GEMMA, system='Say "hi".\nThen stop.',
        parameters={"stop": ["<end_of_turn>", "\n\n"], "temperature": 0.7, "num_ctx": "4096", "use_mmap": False},
        license="Gemma terms")
    assert source.blobs == {weights: str(tmp_path / "m.gguf"), lora: str(tmp_path / "lora.gguf")}
    http.queue(FakeResponse(b""), http_error("u", 404, ""), FakeResponse(b""), lines({"status": "success"}))
    client.create("tiny", source, "0.5.4-ipexllm-20250407")
    assert [c[:2] for c in http.calls] == [
        ("HEAD", f"http://ollama:11434/api/blobs/sha256:{weights}"),
        ("HEAD", f"http://ollama:11434/api/blobs/sha256:{lora}"),
        ("POST", f"http://ollama:11434/api/blobs/sha256:{lora}"),  # only the blob the server lacks
        ("POST", "http://ollama:11434/api/create")]
    assert json.loads(http.calls[3][2]) == {"model": "tiny", "stream": True, "modelfile": (
        f"FROM @sha256:{weights}\n"
        f"ADAPTER @sha256:{lora}\n"
        f'TEMPLATE """{GEMMA}"""\n'       # has quotes: triple quotes, as `ollama show` writes it
        'SYSTEM """Say "hi".\nThen stop."""\n'
        'PARAMETER stop "<end_of_turn>"\n'
        'PARAMETER stop "\n\n"\n'           # the parser keeps newlines inside quotes; it knows no escapes
        "PARAMETER temperature 0.7\n"
        'PARAMETER num_ctx "4096"\n'
        "PARAMETER use_mmap false\n"
        'LICENSE "Gemma terms"\n')}


def test_create_request_of_newer_ollama_has_the_fields_as_json(http, client, tmp_path):
    source, weights, lora = gguf_with_config(tmp_path, template="{{ .Prompt }}", system="",
                                             parameters={"stop": "<eos>", "top_k": "64", "top_p": 0.95})
    http.queue(FakeResponse(b""), FakeResponse(b""), lines({"status": "success"}))
    client.create("tiny", source, "0.6.2")
    assert json.loads(http.calls[2][2]) == {
        "model": "tiny", "stream": True, "files": {"m.gguf": f"sha256:{weights}"},
        "adapters": {"lora.gguf": f"sha256:{lora}"}, "template": "{{ .Prompt }}", "system": "",
        "parameters": {"stop": ["<eos>"], "top_k": 64, "top_p": 0.95}}


def test_fields_need_a_gguf_and_text_a_modelfile_can_hold(tmp_path):
    mf = tmp_path / "Modelfile"
    mf.write_text("FROM llama3.1:8b\n")
    with pytest.raises(OllamaError, match="is a Modelfile: template are for a GGUF file"):
        ModelSource(str(mf), config(template="x"))
    source, dummy, dummy = gguf_with_config(tmp_path, system='three """ quotes')
    with pytest.raises(OllamaError, match='SYSTEM: text with """ cannot be sent to Ollama before 0.5.5'):
        source.modelfile()
    assert source.create_request()["system"] == 'three """ quotes'  # the JSON form can
