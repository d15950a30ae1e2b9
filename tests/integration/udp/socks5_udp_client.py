#!/usr/bin/python3
"""SOCKS5 UDP ASSOCIATE through a proxy with PySocks (python3-socks), for the udp integration
suite and scripts/bench. Each mode prints one JSON object on stdout.

  dns     --proxy H:P --server H:P --name NAME     an A query; the answers and rcode
  echo    --proxy H:P --count N --size S [--target-name NAME] [--window W] [--targets T]
          N datagrams to a loopback UDP echo server this script runs (addressed as NAME, e.g.
          localhost, which the proxy's server resolves, instead of 127.0.0.1), at most W
          outstanding; counts lost and corrupted ones and reports round-trip percentiles.
          --targets T: T echo servers (T destinations of the one association), in turn
  sizes   --proxy H:P --sizes A,B,...   one datagram of each payload size: which came back
  fragment --proxy H:P   a datagram with FRAG 1, then a whole one: only the whole one is relayed
  pause   --proxy H:P --wait S   one datagram echoed, S seconds of silence, another one
  foreign --proxy H:P   an association, then datagrams to its relay from other source
          addresses (another port, another loopback IP): none may be relayed
  outlive --proxy H:P   an association whose TCP control connection is closed: the relay must
          stop answering its datagrams

Every datagram stays on loopback: the echo server binds 127.0.0.1, and the proxy's server is
expected to relay only to loopback (the harness's v2ray configs do).
"""
import argparse
import json
import random
import socket
import struct
import sys
import threading
import time

import socks


