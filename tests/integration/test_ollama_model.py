"""ollama_model and ollama_model_info through real playbooks against real `ollama serve` 0.5.4
(CPU) with the real gemma3 270M GGUF, and a real registry (docker-registry behind nginx) for pulls.

Requests the server received are read from its own log (one `[GIN]` line per request), so
"no pull on the second run" is what the server saw, not what the module says it did.
The shared `ollama_server` (with `tiny`) is only read and used to push `tiny` into the registry;
every test that changes models uses a server of its own.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import urllib.request

import pytest
import yaml

import ollama_registry
import services
from helpers.playbook import ROOT, run_playbook

PY = {"ansible_python_interpreter": sys.executable}
SANDBOX_VARS = os.path.join(ROOT, "inventories", "sandbox", "group_vars", "all", "ailab.yml")
ROLE_SPEC = os.path.join(ROOT, "roles", "ollama", "meta", "argument_specs.yml")


class Unsafe(str):
    """Text Ansible must not template (a Go template): written to the play as `!unsafe`."""


class _PlayDumper(yaml.SafeDumper):
    pass


class _UnsafeLoader(yaml.SafeLoader):
    pass


_PlayDumper.add_representer(Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value), style="|"))
_UnsafeLoader.add_constructor("!unsafe", lambda loader, node: Unsafe(loader.construct_scalar(node)))


def sandbox_tiny() -> dict:
    """The sandbox inventory's `tiny` model as Ansible reads it: the GGUF path resolved the way the
    inventory does, the template without the {% raw %} around it."""
    with open(SANDBOX_VARS) as f:
        model = next(m for m in yaml.safe_load(f)["ollama_models"] if m["name"] == "tiny")
    source = model["source"]
    assert source["path"] == "{{ __sandbox_home }}/ollama/gemma-3-270m-q4_k_m.gguf"
    raw = re.fullmatch(r"\{% raw %\}(.*)\{% endraw %\}", source["template"], re.S)
    assert raw, source["template"]
    return dict(model, source=dict(source, path=services.TINY_GGUF, template=Unsafe(raw.group(1))))


def gin(svc) -> list[tuple[str, str]]:
    """(method, path) of every request the server logged so far."""
    with open(os.path.join(svc.workdir, "ollama.log"), errors="replace") as f:
        return re.findall(r'\[GIN\].*\|\s+(GET|POST|DELETE|HEAD|PUT)\s+"([^"]+)"', f.read())


def tags(svc) -> dict[str, str]:
    return {m["name"]: m["digest"] for m in svc.api("/api/tags")["models"]}


def run_module(args: dict, check: bool = False, diff: bool = False, module: str = "ailab.stack.ollama_model",
               vars_files: list | None = None):
    """Run one module task in a real playbook; returns (returncode, the task's result)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        play = [{"hosts": "localhost", "gather_facts": False, "vars_files": vars_files or [], "tasks": [
            {"name": "Module under test", module: args, "register": "r", "ignore_errors": True},
            {"name": "Save the result", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": out},
             "check_mode": False}]}]
        extra = ["--diff"] if diff else []
        proc = run_playbook(yaml.dump(play, Dumper=_PlayDumper, sort_keys=False), extravars=PY, check=check,
                            extra_args=extra)
        assert os.path.exists(out), proc.stdout[-3000:] + proc.stderr[-3000:]
        with open(out) as f:
            return proc.returncode, json.load(f)


def push(source_url: str, model: str, ref: str) -> None:
    """Copy `model` to `ref` on a server, push it to the registry (insecure), remove the copy."""
    env = services.ollama_env(source_url)
    binary = os.path.join(services.OLLAMA_DIR, "bin", "ollama-lib")
    for cmd in (["cp", model, ref], ["push", "--insecure", ref], ["rm", ref]):
        subprocess.run([binary, *cmd], env=env, check=True, capture_output=True, timeout=300)


