"""TLS: casyncio's TLS echo server against Go crypto/tls, Node tls and
uvloop with ssl (asyncio streams), driven by one OpenSSL load client
(bench/load/tls_client.c) on the other core.

  echo 64 B x 100 connections: round trips/s and the server's user and
      system CPU microseconds per round trip (/proc/PID/stat)
  full handshakes (TLS 1.3, ECDSA P-256, X25519), 16 at a time: handshakes
      per second and the server's CPU per handshake

The load client does as much work per handshake as the server (key
exchange plus a signature check against the server's one signature), so
on two cores the handshake rate is often the client's limit: the server's
CPU per handshake is the fair figure, and its inverse ("capacity") is
what the goal compares.
"""
import os
import shutil
import statistics
import subprocess

NAME = "tls"


def _build(ctx):
    out = ctx.peers_out
    os.makedirs(out, exist_ok=True)
    have = set()
    ssl = subprocess.run(["pkg-config", "--cflags", "--libs", "openssl"],
                         capture_output=True, text=True)
    if ssl.returncode != 0:
        return None, "pkg-config cannot find openssl (libssl-dev)"
    client = os.path.join(out, "tls_client")
    ctx.sh([os.environ.get("CC", "cc"), "-O2", "-Wall", "-Wextra", "-o", client,
            os.path.join(ctx.root, "bench", "load", "tls_client.c")]
           + ssl.stdout.split())
    if "go" in ctx.avail and shutil.which("go"):
        env = dict(os.environ, GOCACHE=os.path.join(ctx.build, "go-cache"),
                   GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
        ctx.sh(["go", "build", "-o", os.path.join(out, "go_tls_echo"),
                os.path.join(ctx.root, "bench", "peers", "go", "tls_echo.go")],
               env=env)
        have.add("go")
    return client, have


def _cert(ctx):
    d = os.path.join(ctx.build, "tls-bench")
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    if not os.path.exists(cert):
        ctx.sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                cert, "-subj", "/CN=localhost", "-days", "30"],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def _servers(ctx, have, cert, key):
    peers = ctx.peers_out
    root = os.path.join(ctx.root, "bench", "peers")
    servers = [("casyncio", [ctx.bin_("bench_tls_echo_server")])]
    if "go" in have:
        servers.append(("Go crypto/tls", [os.path.join(peers, "go_tls_echo")]))
    if "node" in ctx.avail:
        servers.append(("Node tls", ["node",
                                     os.path.join(root, "node", "tls_echo.js")]))
    if "uvloop" in ctx.avail:
        servers.append(("uvloop streams+ssl",
                        [ctx.python,
                         os.path.join(root, "python", "tls_echo_streams.py")]))
    # Every server takes PORT CERT KEY.
    return [(label, lambda port, c=cmd: c + [str(port), cert, key])
            for label, cmd in servers]


