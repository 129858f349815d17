#!/usr/bin/python3
"""aiohttp on uvloop under load, the peer of bench/bench_http_client.c:
N GETs of a small body, C tasks at a time, keep-alive, one ClientSession
with its default connector (limit 100).

    http_client_aiohttp.py URL [N [C]]      (N = 20000, C = 100)

Each request reads its body.  Prints bench/run's line with this process's
user and system CPU microseconds per request.
"""
import asyncio
import resource
import sys
import time

import aiohttp
import uvloop


async def main(url, n, c):
    left = n
    failed = 0

    async def worker(session):
        nonlocal left, failed
        while left > 0:
            left -= 1
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        failed += 1
            except aiohttp.ClientError as e:
                if failed == 0:
                    print(e, file=sys.stderr)
                failed += 1

    async with aiohttp.ClientSession() as session:
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter_ns()
        await asyncio.gather(*(worker(session) for _ in range(c)))
        ns = time.perf_counter_ns() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    if failed:
        print(f"http_client: {failed} of {n} requests failed", file=sys.stderr)
        sys.exit(1)
    ns_op = ns / n
    print(f"http_client/aiohttp {1e9 / ns_op:.0f} ops/s {ns_op:.2f} ns/op "
          f"user_us={(r1.ru_utime - r0.ru_utime) * 1e6 / n:.3f} "
          f"sys_us={(r1.ru_stime - r0.ru_stime) * 1e6 / n:.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: http_client_aiohttp.py URL [N [C]]")
    uvloop.install()
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2
                     else 20000, int(sys.argv[3]) if len(sys.argv) > 3
                     else 100))