def registry_digest(registry, repo: str, tag: str = "latest") -> str:
    req = urllib.request.Request(f"http://{registry.host}/v2/{repo}/manifests/{tag}",
                                 headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers["Docker-Content-Digest"].split(":", 1)[1]


@pytest.fixture(scope="module")
def registry(ollama_server):
    reason = ollama_registry.registry_available()
    if reason:
        pytest.skip(reason)
    reg = ollama_registry.start_registry(tempfile.mkdtemp(prefix="ailab-registry-"))
    push(ollama_server.url, "tiny", f"{reg.host}/library/tiny:latest")
    yield reg
    reg.close()


def new_server():
    return services.start_ollama(tempfile.mkdtemp(prefix="ailab-ollama-t-"))


@pytest.fixture(scope="module")
def server():
    """An Ollama of this module, empty at the start."""
    svc = new_server()
    yield svc
    svc.close()


def test_pull_check_mode_then_changed_then_no_pull(server, registry):
    ref = f"{registry.host}/library/tiny:latest"
    args = {"api_url": server.url, "name": ref, "insecure": True}

    rc, checked = run_module(args, check=True)
    assert rc == 0 and checked["changed"] is True and checked["actions"] == [f"pull {ref}"]
    assert tags(server) == {} and ("POST", "/api/pull") not in gin(server)

    rc, first = run_module(args, diff=True)
    assert rc == 0 and first["changed"] is True
    assert first["digest"] == registry_digest(registry, "library/tiny") == tags(server)[ref]
    assert first["size"] > 250_000_000
    assert first["diff"]["before"]["models"][ref]["present"] is False
    assert first["diff"]["after"]["models"][ref] == {"present": True, "digest": first["digest"]}

    seen = len(gin(server))
    rc, second = run_module(args)
    assert rc == 0 and second["changed"] is False and second["actions"] == []
    assert second["digest"] == first["digest"]
    assert gin(server)[seen:] == [("GET", "/api/tags")]  # one GET, no pull


def test_latest_pulls_only_when_the_registry_digest_changes(server, registry, ollama_server):
    ref = f"{registry.host}/library/tiny:latest"
    args = {"api_url": server.url, "name": ref, "insecure": True, "state": "latest"}
    run_module({"api_url": server.url, "name": ref, "insecure": True})  # present (idempotent if already)

    seen = len(gin(server))
    rc, same = run_module(args)
    assert rc == 0 and same["changed"] is False
    assert ("POST", "/api/pull") not in gin(server)[seen:]

    # A new version of the model on the registry: same weights, another system prompt.
    env = services.ollama_env(ollama_server.url)
    with tempfile.NamedTemporaryFile("w", suffix=".Modelfile", delete=False) as mf:
        mf.write(f"FROM {services.TINY_GGUF}\nSYSTEM You answer in one word.\n")
    subprocess.run([os.path.join(services.OLLAMA_DIR, "bin", "ollama-lib"), "create", "tiny-v2", "-f", mf.name],
                   env=env, check=True, capture_output=True, timeout=300)
    try:
        push(ollama_server.url, "tiny-v2", ref)
    finally:
        subprocess.run([os.path.join(services.OLLAMA_DIR, "bin", "ollama-lib"), "rm", "tiny-v2"], env=env,
                       capture_output=True, timeout=60, check=False)
    new_digest = registry_digest(registry, "library/tiny")
    assert new_digest != same["digest"]

    rc, checked = run_module(args, check=True)
    assert rc == 0 and checked["changed"] is True and checked["digest"] == new_digest
    assert tags(server)[ref] == same["digest"]  # check mode pulled nothing

    rc, updated = run_module(args)
    assert rc == 0 and updated["changed"] is True and updated["digest"] == new_digest == tags(server)[ref]
    rc, again = run_module(args)
    assert rc == 0 and again["changed"] is False


def test_registry_mirror_keeps_the_plain_name(server, registry):
    args = {"api_url": server.url, "name": "tiny", "source": {"registry": registry.host}, "insecure": True}
    rc, result = run_module(args)
    assert rc == 0 and result["changed"] is True
    assert result["actions"][0] == f"pull {registry.host}/library/tiny:latest"
    assert tags(server)["tiny:latest"] == registry_digest(registry, "library/tiny")
    rc, again = run_module(dict(args, state="latest"))
    assert rc == 0 and again["changed"] is False


def test_unknown_model_fails_with_ollamas_error(server, registry):
    before = tags(server)
    rc, result = run_module({"api_url": server.url, "name": f"{registry.host}/library/nosuch:latest",
                             "insecure": True})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith(f"Ollama at {server.url}: pull {registry.host}/library/nosuch:latest: "
                                    "pull model manifest: ")
    assert json.loads(result["body"])["error"] in result["msg"]  # Ollama's own text, from its stream
    assert tags(server) == before


def test_registry_breaking_mid_pull_fails_cleanly_and_keeps_models(registry):
    svc = new_server()  # no blobs yet: the pull has to download them
    try:
        rc, created = run_module({"api_url": svc.url, "name": "local-tiny",
                                  "source": {"path": services.TINY_GGUF}})
        assert rc == 0 and created["changed"] is True
        run_module({"api_url": svc.url, "name": "local-tiny", "state": "absent"})  # the blob goes with it
        registry.break_blobs()
        try:
            rc, result = run_module({"api_url": svc.url, "name": f"{registry.host}/library/tiny:latest",
                                     "insecure": True, "timeout": 120})
        finally:
            registry.fix_blobs()
        assert result["failed"] is True and result["changed"] is False
        assert result["failed_action"] == f"pull {registry.host}/library/tiny:latest"
        assert json.loads(result["body"])["error"] in result["msg"]
        assert tags(svc) == {}  # no half-pulled model is listed
        rc, retried = run_module({"api_url": svc.url, "name": f"{registry.host}/library/tiny:latest",
                                  "insecure": True})
        assert rc == 0 and retried["changed"] is True
    finally:
        svc.close()


def test_create_from_gguf_copy_load_prune_and_absent(server):
    gguf = {"api_url": server.url, "name": "gguf-tiny", "source": {"path": services.TINY_GGUF}}
    rc, created = run_module(gguf)
    assert rc == 0 and created["actions"] == ["create gguf-tiny:latest from " + services.TINY_GGUF]
    rc, latest = run_module(dict(gguf, state="latest"))  # same weights: no re-create
    assert rc == 0 and latest["changed"] is False

    models = [{"name": "gguf-tiny", "source": {"path": services.TINY_GGUF}, "loaded": True},
              {"name": "assistant", "source": {"copy": "gguf-tiny"}}]
    rc, checked = run_module({"api_url": server.url, "models": models, "prune": True, "keep_alive": "10m"},
                             check=True)
    assert rc == 0 and checked["changed"] is True
    before = tags(server)
    assert "assistant:latest" not in before and len(before) > 1  # the pulled models are still there

    rc, result = run_module({"api_url": server.url, "models": models, "prune": True, "keep_alive": "10m"})
    assert rc == 0 and result["changed"] is True
    assert "copy gguf-tiny:latest to assistant:latest" in result["actions"]
    assert "load gguf-tiny:latest" in result["actions"]
    assert sorted(tags(server)) == ["assistant:latest", "gguf-tiny:latest"]
    assert tags(server)["assistant:latest"] == tags(server)["gguf-tiny:latest"]
    assert "gguf-tiny:latest" in [m["name"] for m in server.api("/api/ps")["models"]]

    seen = len(gin(server))
    rc, again = run_module({"api_url": server.url, "models": models, "prune": True})
    assert rc == 0 and again["changed"] is False
    assert gin(server)[seen:] == [("GET", "/api/tags"), ("GET", "/api/ps")]

    rc, gone = run_module({"api_url": server.url, "name": "assistant", "state": "absent"}, check=True)
    assert rc == 0 and gone["changed"] is True and "assistant:latest" in tags(server)
    rc, gone = run_module({"api_url": server.url, "name": "assistant", "state": "absent"})
    assert rc == 0 and gone["changed"] is True and "assistant:latest" not in tags(server)


def test_modelfile_source_is_uploaded_as_blobs(server, tmp_path):
    (tmp_path / "Modelfile").write_text(f"FROM {services.TINY_GGUF}\nSYSTEM You are terse.\nPARAMETER num_ctx 512\n")
    rc, result = run_module({"api_url": server.url, "name": "terse", "source": {"path": str(tmp_path / "Modelfile")}})
    assert rc == 0 and result["changed"] is True
    shown = server.api("/api/show", {"model": "terse"})
    assert "You are terse." in shown["modelfile"] and "num_ctx" in shown["parameters"]


def chat(svc, model: str, content: str, **options) -> dict:
    return svc.api("/api/chat", {"model": model, "messages": [{"role": "user", "content": content}],
                                 "stream": False, "options": {"temperature": 0, **options}}, timeout=300)


def shown(svc, model: str) -> dict:
    return svc.api("/api/show", {"model": model})


def test_sandbox_model_answers_a_first_chat_and_its_template_is_managed():
    """The sandbox's `tiny`, from the inventory as it is, through the role and the module."""
    svc = new_server()
    try:
        # The role's model step with the sandbox inventory's own variables (its raw template
        # included), after the role's argument spec accepted them.
        play = [{"hosts": "localhost", "gather_facts": False, "vars_files": [SANDBOX_VARS], "tasks": [
            {"name": "Validate ollama_models with the role's argument spec",
             "ansible.builtin.validate_argument_spec": {
                 "argument_spec": "{{ {'ollama_models': (lookup('ansible.builtin.file', '%s') | from_yaml)"
                                  ".argument_specs.main.options.ollama_models} }}" % ROLE_SPEC,
                 "provided_arguments": {"ollama_models": "{{ ollama_models }}"}}},
            {"name": "Models", "ansible.builtin.include_role": {"name": "ailab.stack.ollama", "tasks_from": "models"},
             "vars": {"__ollama_api_urls": [svc.url]}}]}]
        proc = run_playbook(play, extravars=dict(PY, ollama_runtime="systemd"))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        tiny = sandbox_tiny()
        assert shown(svc, "tiny")["template"] == tiny["source"]["template"]

        # A first chat is a reply, not a continuation of the question, and it ends by itself.
        answer = chat(svc, "tiny", "What is the capital of France?")
        reply = answer["message"]["content"]
        assert "Paris" in reply and answer["done_reason"] == "stop", answer
        assert "capital of France?" not in reply and "User:" not in reply and "<" not in reply, reply
        print(f"tiny replies: {reply!r}")

        args = {"api_url": svc.url, "name": "tiny", "source": tiny["source"]}
        seen = len(gin(svc))
        rc, again = run_module(args, diff=True)
        assert rc == 0 and again["changed"] is False and again["actions"] == [], again
        assert gin(svc)[seen:] == [("GET", "/api/tags"), ("POST", "/api/show")]  # compared, not created
        digest = again["digest"]

        # Another template: check mode says so and changes nothing, the real run creates it again.
        plain = dict(tiny["source"], template=Unsafe("{{ .Prompt }}"))
        action = f"create tiny:latest from {services.TINY_GGUF} (template changed)"
        rc, checked = run_module(dict(args, source=plain), check=True, diff=True)
        assert rc == 0 and checked["changed"] is True and checked["actions"] == [action], checked
        assert checked["diff"]["before"]["models"]["tiny:latest"]["template"] == tiny["source"]["template"]
        assert checked["diff"]["after"]["models"]["tiny:latest"]["template"] == "{{ .Prompt }}"
        assert shown(svc, "tiny")["template"] == tiny["source"]["template"] and tags(svc)["tiny:latest"] == digest
        rc, changed = run_module(dict(args, source=plain))
        assert rc == 0 and changed["changed"] is True and changed["digest"] != digest
        assert shown(svc, "tiny")["template"] == "{{ .Prompt }}"
        rc, same = run_module(dict(args, source=plain))
        assert rc == 0 and same["changed"] is False

        # Other parameters: a change; the same values written otherwise: none.
        warmer = dict(plain, parameters=dict(tiny["source"]["parameters"], temperature=0.9, stop=["User:"]))
        rc, result = run_module(dict(args, source=warmer))
        assert rc == 0 and result["actions"] == [f"create tiny:latest from {services.TINY_GGUF} (parameters changed)"]
        params = shown(svc, "tiny")["parameters"]
        assert re.search(r'^temperature +0\.9$', params, re.M)
        assert re.findall(r'^stop +(.*)$', params, re.M) == ['"User:"']
        as_text = dict(warmer, parameters={k: [str(x) for x in v] if isinstance(v, list) else str(v)
                                           for k, v in warmer["parameters"].items()})
        rc, same = run_module(dict(args, source=as_text))
        assert rc == 0 and same["changed"] is False, same
    finally:
        svc.close()


def sha256_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def lora_gguf(path: str, rank: int) -> str:
    """A GGUF LoRA adapter for gemma3 (one zero delta on blk.0.attn_q) written by hand: the
    smallest file Ollama and llama.cpp take as an adapter."""
    def text(value: str) -> bytes:
        return struct.pack("<Q", len(value.encode())) + value.encode()
    kvs = [("general.architecture", 8, text("gemma3")), ("general.type", 8, text("adapter")),
           ("adapter.type", 8, text("lora")), ("adapter.lora.alpha", 6, struct.pack("<f", float(rank)))]
    tensors = [("blk.0.attn_q.weight.lora_a", [640, rank]), ("blk.0.attn_q.weight.lora_b", [rank, 1024])]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    head += b"".join(text(k) + struct.pack("<I", kind) + v for k, kind, v in kvs)
    data = b""
    for name, dims in tensors:
        head += text(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", 0, len(data))  # F32, offset in the data section
        data += b"\0" * (4 * dims[0] * dims[1])
        data += b"\0" * (-len(data) % 32)
    with open(path, "wb") as f:
        f.write(head + b"\0" * (-len(head) % 32) + data)
    return path


def test_system_license_and_adapters_of_a_gguf_model(server, tmp_path):
    lora1, lora2 = lora_gguf(str(tmp_path / "lora1.gguf"), 1), lora_gguf(str(tmp_path / "lora2.gguf"), 2)
    source = {"path": services.TINY_GGUF, "system": 'You say "yes".\nAlways.', "license": "Gemma terms\nof use",
              "adapters": [lora1]}
    args = {"api_url": server.url, "name": "lora-tiny", "source": source}
    rc, created = run_module(args)
    assert rc == 0 and created["changed"] is True
    info = shown(server, "lora-tiny")
    assert (info["system"], info["license"]) == ('You say "yes".\nAlways.', "Gemma terms\nof use")
    assert re.findall(r"^ADAPTER .*sha256-([0-9a-f]{64})$", info["modelfile"], re.M) == [sha256_of(lora1)]
    assert chat(server, "lora-tiny", "Hi", num_predict=4)["done"] is True  # llama.cpp loads the adapter

    rc, same = run_module(args)
    assert rc == 0 and same["changed"] is False
    rc, other = run_module(dict(args, source=dict(source, adapters=[lora2])), diff=True)
    assert rc == 0 and other["actions"] == [f"create lora-tiny:latest from {services.TINY_GGUF} (adapters changed)"]
    assert other["diff"]["after"]["models"]["lora-tiny:latest"]["adapters"] == [sha256_of(lora2)]
    rc, gone = run_module(dict(args, source=dict(source, adapters=[], system="")))
    assert rc == 0
    assert gone["actions"] == [f"create lora-tiny:latest from {services.TINY_GGUF} (system, adapters changed)"]
    info = shown(server, "lora-tiny")
    assert "ADAPTER" not in info["modelfile"] and not info.get("system")


def documented_gemma3_template() -> Unsafe:
    """The gemma 3 chat template of ollama_model's EXAMPLES (the docs show the same one)."""
    with open(os.path.join(ROOT, "plugins", "modules", "ollama_model.py")) as f:
        tree = ast.parse(f.read())
    examples = next(node.value.value for node in tree.body
                    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXAMPLES")
    task = next(t for t in yaml.load(examples, Loader=_UnsafeLoader) if "gemma 3" in t["name"])
    return task["ailab.stack.ollama_model"]["source"]["template"]


def test_gemma3_chat_template_renders_gemma_turns_on_this_ollama(tmp_path):
    """The documented gemma 3 template (for an instruction-tuned GGUF) works on Ollama 0.5.4: the
    prompt the server builds (its debug log) is gemma's turn format."""
    svc = services.start_ollama(str(tmp_path), extra_env={"OLLAMA_DEBUG": "1"})
    try:
        source = {"path": services.TINY_GGUF, "template": documented_gemma3_template(),
                  "parameters": {"stop": ["<end_of_turn>"]}}
        rc, created = run_module({"api_url": svc.url, "name": "gemma", "source": source})
        assert rc == 0 and created["changed"] is True
        messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "What is the capital of France?"}]
        svc.api("/api/chat", {"model": "gemma", "stream": False, "messages": messages,
                              "options": {"temperature": 0, "num_predict": 4}}, timeout=300)
        with open(os.path.join(str(tmp_path), "ollama.log"), errors="replace") as f:
            prompts = re.findall(r'msg="chat request" images=0 prompt="((?:[^"\\]|\\.)*)"', f.read())
        assert prompts and json.loads(f'"{prompts[-1]}"') == (
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n")
    finally:
        svc.close()


def test_unreachable_server_fails_after_retries():
    port = services.free_port()
    rc, result = run_module({"api_url": f"http://127.0.0.1:{port}", "name": "tiny", "retries": 1})
    assert result["failed"] is True
    assert result["msg"] == (f"Ollama at http://127.0.0.1:{port}: cannot reach http://127.0.0.1:{port}/api/tags "
                             "after 2 attempt(s): [Errno 111] Connection refused")


def test_info_module_reports_models_digests_and_loaded(ollama_server):
    rc, info = run_module({"api_url": ollama_server.url}, module="ailab.stack.ollama_model_info")
    assert rc == 0 and info["changed"] is False
    assert info["version"] == ollama_server.api("/api/version")["version"]
    expected = {m["name"]: (m["digest"], m["size"]) for m in ollama_server.api("/api/tags")["models"]}
    assert {m["name"]: (m["digest"], m["size"]) for m in info["models"]} == expected
    running = sorted(m["name"] for m in ollama_server.api("/api/ps")["models"])
    assert sorted(m["name"] for m in info["loaded"]) == running
    assert {m["name"] for m in info["models"] if m["loaded"]} == set(running)

    rc, one = run_module({"api_url": ollama_server.url, "name": "tiny"}, module="ailab.stack.ollama_model_info")
    assert rc == 0 and [m["name"] for m in one["models"]] == ["tiny:latest"]
    rc, none = run_module({"api_url": ollama_server.url, "name": "nope"}, module="ailab.stack.ollama_model_info")
    assert rc == 0 and none["models"] == []
