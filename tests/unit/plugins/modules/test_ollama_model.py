"""ollama_model's decisions with the client patched (STYLE.md §4): what it calls, in which
order, what it reports, in check mode and not. The real server: tests/integration/test_ollama_model.py."""
from __future__ import annotations

from unittest.mock import patch

import pytest

from ansible_collections.ailab.stack.plugins.module_utils._ollama import OllamaError
from ansible_collections.ailab.stack.plugins.modules import ollama_model
from ansible_collections.ailab.stack.tests.unit.plugins.modules.utils import (
    AnsibleExitJson, AnsibleFailJson, patch_exit_fail, set_module_args)

D1, D2 = "1" * 64, "2" * 64


@pytest.fixture(autouse=True)
def patch_ansible_module(monkeypatch):
    patch_exit_fail(monkeypatch)


def tag(name, digest=D1, size=100):
    return {"name": name, "digest": digest, "size": size}


def run(args, tags=None, running=None, after=None, **client_returns):
    """Run main() with a patched client; returns (how, result, client mock)."""
    with set_module_args(args):
        with patch.object(ollama_model, "OllamaClient") as cls:
            client = cls.from_module.return_value
            client.base_url = "http://ollama:11434"
            client.tags.side_effect = [tags or {}] + ([after] if after is not None else []) * 10
            client.running.return_value = running or {}
            client.version.return_value = "0.5.4"
            for name, value in client_returns.items():
                getattr(client, name).return_value = value
            try:
                ollama_model.main()
            except AnsibleExitJson as e:
                return "exit", e.args[0], client
            except AnsibleFailJson as e:
                return "fail", e.args[0], client
    raise AssertionError("no exit_json/fail_json")


def test_present_model_is_one_read_and_no_pull():
    how, result, client = run({"name": "tiny"}, tags={"tiny:latest": tag("tiny:latest")})
    assert how == "exit" and result["changed"] is False and result["actions"] == []
    assert (result["name"], result["digest"], result["size"]) == ("tiny:latest", D1, 100)
    assert client.tags.call_count == 1
    assert not client.pull.called and not client.registry_digest.called and not client.running.called


def test_missing_model_is_pulled_and_reported_with_its_new_digest():
    how, result, client = run({"name": "llama3.1:8b", "_ansible_diff": True},
                              after={"llama3.1:8b": tag("llama3.1:8b", D2, 5)})
    assert how == "exit" and result["changed"] is True
    assert result["actions"] == ["pull llama3.1:8b"]
    client.pull.assert_called_once_with("llama3.1:8b", False)
    assert (result["digest"], result["size"]) == (D2, 5)
    assert result["diff"] == {"before": {"models": {"llama3.1:8b": {"present": False, "digest": None}}},
                              "after": {"models": {"llama3.1:8b": {"present": True, "digest": D2}}}}


def test_check_mode_reports_the_same_keys_and_changes_nothing():
    how, result, client = run({"name": "llama3.1:8b", "_ansible_check_mode": True, "loaded": True})
    assert how == "exit" and result["changed"] is True
    assert result["actions"] == ["pull llama3.1:8b", "load llama3.1:8b"]
    assert set(result) >= {"name", "digest", "size", "models", "actions"}
    for write in (client.pull, client.load, client.create, client.copy, client.delete):
        assert not write.called


def test_latest_pulls_only_when_the_registry_digest_differs():
    tags = {"tiny:latest": tag("tiny:latest", D1)}
    dummy, same, client = run({"name": "tiny", "state": "latest"}, tags=tags, registry_digest=D1)
    assert same["changed"] is False and not client.pull.called
    dummy, newer, client = run({"name": "tiny", "state": "latest", "_ansible_check_mode": True}, tags=tags,
                               registry_digest=D2)
    assert newer["changed"] is True and newer["actions"] == ["pull tiny:latest"] and not client.pull.called
    assert newer["digest"] == D2  # check mode knows what it would get


def test_absent_deletes_only_what_exists():
    dummy, gone, client = run({"name": "old", "state": "absent"}, tags={"old:latest": tag("old:latest")}, after={})
    assert gone["actions"] == ["delete old:latest"] and gone["digest"] is None
    client.delete.assert_called_once_with("old:latest")
    dummy, noop, client = run({"name": "old", "state": "absent"})
    assert noop["changed"] is False and not client.delete.called


def test_registry_mirror_pulls_copies_and_removes_the_mirror_name():
    dummy, result, client = run({"name": "llama3.1:8b", "source": {"registry": "mirror.lan:5000"}, "insecure": True},
                                after={"llama3.1:8b": tag("llama3.1:8b")})
    assert result["actions"] == ["pull mirror.lan:5000/library/llama3.1:8b",
                                 "copy mirror.lan:5000/library/llama3.1:8b to llama3.1:8b",
                                 "delete mirror.lan:5000/library/llama3.1:8b"]
    client.pull.assert_called_once_with("mirror.lan:5000/library/llama3.1:8b", True)


