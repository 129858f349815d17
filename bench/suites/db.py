"""PostgreSQL round trips: casyncio against asyncpg, Go (pgx) and libpq.

20,000 `SELECT $1::int` (2,000 with --quick), two ways:
  pool      100 tasks (coroutines, goroutines) over a pool of 10
            connections, each running its share one query after another;
  pipeline  the same 100 tasks on one connection: casyncio pipelines their
            queries in libpq's pipeline mode; Go sends pgx batches of 100
            (a pgx connection cannot be shared); asyncpg cannot do it
            ("another operation is in progress").
and synchronous libpq (one connection, one query after another) as the
baseline.  Figures: queries/s and the client's user CPU per query (its
own getrusage over the timed part).  The server is a throwaway
PostgreSQL cluster pinned to CPU 0, the clients to CPU 1.

The learning-objective benchmark's database workload (bench_sync_vs_async
with CIO_PG_CONNINFO: N queries of 2 ms server time, sync vs tasks over a
pool of 10) runs against the same server.

Goals: casyncio's queries/s at least asyncpg's and Go's; casyncio's client
user CPU per query at most half of asyncpg's.
"""
import os
import shutil
import socket
import statistics
import subprocess
import tempfile

NAME = "db"
PGBIN = "/usr/lib/postgresql/15/bin"


