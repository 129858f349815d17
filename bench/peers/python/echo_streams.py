"""Echo server on uvloop with the streams API (StreamReader/StreamWriter),
the one asyncio tutorials teach.

    python3 echo_streams.py PORT
"""
import asyncio
import sys

import uvloop


async def handle(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9000))