def host_port(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class EchoServer:
    """A loopback UDP echo server on a kernel-chosen port, counting what it received."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.sources = set()
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            self.received += 1
            self.sources.add(addr)
            self.sock.sendto(data, addr)

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def proxied_socket(proxy, timeout):
    s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    s.set_proxy(socks.SOCKS5, proxy[0], proxy[1])
    s.settimeout(timeout)
    s.bind(("127.0.0.1", 0))  # PySocks does the UDP ASSOCIATE here
    return s


def payload_for(seq, size):
    body = random.Random(seq).randbytes(max(0, size - 8))
    return struct.pack(">Q", seq) + body


def mode_dns(args):
    proxy, server = host_port(args.proxy), host_port(args.server)
    s = proxied_socket(proxy, 5.0)
    query_id = random.randrange(65536)
    question = b"".join(bytes([len(p)]) + p.encode() for p in args.name.split(".")) + b"\0"
    query = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    s.sendto(query, server)
    data, source = s.recvfrom(4096)
    rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", data[:12])
    pos = 12 + len(question) + 4
    answers = []
    for _ in range(an):
        if data[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while data[pos] != 0:
                pos += 1 + data[pos]
            pos += 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            answers.append(socket.inet_ntoa(data[pos:pos + 4]))
        pos += rdlen
    s.close()
    return {"id_matches": rid == query_id, "rcode": flags & 0xF, "answers": answers,
            "source": "%s:%d" % source}


def mode_echo(args):
    proxy = host_port(args.proxy)
    echoes = [EchoServer(args.echo_host) for _ in range(args.targets)]
    targets = [(args.target_name or args.echo_host, e.port) for e in echoes]
    s = proxied_socket(proxy, 0.05)
    sent_at = {}
    rtts = []
    corrupted = duplicates = wrong_source = 0
    next_seq = 0
    last_progress = time.monotonic()
    while True:
        while next_seq < args.count and len(sent_at) < args.window:
            sent_at[next_seq] = time.monotonic()
            s.sendto(payload_for(next_seq, args.size), targets[next_seq % len(targets)])
            next_seq += 1
        try:
            data, source = s.recvfrom(65535)
        except (socket.timeout, BlockingIOError):
            now = time.monotonic()
            # A datagram lost for this long will not come: forget it so the window moves on.
            for seq in [q for q, t in sent_at.items() if now - t > args.loss_after]:
                del sent_at[seq]
            if next_seq >= args.count and not sent_at:
                break
            if now - last_progress > 30:
                break
            continue
        last_progress = time.monotonic()
        if len(data) < 8:
            corrupted += 1
            continue
        seq = struct.unpack(">Q", data[:8])[0]
        if seq >= args.count or data != payload_for(seq, args.size):
            corrupted += 1
            continue
        if source[1] != targets[seq % len(targets)][1]:
            wrong_source += 1  # the reply names another destination than the one asked
        if seq not in sent_at:
            duplicates += 1  # or late, after it was counted lost
            continue
        rtts.append((time.monotonic() - sent_at.pop(seq)) * 1000.0)
    s.close()
    rtts.sort()
    pct = lambda p: round(rtts[min(len(rtts) - 1, int(p * len(rtts)))], 3) if rtts else None
    result = {"sent": args.count, "size": args.size, "received": len(rtts),
              "lost": args.count - len(rtts), "corrupted": corrupted,
              "wrong_source": wrong_source, "late_or_duplicate": duplicates,
              "p50_ms": pct(0.5), "p99_ms": pct(0.99)}
    for e in echoes:
        e.stop()
    result["server_received"] = sum(e.received for e in echoes)
    result["per_target_received"] = [e.received for e in echoes]
    return result


def relay_of(s):
    return socket.socket.getpeername(s)  # PySocks connected the UDP socket to the relay


def socks_header(host, port):
    return b"\0\0\0\x01" + socket.inet_aton(host) + struct.pack(">H", port)


def echo_once(s, target, payload):
    s.sendto(payload, target)
    try:
        data, _ = s.recvfrom(65535)
        return data == payload
    except socket.timeout:
        return False


def mode_foreign(args):
    proxy = host_port(args.proxy)
    echo = EchoServer()
    target = ("127.0.0.1", echo.port)
    s = proxied_socket(proxy, 2.0)
    legit = echo_once(s, target, b"from the associated client")
    relay = relay_of(s)
    replies = 0
    for source_ip in ("127.0.0.1", "127.0.0.2"):  # another port; another loopback address
        f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        f.bind((source_ip, 0))
        f.settimeout(1.0)
        for i in range(3):
            f.sendto(socks_header(*target) + b"foreign %d" % i, relay)
        try:
            f.recvfrom(65535)
            replies += 1
        except socket.timeout:
            pass
        f.close()
    still = echo_once(s, target, b"the association still works")
    s.close()
    echo.stop()
    return {"legit_echoed": legit, "still_echoed": still, "foreign_replies": replies,
            "server_received": echo.received}


def mode_outlive(args):
    proxy = host_port(args.proxy)
    echo = EchoServer()
    target = ("127.0.0.1", echo.port)
    s = proxied_socket(proxy, 2.0)
    before = echo_once(s, target, b"while the control connection is open")
    control = s._proxyconn
    print(json.dumps({"control_port": control.getsockname()[1]}), file=sys.stderr, flush=True)
    control.close()  # RFC 1928 §7: the association ends with its TCP connection
    time.sleep(args.wait)
    after = echo_once(s, target, b"after the control connection closed")
    s._proxyconn = None
    socket.socket.close(s)
    echo.stop()
    return {"echoed_before": before, "echoed_after": after, "server_received": echo.received}


def mode_sizes(args):
    proxy = host_port(args.proxy)
    echo = EchoServer()
    target = ("127.0.0.1", echo.port)
    s = proxied_socket(proxy, 2.0)
    echoed = {}
    for size in (int(x) for x in args.sizes.split(",")):
        echoed[str(size)] = echo_once(s, target, bytes([size % 251]) * size)
    s.close()
    echo.stop()
    return {"echoed": echoed, "server_received": echo.received}


def mode_fragment(args):
    proxy = host_port(args.proxy)
    echo = EchoServer()
    s = proxied_socket(proxy, 2.0)
    relay = relay_of(s)
    header = socks_header("127.0.0.1", echo.port)
    fragment = header[:2] + b"\x01" + header[3:] + b"fragment 1"
    socket.socket.send(s, fragment)  # PySocks always sends FRAG 0: write this one raw
    whole = echo_once(s, ("127.0.0.1", echo.port), b"a whole datagram")
    s.close()
    echo.stop()
    return {"relay": "%s:%d" % relay, "whole_echoed": whole, "server_received": echo.received}


def mode_pause(args):
    proxy = host_port(args.proxy)
    echo = EchoServer()
    target = ("127.0.0.1", echo.port)
    s = proxied_socket(proxy, 5.0)
    first = echo_once(s, target, b"before the pause")
    time.sleep(args.wait)
    second = echo_once(s, target, b"after the pause")
    s.close()
    echo.stop()
    return {"first_echoed": first, "second_echoed": second, "server_received": echo.received}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["dns", "echo", "foreign", "outlive", "sizes", "fragment",
                                         "pause"])
    parser.add_argument("--proxy", required=True)
    parser.add_argument("--server")
    parser.add_argument("--name")
    parser.add_argument("--target-name")
    parser.add_argument("--echo-host", default="127.0.0.1")  # echo mode: any 127.0.0.0/8 address
    parser.add_argument("--sizes", default="1967,1968")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--targets", type=int, default=1)
    parser.add_argument("--loss-after", type=float, default=3.0)
    parser.add_argument("--wait", type=float, default=1.0)
    args = parser.parse_args()
    result = {"dns": mode_dns, "echo": mode_echo, "foreign": mode_foreign,
              "outlive": mode_outlive, "sizes": mode_sizes,
              "fragment": mode_fragment, "pause": mode_pause}[args.mode](args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
