// SOCKS5 UDP (RFC 1928 §7): the datagram header codec, UDP ASSOCIATE through the handshake, and
// the VMess UDP stream's limits (one datagram per packet chunk, vmess-protocol.md §13).
#include <doctest/doctest.h>

#include <array>
#include <string>

#include "support/vectors.hpp"
#include "vmlocal/handshake/sniff_handshake.hpp"
#include "vmlocal/handshake/socks5_handshake.hpp"
#include "vmlocal/handshake/socks5_udp_header.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/util/bytes.hpp"

using namespace vmlocal;
using namespace vmlocal::socks5;
using vmlocal::test::hex;

namespace {

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

std::string encoded(const TargetAddress& target) {
  std::array<uint8_t, kMaxUdpHeaderSize> out{};
  const size_t n = encode_udp_header(target, out.data());
  return to_hex(ByteView(out.data(), n));
}

}  // namespace

TEST_CASE("socks5 udp header: IPv4, IPv6 and domain parse, with the payload after them") {
  const Bytes v4 = hex("000000017f000001003564617461");  // 127.0.0.1:53 "data"
  UdpDatagram d = parse_udp_datagram(v4);
  REQUIRE(d.status == UdpParseStatus::kOk);
  CHECK(d.frag == 0);
  CHECK(d.target == TargetAddress::ipv4({127, 0, 0, 1}, 53));
  CHECK(d.header_size == 10);
  CHECK(Bytes(d.payload.begin(), d.payload.end()) == text("data"));

  const Bytes v6 =
      cat({hex("00000004"), hex("20010db8000000000000000000000001"), hex("01bb"), text("quic")});
  d = parse_udp_datagram(v6);
  REQUIRE(d.status == UdpParseStatus::kOk);
  std::array<uint8_t, 16> ip{};
  ip[0] = 0x20, ip[1] = 0x01, ip[2] = 0x0d, ip[3] = 0xb8, ip[15] = 1;
  CHECK(d.target == TargetAddress::ipv6(ip, 443));
  CHECK(d.header_size == 22);
  CHECK(Bytes(d.payload.begin(), d.payload.end()) == text("quic"));

  const Bytes domain = cat({hex("000000030b"), text("example.org"), hex("0035"), text("q")});
  d = parse_udp_datagram(domain);
  REQUIRE(d.status == UdpParseStatus::kOk);
  CHECK(d.target == TargetAddress::from_domain("example.org", 53));  // kept unresolved
  CHECK(d.header_size == 18);
  CHECK(Bytes(d.payload.begin(), d.payload.end()) == text("q"));

  // An empty payload is a valid datagram (the relay drops it: VMess cannot carry it).
  d = parse_udp_datagram(hex("000000010a0000010009"));
  REQUIRE(d.status == UdpParseStatus::kOk);
  CHECK(d.payload.empty());
}

TEST_CASE("socks5 udp header: fragments parse with their number (the relay drops them)") {
  const UdpDatagram d = parse_udp_datagram(hex("000001017f00000100357061727431"));
  REQUIRE(d.status == UdpParseStatus::kOk);
  CHECK(d.frag == 1);
  CHECK(parse_udp_datagram(hex("000081017f0000010035")).frag == 0x81);  // the end-of-sequence bit
}

