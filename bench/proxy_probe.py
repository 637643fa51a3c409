"""Runs ON a converged sandbox host (python3 of Debian, standard library only), fed by bench/site.py's
proxy phase: its settings arrive as JSON on stdin (they hold the admin's password), its results
leave as JSON on stdout.

  latency   the same requests to Open WebUI directly (loopback) and through the ingress (nginx,
            https), interleaved round by round so both see the same load: the sign-in page (GET /)
            and a streamed chat answer (POST /api/chat/completions, stream): seconds to the first
            chunk and to the end. One kept-alive connection per path, as a browser keeps one.
  renewal   a request loop through the ingress (new connections, and one kept-alive connection)
            while `certbot renew --force-renewal` runs with its deploy hook (nginx reload): how many
            requests were made and how many failed, and whether nginx served the new certificate
            without a restart (its master PID).
"""
from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse


def connection(url: str, ca: str) -> http.client.HTTPConnection:
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        return http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=600,
                                           context=ssl.create_default_context(cafile=ca))
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=600)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None,
            token: str = "") -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def sign_in(conn: http.client.HTTPConnection, email: str, password: str) -> str:
    status, data = request(conn, "POST", "/api/v1/auths/signin", {"email": email, "password": password})
    if status != 200:
        raise SystemExit(f"sign-in answered {status}: {data[:200]!r}")
    return json.loads(data)["token"]


def page(conn: http.client.HTTPConnection) -> float:
    t = time.monotonic()
    status, data = request(conn, "GET", "/")
    if status != 200 or b"<html" not in data.lower():
        raise SystemExit(f"GET / answered {status}")
    return time.monotonic() - t


def stream(conn: http.client.HTTPConnection, token: str, model: str) -> tuple[float, float]:
    """Seconds to the first data chunk of a streamed answer and to its end."""
    body = {"model": model, "stream": True, "max_tokens": 16,
            "messages": [{"role": "user", "content": "Name three colours."}]}
    t = time.monotonic()
    conn.request("POST", "/api/chat/completions", body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"chat answered {resp.status}: {resp.read()[:200]!r}")
    first = None
    while True:
        line = resp.readline()
        if not line:
            break
        if first is None and line.startswith(b"data:"):
            first = time.monotonic() - t
    if first is None:
        raise SystemExit("the streamed answer had no data chunk")
    return first, time.monotonic() - t


def latency(cfg: dict) -> dict:
    paths = {"direct": cfg["direct"], "proxy": cfg["proxy"]}
    conns = {k: connection(u, cfg["ca"]) for k, u in paths.items()}
    tokens = {k: sign_in(c, cfg["email"], cfg["password"]) for k, c in conns.items()}
    out: dict = {k: {"page": [], "first": [], "total": []} for k in paths}
    for k, c in conns.items():  # warm both (model loaded, connections open) before measuring
        page(c)
        stream(c, tokens[k], cfg["model"])
    for i in range(cfg["rounds"]):
        for k in (("direct", "proxy") if i % 2 == 0 else ("proxy", "direct")):
            out[k]["page"].append(page(conns[k]))
            first, total = stream(conns[k], tokens[k], cfg["model"])
            out[k]["first"].append(first)
            out[k]["total"].append(total)
    return out


def served(url: str, ca: str) -> str:
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=10, context=ctx)
    conn.connect()
    serial = conn.sock.getpeercert()["serialNumber"]
    conn.close()
    return serial


def nginx_pid() -> str:
    with open("/run/nginx.pid", encoding="utf-8") as f:
        return f.read().strip()


def renewal(cfg: dict) -> dict:
    url, ca = cfg["proxy"], cfg["ca"]
    # requests, failed, reconnects (a kept-alive connection the reload closed between two requests:
    # a browser then sends the request again on a new connection, and so does this loop, once)
    counts = {"new connection": [0, 0, 0], "kept-alive connection": [0, 0, 0]}
    errors: list[str] = []
    stop, lock = threading.Event(), threading.Lock()

    def get(conn: http.client.HTTPConnection) -> str:
        try:
            status, _data = request(conn, "GET", "/health")
            return "" if status == 200 else f"HTTP {status}"
        except (OSError, http.client.HTTPException) as e:
            return f"{type(e).__name__}: {e}"

    def loop(kind: str) -> None:
        conn = connection(url, ca)
        while not stop.is_set():
            error, reconnect = get(conn), 0
            if error and kind == "kept-alive connection" and "HTTP" not in error:
                conn.close()
                conn, reconnect = connection(url, ca), 1
                error = get(conn)
            if error:
                errors.append(f"{kind}: {error}")
            with lock:
                c = counts[kind]
                c[0], c[1], c[2] = c[0] + 1, c[1] + bool(error), c[2] + reconnect
            if kind == "new connection" or error:
                conn.close()
                conn = connection(url, ca)

    before = {"serial": served(url, ca), "pid": nginx_pid()}
    threads = [threading.Thread(target=loop, args=(k,)) for k in counts for _copy in range(2)]
    for th in threads:
        th.start()
    time.sleep(2)
    t = time.monotonic()
    renew = subprocess.run(cfg["renew"], capture_output=True, text=True, check=False)
    renew_s = time.monotonic() - t
    deadline = time.monotonic() + 20   # the deploy hook's reload: old workers finish, new ones serve
    while served(url, ca) == before["serial"] and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    stop.set()
    for th in threads:
        th.join()
    after = {"serial": served(url, ca), "pid": nginx_pid()}
    return {"renew_rc": renew.returncode, "renew_output": (renew.stdout + renew.stderr)[-2000:],
            "renew_s": renew_s, "counts": counts, "errors": errors[:10],
            "new_certificate": after["serial"] != before["serial"], "same_master": after["pid"] == before["pid"]}


if __name__ == "__main__":
    settings = json.load(sys.stdin)
    print(json.dumps({"latency": latency, "renewal": renewal}[sys.argv[1]](settings)))
