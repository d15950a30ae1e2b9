#!/usr/bin/env python3
"""Regenerates the seed corpora in tests/fuzz/corpus/<target>/ from the test vectors, the
example profiles and hand-written structured cases. The input layouts are documented in
targets.cpp (raw targets) and reader_model.hpp (structured targets). Run from anywhere:

    tests/fuzz/make_seeds.py
"""
import json
import pathlib
import shutil
import struct

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VECTORS = ROOT / "tests" / "vectors"
CORPUS = HERE / "corpus"

# Raw reader seeds keep only the first chunks of each vector body: commit-sized, and the fuzzer
# grows them if it wants.
MAX_WIRE = 2600

SECURITY_INDEX = {3: 0, 4: 1, 5: 2, 1: 3}  # gcm, chacha20, none, legacy
OPTION_INDEX = {0x00: 0, 0x01: 1, 0x05: 2, 0x0D: 3}


def config(security, option, packet=False, flag=False, forge=False):
    return (SECURITY_INDEX[security] | OPTION_INDEX[option] << 2 | (0x10 if packet else 0)
            | (0x20 if flag else 0) | (0x40 if forge else 0))


def u16(v):
    return struct.pack(">H", v)


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(bytes(data))


def socks5_seeds():
    greeting_noauth = bytes.fromhex("050100")
    greeting_auth = bytes.fromhex("05020002")
    ipv4 = bytes.fromhex("050100017f0000010050")
    ipv6 = bytes.fromhex("0501000400000000000000000000000000000001" "01bb")
    domain = bytes.fromhex("050100030b") + b"example.org" + bytes.fromhex("0050")

    def auth(user, password):
        return bytes([1, len(user)]) + user + bytes([len(password)]) + password

    user, password = b"fuzz-user", b"s3cr3t-Pw#fuzz"
    cases = {
        "noauth_ipv4_payload": [0, 7] + list(greeting_noauth + ipv4 + b"GET / HTTP/1.0\r\n\r\n"),
        "noauth_domain_bytewise": [0, 0] + list(greeting_noauth + domain),
        "auth_ipv6_payload": [1, 3] + list(greeting_auth + auth(user, password) + ipv6 + b"hi"),
        "auth_max_lengths_domain": [2, 5] + list(greeting_auth + auth(b"u" * 255, b"p" * 255) + domain),
        "auth_empty_username": [3, 9] + list(greeting_auth + auth(b"", password) + ipv4),
        "auth_wrong_password": [1, 4] + list(greeting_auth + auth(user, b"guess") + ipv4),
        "socks4": [0, 1] + list(bytes.fromhex("040100501234567800")),
        "bind": [0, 2] + list(greeting_noauth + bytes.fromhex("050200017f0000010050")),
        "bad_atyp": [0, 6] + list(greeting_noauth + bytes.fromhex("05010009")),
    }
    for name, data in cases.items():
        write("socks5_handshake", name, data)


