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


def mux_seeds():
    # Input: [split seed][frames]. The frames are v2ray 4.34's own (tests/vectors/mux_frames.json).
    vectors = json.loads((ROOT / "tests" / "vectors" / "mux_frames.json").read_text())
    for i, v in enumerate(vectors):
        write("mux_frames", "v2ray_%d" % i, bytes([i * 37 % 256]) + bytes.fromhex(v["bytes"]))
    write("mux_frames", "meta_too_long", b"\x05\x02\x01")
    write("mux_frames", "bad_network", b"\x01\x00\x0c\x00\x01\x01\x00\x03\x1f\x90\x01\x7f\x00\x00\x01")
    write("mux_frames", "bad_address", b"\x02\x00\x0a\x00\x01\x01\x00\x01\x1f\x90\x01\x7f\x00")
    write("mux_frames", "keep_extra_meta", b"\x03\x00\x06\x00\x07\x02\x01\xaa\xbb\x00\x02hi")


def main():
    for target in ["socks5_handshake", "profile", "body_reader", "response_reader",
                   "body_reader_sealed", "response_reader_sealed", "ws_frames", "mux_frames",
                   "socks5_udp_header"]:
        shutil.rmtree(CORPUS / target, ignore_errors=True)
    socks5_seeds()
    profile_seeds()
    reader_seeds()
    sealed_seeds()
    ws_seeds()
    udp_header_seeds()
    mux_seeds()


if __name__ == "__main__":
    main()
