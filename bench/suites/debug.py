"""What the debugging support costs when it is on (docs/debugging.md).

The stall watchdog is on by default; the dump signal and the casyncio-ps
socket are opt-in.  The same casyncio programs run three ways, interleaved
repetition by repetition so that the shared machine's noise falls on all
three alike:

    off       CIO_STALL_MS=0                       nothing watching
    default   (no variable)                        the stall watchdog
    all on    + CIO_DUMP_SIGNAL=USR1 CIO_INSPECT=1 watchdog, dump signal,
                                                   casyncio-ps socket

on the switch benchmark (ns per switch, judged on each way's best run: a
2% difference is below this machine's run-to-run noise, the best run is
the least disturbed one) and on the echo server (64 B x 10 connections:
round trips per second, best run, since the server pinned to one CPU is
what limits them; its user CPU per round trip is shown too, but the
kernel samples user time at each tick, too coarsely to see 2%).  Goal:
at most 2% over "off" (2% fewer round trips).
"""
import os
import statistics
import subprocess

NAME = "debug"

WAYS = [
    ("off", {"CIO_STALL_MS": "0"}),
    ("default", {}),
    ("all on", {"CIO_DUMP_SIGNAL": "USR1", "CIO_INSPECT": "1"}),
]


def _env(extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("CIO_STALL_MS", "CIO_DUMP_SIGNAL", "CIO_INSPECT",
                        "CIO_DEBUG")}
    env.update(extra)
    return env


def _switch(ctx, reps, n):
    runs = {way: [] for way, _ in WAYS}
    for _ in range(reps):
        for way, extra in WAYS:
            p = subprocess.run(ctx.pinned([ctx.bin_("bench_switch"), n], 1),
                               capture_output=True, text=True, timeout=300,
                               stdin=subprocess.DEVNULL, env=_env(extra))
            if p.returncode != 0:
                ctx.errors.append(("debug switch", way, True,
                                   (p.stderr or p.stdout).strip()[-300:]))
                continue
            for line in p.stdout.splitlines():
                f = line.split()
                if len(f) >= 4 and f[0] == "switch/sleep0":
                    runs[way].append(float(f[3]))
    return runs


def _echo(ctx, reps, seconds):
    client = os.path.join(ctx.peers_out, "echo_client")
    if not os.path.exists(client):
        return None
    started = []
    for way, extra in WAYS:
        port = ctx.free_port()
        proc = subprocess.Popen(
            ctx.pinned([ctx.bin_("bench_echo_server"), str(port)], 0),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            env=_env(extra))
        if ctx.wait_listening(port, proc, 15):
            started.append((way, port, proc))
        else:
            ctx.errors.append(("debug echo", way, True, "did not listen"))
            proc.kill()
            proc.wait()
    runs = {way: [] for way, _, _ in started}
    try:
        for _ in range(reps):
            for way, port, proc in started:
                lines, err = ctx.run_program(
                    [client, "127.0.0.1", str(port), "10", "64", str(seconds),
                     str(proc.pid)], 1, timeout=120)
                f = (lines or {}).get("echo/64B/c10") or next(
                    (v for k, v in (lines or {}).items()
                     if k.startswith("echo/")), None)
                if f is None:
                    ctx.errors.append(("debug echo", way, True,
                                       err or "no line"))
                    continue
                runs[way].append((f["ops_s"], f.get("server_user_us")))
    finally:
        for _, _, proc in started:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
    return runs


def run(ctx):
    reps = ctx.reps or (1 if ctx.quick else 7)
    n = "20000" if ctx.quick else "2000000"
    seconds = 0.5 if ctx.quick else 3.0
    ctx.log(f"run: debug support cost ({reps} x {len(WAYS)} ways)")
    sw = _switch(ctx, reps, n)
    echo = _echo(ctx, reps, seconds)
    lines = [f"Debugging support, on versus off (best / median of {reps}"
             f"{', quick: not figures' if ctx.quick else ''})",
             f"  {'':<10} {'switch ns best':>15} {'median':>8}"
             f" {'echo rt/s best':>15} {'user us/rt median':>18}"]
    nan = float("nan")
    for way, _ in WAYS:
        s = sw.get(way) or []
        e = (echo or {}).get(way) or []
        users = [u for _, u in e if u is not None]
        lines.append(
            f"  {way:<10} {min(s) if s else nan:>15.2f}"
            f" {statistics.median(s) if s else nan:>8.2f}"
            f" {max(r for r, _ in e) if e else nan:>15,.0f}"
            f" {statistics.median(users) if users else nan:>18.3f}")
    goals = []

    def judge(what, base, val, digits):
        if base is None or val is None:
            goals.append((what, None, None))
            return
        ratio = val / base
        goals.append((what, f"{val:.{digits}f} vs {base:.{digits}f} off "
                      f"({(ratio - 1) * 100:+.1f}%)", ratio <= 1.02))

    def best(runs, way):
        return min(runs[way]) if runs.get(way) else None

    def best_rt(way):
        e = (echo or {}).get(way)
        return max(r for r, _ in e) if e else None

    for way in ("default", "all on"):
        judge(f"debug support ({way}): switch at most 2% over off",
              best(sw, "off"), best(sw, way), 2)
        off, on = best_rt("off"), best_rt(way)
        if off is None or on is None:
            goals.append((f"debug support ({way}): echo rt/s at most 2% "
                          "below off", None, None))
        else:
            goals.append((f"debug support ({way}): echo rt/s at most 2% "
                          "below off", f"{on:,.0f} vs {off:,.0f} off "
                          f"({(on / off - 1) * 100:+.1f}%)", on >= 0.98 * off))
    return {"text": "\n".join(lines), "goals": goals,
            "data": {"switch_ns": sw, "echo_rt_s_user_us": echo}}