class Cluster:
    def __init__(self, ctx):
        self.ctx = ctx
        self.dir = tempfile.mkdtemp(prefix="cio-bench-pg.")
        self.user = []
        if os.geteuid() == 0:
            self.user = ["runuser", "-u", "postgres", "--"]
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, "postgres")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.dsn = (f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        self.conninfo = (f"host=127.0.0.1 port={self.port} user=postgres "
                         f"dbname=postgres")

    def start(self):
        data = os.path.join(self.dir, "data")
        self.ctx.sh(self.user + [f"{PGBIN}/initdb", "-D", data, "-U",
                                 "postgres", "--auth=trust", "--no-sync"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
                "-c fsync=off -c synchronous_commit=off")
        self.ctx.sh(self.ctx.pinned(
            self.user + [f"{PGBIN}/pg_ctl", "-D", data, "-l",
                         os.path.join(self.dir, "log"), "-w", "-o", opts,
                         "start"], 0),
            stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run(self.user + [f"{PGBIN}/pg_ctl", "-D",
                                    os.path.join(self.dir, "data"), "-m",
                                    "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def build_peers(ctx):
    """{impl: program prefix} for the peers that build here."""
    out = ctx.peers_out
    os.makedirs(out, exist_ok=True)
    peers = {}
    cflags = subprocess.run(["pkg-config", "--cflags", "--libs", "libpq"],
                            capture_output=True, text=True)
    if cflags.returncode == 0:
        exe = os.path.join(out, "pg_sync")
        ctx.sh([os.environ.get("CC", "cc"), "-O2", "-o", exe,
                os.path.join(ctx.root, "bench", "peers", "libpq", "pg_sync.c")]
               + cflags.stdout.split())
        peers["libpq"] = exe
    if shutil.which("go") and os.path.isdir(
            "/usr/share/gocode/src/github.com/jackc/pgx/v4"):
        exe = os.path.join(out, "go_pgselect")
        env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode",
                   GOFLAGS="", GOTOOLCHAIN="local",
                   GOCACHE=os.path.join(ctx.build, "go-cache"))
        p = subprocess.run(["go", "build", "-o", exe, "."], env=env,
                           cwd=os.path.join(ctx.root, "bench", "peers", "go",
                                            "pgselect"),
                           capture_output=True, text=True)
        if p.returncode == 0:
            peers["go"] = exe
        else:
            ctx.log(f"db: Go peer does not build: {p.stderr.strip()[-300:]}")
    if subprocess.run([ctx.python, "-c", "import asyncpg, uvloop"],
                      capture_output=True).returncode == 0:
        peers["asyncpg"] = os.path.join(ctx.root, "bench", "peers", "python",
                                        "pg_asyncpg.py")
    return peers


def install(ctx):
    """As root, the Debian packages of the peers (no network otherwise)."""
    want = []
    if not os.path.isdir("/usr/share/gocode/src/github.com/jackc/pgx/v4"):
        want.append("golang-github-jackc-pgx-v4-dev")
    if subprocess.run([ctx.python, "-c", "import asyncpg"],
                      capture_output=True).returncode != 0:
        want.append("python3-asyncpg")
    if not os.path.exists(f"{PGBIN}/initdb"):
        want.append("postgresql-15")
    if want and os.geteuid() == 0 and shutil.which("apt-get"):
        ctx.log(f"db: installing {' '.join(want)}")
        subprocess.run(["apt-get", "update", "-q"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q",
                        "--no-install-recommends"] + want,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def commands(ctx, peers, cl, n):
    """[(figure, impl, cmd, casyncio?)]"""
    cio = ctx.bin_("bench_pg_select")
    cmds = [("pool", "casyncio", [cio, str(n), "pool", cl.conninfo], True),
            ("pipeline", "casyncio", [cio, str(n), "pipeline", cl.conninfo],
             True)]
    if "asyncpg" in peers:
        cmds.append(("pool", "asyncpg", [ctx.python, peers["asyncpg"], str(n),
                                         "pool", cl.dsn], False))
    if "go" in peers:
        cmds += [("pool", "go", [peers["go"], str(n), "pool", cl.dsn], False),
                 ("pipeline", "go", [peers["go"], str(n), "pipeline", cl.dsn],
                  False)]
    if "libpq" in peers:
        cmds.append(("sync", "libpq", [peers["libpq"], str(n), cl.conninfo],
                     False))
    return cmds


def stats(values):
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values)}


GOALS = ["db pool: casyncio q/s >= asyncpg's", "db pool: casyncio q/s >= go's",
         "db pipeline: casyncio q/s >= Go's (pgx batches)",
         "db: casyncio client user CPU per query <= half of asyncpg's"]


def skipped(why):
    """The goals stay listed, as not measured, and say why."""
    return {"text": f"db: skipped ({why})",
            "goals": [(g, f"not measured: {why}", None) for g in GOALS]}


def run(ctx):
    if not os.path.exists(ctx.bin_("bench_pg_select")):
        return skipped("casyncio built without PostgreSQL")
    install(ctx)
    if not os.path.exists(f"{PGBIN}/initdb"):
        return skipped(f"no PostgreSQL server in {PGBIN}")
    peers = build_peers(ctx)
    n = 2000 if ctx.quick else 20000
    reps = ctx.reps or 3
    cl = Cluster(ctx)
    samples = {}
    learn = []
    try:
        cl.start()
        cmds = commands(ctx, peers, cl, n)
        for _ in range(reps):  # interleaved, so noise falls on all alike
            for figure, impl, cmd, is_cio in cmds:
                found, err = ctx.run_program(cmd, 1)
                if found is None:
                    ctx.errors.append((f"db-{figure}", impl, is_cio, err))
                    continue
                for fields in found.values():
                    s = samples.setdefault((figure, impl),
                                           {"qps": [], "user_us": []})
                    s["qps"].append(fields["ops_s"])
                    s["user_us"].append(fields.get("user_us", float("nan")))
        env = dict(os.environ, CIO_PG_CONNINFO=cl.conninfo)
        p = subprocess.run(ctx.pinned([ctx.bin_("bench_sync_vs_async"),
                                       "20" if ctx.quick else "200", "db"], 1),
                           capture_output=True, text=True, env=env)
        learn = [line for line in p.stdout.splitlines()
                 if line.startswith("learn-db")]
    finally:
        cl.stop()
    return report(samples, learn, n, peers)


def report(samples, learn, n, peers):
    med = {k: {m: stats(v) for m, v in s.items()} for k, s in samples.items()}
    lines = [f"PostgreSQL: {n} x SELECT $1::int, 100 tasks "
             "(client pinned to one CPU, server to the other)",
             f"  {'figure':9} {'client':9} {'queries/s':>22} "
             f"{'user CPU us/query':>24}"]
    for (figure, impl), m in sorted(med.items()):
        q, u = m["qps"], m["user_us"]
        lines.append(f"  {figure:9} {impl:9} {q['median']:9.0f} "
                     f"[{q['min']:.0f}-{q['max']:.0f}] "
                     f"{u['median']:10.2f} [{u['min']:.2f}-{u['max']:.2f}]")
    if "asyncpg" in peers:
        lines.append("  (asyncpg has no pipeline figure: it refuses "
                     "concurrent queries on one connection)")
    for line in learn:
        lines.append(f"  {line}")

    def get(figure, impl, metric="qps"):
        m = med.get((figure, impl))
        return m[metric]["median"] if m else None

    goals = []
    cio_pool, cio_pipe = get("pool", "casyncio"), get("pipeline", "casyncio")
    for peer in ("asyncpg", "go"):
        theirs = get("pool", peer)
        if cio_pool and theirs:
            goals.append((f"db pool: casyncio q/s >= {peer}'s",
                          f"{cio_pool:.0f} vs {theirs:.0f} "
                          f"(x{cio_pool / theirs:.2f})", cio_pool >= theirs))
        else:
            goals.append((f"db pool: casyncio q/s >= {peer}'s", None, None))
    go_pipe = get("pipeline", "go")
    if cio_pipe and go_pipe:
        goals.append(("db pipeline: casyncio q/s >= Go's (pgx batches)",
                      f"{cio_pipe:.0f} vs {go_pipe:.0f} "
                      f"(x{cio_pipe / go_pipe:.2f})", cio_pipe >= go_pipe))
    else:
        goals.append(("db pipeline: casyncio q/s >= Go's (pgx batches)",
                      None, None))
    cu, au = get("pool", "casyncio", "user_us"), get("pool", "asyncpg",
                                                      "user_us")
    if cu and au:
        goals.append(("db: casyncio client user CPU per query <= half of "
                      "asyncpg's", f"{cu:.2f} us vs {au:.2f} us "
                      f"({cu / au:.2f}x)", cu <= au / 2))
    else:
        goals.append(("db: casyncio client user CPU per query <= half of "
                      "asyncpg's", None, None))
    data = {f"{f}/{i}": m for (f, i), m in med.items()}
    data["learn-db"] = learn
    return {"text": "\n".join(lines), "goals": goals, "data": data}
