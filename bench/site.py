"""playbooks/site.yml as an operator runs it: first converge, no-op re-run, one stage alone, the
fleet, the gates, and the older benches, in one run with one table format.

Every number is measured in this run on this machine (2 shared cores): ratios compare runs of
the same bench run, nothing passes or fails on a time. The sandbox hosts are podman containers
(systemd as PID 1) of our own (ailab-bench-*, network ailab-bench, 10.89.79.0/24), bootstrapped
for SSH and the ACME CA like scripts/demo's (scripts/lib.sh sandbox_boot) and reached over SSH as the
operator account with pipelining and ControlPersist (ansible.cfg). Each phase holds
/tmp/ailab-molecule.lock only while its containers run, and removes them before releasing it.

  python bench/site.py                          every phase, tables to stdout and bench/results/<date>.md
  python bench/site.py --phases site,gates      some phases (site first_chat gates proxy fleet hardening_rerun
                                                ollama_noop; first_chat, gates and proxy run on the site
                                                phase's host)
  python bench/site.py --fleet 1,2,4            fleet sizes (default 1,4,8)

Columns: wall = seconds of the whole ansible-playbook run; tasks run / skipped / changed = PLAY
RECAP ok / skipped / changed summed over hosts; peak MiB = highest summed RSS of the controller's
process tree (ansible-playbook, its forks, ssh), sampled every 0.2 s; CPU s = user + system
seconds of that tree (wait4).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import ansible_output  # noqa: E402  pylint: disable=wrong-import-position

LOCK = "/tmp/ailab-molecule.lock"
IMAGE = os.environ.get("BENCH_IMAGE", "localhost/ailab-debian:bookworm")
NETWORK, SUBNET, PREFIX = "ailab-bench", "10.89.79.0/24", "10.89.79."
AILAB_HOME = os.environ.get("AILAB_HOME", "/opt/ailab-stack")
STAGES_IN_SITE = ("preflight", "hardening", "postgres", "ollama", "openwebui", "tenants", "verify")
TAG_STAGE = "hardening"   # the stage run alone by tag
SANDBOX_VARS_FILE = os.path.join(ROOT, "inventories", "sandbox", "group_vars", "all", "ailab.yml")
with open(SANDBOX_VARS_FILE, encoding="utf-8") as _f:
    SANDBOX_VARS = yaml.safe_load(_f)   # the sandbox's settings (the ingress name, the gate's CA file)


def log(msg: str) -> None:
    print(f"[bench] {datetime.datetime.now(datetime.timezone.utc):%H:%M:%S} {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def machine_lock() -> t.Iterator[None]:
    """The lock every helper takes before it starts containers (flock(1) on the same file)."""
    with open(LOCK, "a", encoding="utf-8") as f:
        log(f"waiting for {LOCK}")
        fcntl.flock(f, fcntl.LOCK_EX)
        log("lock held")
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
            log("lock released")


def podman(*args: str, check: bool = True, timeout: int = 300) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, check=False, timeout=timeout)
    if check and proc.returncode:
        raise RuntimeError(f"podman {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


# ---- sandbox hosts ------------------------------------------------------------------------------

class Sandbox:
    """N bench hosts named ailab-bench-<kind>-<i>, an inventory like inventories/sandbox's for them."""

    def __init__(self, kind: str, count: int, workdir: str) -> None:
        self.names = [f"ailab-bench-{kind}-{i}" for i in range(1, count + 1)]
        base = 11 if kind == "site" else 21
        self.addresses = [f"{PREFIX}{base + i}" for i in range(count)]
        self.dir = os.path.join(workdir, kind)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.inventory = os.path.join(self.dir, "inventory")
        self.secrets = os.path.join(self.dir, "secrets.yml")

    def up(self) -> None:
        if subprocess.run(["podman", "network", "exists", NETWORK], check=False).returncode:
            # no DNS: aardvark-dns would outlive us holding inherited descriptors (scripts/demo)
            podman("network", "create", "--disable-dns", "--subnet", SUBNET, NETWORK)
        for name, addr in zip(self.names, self.addresses):
            podman("rm", "-f", "-t", "2", name, check=False)
            podman("run", "-d", "--name", name, "--hostname", name, "--network", NETWORK, "--ip", addr,
                   "--systemd=always", "--cap-add", "NET_ADMIN,NET_RAW", "-v", f"{AILAB_HOME}:{AILAB_HOME}:ro",
                   IMAGE)
        ingress_host = SANDBOX_VARS["ailab_ingress_host"]
        for name, addr in zip(self.names, self.addresses):
            boot = subprocess.run(["bash", "-c", '. scripts/lib.sh && sandbox_boot "$@"', "bootstrap",
                                   name, addr, self.dir, ingress_host], cwd=ROOT, check=False, capture_output=True,
                                  text=True)
            if boot.returncode:
                raise RuntimeError(f"{name}: first boot (SSH, ACME CA) failed: {boot.stdout}{boot.stderr}")
        self._write_inventory()

    def down(self) -> None:
        for name in self.names:
            podman("rm", "-f", "-t", "2", name, check=False)

    def _write_inventory(self) -> None:
        os.makedirs(os.path.join(self.inventory, "group_vars", "all"), exist_ok=True)
        # the sandbox's own settings (the tiny model, the local artifacts), as scripts/demo runs them
        link = os.path.join(self.inventory, "group_vars", "all", "ailab.yml")
        if not os.path.lexists(link):
            os.symlink(SANDBOX_VARS_FILE, link)
        hosts = {n: {"ansible_host": a} for n, a in zip(self.names, self.addresses)}
        # One PostgreSQL (the systemd runtime's) on the first host, listening on its address for the
        # others' Open WebUI, as the preflight stage wants a fleet (the fleet phase installs neither).
        hosts[self.names[0]]["postgres_listen_addresses"] = ["localhost", self.addresses[0]]
        inventory = {"all": {
            "children": {"ai_servers": {"hosts": hosts}, "db_servers": {"hosts": {self.names[0]: {}}}},
            "vars": {
                **({"ailab_postgres_host": self.addresses[0]} if len(self.names) > 1 else {}),
                "ansible_connection": "ssh", "ansible_user": "admin",
                "ansible_ssh_private_key_file": os.path.join(self.dir, "id_ed25519"),
                "ansible_host_key_checking": True,
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.dir}/known_hosts "
                                           "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
            }}}
        with open(os.path.join(self.inventory, "hosts.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(inventory, f)
        if not os.path.exists(self.secrets):
            def gen() -> str:
                return os.urandom(18).hex()
            fd = os.open(self.secrets, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                yaml.safe_dump({"postgres_openwebui_password": gen(), "openwebui_admin_email": "admin@bench.test",
                                "openwebui_admin_password": gen()}, f)

    def exec(self, host_index: int, *cmd: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", "exec", self.names[host_index], *cmd], capture_output=True, text=True,
                              check=False, timeout=timeout)


# ---- measured ansible-playbook runs -------------------------------------------------------------

def _tree_rss_kib(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


class Result(t.NamedTuple):
    label: str
    rc: int
    wall: float
    cpu: float
    peak_mib: float
    run: ansible_output.Run
    output: str


def ansible_playbook(label: str, sandbox: Sandbox, *args: str, env: dict[str, str] | None = None) -> Result:
    cmd = ["ansible-playbook", "-i", sandbox.inventory, "-e", f"@{sandbox.secrets}", *args]
    environ = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks,ansible.posix.profile_roles",
                   PROFILE_ROLES_SUMMARY_ONLY="true", PROFILE_TASKS_TASK_OUTPUT_LIMIT="12",
                   ANSIBLE_DISPLAY_SKIPPED_HOSTS="true", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   **(env or {}))
    log(f"{label}: {' '.join(args)}")
    out = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, text=True)
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kib(proc.pid))
            done.wait(0.2)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    text = out.read()
    out.close()
    with open(os.path.join(sandbox.dir, f"{label.replace(' ', '_').replace('/', '_')}.log"), "w",
              encoding="utf-8") as f:
        f.write(text)
    result = Result(label, proc.returncode, wall, usage.ru_utime + usage.ru_stime, peak[0] / 1024,
                    ansible_output.parse(text), text)
    log(f"{label}: rc={result.rc} {wall:.1f}s {result.run.totals()}")
    return result


def stage_map() -> t.Callable[[str], str]:
    """Play name -> stage, from the stage playbooks site.yml imports."""
    plays: dict[str, str] = {}
    with open(os.path.join(ROOT, "playbooks", "site.yml"), encoding="utf-8") as f:
        for entry in yaml.safe_load(f):
            stage = entry["ansible.builtin.import_playbook"].rsplit(".", 1)[0]
            with open(os.path.join(ROOT, "playbooks", entry["ansible.builtin.import_playbook"]), encoding="utf-8") as g:
                for play in yaml.safe_load(g):
                    plays[play.get("name", "")] = stage
    return lambda name: plays.get(name, "?")


# ---- tables -------------------------------------------------------------------------------------

RUN_HEADER = ("run", "rc", "wall s", "tasks run", "skipped", "changed", "peak MiB", "CPU s")


def run_row(r: Result) -> list[t.Any]:
    tot = r.run.totals()
    return [r.label, r.rc, r.wall, tot["ok"], tot["skipped"], tot["changed"], r.peak_mib, r.cpu]


def stage_table(first: Result, noop: Result) -> str:
    stage_of = stage_map()
    a, b = first.run.by_stage(stage_of), noop.run.by_stage(stage_of)
    rows = []
    for stage in dict.fromkeys([*a, *b]):
        x = a.get(stage, {"seconds": 0.0, "ran": 0, "skipped": 0, "changed": 0})
        y = b.get(stage, {"seconds": 0.0, "ran": 0, "skipped": 0, "changed": 0})
        rows.append([stage, x["seconds"], int(x["ran"]), int(x["changed"]), y["seconds"], int(y["ran"]),
                     int(y["skipped"]), int(y["changed"]), f"{y['seconds'] / x['seconds']:.2f}" if x["seconds"] else "-"])
    return ansible_output.markdown_table(
        ("stage", "converge s", "ran", "changed", "no-op s", "ran", "skipped", "changed", "no-op/converge"), rows)


def role_table(first: Result, noop: Result) -> str:
    a, b = dict(first.run.roles), dict(noop.run.roles)
    rows = [[role, a.get(role, 0.0), b.get(role, 0.0), f"{b.get(role, 0.0) / a[role]:.2f}" if a.get(role) else "-"]
            for role in sorted(dict.fromkeys([*a, *b]), key=lambda r: -b.get(r, 0.0))]
    return ansible_output.markdown_table(("role (profile_roles)", "converge s", "no-op s", "no-op/converge"), rows)


def top_table(r: Result) -> str:
    return ansible_output.markdown_table((f"top tasks of the {r.label} (profile_tasks)", "s"), r.run.top_tasks)


# ---- phases -------------------------------------------------------------------------------------

def phase_site(workdir: str, gates: bool, first_chat: bool, proxy: bool) -> list[str]:
    sb = Sandbox("site", 1, workdir)
    site = os.path.join(ROOT, "playbooks", "site.yml")
    with machine_lock():
        try:
            sb.up()
            first = ansible_playbook("first converge", sb, site)
            if first.rc:
                sys.exit(first.output[-5000:])
            chat = phase_first_chat(sb) if first_chat else []
            noop = ansible_playbook("no-op re-run", sb, site)
            stage = ansible_playbook(f"{TAG_STAGE} alone (--tags {TAG_STAGE})", sb, site, "--tags", TAG_STAGE)
            extra = phase_gates(sb) if gates else []
            extra += phase_proxy(sb) if proxy else []
        finally:
            sb.down()
    ratio = noop.wall / first.wall
    out = ["## site.yml on one sandbox host (over SSH)", "",
           ansible_output.markdown_table(RUN_HEADER, [run_row(first), run_row(noop), run_row(stage)]), "",
           f"no-op / first converge: **{ratio:.2f}** (wall {noop.wall:.1f} s / {first.wall:.1f} s, goal <= 0.20), "
           f"no-op changed={noop.run.totals()['changed']}; {TAG_STAGE} alone / no-op site.yml: "
           f"{stage.wall / noop.wall:.2f}", "",
           "### per stage", "", stage_table(first, noop), "",
           "### per role", "", role_table(first, noop), "",
           "### where the no-op re-run spends its time", "", top_table(noop), ""]
    return out + chat + extra


QUESTION, FOLLOW_UP = "What is the capital of France?", "And what is the capital of Italy?"
# A reply goes into bench/results/*.md, which ansible-test sanity wants without Unicode quotes.
ASCII_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _timed_reply(ui, driver, text: str, timeout: float = 300) -> tuple[float, float, str]:
    """Sends `text` as a person does; seconds from Enter to the reply's first rendered words and to its
    last change (owui_browser.wait_reply: streaming done, then 3 s without a change), and the reply."""
    before = ui.send(driver, text)
    sent = time.monotonic()
    times: dict = {}
    reply = ui.wait_reply(driver, before, timeout=timeout, times=times)
    return times["first"] - sent, times["last"] - sent, reply.translate(ASCII_QUOTES)


def phase_first_chat(sb: Sandbox) -> list[str]:
    """Right after site.yml, as a person: headless chromium (molecule/e2e/tests/owui_browser.py) signs the
    admin in at the ingress's https:// URL (the name mapped to the host, the sandbox CA's root trusted in
    the browser's own NSS database, as test_browser.py does), opens a new chat with the default model and
    sends a question, then a follow-up; then a new chat after an Ollama restart (the model not loaded)."""
    sys.path.insert(0, os.path.join(ROOT, "molecule", "e2e", "tests"))
    import owui_browser as ui  # pylint: disable=import-outside-toplevel,import-error
    with open(sb.secrets, encoding="utf-8") as f:
        secrets = yaml.safe_load(f)
    name = SANDBOX_VARS["ailab_ingress_host"]
    home = os.path.join(sb.dir, "browser-home")
    args = ui.trust_site(name, sb.addresses[0], os.path.join(sb.dir, "pebble-root.pem"), home)
    url = f"https://{name}"
    rows = []
    driver = ui.start(1280, 800, extra_args=args, home=home)
    try:
        ui.wait_healthy(url, timeout=120)
        t = time.monotonic()
        ui.sign_in(driver, url, secrets["openwebui_admin_email"], secrets["openwebui_admin_password"])
        ui.new_chat(driver, url)
        rows.append(["sign in and a new chat with the default model", "", f"{time.monotonic() - t:.1f}", ""])
        for label, text in (("first message, right after site.yml", QUESTION), ("follow-up in the same chat", FOLLOW_UP)):
            first, done, reply = _timed_reply(ui, driver, text)
            rows.append([label, f"{first:.1f}", f"{done:.1f}", reply[:60].replace("|", "/")])
        sb.exec(0, "systemctl", "restart", "ollama")
        _wait_ollama(sb)
        ui.new_chat(driver, url)
        first, done, reply = _timed_reply(ui, driver, QUESTION)
        rows.append(["new chat after an ollama restart (cold model)", f"{first:.1f}", f"{done:.1f}",
                     reply[:60].replace("|", "/")])
    finally:
        driver.quit()
    return ["## first chat in the browser (headless chromium)", "",
            ansible_output.markdown_table(("step", "first words s", "complete s", "reply (first 60 characters)"), rows),
            "", "Seconds from Enter; complete = the reply's last change (the page then shows it unchanged for 3 s).", ""]


def _ttft(sb: Sandbox, model: str) -> float:
    """Seconds from the request to the first streamed chunk of /api/generate, measured on the host."""
    script = ("import json,time,urllib.request as u\n"
              f"r=u.Request('http://127.0.0.1:11434/api/generate',data=json.dumps({{'model':'{model}',"
              "'prompt':'User: Hello\\nAssistant:','stream':True,'options':{'num_predict':8}}).encode(),"
              "headers={'Content-Type':'application/json'})\n"
              "t=time.monotonic()\nwith u.urlopen(r,timeout=600) as f:\n f.readline()\n"
              " print(time.monotonic()-t)\n for _ in f: pass\n")
    proc = sb.exec(0, "python3", "-c", script)
    if proc.returncode:
        raise RuntimeError(f"ttft: {proc.stderr}")
    return float(proc.stdout.strip())


def _wait_ollama(sb: Sandbox) -> None:
    for _attempt in range(120):
        if sb.exec(0, "python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:11434/api/version')"
                   ).returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("ollama did not come back")


def phase_gates(sb: Sandbox) -> list[str]:
    """On the converged site host: gates healthy and with Ollama stopped; first token warm and cold."""
    verify = os.path.join(ROOT, "playbooks", "verify.yml")
    with open(os.path.join(ROOT, "roles", "verify", "defaults", "main.yml"), encoding="utf-8") as f:
        defaults = yaml.safe_load(f)
    deadline, interval = 60, defaults.get("verify_interval", 2)
    model = "tiny:latest"
    warm = _ttft(sb, model)
    healthy = ansible_playbook("verify, healthy stack", sb, verify)
    sb.exec(0, "systemctl", "stop", "ollama")
    stopped = ansible_playbook(f"verify, ollama stopped (verify_deadline={deadline})", sb, verify,
                               "-e", f"verify_deadline={deadline}")
    sb.exec(0, "systemctl", "start", "ollama")
    _wait_ollama(sb)
    cold = _ttft(sb, model)
    sb.exec(0, "systemctl", "restart", "ollama")
    _wait_ollama(sb)
    cold2 = _ttft(sb, model)
    rows = [run_row(healthy), run_row(stopped)]
    return ["## gates", "", ansible_output.markdown_table(RUN_HEADER, rows), "",
            f"ollama stopped: verdict (rc={stopped.rc}) after {stopped.wall:.1f} s; expected at most "
            f"healthy run + deadline + one interval = {healthy.wall:.1f} + {deadline} + {interval} = "
            f"{healthy.wall + deadline + interval:.1f} s", "",
            ansible_output.markdown_table(("first token of tiny (stream, 8 tokens)", "s"),
                                          [["warm, right after site.yml (model loaded)", warm],
                                           ["cold, after the ollama start", cold],
                                           ["cold, after an ollama restart", cold2]]), "",
            f"cold / warm: {cold2 / warm:.1f}x", ""]


def _probe(sb: Sandbox, mode: str, settings: dict) -> dict:
    """bench/proxy_probe.py run on the site host, its settings (the admin's password) on stdin."""
    podman("cp", os.path.join(HERE, "proxy_probe.py"), f"{sb.names[0]}:/tmp/proxy_probe.py")
    proc = subprocess.run(["podman", "exec", "-i", sb.names[0], "python3", "/tmp/proxy_probe.py", mode],
                          input=json.dumps(settings), capture_output=True, text=True, check=False, timeout=1800)
    if proc.returncode:
        raise RuntimeError(f"proxy probe {mode}: {proc.stdout[-1000:]}{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def _ms(values: list[float], q: str) -> float:
    return 1000 * (statistics.median(values) if q == "median" else statistics.quantiles(values, n=10)[8])


def phase_proxy(sb: Sandbox, rounds: int = 20) -> list[str]:
    """On the converged site host: what the ingress (nginx, https) adds to the sign-in page and to a
    streamed chat answer against Open WebUI directly on loopback, measured on the host itself in one
    interleaved loop; then a forced certificate renewal (certbot's deploy hook reloads nginx) under a
    request loop."""
    with open(sb.secrets, encoding="utf-8") as f:
        secrets = yaml.safe_load(f)
    host, ca = SANDBOX_VARS["ailab_ingress_host"], SANDBOX_VARS["verify_tls_ca_path"]
    settings = {"direct": "http://127.0.0.1:8080", "proxy": f"https://{host}", "ca": ca, "rounds": rounds,
                "model": "tiny:latest", "email": secrets["openwebui_admin_email"],
                "password": secrets["openwebui_admin_password"]}
    lat = _probe(sb, "latency", settings)
    rows = []
    for key, label in (("page", "sign-in page (GET /)"), ("first", "streamed chat: first chunk"),
                       ("total", "streamed chat: complete answer")):
        d, p = lat["direct"][key], lat["proxy"][key]
        rows.append([label, _ms(d, "median"), _ms(p, "median"), _ms(p, "median") - _ms(d, "median"),
                     _ms(d, "p90"), _ms(p, "p90"), _ms(p, "median") / _ms(d, "median")])
    renew_cmd = ["sh", "-c", "env $(systemctl show -p Environment --value certbot.service) "
                 "certbot renew --force-renewal --non-interactive --no-random-sleep-on-renew"]
    ren = _probe(sb, "renewal", {"proxy": f"https://{host}", "ca": ca, "renew": renew_cmd})
    if ren["renew_rc"]:
        raise RuntimeError(f"certbot renew failed: {ren['renew_output']}")
    renew_rows = [[kind, *c] for kind, c in ren["counts"].items()]
    return ["## the ingress: latency it adds, and a renewal under load", "",
            f"On the site host, {rounds} interleaved rounds (after one warm-up each), one kept-alive "
            f"connection per path: direct = http://127.0.0.1:8080 (Open WebUI), proxy = https://{host} (nginx).", "",
            ansible_output.markdown_table(("request", "direct median ms", "proxy median ms", "added median ms",
                                           "direct p90 ms", "proxy p90 ms", "proxy / direct"), rows), "",
            f"Forced renewal of every certificate (`certbot renew --force-renewal`, {ren['renew_s']:.1f} s; its deploy "
            f"hook reloads nginx) while four loops request /health through nginx: new certificate served: "
            f"**{'yes' if ren['new_certificate'] else 'NO'}**, same nginx master (no restart): "
            f"**{'yes' if ren['same_master'] else 'NO'}**.", "",
            ansible_output.markdown_table(("loop (2 each)", "requests", "failed", "reconnects"), renew_rows), "",
            "reconnects = a kept-alive connection the reload closed between two requests, sent again on a new "
            "connection as a browser does." + (f" Errors: {'; '.join(ren['errors'])}" if ren["errors"] else ""), ""]


def phase_fleet(workdir: str, sizes: list[int]) -> list[str]:
    """preflight + hardening no-op against 1..N hosts (converged once), Ansible's default forks (5) vs forks=N."""
    playbooks = [os.path.join(ROOT, "playbooks", p) for p in ("preflight.yml", "hardening.yml")]
    n = max(sizes)
    sb = Sandbox("fleet", n, workdir)
    rows = []
    with machine_lock():
        try:
            sb.up()
            first = ansible_playbook(f"first converge, {n} hosts", sb, *playbooks, "--forks", str(n))
            if first.rc:
                sys.exit(first.output[-5000:])
            rows.append([n, n, first.wall, first.wall / n, first.cpu, first.cpu / n, first.run.totals()["changed"],
                         "first converge"])
            for size in sizes:
                limit = ",".join(sb.names[:size])
                for forks in dict.fromkeys([5, size]):
                    r = ansible_playbook(f"no-op {size} hosts forks={forks}", sb, *playbooks, "--limit", limit,
                                         "--forks", str(forks))
                    rows.append([size, forks, r.wall, r.wall / size, r.cpu, r.cpu / size, r.run.totals()["changed"],
                                 f"no-op, rc={r.rc}, peak {r.peak_mib:.0f} MiB"])
        finally:
            sb.down()
    return ["## fleet: preflight + hardening no-op", "",
            ansible_output.markdown_table(("hosts", "forks", "wall s", "wall s / host", "CPU s", "CPU s / host",
                                           "changed", "run"), rows), ""]


def phase_module(name: str) -> list[str]:
    """bench/<name>.py's table (each runs its own containers or local services)."""
    module = __import__(name)
    with machine_lock():
        table = module.table()
    return [f"## {name}", "", table, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--phases", default="site,first_chat,gates,proxy,fleet,hardening_rerun,ollama_noop")
    parser.add_argument("--fleet", default="1,4,8")
    parser.add_argument("--output", default=os.path.join(HERE, "results",
                                                         f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}.md"))
    args = parser.parse_args()
    phases = args.phases.split(",")
    lines = [f"# bench {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"{os.cpu_count()} CPUs (shared), image {IMAGE}, ansible-core "
             f"{subprocess.run(['ansible', '--version'], capture_output=True, text=True, check=False).stdout.split(']')[0].split('core ')[-1]}, "
             f"phases: {', '.join(phases)}", ""]
    workdir = tempfile.mkdtemp(prefix="ailab-bench-")
    try:
        print("\n".join(lines), flush=True)
        for phase in phases:
            if phase == "site":
                new = phase_site(workdir, gates="gates" in phases, first_chat="first_chat" in phases,
                                 proxy="proxy" in phases)
            elif phase in ("gates", "first_chat", "proxy"):
                continue  # on the site phase's host, right after its runs
            elif phase == "fleet":
                new = phase_fleet(workdir, [int(x) for x in args.fleet.split(",")])
            else:
                new = phase_module(phase)
            print("\n".join(new), flush=True)
            lines += new
    finally:
        podman("network", "rm", NETWORK, check=False)
        keep = os.environ.get("BENCH_KEEP_LOGS")
        if keep:  # the ansible-playbook outputs only (not the keys and secrets beside them)
            shutil.copytree(workdir, keep, dirs_exist_ok=True, ignore=lambda d, names: [
                n for n in names if not n.endswith(".log") and not os.path.isdir(os.path.join(d, n))])
        shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
