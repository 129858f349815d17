"""HTTP server on uvloop with httptools (the parser uvicorn uses), as a
Protocol: the two routes of bench/suites/http_server.py.

    python3 http_httptools.py PORT

GET / answers "Hello, World!" as text/plain; GET /json serialises
{"message": "Hello, World!"} with json.dumps for every request.  Requests
are answered in order (pipelining works); keep-alive as the client asks.
"""
import asyncio
import json
import sys
import time
from email.utils import formatdate

import httptools
import uvloop

_date = [0, b""]


def date_header():
    now = int(time.time())
    if now != _date[0]:
        _date[0] = now
        _date[1] = formatdate(now, usegmt=True).encode()
    return _date[1]


class HttpProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\n"
                                 b"Content-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
            self.transport.close()

    def on_url(self, url):
        self.url += url

    def on_message_complete(self):
        if self.url == b"/json":
            body = json.dumps({"message": "Hello, World!"},
                              separators=(",", ":")).encode()
            ctype = b"application/json"
        else:
            body = b"Hello, World!"
            ctype = b"text/plain; charset=utf-8"
        self.url = b""
        keep = self.parser.should_keep_alive()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nDate: " + date_header() +
            b"\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\nContent-Type: " + ctype +
            (b"" if keep else b"\r\nConnection: close") + b"\r\n\r\n" + body)
        if not keep:
            self.transport.close()


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, "127.0.0.1", port,
                                      backlog=4096)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8080))