TEST_CASE("socks5 udp header: every truncation and every bad field is refused by name") {
  const Bytes whole[] = {
      hex("000000017f0000010035"),
      cat({hex("00000004"), Bytes(16, 0), hex("0035")}),
      cat({hex("0000000303"), text("a.b"), hex("0035")}),
  };
  for (const Bytes& header : whole) {
    CAPTURE(to_hex(header));
    REQUIRE(parse_udp_datagram(header).status == UdpParseStatus::kOk);
    for (size_t n = 0; n < header.size(); ++n) {
      CAPTURE(n);
      const UdpDatagram d = parse_udp_datagram(ByteView(header.data(), n));
      CHECK(d.status == UdpParseStatus::kTruncated);
      CHECK(d.payload.empty());
    }
  }
  CHECK(parse_udp_datagram(hex("000100017f0000010035")).status == UdpParseStatus::kReservedNotZero);
  CHECK(parse_udp_datagram(hex("010000017f0000010035")).status == UdpParseStatus::kReservedNotZero);
  CHECK(parse_udp_datagram(hex("000000027f0000010035")).status == UdpParseStatus::kBadAddressType);
  CHECK(parse_udp_datagram(hex("00000005")).status == UdpParseStatus::kBadAddressType);
  CHECK(parse_udp_datagram(hex("00000003000035")).status == UdpParseStatus::kEmptyDomain);
  CHECK(parse_udp_datagram(cat({hex("0000000303"), text("a\nb"), hex("0035")})).status ==
        UdpParseStatus::kControlCharInDomain);
  CHECK(udp_parse_status_name(UdpParseStatus::kTruncated) == "truncated header");
}

TEST_CASE("socks5 udp header: encoding names the source, FRAG 0, and parses back") {
  CHECK(encoded(TargetAddress::ipv4({10, 1, 2, 3}, 53)) == "000000010a0102030035");
  std::array<uint8_t, 16> ip{};
  ip[15] = 1;
  CHECK(encoded(TargetAddress::ipv6(ip, 443)) == "00000004" + std::string(30, '0') + "0101bb");
  CHECK(encoded(TargetAddress::from_domain("localhost", 7)) ==
        "0000000309" + to_hex(text("localhost")) + "0007");
  CHECK(udp_header_size(TargetAddress::from_domain("localhost", 7)) == 4 + 1 + 9 + 2);

  const std::string longest(255, 'x');
  std::array<uint8_t, kMaxUdpHeaderSize> out{};
  const size_t n = encode_udp_header(TargetAddress::from_domain(longest, 1), out.data());
  CHECK(n == kMaxUdpHeaderSize);
  const UdpDatagram back = parse_udp_datagram(ByteView(out.data(), n));
  REQUIRE(back.status == UdpParseStatus::kOk);
  CHECK(back.target == TargetAddress::from_domain(longest, 1));

  // A domain that does not fit one length byte cannot be encoded.
  CHECK(encode_udp_header(TargetAddress::from_domain(std::string(256, 'x'), 1), out.data()) == 0);
  CHECK(encode_udp_header(TargetAddress::from_domain("", 1), out.data()) == 0);
}

TEST_CASE("socks5 UDP ASSOCIATE: a request when UDP is on, 0x07 when it is off") {
  // Greeting (no auth), then UDP ASSOCIATE 0.0.0.0:5353 (where the app will send from).
  const Bytes request = cat({hex("050100"), hex("050300010000000014e9")});

  HandshakeParser on(std::nullopt, true);
  Step step = on.feed(request);
  REQUIRE(step.action == Action::kSend);
  CHECK(to_hex(step.reply) == "0500");
  step = on.feed(ByteView(request).subspan(step.consumed));
  REQUIRE(step.action == Action::kRequest);
  CHECK(on.request().command == handshake::Request::Command::kUdpAssociate);
  CHECK(on.request().target == TargetAddress::ipv4({0, 0, 0, 0}, 5353));
  // The reply names the relay (RFC 1928 §7: BND.ADDR, BND.PORT).
  const handshake::Reply reply = on.success_reply_bound(TargetAddress::ipv4({127, 0, 0, 1}, 1080));
  CHECK(to_hex(reply.bytes) == "050000017f0000010438");

  HandshakeParser off(std::nullopt, false);
  step = off.feed(request);
  step = off.feed(ByteView(request).subspan(step.consumed));
  REQUIRE(step.action == Action::kFail);
  CHECK(to_hex(step.reply) == "05070001000000000000");
  CHECK(step.reason ==
        "unsupported command UDP ASSOCIATE (UDP is off in this profile: `vmess-local check` says "
        "why)");

  // CONNECT stays CONNECT on a parser that allows UDP.
  HandshakeParser connect(std::nullopt, true);
  const Bytes c = cat({hex("050100"), hex("050100017f0000010050")});
  step = connect.feed(c);
  step = connect.feed(ByteView(c).subspan(step.consumed));
  REQUIRE(step.action == Action::kRequest);
  CHECK(connect.request().command == handshake::Request::Command::kConnect);
}

