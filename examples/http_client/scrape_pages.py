#!/usr/bin/python3
"""The Python program scrape_pages.c mirrors: the tutorial's crawler with
aiohttp, against the same small site started on 127.0.0.1 (with
aiohttp.web), so that both print the same line:

    ['Example page 1', 'Example page 2', 'Example page 3']

Run with Debian's python3 (python3-aiohttp).
"""
import asyncio

import aiohttp
from aiohttp import web


async def page(request):
    await asyncio.sleep(0.5)  # a slow site
    return web.Response(text=f"Example page {request.match_info['n']}")


async def fetch_url(session, url):
    async with session.get(url) as response:
        return await response.text()


async def scrape_multiple(site):
    urls = [f'{site}/1', f'{site}/2', f'{site}/3']
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*[
            fetch_url(session, url) for url in urls
        ])
    return results


async def main():
    app = web.Application()
    app.router.add_get("/{n}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    port = runner.addresses[0][1]
    try:
        print(await scrape_multiple(f"http://127.0.0.1:{port}"))
    finally:
        await runner.cleanup()


asyncio.run(main())
