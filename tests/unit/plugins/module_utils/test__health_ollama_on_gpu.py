"""The ollama_on_gpu check (plugins/module_utils/_health_ollama.py) against a loopback server answering
/api/ps as Ollama does. The answers:
- all in VRAM: the /api/ps answer recorded in nirmato/nirmato-ollama#13 (gemma3:latest, size and
  size_vram 5964735424);
- partial: `ollama ps` of ollama/ollama#7198 ("10 GB  33%/67% CPU/GPU", llama3.2:3b-instruct-q8_0 with
  num_ctx 40000) as /api/ps numbers;
- on the CPU: size_vram 0, and without size_vram (Ollama left it out when 0: ollama/ollama#4840).
The real Ollama (CPU) is in tests/integration/test_health_gate_ollama.py."""
from __future__ import annotations

import pytest

from ansible_collections.ailab.stack.plugins.module_utils._health import CheckFailed
from ansible_collections.ailab.stack.plugins.module_utils._health_ollama import check_ollama_on_gpu

GEMMA3 = {"name": "gemma3:latest", "model": "gemma3:latest", "size": 5964735424,
          "digest": "a2af6cc3eb7fa8be8504abaf9b04e88f17a119ec3f04a3addf55f92841195f5a",
          "details": {"parent_model": "", "format": "gguf", "family": "gemma3", "families": ["gemma3"],
                      "parameter_size": "4.3B", "quantization_level": "Q4_K_M"},
          "expires_at": "2025-08-08T00:07:26.817827822+02:00", "size_vram": 5964735424}
LLAMA32_PARTIAL = {"name": "llama3.2:3b-instruct-q8_0", "model": "llama3.2:3b-instruct-q8_0",
                   "size": 10_000_000_000, "size_vram": 6_700_000_000}
TINY_CPU = {"name": "tiny:latest", "model": "tiny:latest", "size": 304_087_040, "size_vram": 0}


def spec(url, models, **kw):
    return {"url": url, "models": models, "load": True, "keep_alive": None, "headers": None,
            "validate_certs": True, "ca_path": None, "timeout": 5, **kw}


def serve_ps(web, *models):
    web.routes[("GET", "/api/ps")] = lambda h, b: (200, {"models": list(models)})


def test_all_in_vram_passes(web):
    serve_ps(web, GEMMA3)
    assert check_ollama_on_gpu(spec(web.url, ["gemma3"]), 5) == "gemma3:latest: 5.6 of 5.6 GiB in VRAM"
    assert [r["path"] for r in web.seen] == ["/api/ps"]   # loaded already: nothing else is asked


def test_partial_offload_names_the_numbers(web):
    serve_ps(web, GEMMA3, LLAMA32_PARTIAL)
    with pytest.raises(CheckFailed) as exc:
        check_ollama_on_gpu(spec(web.url, ["gemma3", "llama3.2:3b-instruct-q8_0"]), 5)
    assert str(exc.value).startswith(
        "gemma3:latest: 5.6 of 5.6 GiB in VRAM; "
        "llama3.2:3b-instruct-q8_0: 6.2 of 9.3 GiB in VRAM, 33 % on the CPU; the model does not fit in the free VRAM")


@pytest.mark.parametrize("entry", [TINY_CPU, {k: v for k, v in TINY_CPU.items() if k != "size_vram"}],
                         ids=["size_vram 0", "size_vram left out"])
def test_cpu_only(web, entry):
    serve_ps(web, entry)
    with pytest.raises(CheckFailed, match=r"^tiny:latest: runs on the CPU: 0 of 290 MiB in VRAM; Ollama found no GPU"):
        check_ollama_on_gpu(spec(web.url, ["tiny"]), 5)


def test_a_model_not_loaded_is_loaded_first_with_keep_alive(web):
    state = {"loaded": []}

    def generate(handler, body):
        state["loaded"].append(GEMMA3)
        return 200, {"model": body["model"], "response": "", "done": True, "done_reason": "load"}
    web.routes[("GET", "/api/ps")] = lambda h, b: (200, {"models": state["loaded"]})
    web.routes[("POST", "/api/generate")] = generate
    assert check_ollama_on_gpu(spec(web.url, ["gemma3"], keep_alive="10m"), 5) == "gemma3:latest: 5.6 of 5.6 GiB in VRAM"
    assert [r["path"] for r in web.seen] == ["/api/ps", "/api/generate", "/api/ps"]
    assert web.seen[1]["body"] == {"model": "gemma3:latest", "prompt": "", "stream": False, "keep_alive": "10m"}


def test_each_model_is_judged_right_after_its_own_load(web):
    """Only one model fits at a time (OLLAMA_MAX_LOADED_MODELS=1): loading the second evicts the first."""
    on_gpu = {"gemma3:latest": GEMMA3, "tiny:latest": {**TINY_CPU, "size_vram": TINY_CPU["size"]}}
    state = {"loaded": []}

    def generate(handler, body):
        state["loaded"] = [on_gpu[body["model"]]]
        return 200, {"model": body["model"], "response": "", "done": True}
    web.routes[("GET", "/api/ps")] = lambda h, b: (200, {"models": state["loaded"]})
    web.routes[("POST", "/api/generate")] = generate
    assert check_ollama_on_gpu(spec(web.url, ["gemma3", "tiny"]), 5) == (
        "gemma3:latest: 5.6 of 5.6 GiB in VRAM; tiny:latest: 290 of 290 MiB in VRAM")
    assert [r["path"] for r in web.seen] == ["/api/ps", "/api/generate", "/api/ps", "/api/generate", "/api/ps"]


def test_without_load_a_model_not_loaded_is_reported(web):
    serve_ps(web, GEMMA3)
    with pytest.raises(CheckFailed, match=rf"^gemma3:latest: 5.6 of 5.6 GiB in VRAM; tiny:latest: not loaded on "
                                          rf"{web.url} \(loaded: gemma3:latest\)$"):
        check_ollama_on_gpu(spec(web.url, ["gemma3", "tiny"], load=False), 5)
    assert [r["path"] for r in web.seen] == ["/api/ps"]


def test_a_load_that_fails_is_the_reason(web):
    serve_ps(web)
    web.routes[("POST", "/api/generate")] = lambda h, b: (404, {"error": "model 'tiny' not found"})
    with pytest.raises(CheckFailed, match=rf"^POST {web.url}/api/generate \(load tiny:latest\): model 'tiny' not found$"):
        check_ollama_on_gpu(spec(web.url, ["tiny"]), 5)
