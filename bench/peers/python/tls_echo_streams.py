"""TLS echo server on uvloop with the streams API and ssl=, the way an
asyncio user writes one.

    python3 tls_echo_streams.py PORT CERT KEY
"""
import asyncio
import ssl
import sys

import uvloop


async def handle(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()


async def main(port, cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=ctx,
                                        backlog=4096)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
