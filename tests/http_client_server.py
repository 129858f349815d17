#!/usr/bin/python3
"""The HTTP server the HTTP client's tests talk to: Debian's python3
http.server (HTTP/1.1, keep-alive, one thread per connection) with routes
for each behaviour under test.

    http_client_server.py [--tls CERT KEY]

Listens on 127.0.0.1, an unused port, prints "port N" and serves until
its standard input closes (so it never outlives the test that started it).
"""
import gzip
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {"connections": 0, "drip_sent": 0}
FLAKY = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with LOCK:
            STATS["connections"] += 1

    def reply(self, code, body=b"", ctype="text/plain", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.strip("/").split("/")
        name = parts[0]
        if name == "hello":
            return self.reply(200, "hello world")
        if name == "echo":
            data = self.body()
            doc = {"method": self.command, "path": url.path,
                   "query": urllib.parse.parse_qsl(url.query),
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "body": data.decode("latin-1"), "length": len(data)}
            return self.reply(200, json.dumps(doc), "application/json")
        if name == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(int(q.get("n", 5))):
                self.chunk(b"chunk %d\n" % i)
                time.sleep(float(q.get("delay", 0)))
            self.wfile.write(b"0\r\n\r\n")
            return
        if name == "big":
            return self.reply(200, b"x" * int(q.get("size", 1000)))
        if name == "redirect":
            n = int(parts[1])
            if n <= 0:
                return self.reply(200, "redirected")
            return self.reply(302, "", headers=[("Location",
                                                  f"/redirect/{n - 1}")])
        if name == "status":
            code = int(parts[1])
            extra = []
            if "retry_after" in q:
                extra.append(("Retry-After", q["retry_after"]))
            return self.reply(code, f"status {code}", headers=extra)
        if name == "slow":
            time.sleep(float(q.get("delay", 1)))
            return self.reply(200, "slow")
        if name == "stall":  # headers at once, the body after a delay
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.flush()
            time.sleep(float(q.get("delay", 1)))
            self.wfile.write(b"late")
            return
        if name == "close-mid-body":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"y" * 100)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if name == "nothing":  # close without any answer
            self.close_connection = True
            return
        if name == "repeated":
            self.send_response(200)
            self.send_header("X-Multi", "one")
            self.send_header("x-multi", "two")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if name == "set-cookie":
            return self.reply(200, "set", headers=[
                ("Set-Cookie", "session=abc123; Path=/"),
                ("Set-Cookie", "theme=dark; Path=/")])
        if name == "cookies":
            return self.reply(200, self.headers.get("Cookie", ""))
        if name == "gzip":
            data = gzip.compress(b"compressed " * 100)
            return self.reply(200, data, headers=[("Content-Encoding",
                                                   "gzip")])
        if name == "flaky":  # fail `fail` times per key, then succeed
            key = q.get("key", "")
            with LOCK:
                FLAKY[key] = FLAKY.get(key, 0) + 1
                n = FLAKY[key]
            if n <= int(q.get("fail", 1)):
                extra = []
                if "retry_after" in q:
                    extra.append(("Retry-After", q["retry_after"]))
                return self.reply(int(q.get("code", 503)), "try again",
                                  headers=extra)
            return self.reply(200, f"ok after {n - 1} failures")
        if name == "drip":  # as fast as the client takes it
            size = int(q.get("size", 1 << 20))
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            block = b"d" * 16384
            sent = 0
            while sent < size:
                n = min(len(block), size - sent)
                self.wfile.write(block[:n])
                sent += n
                with LOCK:
                    STATS["drip_sent"] = sent
            return
        if name == "stats":
            with LOCK:
                return self.reply(200, json.dumps(STATS), "application/json")
        return self.reply(404, "no such page")

    def do_GET(self):
        self.route()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(f"port {srv.server_address[1]}", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or dies)
    os._exit(0)


if __name__ == "__main__":
    main()