def test_copy_source_needs_the_original_and_follows_it_with_latest():
    how, result, client = run({"name": "alias", "source": {"copy": "tiny"}})
    assert how == "fail" and "source.copy: model tiny:latest is not on the server" in result["msg"]
    tags = {"tiny:latest": tag("tiny:latest", D2), "alias:latest": tag("alias:latest", D1)}
    dummy, result, client = run({"name": "alias", "source": {"copy": "tiny"}, "state": "latest"}, tags=tags, after=tags)
    assert result["actions"] == ["copy tiny:latest to alias:latest"]
    client.copy.assert_called_once_with("tiny:latest", "alias:latest")


def test_loaded_model_is_not_loaded_again():
    tags = {"tiny:latest": tag("tiny:latest")}
    dummy, result, client = run({"name": "tiny", "loaded": True}, tags=tags, running={"tiny:latest": {}})
    assert result["changed"] is False and result["models"][0]["loaded"] is True and not client.load.called
    dummy, result, client = run({"name": "tiny", "loaded": True, "keep_alive": "-1"}, tags=tags)
    assert result["actions"] == ["load tiny:latest"]
    client.load.assert_called_once_with("tiny:latest", "-1")


def test_models_list_with_prune_deletes_only_unlisted_models():
    tags = {"a:latest": tag("a:latest"), "b:latest": tag("b:latest"), "keep:v1": tag("keep:v1")}
    dummy, result, client = run({"models": [{"name": "a"}, {"name": "keep:v1"}], "prune": True}, tags=tags,
                                after={"a:latest": tag("a:latest"), "keep:v1": tag("keep:v1")})
    assert result["actions"] == ["delete b:latest (prune)"]
    client.delete.assert_called_once_with("b:latest")
    assert [(m["name"], m["changed"]) for m in result["models"]] == [
        ("a:latest", False), ("keep:v1", False), ("b:latest", True)]


def test_ollama_errors_fail_with_the_message_and_what_was_done():
    with set_module_args({"models": [{"name": "a"}, {"name": "b"}]}):
        with patch.object(ollama_model, "OllamaClient") as cls:
            client = cls.from_module.return_value
            client.base_url = "http://ollama:11434"
            client.tags.return_value = {}
            client.pull.side_effect = [None, OllamaError("pull model manifest: file does not exist", 200, "{}")]
            with pytest.raises(AnsibleFailJson) as e:
                ollama_model.main()
    result = e.value.args[0]
    assert result["msg"] == "Ollama at http://ollama:11434: pull b:latest: pull model manifest: file does not exist"
    assert result["actions"] == ["pull a:latest"] and result["changed"] is True
    assert result["failed_action"] == "pull b:latest" and result["status"] == 200


@pytest.mark.parametrize("args, message", [
    ({"name": "bad name"}, "name: 'bad name' is not a model name"),
    ({"models": [{"name": "a"}, {"name": "A:latest"}]}, "models[1].name: A:latest is listed twice"),
    ({"name": "x", "source": {"path": "/does/not/exist.gguf"}}, "source.path: /does/not/exist.gguf is not a file"),
    ({"name": "x", "source": {"registry": "http://bad"}}, "source.registry: 'http://bad' is not a host"),
    ({"name": "x", "state": "absent", "loaded": True}, "loaded: true needs state present or latest"),
])
def test_invalid_input_fails_before_any_request(args, message):
    how, result, client = run(args)
    assert how == "fail" and message in result["msg"]
    assert not client.tags.called and not client.pull.called


def test_argument_rules():
    how, result, dummy = run({"name": "x", "models": [{"name": "y"}]})
    assert how == "fail" and "mutually exclusive" in result["msg"]
    how, result, dummy = run({"name": "x", "prune": True})
    assert how == "fail" and "prune is True but all of the following are missing: models" in result["msg"]
    how, result, dummy = run({"name": "x", "source": {"path": "/a", "copy": "b"}})
    assert how == "fail" and "mutually exclusive" in result["msg"]


# -- template, system, parameters, license and adapters of a GGUF source ----------------------

TEMPLATE = ("{{ range .Messages }}<start_of_turn>{{ .Role }}\n{{ .Content }}<end_of_turn>\n{{ end }}"
            "<start_of_turn>model\n")
SHOW = {"template": TEMPLATE, "modelfile": f"FROM /m/blobs/sha256-{D1}\n",
        "parameters": 'stop                           "<end_of_turn>"\ntemperature                    1'}


