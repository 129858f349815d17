#!/usr/bin/python3
"""The Python program api_call_with_retry.c mirrors: the tutorial's
_request_with_retry() with aiohttp, against the same failing API started
on 127.0.0.1 (with aiohttp.web), so that both print the same lines.

Run with Debian's python3 (python3-aiohttp).
"""
import asyncio
import itertools

import aiohttp
from aiohttp import web

SCRIPT = itertools.cycle(["rate limited", "api error", "ok", "unavailable",
                          "hang up", "too slow"])
REQUEST = {"model": "gpt-3.5",
           "messages": [{"role": "user", "content": "Hi!"}]}
OK = {"choices": [{"message": {"role": "assistant",
                               "content": "Hello! How can I help you today?"}}]}


async def api(request):
    await request.read()
    answer = next(SCRIPT)
    if answer == "rate limited":
        return web.json_response({"error": "rate limit"}, status=429,
                                 headers={"Retry-After": "1"})
    if answer == "api error":
        return web.json_response({"error": "oops"}, status=500)
    if answer == "unavailable":
        return web.json_response({"error": "down"}, status=503)
    if answer == "hang up":
        request.transport.close()
        return web.Response()
    if answer == "too slow":
        await asyncio.sleep(2)
    return web.json_response(OK)


async def _request_with_retry(session, url, retry=3):
    for _ in range(retry):
        try:
            async with session.post(url, json=REQUEST, timeout=0.5) as r:
                if r.status == 429:
                    wait = int(r.headers["Retry-After"])
                    print(f"Rate limit error, waiting for {wait} second...")
                    await asyncio.sleep(wait)
                elif r.status == 503:
                    print("Service unavailable error, waiting for 3 second...")
                    await asyncio.sleep(3)
                elif r.status >= 500:
                    print("API error, waiting for 1 second...")
                    await asyncio.sleep(1)
                else:
                    return await r.json()
        except asyncio.TimeoutError:
            print("Timeout error, waiting for 1 second...")
            await asyncio.sleep(1)
        except aiohttp.ClientConnectionError:
            print("API Connection error, waiting for 3 second...")
            await asyncio.sleep(3)
    return None


async def main():
    app = web.Application()
    app.router.add_post("/v1/chat/completions", api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/chat/completions"
    try:
        async with aiohttp.ClientSession() as session:
            for title in ["a request that succeeds on the third attempt",
                          "a request that fails three times"]:
                print(f"# {title}", flush=True)
                ret = await _request_with_retry(session, url)
                content = ret["choices"][0]["message"]["content"] if ret \
                    else None
                print(f"ret: {content}", flush=True)
    finally:
        await runner.cleanup()


asyncio.run(main())
