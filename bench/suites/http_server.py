"""HTTP servers under wrk: casyncio against the peers, side by side.

    bench/run --only http_server [--quick] [--reps N]

wrk (one thread, 100 keep-alive connections) drives two routes on each
server: GET / ("Hello, World!" as text/plain) and GET /json (an object
serialised per request).  The servers:

    casyncio            build-bench/bench/bench_http_server PORT 1
                        (handlers run in their connection's task: the
                        default)
    casyncio cancel     the same with cancel_on_disconnect: each handler
                        in a task of its own, cancelled if its client
                        leaves
    casyncio 2 workers  bench_http_server PORT 2, on both CPUs
    libuv (no parser)   bench/peers/libuv/http_uv.c: canned responses
    Go net/http         bench/peers/go/http.go
    Node http           bench/peers/node/http.js
    uvloop + httptools  bench/peers/python/http_httptools.py

Single-loop servers run pinned to CPU 0 and wrk to CPU 1, as bench/run's
echo does (Go then runs with GOMAXPROCS=1).  Figures per run: requests/s
from wrk, the server's user and system CPU microseconds per request from
/proc/PID/stat, and the share of a CPU wrk used (1.00: the client is the
limit).  On a 2-CPU machine two workers share their CPUs with wrk, so
their figure is reported but the scaling goal is only judged when wrk
did not saturate its CPU and a CPU was free for each worker.
"""
import os
import re
import resource
import shutil
import statistics
import subprocess
import time

