"""A no-op run with 5 models present: ailab.stack.ollama_model vs a naive "pull every run" loop.

Both run as real playbooks against a real `ollama serve` 0.5.4 (CPU) whose 5 models came from a
real registry (docker-registry behind nginx, tests/integration/ollama_registry.py). Requests are
counted from the server's own log ([GIN] lines) and from nginx's access log (registry requests);
seconds are wall-clock of the whole ansible-playbook run. Prints one row per approach and the
ratios. Run with the toolchain: `. scripts/lib.sh && ailab_env && python bench/ollama_noop.py`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "integration")]

import ollama_registry  # noqa: E402
import services  # noqa: E402
from helpers.playbook import run_playbook  # noqa: E402

N = 5
PY = {"ansible_python_interpreter": sys.executable}


def count_lines(path: str, pattern: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, errors="replace") as f:
        return len(re.findall(pattern, f.read()))


def measure(svc, reg, play) -> tuple[int, int, float]:
    server_log = os.path.join(svc.workdir, "ollama.log")
    registry_log = os.path.join(reg.workdir, "nginx-access.log")
    s0, r0 = count_lines(server_log, r"\[GIN\]"), count_lines(registry_log, r"\n")
    t0 = time.monotonic()
    proc = run_playbook(play, extravars=PY)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(proc.stdout[-3000:] + proc.stderr[-2000:])
    time.sleep(0.5)  # let the servers flush their logs
    return count_lines(server_log, r"\[GIN\]") - s0, count_lines(registry_log, r"\n") - r0, seconds


def main() -> None:
    reason = services.ollama_available() or ollama_registry.registry_available()
    if reason:
        sys.exit(f"cannot run: {reason}")
    source = services.start_ollama(tempfile.mkdtemp(prefix="bench-src-"))
    reg = ollama_registry.start_registry(tempfile.mkdtemp(prefix="bench-reg-"))
    svc = services.start_ollama(tempfile.mkdtemp(prefix="bench-ollama-"))
    try:
        source.create_tiny("tiny")
        env = services.ollama_env(source.url)
        binary = os.path.join(services.OLLAMA_DIR, "bin", "ollama-lib")
        names = [f"{reg.host}/library/bench{i}:latest" for i in range(N)]
        for name in names:
            for cmd in (["cp", "tiny", name], ["push", "--insecure", name]):
                subprocess.run([binary, *cmd], env=env, check=True, capture_output=True, timeout=300)
        models = [{"name": n, "insecure": True} for n in names]
        module_play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Models", "ailab.stack.ollama_model": {"api_url": svc.url, "models": models}}]}]
        naive_play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Pull every model (what most roles do)", "loop": names,
             "ansible.builtin.uri": {"url": f"{svc.url}/api/pull", "method": "POST", "body_format": "json",
                                     "body": {"model": "{{ item }}", "insecure": True, "stream": False},
                                     "timeout": 600}}]}]
        run_playbook(module_play, extravars=PY)  # bring the models there once (not measured)

        rows = [("ailab.stack.ollama_model", *measure(svc, reg, module_play)),
                ("naive pull loop (uri /api/pull)", *measure(svc, reg, naive_play))]
        print(f"no-op run, {N} models present, real Ollama {svc.api('/api/version')['version']} + real registry")
        print(f"{'approach':34} {'server req':>10} {'registry req':>12} {'seconds':>8}")
        for name, server_req, registry_req, seconds in rows:
            print(f"{name:34} {server_req:>10} {registry_req:>12} {seconds:>8.2f}")
        (dummy1, ms, mr, mt), (dummy2, ns, nr, nt) = rows
        registry_ratio = f"{nr / mr:.1f}x" if mr else f"{nr} vs 0"
        print(f"{'ratio naive / module':34} {ns / max(ms, 1):>9.1f}x {registry_ratio:>12} {nt / mt:>7.2f}x")
    finally:
        svc.close()
        reg.close()
        source.close()


if __name__ == "__main__":
    main()