def _median(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def _fmt(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def run(ctx):
    client, have = _build(ctx)
    if client is None:
        return {"text": f"TLS: skipped ({have})", "goals": []}
    cert, key = _cert(ctx)
    reps = ctx.reps or (1 if ctx.quick else 3)
    echo_s = 0.5 if ctx.quick else 5.0
    hs_s = 0.5 if ctx.quick else 3.0
    configs = [("echo", ["echo", "127.0.0.1", None, "100", "64", str(echo_s)]),
               ("handshake", ["handshake", "127.0.0.1", None, "16", str(hs_s)])]
    started = []
    for label, make in _servers(ctx, have, cert, key):
        port = ctx.free_port()
        proc = subprocess.Popen(ctx.pinned(make(port), 0),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if ctx.wait_listening(port, proc, 15):
            started.append((label, port, proc))
        else:
            ctx.errors.append(("tls", label, label == "casyncio",
                               "server did not listen"))
            proc.kill()
            proc.wait()
    runs = {(b, label): [] for b, _ in configs for label, _, _ in started}
    try:
        for bench, args in configs:
            ctx.log(f"run: tls {bench} ({reps} x {len(started)} servers)")
            for _ in range(reps):
                for label, port, proc in started:
                    cmd = [client] + [str(port) if a is None else a
                                      for a in args] + [str(proc.pid)]
                    lines, err = ctx.run_program(cmd, 1, timeout=120)
                    fields = next(iter(lines.values()), None) if lines else None
                    if fields is None:
                        ctx.errors.append((f"tls {bench}", label,
                                           label == "casyncio",
                                           err or "no line"))
                        continue
                    runs[(bench, label)].append(fields)
    finally:
        for _, _, proc in started:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    table = {}
    for (bench, label), rs in runs.items():
        if rs:
            user, sysc = _median(rs, "server_user_us"), _median(rs,
                                                              "server_sys_us")
            table[(bench, label)] = {
                "ops_s": _median(rs, "ops_s"), "user_us": user,
                "sys_us": sysc, "client_cpu": _median(rs, "client_cpu"),
                "runs": rs}
    lines = [f"TLS (TLS 1.3, ECDSA P-256; server on CPU 0, OpenSSL load "
             f"client on CPU 1; median of {reps}{', quick: not figures' if ctx.quick else ''})",
             f"  {'echo 64 B x 100':24} {'rt/s':>10} {'user us/rt':>11} "
             f"{'sys us/rt':>10} {'client':>7}"]
    for label, _, _ in started:
        t = table.get(("echo", label))
        if t:
            lines.append(f"  {label:24} {_fmt(t['ops_s'], 0):>10} "
                         f"{_fmt(t['user_us'], 2):>11} {_fmt(t['sys_us'], 2):>10} "
                         f"{_fmt(t['client_cpu'], 2):>7}")
    lines.append(f"  {'full handshakes, 16 at once':24} {'hs/s':>10} "
                 f"{'cpu us/hs':>11} {'capacity':>10} {'client':>7}")
    for label, _, _ in started:
        t = table.get(("handshake", label))
        if t and t["user_us"] is not None:
            cpu = t["user_us"] + (t["sys_us"] or 0)
            t["capacity"] = 1e6 / cpu if cpu > 0 else None
            lines.append(f"  {label:24} {_fmt(t['ops_s'], 0):>10} "
                         f"{_fmt(cpu, 1):>11} {_fmt(t['capacity'], 0):>10} "
                         f"{_fmt(t['client_cpu'], 2):>7}")
    lines.append("  (capacity: handshakes/s the server's core could do, "
                 "1 / its CPU per handshake; client 1.00: the client is the "
                 "limit of hs/s)")

    goals = []

    def get(bench, label, key):
        t = table.get((bench, label))
        return t.get(key) if t else None

    c_user = get("echo", "casyncio", "user_us")
    for peer, factor, text in [
            ("Go crypto/tls", 1.0,
             "TLS echo 64 B x 100: server user CPU per round trip <= Go's"),
            ("uvloop streams+ssl", 0.5,
             "TLS echo 64 B x 100: server user CPU per round trip <= half "
             "of uvloop's")]:
        p_user = get("echo", peer, "user_us")
        if c_user is None or p_user is None:
            goals.append((text, None, None))
        else:
            goals.append((text, f"{c_user:.2f} us vs {p_user:.2f} us "
                          f"({c_user / p_user:.2f}x)",
                          c_user <= factor * p_user))
    c_cap, g_cap = (get("handshake", "casyncio", "capacity"),
                    get("handshake", "Go crypto/tls", "capacity"))
    text = "full TLS handshakes/s (ECDSA P-256) >= Go's"
    if c_cap is None or g_cap is None:
        goals.append((text, None, None))
    else:
        goals.append((text, f"capacity {c_cap:,.0f} vs {g_cap:,.0f} hs/s; "
                      f"achieved {get('handshake', 'casyncio', 'ops_s'):,.0f}"
                      f" vs {get('handshake', 'Go crypto/tls', 'ops_s'):,.0f}",
                      c_cap >= g_cap))
    data = {f"{b}/{l}": {k: v for k, v in t.items()}
            for (b, l), t in table.items()}
    return {"text": "\n".join(lines), "goals": goals, "data": data}
