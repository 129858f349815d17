"""HTTP client: 20,000 GETs of a 13-byte body, 100 in flight, keep-alive.

Every client runs pinned to CPU 1 against the same server pinned to CPU 0:
bench/load/http_server.c, a one-thread epoll HTTP/1.1 server that does
nothing but answer (several times faster than any client here, so the
clients are what is measured).  The clients, interleaved repetition by
repetition so that noise falls on all alike:

  casyncio         bench/bench_http_client.c: one cio_http_session, 100
                   tasks (libcurl's multi interface on the casyncio loop)
  Go net/http      bench/peers/go/http_client.go: 100 goroutines, one
                   http.Client keeping 100 idle connections
  Node fetch       bench/peers/node/http_client.js: 100 async loops
  aiohttp+uvloop   bench/peers/python/http_client_aiohttp.py: Debian's
                   python3-aiohttp, one ClientSession, 100 tasks
  libcurl alone    bench/peers/libcurl/http_client_multi.c: libcurl's own
                   multi loop, no casyncio: the floor under casyncio

Figures: requests per second (wall clock) and the client's user CPU
microseconds per request (getrusage over the run).  Goals: casyncio's
requests/s at least Go's, and its user CPU per request at most half of
Go's.
"""
import os
import shutil
import statistics
import subprocess

NAME = "http_client"

SERVER_SRC = os.path.join("bench", "load", "http_server.c")
PEERS = os.path.join("bench", "peers")


def have_aiohttp(python):
    return os.path.exists(python) and subprocess.run(
        [python, "-c", "import aiohttp, uvloop"],
        capture_output=True).returncode == 0


def build(ctx):
    """The server and the compiled peers; returns {label: argv prefix}."""
    out = ctx.peers_out
    os.makedirs(out, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    server = os.path.join(out, "http_server")
    ctx.sh([cc, "-O2", "-Wall", "-Wextra", "-o", server,
            os.path.join(ctx.root, SERVER_SRC)])
    clients = {}
    bench = ctx.bin_("bench_http_client")
    if os.path.exists(bench):
        clients["casyncio"] = [bench]
    if "go" in ctx.avail:
        go = os.path.join(out, "go_http_client")
        env = dict(os.environ, GOCACHE=os.path.join(ctx.build, "go-cache"),
                   GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
        ctx.sh(["go", "build", "-o", go,
                os.path.join(ctx.root, PEERS, "go", "http_client.go")],
               env=env)
        clients["Go net/http"] = [go]
    if "node" in ctx.avail:
        clients["Node fetch"] = [
            "node", os.path.join(ctx.root, PEERS, "node", "http_client.js")]
    if have_aiohttp(ctx.python):
        clients["aiohttp+uvloop"] = [
            ctx.python,
            os.path.join(ctx.root, PEERS, "python", "http_client_aiohttp.py")]
    pkg = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl"],
                         capture_output=True, text=True)
    if pkg.returncode == 0:
        raw = os.path.join(out, "libcurl_http_client_multi")
        ctx.sh([cc, "-O2", "-Wall", "-Wextra", "-o", raw,
                os.path.join(ctx.root, PEERS, "libcurl",
                             "http_client_multi.c")] + pkg.stdout.split())
        clients["libcurl alone"] = [raw]
    return server, clients


def med(vals):
    return statistics.median(vals) if vals else None


def fmt(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def run(ctx):
    n = 2000 if ctx.quick else 20000
    conc = 100
    reps = ctx.reps or 5
    server, clients = build(ctx)
    missing = [c for c in ["casyncio", "Go net/http", "Node fetch",
                           "aiohttp+uvloop"] if c not in clients]
    port = ctx.free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen(ctx.pinned([server, str(port)], 0),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    runs = {label: [] for label in clients}
    try:
        if not ctx.wait_listening(port, proc, 10):
            ctx.errors.append((NAME, "casyncio", True,
                               "bench/load/http_server did not listen"))
            return {"text": "http_client: the server did not start"}
        # One unmeasured round warms caches, JITs and the server.
        for rep in range(reps + (0 if ctx.quick else 1)):
            for label, cmd in clients.items():
                lines, err = ctx.run_program(
                    cmd + [url, str(n), str(conc)], 1, timeout=300)
                fields = None
                if lines:
                    fields = next((f for name, f in lines.items()
                                   if name.startswith("http_client/")), None)
                if fields is None:
                    ctx.errors.append((NAME, label, label == "casyncio",
                                       err or "no http_client/ line"))
                    continue
                if rep > 0 or ctx.quick:
                    runs[label].append(fields)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()

    rows, data = [], {}
    for label, rs in runs.items():
        rps = [r["ops_s"] for r in rs]
        user = [r["user_us"] for r in rs if "user_us" in r]
        sys_ = [r["sys_us"] for r in rs if "sys_us" in r]
        data[label] = {"req_s": rps, "user_us": user, "sys_us": sys_}
        rows.append((label, med(rps), min(rps, default=None),
                     max(rps, default=None), med(user), med(sys_)))
    ours = data.get("casyncio", {})
    go = data.get("Go net/http", {})
    lines = [f"HTTP client: {n:,} GETs of a 13-byte body, {conc} in flight, "
             f"keep-alive; server bench/load/http_server.c on CPU 0, "
             f"clients on CPU 1; medians of {reps}",
             f"  {'client':<16} {'req/s':>9} {'[min-max]':>17} "
             f"{'user us/req':>12} {'sys us/req':>11} {'casyncio/peer':>14}"]
    ours_rps = med(ours.get("req_s", []))
    for label, rps, lo, hi, user, sys_ in rows:
        ratio = (f"{ours_rps / rps:.2f}x" if ours_rps and rps
                 and label != "casyncio" else "")
        lines.append(f"  {label:<16} {fmt(rps):>9} "
                     f"{'[' + fmt(lo) + '-' + fmt(hi) + ']':>17} "
                     f"{fmt(user, 1):>12} {fmt(sys_, 1):>11} {ratio:>14}")
    for label in missing:
        lines.append(f"  {label:<16} skipped (not installed)")
    goals = []
    if ours.get("req_s") and go.get("req_s"):
        o, g = med(ours["req_s"]), med(go["req_s"])
        goals.append(("http_client: requests/s at least Go net/http's",
                      f"{o:,.0f} vs {g:,.0f} req/s ({o / g:.2f}x)", o >= g))
    else:
        goals.append(("http_client: requests/s at least Go net/http's",
                      None, None))
    if ours.get("user_us") and go.get("user_us"):
        o, g = med(ours["user_us"]), med(go["user_us"])
        goals.append(("http_client: client user CPU per request at most "
                      "half of Go's",
                      f"{o:.1f} vs {g:.1f} us ({o / g:.2f}x)", o <= g / 2))
    else:
        goals.append(("http_client: client user CPU per request at most "
                      "half of Go's", None, None))
    return {"text": "\n".join(lines), "goals": goals,
            "data": {"n": n, "concurrency": conc, "series": data}}