@pytest.fixture
def gguf(tmp_path):
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 16)
    return str(path)


def gguf_args(gguf, **fields):
    source = {"path": gguf, "template": TEMPLATE, "parameters": {"stop": ["<end_of_turn>"], "temperature": 1}}
    source.update(fields)
    return {"name": "tiny", "source": source, "_ansible_diff": True}


def test_gguf_fields_that_match_the_model_are_no_change(gguf):
    tags = {"tiny:latest": tag("tiny:latest")}
    how, result, client = run(gguf_args(gguf, parameters={"stop": "<end_of_turn>", "temperature": "1.0"}),
                              tags=tags, show=SHOW)
    assert how == "exit" and result["changed"] is False and result["actions"] == []
    client.show.assert_called_once_with("tiny:latest")
    assert not client.create.called
    assert result["diff"]["before"]["models"]["tiny:latest"]["template"] == TEMPLATE
    assert result["diff"]["after"]["models"]["tiny:latest"]["parameters"] == {"stop": ["<end_of_turn>"],
                                                                              "temperature": [1]}


def test_a_changed_template_creates_the_model_again_and_check_mode_only_says_so(gguf):
    tags = {"tiny:latest": tag("tiny:latest", D1)}
    args = gguf_args(gguf, template="{{ .Prompt }}")
    action = f"create tiny:latest from {gguf} (template changed)"

    how, checked, client = run(dict(args, _ansible_check_mode=True), tags=tags, show=SHOW)
    assert how == "exit" and checked["changed"] is True and checked["actions"] == [action]
    assert not client.create.called and checked["digest"] is None  # not known before it is created
    assert checked["diff"]["before"]["models"]["tiny:latest"]["template"] == TEMPLATE
    assert checked["diff"]["after"]["models"]["tiny:latest"]["template"] == "{{ .Prompt }}"

    how, result, client = run(args, tags=tags, show=SHOW, after={"tiny:latest": tag("tiny:latest", D2)})
    assert how == "exit" and result["changed"] is True and result["actions"] == [action]
    assert result["digest"] == D2
    name, source, version = client.create.call_args.args
    assert (name, version) == ("tiny:latest", "0.5.4")
    assert source.config.template == "{{ .Prompt }}" and 'TEMPLATE "{{ .Prompt }}"' in source.modelfile()


def test_changed_parameters_and_a_new_system_prompt_are_named_in_the_action(gguf):
    how, result, client = run(gguf_args(gguf, parameters={"stop": ["<end_of_turn>"], "temperature": 0.2},
                                        system="Be brief."),
                              tags={"tiny:latest": tag("tiny:latest")}, show=SHOW,
                              after={"tiny:latest": tag("tiny:latest")})
    assert result["actions"] == [f"create tiny:latest from {gguf} (system, parameters changed)"]
    assert result["diff"]["before"]["models"]["tiny:latest"]["system"] == ""


def test_a_missing_model_is_created_with_its_fields_without_a_show(gguf):
    how, result, client = run(gguf_args(gguf), after={"tiny:latest": tag("tiny:latest")})
    assert result["actions"] == [f"create tiny:latest from {gguf}"]
    assert not client.show.called
    assert "template" not in result["diff"]["before"]["models"]["tiny:latest"]
    assert result["diff"]["after"]["models"]["tiny:latest"]["template"] == TEMPLATE


def test_models_without_fields_are_not_shown(gguf):
    how, result, client = run({"name": "tiny", "source": {"path": gguf}}, tags={"tiny:latest": tag("tiny:latest")})
    assert result["changed"] is False and not client.show.called


@pytest.mark.parametrize("source, message", [
    ({"copy": "other", "template": "x"}, "source.template: only for a GGUF file in source.path"),
    ({"registry": "mirror.lan", "system": "x", "license": "y"}, "source.system, source.license: only for a GGUF file"),
    ({"path": "MODELFILE", "parameters": {"top_k": 1}}, "is a Modelfile: write TEMPLATE, SYSTEM, PARAMETER"),
    ({"path": "GGUF", "parameters": {"top k": 1}}, "source.parameters: 'top k' is not a parameter name"),
    ({"path": "GGUF", "adapters": ["/no/lora.gguf"]}, "source.adapters: /no/lora.gguf is not a file"),
])
def test_invalid_gguf_fields_fail_before_any_request(source, message, gguf, tmp_path):
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM {gguf}\n")
    source = {k: {"MODELFILE": str(modelfile), "GGUF": gguf}.get(v, v) if k == "path" else v for k, v in source.items()}
    how, result, client = run({"models": [{"name": "tiny", "source": source}]})
    assert how == "fail" and message in result["msg"] and result["msg"].startswith("models[0].")
    assert not client.tags.called
