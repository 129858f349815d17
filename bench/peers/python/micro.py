"""Python asyncio (on uvloop) peers of the casyncio micro benchmarks.

    python3 micro.py WHICH [N]   WHICH: switch spawn sleepers queue lock executor

Prints lines in the suite's format ("name ops/s ns/op [key=value]").
Every figure but sleepers is the best of 3 runs, as in bench/bench_*.c.
"""
import asyncio
import sys
import time

import uvloop

REPS = 3


def report(name, ops, ns, extra=""):
    ns_op = ns / ops
    print(f"{name} {1e9 / ns_op:.0f} ops/s {ns_op:.2f} ns/op{extra}", flush=True)


async def best_of(run):
    best = float("inf")
    for _ in range(REPS):
        best = min(best, await run())
    return best


async def bench_switch(n):
    async def yielder():
        for _ in range(n):
            await asyncio.sleep(0)

    async def run():
        t0 = time.perf_counter_ns()
        await asyncio.gather(yielder(), yielder())
        return time.perf_counter_ns() - t0

    report("switch/uvloop", 2 * n, await best_of(run))


async def bench_spawn(n):
    batch = 1000

    async def task(i):
        return i

    async def run():
        t0 = time.perf_counter_ns()
        for done in range(0, n, batch):
            tasks = [asyncio.create_task(task(i)) for i in range(min(batch, n - done))]
            for t in tasks:
                await t
        return time.perf_counter_ns() - t0

    report("spawn/uvloop", n, await best_of(run))


def peak_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


async def bench_sleepers(n):
    base = peak_kib()
    t0 = time.perf_counter_ns()
    tasks = [asyncio.create_task(asyncio.sleep(1)) for _ in range(n)]
    spawned = time.perf_counter_ns() - t0
    for t in tasks:
        await t
    ns = time.perf_counter_ns() - t0
    kib = peak_kib() - base
    report("sleepers/uvloop", n, ns,
           f" tasks={n} wall_s={ns / 1e9:.3f} spawn_s={spawned / 1e9:.3f}"
           f" peak_kib={kib} kib_per_task={kib / n:.2f}")


async def bench_queue(n):
    async def producer(q):
        for i in range(1, n + 1):
            await q.put(i)

    async def run():
        q = asyncio.Queue(100)
        t0 = time.perf_counter_ns()
        p = asyncio.create_task(producer(q))
        total = 0
        for _ in range(n):
            total += await q.get()
        await p
        assert total == n * (n + 1) // 2
        return time.perf_counter_ns() - t0

    report("queue/uvloop", n, await best_of(run))


async def bench_lock(n):
    tasks = 4

    async def run():
        lock = asyncio.Lock()
        counter = 0

        async def contender():
            nonlocal counter
            for _ in range(n):
                async with lock:
                    tmp = counter
                    await asyncio.sleep(0)
                    counter = tmp + 1

        t0 = time.perf_counter_ns()
        await asyncio.gather(*(contender() for _ in range(tasks)))
        assert counter == tasks * n
        return time.perf_counter_ns() - t0

    report("lock/uvloop", tasks * n, await best_of(run))


async def bench_executor(n):
    loop = asyncio.get_running_loop()

    def job():
        return 1

    async def run():
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await loop.run_in_executor(None, job)
        return time.perf_counter_ns() - t0

    report("executor/uvloop", n, await best_of(run))


BENCHES = {
    "switch": bench_switch, "spawn": bench_spawn, "sleepers": bench_sleepers,
    "queue": bench_queue, "lock": bench_lock, "executor": bench_executor,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHES:
        sys.exit("usage: micro.py WHICH [N]")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
    uvloop.install()
    asyncio.run(BENCHES[sys.argv[1]](n))
