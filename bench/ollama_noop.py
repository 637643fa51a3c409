"""A no-op run with 5 models present: ailab.stack.ollama_model vs a naive "pull every run" loop.

Both run as real playbooks against a real `ollama serve` 0.5.4 (CPU) whose 5 models came from a
real registry (docker-registry behind nginx, tests/integration/ollama_registry.py). Requests are
counted from the server's own log ([GIN] lines) and from nginx's access log (registry requests);
seconds are wall-clock of the whole ansible-playbook run. Prints one row per approach and the
ratios. Part of `make bench` (bench/site.py calls table()). Run alone with the toolchain: `. scripts/lib.sh && ailab_env && python bench/ollama_noop.py`.
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


def count_requests(svc, reg, play) -> tuple[int, int, float]:
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


def measure() -> tuple[str, list[tuple[str, int, int, float]]]:
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

        rows = [("ailab.stack.ollama_model", *count_requests(svc, reg, module_play)),
                ("naive pull loop (uri /api/pull)", *count_requests(svc, reg, naive_play))]
        return svc.api('/api/version')['version'], rows
    finally:
        svc.close()
        reg.close()
        source.close()


def ratios(rows: list[tuple[str, int, int, float]]) -> tuple[str, str, str]:
    (_m, ms, mr, mt), (_n, ns, nr, nt) = rows
    return f"{ns / max(ms, 1):.1f}x", f"{nr / mr:.1f}x" if mr else f"{nr} vs 0", f"{nt / mt:.2f}x"


def table() -> str:
    """The two approaches as a markdown table in bench/site.py's format."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ansible_output  # pylint: disable=import-outside-toplevel
    version, rows = measure()
    return "\n".join([f"no-op run, {N} models present, real Ollama {version} + real registry", "",
                      ansible_output.markdown_table(("approach", "server req", "registry req", "wall s"),
                                                    [*rows, ("ratio naive / module", *ratios(rows))])])


def main() -> None:
    version, rows = measure()
    print(f"no-op run, {N} models present, real Ollama {version} + real registry")
    print(f"{'approach':34} {'server req':>10} {'registry req':>12} {'seconds':>8}")
    for name, server_req, registry_req, seconds in rows:
        print(f"{name:34} {server_req:>10} {registry_req:>12} {seconds:>8.2f}")
    server_ratio, registry_ratio, time_ratio = ratios(rows)
    print(f"{'ratio naive / module':34} {server_ratio:>10} {registry_ratio:>12} {time_ratio:>8}")


if __name__ == "__main__":
    main()