NAME = "http_server"
ROUTES = [("/", "GET /"), ("/json", "GET /json")]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_ticks(pid):
    """(utime, stime) of process `pid`, all threads, in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]), int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def build_peers(ctx):
    """Build the C and Go peers; return {label: argv without the port}."""
    out = ctx.peers_out
    os.makedirs(out, exist_ok=True)
    peers = os.path.join(ctx.root, "bench", "peers")
    cmds = {}
    if "libuv" in ctx.avail:
        uv = subprocess.run(["pkg-config", "--cflags", "--libs", "libuv"],
                            capture_output=True, text=True).stdout.split()
        exe = os.path.join(out, "http_uv")
        ctx.sh([os.environ.get("CC", "cc"), "-O2", "-Wall", "-Wextra", "-o",
                exe, os.path.join(peers, "libuv", "http_uv.c")] + uv)
        cmds["libuv (no parser)"] = [exe]
    if "go" in ctx.avail:
        exe = os.path.join(out, "go_http")
        env = dict(os.environ, GOCACHE=os.path.join(ctx.build, "go-cache"),
                   GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
        ctx.sh(["go", "build", "-o", exe,
                os.path.join(peers, "go", "http.go")], env=env)
        cmds["Go net/http"] = [exe]
    if "node" in ctx.avail:
        cmds["Node http"] = ["node", os.path.join(peers, "node", "http.js")]
    if "uvloop" in ctx.avail and subprocess.run(
            [ctx.python, "-c", "import httptools"],
            capture_output=True).returncode == 0:
        cmds["uvloop + httptools"] = [
            ctx.python, os.path.join(peers, "python", "http_httptools.py")]
    return cmds


def servers(ctx, peers):
    """(label, argv without port, extra args, cpus) of every server."""
    exe = ctx.bin_("bench_http_server")
    out = []
    if os.path.exists(exe):
        out += [("casyncio", [exe], ["1"], "0"),
                ("casyncio cancel", [exe], ["1", "cancel"], "0"),
                ("casyncio 2 workers", [exe], ["2"], "0,1")]
    for label, cmd in peers.items():
        out.append((label, cmd, [], "0"))
    return out


def start(ctx, label, cmd, extra, cpus):
    port = ctx.free_port()
    argv = cmd + [str(port)] + extra
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        argv = ["taskset", "-c", cpus] + argv
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    if not ctx.wait_listening(port, proc, 15):
        err = proc.stderr.read().decode(errors="replace")[-300:] \
            if proc.poll() is not None else "did not listen"
        proc.kill()
        proc.wait()
        return None, err
    return (proc, port), None


WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(\w+)")


def wrk(ctx, pid, port, path, seconds):
    """One wrk run: {rps, user_us, sys_us, client_cpu} or an error text."""
    url = f"http://127.0.0.1:{port}{path}"
    argv = ctx.pinned(["wrk", "-t1", "-c100", f"-d{seconds}s", url], 1)
    t0 = proc_ticks(pid)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=seconds + 60)
    wall = time.monotonic() - start
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t1 = proc_ticks(pid)
    if p.returncode != 0:
        return None, (p.stderr or p.stdout).strip()[-300:]
    rps = WRK_RPS.search(p.stdout)
    total = WRK_TOTAL.search(p.stdout)
    if rps is None or total is None:
        return None, "no figures in wrk's output"
    if "Non-2xx" in p.stdout or "Socket errors" in p.stdout:
        bad = [l.strip() for l in p.stdout.splitlines()
               if "Non-2xx" in l or "Socket errors" in l]
        return None, "; ".join(bad)
    n = int(total.group(1))
    out = {"rps": float(rps.group(1)), "requests": n,
           "client_cpu": ((r1.ru_utime - r0.ru_utime) +
                          (r1.ru_stime - r0.ru_stime)) / wall}
    if t0 and t1 and n > 0:
        out["user_us"] = (t1[0] - t0[0]) * 1e6 / CLK_TCK / n
        out["sys_us"] = (t1[1] - t0[1]) * 1e6 / CLK_TCK / n
    return out, None


def stat(runs, key):
    vals = [r[key] for r in runs if key in r]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "values": vals}


def fmt(x, digits=2):
    if x is None:
        return "-"
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def table(results, seconds, reps):
    lines = [f"HTTP server: wrk -t1 -c100 keep-alive, {seconds:g} s x {reps}; "
             "servers on CPU 0 (2 workers: CPUs 0-1), wrk on CPU 1",
             "requests/s (higher is better), server CPU us per request "
             "(lower is better), wrk's CPU share (1.00: client-bound)"]
    for path, title in ROUTES:
        lines.append(f" {title}")
        lines.append(f"  {'':22} {'req/s':>9} {'min-max':>21} {'user us':>8} "
                     f"{'sys us':>7} {'client':>6}  casyncio/peer req/s")
        base = results.get("casyncio", {}).get(path)
        for label, routes in results.items():
            r = routes.get(path)
            if not r or not r["rps"]:
                continue
            rps, us, sy, cl = r["rps"], r["user_us"], r["sys_us"], \
                r["client_cpu"]
            ratio = ""
            if base and base["rps"] and label != "casyncio":
                ratio = f"{base['rps']['median'] / rps['median']:.2f}"
            mm = f"[{fmt(rps['min'])}-{fmt(rps['max'])}]"
            lines.append(
                f"  {label:22} {fmt(rps['median']):>9} {mm:>21} "
                f"{fmt(us and us['median'], 3):>8} "
                f"{fmt(sy and sy['median'], 2):>7} "
                f"{fmt(cl and cl['median']):>6}  {ratio}"
                f"{'  (client-bound)' if cl and cl['median'] >= 0.9 else ''}")
    return "\n".join(lines)


def goals(results):
    def med(label, key, path="/"):
        r = results.get(label, {}).get(path) or {}
        return r[key]["median"] if r.get(key) else None

    out = []
    c = med("casyncio", "rps")
    go, uv = med("Go net/http", "rps"), med("libuv (no parser)", "rps")
    if c and go:
        out.append(("http_server GET /: req/s at least 1.5x Go net/http's",
                    f"{c:,.0f} vs {go:,.0f} ({c / go:.2f}x)", c >= 1.5 * go))
    else:
        out.append(("http_server GET /: req/s at least 1.5x Go net/http's",
                    None, None))
    if c and uv:
        out.append(("http_server GET /: req/s at least 0.9x hand-written "
                    "libuv's", f"{c:,.0f} vs {uv:,.0f} ({c / uv:.2f}x)",
                    c >= 0.9 * uv))
    else:
        out.append(("http_server GET /: req/s at least 0.9x hand-written "
                    "libuv's", None, None))
    u = med("casyncio", "user_us")
    if u is not None:
        uj = med("casyncio", "user_us", "/json")
        out.append(("http_server GET /: under 0.6 us of user CPU per request",
                    f"{u:.3f} us (GET /json {uj:.3f} us)" if uj else
                    f"{u:.3f} us", u < 0.6))
    w = med("casyncio 2 workers", "rps")
    if c and w:
        cl = med("casyncio 2 workers", "client_cpu")
        ratio = w / c
        if (os.cpu_count() or 1) < 3 or (cl is not None and cl >= 0.9):
            out.append(("http_server: 2 workers at least 1.6x one worker "
                        "when the client is not the limit",
                        f"{ratio:.2f}x, not judged: {os.cpu_count()} CPUs "
                        f"shared with wrk (wrk used {fmt(cl)} of a CPU)",
                        None))
        else:
            out.append(("http_server: 2 workers at least 1.6x one worker",
                        f"{ratio:.2f}x", ratio >= 1.6))
    return out


def run(ctx):
    if shutil.which("wrk") is None:
        return {"text": "HTTP server: wrk is not installed (apt-get install "
                        "wrk); skipped", "goals": goals({}), "data": None}
    peers = build_peers(ctx)
    seconds = 1 if ctx.quick else 5
    reps = ctx.reps or (1 if ctx.quick else 3)
    started = []
    for label, cmd, extra, cpus in servers(ctx, peers):
        s, err = start(ctx, label, cmd, extra, cpus)
        if s is None:
            ctx.errors.append(("http_server", label,
                               label.startswith("casyncio"), err))
        else:
            started.append((label, s))
    runs = {label: {path: [] for path, _ in ROUTES} for label, _ in started}
    try:
        for _ in range(reps):
            for path, title in ROUTES:
                ctx.log(f"run: http_server {title}")
                for label, (proc, port) in started:
                    r, err = wrk(ctx, proc.pid, port, path, seconds)
                    if r is None:
                        ctx.errors.append((f"http_server {title}", label,
                                           label.startswith("casyncio"),
                                           err))
                    else:
                        runs[label][path].append(r)
    finally:
        for _, (proc, _) in started:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    results = {label: {path: {key: stat(rs, key) for key in
                              ("rps", "user_us", "sys_us", "client_cpu")}
                       for path, rs in routes.items()}
               for label, routes in runs.items()}
    missing = [p for p in ("libuv (no parser)", "Go net/http", "Node http",
                           "uvloop + httptools") if p not in peers]
    text = table(results, seconds, reps)
    if missing:
        text += "\n  not run (missing): " + ", ".join(missing)
    return {"text": text, "goals": goals(results),
            "data": {"seconds": seconds, "reps": reps, "results": results}}