TEST_CASE(
    "socks5 UDP ASSOCIATE through the first-byte sniff: allowed as the listener says, and "
    "the reply names the relay") {
  const Bytes request = cat({hex("050100"), hex("050300010000000014e9")});
  auto drive = [&](handshake::SniffHandshake& sniff) {
    Step step = sniff.feed(request);
    REQUIRE(step.action == Action::kSend);
    return sniff.feed(ByteView(request).subspan(step.consumed));
  };

  handshake::SniffHandshake on(handshake::Protocols{true, true, true, true}, std::nullopt);
  REQUIRE(drive(on).action == Action::kRequest);
  CHECK(on.request().command == handshake::Request::Command::kUdpAssociate);
  // Not the plain success reply (0.0.0.0:0): the app would send its datagrams nowhere.
  CHECK(to_hex(on.success_reply_bound(TargetAddress::ipv4({127, 0, 0, 1}, 1080)).bytes) ==
        "050000017f0000010438");

  handshake::SniffHandshake off(handshake::Protocols{true, true, true, false}, std::nullopt);
  const Step refused = drive(off);
  REQUIRE(refused.action == Action::kFail);
  CHECK(to_hex(refused.reply) == "05070001000000000000");
}

TEST_CASE("vmess UDP stream: a datagram is one packet chunk; zero cannot carry datagrams") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    crypto::SystemRandom random;
    outbound::OutboundContext context(&loop, random);
    struct NullHandler final : transport::StreamHandler {
      void on_stream_connected() override {}
      void on_stream_failed(const transport::Failure&) override {}
      MutableByteView on_stream_buffer() override { return {}; }
      void on_stream_read(size_t) override {}
      void on_stream_eof() override {}
      void on_stream_write_done() override {}
      void on_stream_closed() override { closed = true; }
      bool closed = false;
    };
    // The largest payload that fits one chunk whatever the padding draw (§13).
    const struct {
      vmess::Security security;
      size_t max_datagram;
    } cases[] = {
        {vmess::Security::kAes128Gcm, 1967},
        {vmess::Security::kChacha20Poly1305, 1967},
        {vmess::Security::kNone, 2046},
    };
    for (const auto& c : cases) {
      CAPTURE(static_cast<int>(c.security));
      config::Profile::Server server;
      server.address = "127.0.0.1";
      server.port = 9;
      server.security = c.security;
      auto made = outbound::ServerContext::make(server);
      REQUIRE(made.ok());
      NullHandler handler;
      auto udp = outbound::VmessStream::open(
          context, *made, TargetAddress::ipv4({127, 0, 0, 1}, 53), handler, vmess::Command::kUdp);
      REQUIRE(udp.ok());
      CHECK((*udp)->max_write_size() == c.max_datagram);
      auto tcp = outbound::VmessStream::open(context, *made,
                                             TargetAddress::ipv4({127, 0, 0, 1}, 53), handler);
      REQUIRE(tcp.ok());
      CHECK((*tcp)->max_write_size() > c.max_datagram);  // stream mode: many chunks per write
      (*udp)->close(true);
      (*tcp)->close(true);
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    config::Profile::Server zero;
    zero.address = "127.0.0.1";
    zero.port = 9;
    zero.security = vmess::Security::kZero;
    auto made = outbound::ServerContext::make(zero);
    REQUIRE(made.ok());
    NullHandler handler;
    auto refused = outbound::VmessStream::open(
        context, *made, TargetAddress::ipv4({127, 0, 0, 1}, 53), handler, vmess::Command::kUdp);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == ErrorKind::kUnreachable);
    CHECK(refused.error().message.find("zero") != std::string::npos);
  }
  CHECK(uv_loop_close(&loop) == 0);
}
