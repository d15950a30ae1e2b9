#!/usr/bin/env python3
"""A loopback HTTP/1.1 origin for the inbound-protocol tests (python3's http.server).

Keep-alive (HTTP/1.1, Content-Length on every response), so a proxy's connection reuse is
exercised. Serves the files under --root (git's dumb http protocol needs only that), answers
POST /sha256 with the SHA-256 of the request body (Content-Length or chunked), and, with
--cert/--key, speaks TLS. Each request is appended to --log as one JSON line (method, target,
header names, remote port) so tests can check what a proxy forwarded. Binds 127.0.0.1 on a
kernel-chosen port and prints "PORT <n>" once listening.
"""
import argparse
import hashlib
import http.server
import json
import ssl
import sys
import threading

LOG_LOCK = threading.Lock()


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the JSON log is the record
        pass

    def record(self):
        entry = {
            "method": self.command,
            "target": self.path,
            "headers": [k.lower() for k in self.headers.keys()],
            "host": self.headers.get("Host", ""),
            "peer_port": self.client_address[1],
        }
        with LOG_LOCK, open(self.server.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def do_GET(self):
        self.record()
        super().do_GET()

    def do_HEAD(self):
        self.record()
        super().do_HEAD()

    def read_body(self, digest):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return total
                remaining = size
                while remaining:
                    data = self.rfile.read(min(remaining, 1 << 16))
                    if not data:
                        raise ConnectionError("body cut short")
                    digest.update(data)
                    remaining -= len(data)
                total += size
                self.rfile.readline()
        remaining = int(self.headers.get("Content-Length", "0"))
        total = remaining
        while remaining:
            data = self.rfile.read(min(remaining, 1 << 16))
            if not data:
                raise ConnectionError("body cut short")
            digest.update(data)
            remaining -= len(data)
        return total

    def do_POST(self):
        self.record()
        digest = hashlib.sha256()
        total = self.read_body(digest)
        body = f"{total} {digest.hexdigest()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def finish_request(self, request, client_address):
            self.RequestHandlerClass(request, client_address, self, directory=args.root)

    server = Server(("127.0.0.1", 0), Handler)
    server.log_path = args.log
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
