"""asyncpg peer of bench_pg_select (Debian's python3-asyncpg on uvloop).

    pg_asyncpg.py N pool DSN     100 tasks over asyncpg.create_pool(10, 10),
                                 N/100 pool.fetchval('SELECT $1::int') each

asyncpg cannot pipeline the queries of several tasks on one connection
(it raises "another operation is in progress"), so it has no pipeline
mode.  Prints `pg-pool/asyncpg <q/s> ops/s <ns> ns/op user_us=<per
query>`.
"""
import asyncio
import resource
import sys
import time

import asyncpg
import uvloop

TASKS = 100


async def main(n, dsn):
    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
    per = n // TASKS

    async def worker(first):
        for i in range(first, first + per):
            v = await pool.fetchval("SELECT $1::int", i)
            if v != i:
                raise SystemExit(f"bad value {v} for {i}")

    u0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(t * per) for t in range(TASKS)))
    secs = time.perf_counter() - t0
    user = resource.getrusage(resource.RUSAGE_SELF).ru_utime - u0
    done = per * TASKS
    print(f"pg-pool/asyncpg {done / secs:.0f} ops/s {secs * 1e9 / done:.2f} "
          f"ns/op user_us={user * 1e6 / done:.2f}", flush=True)
    await pool.close()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[2] != "pool":
        sys.exit("usage: pg_asyncpg.py N pool DSN")
    uvloop.install()
    asyncio.run(main(int(sys.argv[1]), sys.argv[3]))