def inbound_seeds():
    nul = b"\x00"
    socks4 = bytes.fromhex("040100507f000001") + b"bob" + nul
    socks4a = bytes.fromhex("040101bb00000001") + b"user" + nul + b"example.org" + nul
    s4 = {
        "connect_ipv4_payload": [0, 3] + list(socks4 + b"GET / HTTP/1.0\r\n\r\n"),
        "connect_4a": [0, 0] + list(socks4a),
        "auth_required": [1, 5] + list(socks4),
        "bind": [0, 1] + list(bytes.fromhex("040200507f00000100")),
        "empty_domain": [0, 2] + list(bytes.fromhex("040100500000000100") + nul),
    }
    for name, data in s4.items():
        write("socks4_handshake", name, data)
    auth = b"Proxy-Authorization: Basic ZnV6ei11c2VyOnMzY3IzdC1QdyNmdXp6\r\n"
    http = {
        "connect": [0, 4] + list(b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org\r\n\r\n\x16\x03"),
        "get_absolute": [0, 1] + list(b"GET http://example.org/a?b HTTP/1.1\r\nProxy-Connection: keep-alive\r\nConnection: x\r\nx: 1\r\n\r\n"),
        "post_chunked": [0, 7] + list(b"POST http://127.0.0.1:8080/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n"),
        "post_length": [0, 2] + list(b"POST http://[::1]/ HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"),
        "auth_ok": [1, 9] + list(b"GET http://a/ HTTP/1.1\r\n" + auth + b"\r\n"),
        "auth_missing": [1, 3] + list(b"CONNECT a:1 HTTP/1.1\r\n\r\n"),
        "origin_form": [0, 6] + list(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        "smuggle": [0, 5] + list(b"POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
    }
    for name, data in http.items():
        write("http_proxy_request", name, data)
    sniff = {
        "socks5": [0, 1] + list(bytes.fromhex("050100050100017f0000010050")),
        "socks4": [0, 2] + list(socks4),
        "http": [0, 3] + list(b"GET http://a/ HTTP/1.1\r\n\r\n"),
        "tls": [0, 0] + list(bytes.fromhex("160301020001000001fc0303")),
        "unknown": [0, 0] + list(bytes.fromhex("00ff1020")),
        "http_disabled": [8, 1] + list(b"CONNECT a:1 HTTP/1.1\r\n\r\n"),
        "socks4_with_auth": [1, 4] + list(socks4a),
    }
    for name, data in sniff.items():
        write("sniff", name, data)


def profile_seeds():
    for conf in sorted((ROOT / "conf").glob("*.toml")):
        write("profile", conf.name, conf.read_bytes())
    uuid = "b831381d-6324-4d53-ad4f-8cda48b30811"
    cases = {
        "minimal.toml": f'[server]\naddress = "vmess.example.org"\nport = 443\nuuid = "{uuid}"\n',
        "everything.toml": (
            '[local]\nlisten = ["127.0.0.1:1080", "[::1]:1080"]\n'
            f'[server]\naddress = "2001:db8::7"\nport = 65535\nuuid = "{uuid}"\n'
            'alter_id = 64\nsecurity = "chacha20-poly1305"\ntransport = "tcp"\n'
            '[timeouts]\nhandshake = 0.5\nconnect = 30\nidle = 86400\n[log]\nlevel = "debug"\n'),
        "typos.toml": (f'[servr]\nadress = "x"\n[server]\nprot = 443\nid = "{uuid}"\n'
                       'address = "vmess://abc"\n'),
        "uuid_misplaced.toml": (f'["{uuid}"]\n[server]\naddress = "{uuid}"\nport = "443"\n'
                                f'uuid = " {uuid} "\n'),
        "syntax_error.toml": '[server]\naddress = vmess.example.org\nport = 443\n',
        "inline_tables.toml": ('local = { listen = "127.0.0.1:1080" }\n'
                               f'server = {{ address = "1.2.3.4", port = 1, uuid = "{uuid}" }}\n'
                               'timeouts = { idle = 1e3 }\n'),
    }
    for name, text in cases.items():
        write("profile", name, text.encode())


def reader_seeds():
    bodies = json.loads((VECTORS / "bodies.json").read_text())
    wanted = {"body_gcm_mask_pad", "body_chacha_plain", "body_none_mask", "body_none_raw",
              "body_legacy_mask_pad_aeadhdr", "body_legacy_plain_legacyhdr",
              "body_legacy_raw_legacyhdr", "body_udp_gcm_mask_pad", "body_udp_none_mask_pad",
              "body_gcm_mask_pad_legacyhdr"}
    for case in bodies["cases"]:
        if case["name"] not in wanted:
            continue
        packet = case["transfer"] == "packet"
        legacy_header = case["header_mode"] == "legacy"
        name = case["name"][len("body_"):]
        request = bytes.fromhex(case["request_body"]["wire"])[:MAX_WIRE]
        write("body_reader", name,
              bytes([config(case["security"], case["option"], packet), 0x21]) + request)
        response = (bytes.fromhex(case["response_header_wire"])
                    + bytes.fromhex(case["response_body"]["wire"]))[:MAX_WIRE]
        write("response_reader", name,
              bytes([config(case["security"], case["option"], packet, legacy_header), 0x42,
                     case["response_v"]]) + response)


def body_program(chunks, forge, end=1, cut=0, mutations=()):
    """<body> of reader_model.hpp: padding seed, content seed, count, chunks, end, cut, mutations."""
    out = [0x11, 0x22, len(chunks)]
    for chunk in chunks:
        if forge:
            flags, size, extra = chunk
            out += [flags] + list(u16(size)) + [extra]
        else:
            out += list(u16(chunk))
    out += [end] + list(u16(cut)) + [len(mutations)]
    for kind, position, value in mutations:
        out += [kind] + list(u16(position)) + [value]
    return out


def sealed_seeds():
    writer_cases = {
        "gcm_0d_stream": (3, 0x0D, False, [0, 1965, 300]),
        "chacha_05_packet": (4, 0x05, True, [0, 1200]),
        "gcm_00_stream": (3, 0x00, False, [99, 5]),
        "none_05_stream": (5, 0x05, False, [8191 % 4096, 10]),
        "none_0d_packet": (5, 0x0D, True, [17, 1000]),
        "legacy_01_stream": (1, 0x01, False, [2041, 64]),
        "legacy_0d_stream": (1, 0x0D, False, [1977, 3]),
        "legacy_00_raw": (1, 0x00, False, [500, 500]),
        "none_00_raw": (5, 0x00, False, [100]),
    }
    for name, (security, option, packet, sizes) in writer_cases.items():
        body = body_program(sizes, forge=False)
        write("body_reader_sealed", "writer_" + name,
              [config(security, option, packet), 0x35] + body)
    # Forged: flags bit 0 bad tag, 1 wrong counter, 2 length lie, 3 too small, 4 empty, 5 big.
    forge_cases = {
        "gcm_big_then_end": (3, 0x0D, [(0x00, 100, 0), (0x20, 0xFFF0, 0), (0x10, 0, 0)]),
        "gcm_end_in_middle": (3, 0x05, [(0x00, 10, 0), (0x10, 0, 0), (0x00, 10, 0)]),
        "chacha_bad_tag": (4, 0x0D, [(0x00, 50, 0), (0x01, 50, 3), (0x00, 50, 0)]),
        "gcm_wrong_counter": (3, 0x01, [(0x00, 50, 0), (0x02, 50, 0)]),
        "gcm_too_small": (3, 0x0D, [(0x00, 20, 0), (0x08, 20, 5)]),
        "gcm_length_lie": (3, 0x05, [(0x04, 20, 7), (0x00, 20, 0)]),
        "legacy_bad_fnv": (1, 0x0D, [(0x00, 30, 0), (0x01, 30, 1)]),
        "none_packet_too_small": (5, 0x0D, [(0x00, 30, 0), (0x08, 0, 0)]),
        "none_stream_big": (5, 0x05, [(0x20, 0xFFFF, 0), (0x00, 1, 0)]),
    }
    for name, (security, option, chunks) in forge_cases.items():
        packet = "packet" in name
        body = body_program(chunks, forge=True)
        write("body_reader_sealed", "forge_" + name,
              [config(security, option, packet, forge=True), 0x36] + body)
    # Cut and mutated.
    write("body_reader_sealed", "writer_gcm_cut_mutated",
          [config(3, 0x0D), 0x37] + body_program([40, 40], False, cut=70,
                                                  mutations=[(1, 1, 3), (0, 5, 0x40)]))

    # Response: V, header flags, command id, CmdLen, data length, short length, then <body>.
    def response(name, security, option, legacy_header, header, chunks, forge=False, packet=False):
        flags, command_id, command_len, data_len, short_len = header
        write("response_reader_sealed", name,
              [config(security, option, packet, legacy_header, forge), 0x38, 0x5A, flags,
               command_id, command_len, data_len, short_len] + body_program(chunks, forge))

    response("aead_gcm_plain", 3, 0x0D, False, (0, 0, 0, 0, 0), [0, 77])
    response("aead_switch_account", 3, 0x0D, False, (0x02, 0, 29, 0, 0), [10])
    response("aead_cmdlen_overrun", 4, 0x05, False, (0x0C, 7, 40, 10, 0), [10])
    response("aead_short_header", 3, 0x0D, False, (0x10, 0, 0, 0, 3), [10])
    response("aead_wrong_v", 3, 0x0D, False, (0x61, 0, 0, 0, 0), [10])
    response("legacy_hdr_legacy_body", 1, 0x01, True, (0x02, 0, 20, 0, 0), [100, 200])
    response("legacy_hdr_gcm_body", 3, 0x0D, True, (0x00, 0, 0, 0, 0), [100])
    response("legacy_hdr_raw_legacy", 1, 0x00, True, (0x04, 9, 3, 0, 0), [300])
    response("legacy_hdr_wrong_v", 1, 0x01, True, (0x01, 0, 0, 0, 0), [10])
    response("aead_forged_end_middle", 3, 0x0D, False, (0, 0, 0, 0, 0),
             [(0x00, 5, 0), (0x10, 0, 0), (0x00, 5, 0)], forge=True)
    response("legacy_forged_udp", 5, 0x0D, True, (0, 0, 0, 0, 0),
             [(0x00, 500, 0), (0x00, 600, 0)], forge=True, packet=True)


def ws_seeds():
    # Input: [role: 0 client (reads server frames), 1 server][split seed][frames].
    def masked(payload, key=b"\x01\x02\x03\x04"):
        return key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))

    write("ws_frames", "client_binary", b"\x00\x00\x82\x05hello")
    write("ws_frames", "client_text", b"\x00\x02\x81\x04text")
    write("ws_frames", "client_close", b"\x00\x01\x88\x05\x03\xe8bye")
    write("ws_frames", "client_fragments_ping",
          b"\x00\x03\x02\x03abc\x89\x01p\x80\x03def")
    write("ws_frames", "client_126", b"\x00\x07\x82\x7e" + u16(300) + b"x" * 300)
    write("ws_frames", "client_big_control", b"\x00\x02\x89\x7e" + u16(126) + b"y" * 126)
    write("ws_frames", "client_masked_error", b"\x00\x00\x82\x82" + masked(b"ok"))
    write("ws_frames", "server_masked", b"\x01\x05\x82\x8b" + masked(b"masked data"))


def udp_header_seeds():
    # Input: one datagram from a SOCKS5 client to the UDP relay (RFC 1928 section 7).
    write("socks5_udp_header", "ipv4", b"\0\0\0\x01\x7f\0\0\x01" + u16(53) + b"query")
    write("socks5_udp_header", "ipv6", b"\0\0\0\x04" + bytes(15) + b"\x01" + u16(443) + b"quic")
    write("socks5_udp_header", "domain",
          b"\0\0\0\x03\x0bexample.org" + u16(53) + b"dns")
    write("socks5_udp_header", "empty_payload", b"\0\0\0\x01\x0a\0\0\x01" + u16(9))
    write("socks5_udp_header", "fragment", b"\0\0\x01\x01\x7f\0\0\x01" + u16(53) + b"part")
    write("socks5_udp_header", "truncated", b"\0\0\0\x04" + bytes(10))
    write("socks5_udp_header", "bad_rsv", b"\0\x01\0\x01\x7f\0\0\x01" + u16(53))
    write("socks5_udp_header", "bad_atyp", b"\0\0\0\x02\x7f\0\0\x01" + u16(53))
    write("socks5_udp_header", "empty_domain", b"\0\0\0\x03\x00" + u16(53))
    write("socks5_udp_header", "control_char", b"\0\0\0\x03\x03a\nb" + u16(53))


def http_head_seeds():
    # Input: [reader: 0 the tcp "http" header, 1 HTTPUpgrade][split seed][the server's bytes].
    ok = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
          b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\nPragma: no-cache\r\n"
          b"Cache-Control: private\r\nDate: Mon, 30 Nov 2026 08:00:00 GMT\r\n\r\n")
    write("http_heads", "tcp_ok", b"\x00\x03" + ok)
    write("http_heads", "tcp_ok_with_body", b"\x00\x09" + ok + b"\x9c\x21\x07vmess")
    write("http_heads", "tcp_404", b"\x00\x01HTTP/1.1 404 Not Found\r\nConnection: close\r\n"
          b"Cache-Control: private\r\nContent-Length: 0\r\n\r\n")
    write("http_heads", "tcp_binary", b"\x00\x02\x9c\x21\x07\x55\x00\x01")
    write("http_heads", "tcp_partial", b"\x00\x04HTTP/1.1 200 OK\r\nX-A: b\r\n")
    write("http_heads", "tcp_too_long", b"\x00\x05HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 8200)
    # Reader 1: the HTTPUpgrade 101.
    write("http_heads", "up_ok", b"\x01\x03HTTP/1.1 101 Switching Protocols\r\n"
          b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x01\x02")
    write("http_heads", "up_404", b"\x01\x07HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    write("http_heads", "up_no_upgrade", b"\x01\x02HTTP/1.1 101 Switching Protocols\r\n"
          b"Connection: Upgrade\r\n\r\n")


def share_import_seeds():
    import base64
    uuid = "b831381d-6324-4d53-ad4f-8cda48b30811"

    def v2rayn(**fields):
        base = {"v": "2", "ps": "seed", "add": "vmess.example.org", "port": "443", "id": uuid,
                "aid": "0", "scy": "auto", "net": "tcp", "type": "none", "host": "", "path": "",
                "tls": ""}
        base.update(fields)
        return "vmess://" + base64.b64encode(json.dumps(base).encode()).decode()

    links = {
        "v2rayn_tcp": v2rayn(),
        "v2rayn_ws_tls": v2rayn(net="ws", path="/ws?ed=2048", host="cdn.example.org", tls="tls",
                                sni="sni.example.org", alpn="h2,http/1.1", fp="chrome"),
        "v2rayn_grpc": v2rayn(net="grpc", path="svc", type="multi"),
        "v2rayn_tcp_http": v2rayn(type="http", host="a.example.org,b.example.org", path="/a,/b"),
        "v2rayn_string_id": v2rayn(id="example", port=8443, aid=4),
        "uri_ws_tls": (f"vmess://{uuid}@[2001:db8::7]:8443?type=ws&security=tls&path=%2Fa%20b"
                       "&host=cdn.example.org&sni=sni.example.org&encryption=aes-128-gcm#My%20Server"),
        "uri_kcp": f"vmess://{uuid}@1.2.3.4:80?type=kcp&headerType=wechat-video",
        "uri_reality": f"vmess://{uuid}@1.2.3.4:443?security=reality&pbk=x",
    }
    # Pasted as users paste them: cut short, without the scheme, in upper case with spaces.
    links["v2rayn_cut"] = links["v2rayn_tcp"][:60]
    links["v2rayn_bare"] = links["v2rayn_tcp"][len("vmess://"):]
    links["uri_upper_spaced"] = f"  VMESS://{uuid}@1.2.3.4:443  \n"
    links["uri_bare"] = f"{uuid}@1.2.3.4:443"
    for name, text in links.items():
        write("share_import", name, text.encode())
    subscription = "\n".join([links["v2rayn_tcp"], links["uri_ws_tls"], "vless://x@y:1"])
    write("share_import", "subscription_plain", subscription.encode())
    write("share_import", "subscription_base64", base64.b64encode(subscription.encode()))
    config = {"outbounds": [{"protocol": "freedom"}, {
        "protocol": "vmess", "tag": "proxy", "mux": {"enabled": True},
        "settings": {"vnext": [{"address": "vmess.example.org", "port": 443,
                                "users": [{"id": uuid, "alterId": 0, "security": "auto"},
                                          {"id": "alice"}]}]},
        "streamSettings": {"network": "ws", "security": "tls",
                           "tlsSettings": {"serverName": "sni.example.org", "alpn": ["http/1.1"]},
                           "wsSettings": {"path": "/ws", "headers": {"Host": "cdn.example.org"}},
                           "tcpSettings": {"header": {"type": "http", "request": {
                               "path": ["/"], "headers": {"Host": ["a.example.org"]}}}}}}]}
    write("share_import", "config.json", json.dumps(config, indent=2).encode())
    write("share_import", "server_config.json",
          json.dumps({"inbounds": [{"protocol": "vmess"}]}).encode())
def mux_seeds():
    # Input: [split seed][frames]. The frames are v2ray 4.34's own (tests/vectors/mux_frames.json).
    vectors = json.loads((ROOT / "tests" / "vectors" / "mux_frames.json").read_text())
    for i, v in enumerate(vectors):
        write("mux_frames", "v2ray_%d" % i, bytes([i * 37 % 256]) + bytes.fromhex(v["bytes"]))
    write("mux_frames", "meta_too_long", b"\x05\x02\x01")
    write("mux_frames", "bad_network", b"\x01\x00\x0c\x00\x01\x01\x00\x03\x1f\x90\x01\x7f\x00\x00\x01")
    write("mux_frames", "bad_address", b"\x02\x00\x0a\x00\x01\x01\x00\x01\x1f\x90\x01\x7f\x00")
    write("mux_frames", "keep_extra_meta", b"\x03\x00\x06\x00\x07\x02\x01\xaa\xbb\x00\x02hi")
    # UDP sub-streams (tests/vectors/mux_udp_frames.json, v2ray 4.34's packet-mode writer): New
    # with Net = UDP, then the Keep frames of datagrams; and an Xray UDP Keep (XUDP) with the
    # address in its metadata.
    udp = json.loads((ROOT / "tests" / "vectors" / "mux_udp_frames.json").read_text())["frames"]
    for i, v in enumerate(udp):
        write("mux_frames", "v2ray_udp_%d" % i, bytes([i * 53 % 256]) + bytes.fromhex(v["bytes"]))
    write("mux_frames", "xudp_keep",
          b"\x04\x00\x0c\x00\x09\x02\x01\x02\x00\x35\x01\x7f\x00\x00\x01\x00\x03dns")


def grpc_seeds():
    # Input: [split seed][gRPC Length-Prefixed-Messages carrying Hunk { bytes data = 1; }].
    def varint(n):
        out = b""
        while n >= 0x80:
            out += bytes([(n & 0x7F) | 0x80])
            n >>= 7
        return out + bytes([n])

    def hunk(data, extra=b""):
        message = extra + b"\x0a" + varint(len(data)) + data
        return b"\x00" + len(message).to_bytes(4, "big") + message

    write("grpc_hunks", "one", b"\x00" + hunk(b"abc"))
    write("grpc_hunks", "several_split", b"\x07" + hunk(b"x" * 300) + hunk(b"y") + hunk(b"z" * 130))
    write("grpc_hunks", "empty_message", b"\x01" + b"\x00\x00\x00\x00\x00" + hunk(b"after"))
    write("grpc_hunks", "unknown_fields", b"\x02" + hunk(b"ok", b"\x10\x96\x01\x22\x02xy"))
    write("grpc_hunks", "compressed", b"\x00\x01\x00\x00\x00\x05\x0a\x03abc")
    write("grpc_hunks", "past_message", b"\x00\x00\x00\x00\x00\x03\x0a\x05a")
    write("grpc_hunks", "cut", b"\x03" + hunk(b"abcdef")[:-2])


def http_seeds():
    # Input: [split seed][an HTTP answer head, a Date, or a probe URL].
    write("http_answer", "no_content",
          b"\x05HTTP/1.1 204 No Content\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
          b"Content-Length: 0\r\n\r\n")
    write("http_answer", "bad_request_lf",
          b"\x09HTTP/1.0 400 Bad Request\nDate: Sunday, 06-Nov-94 08:49:37 GMT\n\nbody")
    write("http_answer", "upgrade", b"\x11HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
          b"\r\nConnection: Upgrade\r\nDate: Sun Nov  6 08:49:37 1994\r\n\r\n")
    write("http_answer", "tls_alert", b"\x01\x15\x03\x01\x00\x02\x02\x46")
    write("http_answer", "bad_header", b"\x02HTTP/1.1 200 OK\r\nno colon\r\n\r\n")
    write("http_answer", "url", b"\x00https://www.gstatic.com/generate_204")
    write("http_answer", "url_v6", b"\x00http://[::1]:8080/a?b#c")


def main():
    for target in ["socks5_handshake", "profile", "body_reader", "response_reader",
                   "body_reader_sealed", "response_reader_sealed", "ws_frames", "mux_frames",
                   "grpc_hunks", "socks4_handshake", "http_proxy_request", "sniff",
                   "http_heads", "http_answer", "share_import", "socks5_udp_header"]:
        shutil.rmtree(CORPUS / target, ignore_errors=True)
    socks5_seeds()
    inbound_seeds()
    profile_seeds()
    reader_seeds()
    sealed_seeds()
    ws_seeds()
    udp_header_seeds()
    http_head_seeds()
    share_import_seeds()
    mux_seeds()
    grpc_seeds()
    http_seeds()


if __name__ == "__main__":
    main()
