// Mux.Cool UDP sub-streams (mux/datagram.hpp, MuxSession in packet mode): the frames match what
// v2ray 4.34's own common/mux code writes for a UDP session and answers it with
// (tests/vectors/mux_udp_frames.json; the generator is mux_udp_frames_gen.go.txt next to it),
// a datagram handed over in pieces comes back whole, and a datagram over v2ray's 2048-byte limit
// is refused per datagram, before it could reach the shared connection.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <string>
#include <vector>

#include "support/fresh_account.hpp"
#include "support/loopback.hpp"
#include "support/vectors.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/mux/datagram.hpp"
#include "vmlocal/mux/frame.hpp"
#include "vmlocal/outbound/mux_connection.hpp"
#include "vmlocal/outbound/mux_session.hpp"
#include "vmlocal/outbound/server_pool.hpp"
#include "vmlocal/outbound/vmess_udp_session.hpp"

using namespace vmlocal;
using vmlocal::test::hex;
using vmlocal::test::load_vectors;

namespace {

TargetAddress target_of(const std::string& text) {
  if (text == "127.0.0.1:53") return TargetAddress::ipv4({127, 0, 0, 1}, 53);
  if (text == "[2001:db8::1]:443") {
    return TargetAddress::ipv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 443);
  }
  REQUIRE(text == "dns.example:5353");
  return TargetAddress::from_domain("dns.example", 5353);
}

Bytes header_bytes(const mux::FrameMeta& meta, size_t data_len) {
  std::array<uint8_t, mux::kMaxFrameHeader> header{};
  const size_t n = mux::encode_frame_header(meta, static_cast<uint16_t>(data_len), header);
  return Bytes(header.begin(), header.begin() + static_cast<ptrdiff_t>(n));
}

// What MuxSession writes: New (no data) once, then one Keep frame per datagram.
Bytes frames_like_mux_session(const nlohmann::json& v) {
  mux::FrameMeta meta;
  meta.session_id = v["session_id"].get<uint16_t>();
  meta.network = mux::Network::kUdp;
  if (v["status"] == "new") {
    meta.status = mux::Status::kNew;
    meta.target = target_of(v["target"]);
    return header_bytes(meta, 0);
  }
  Bytes out;
  meta.status = mux::Status::kKeep;
  meta.option = mux::kOptionData;
  for (const auto& d : v["datagrams"]) {
    const Bytes datagram = hex(d);
    REQUIRE(mux::datagram_fits(datagram.size()));
    const Bytes h = header_bytes(meta, datagram.size());
    out.insert(out.end(), h.begin(), h.end());
    out.insert(out.end(), datagram.begin(), datagram.end());
  }
  return out;
}

// Reads `bytes` fed in pieces of `piece` bytes, and reassembles each frame's data as
// MuxSession does: the datagrams, in order.
std::vector<Bytes> datagrams_read(const Bytes& bytes, size_t piece,
                                  std::vector<mux::FrameMeta>* metas = nullptr) {
  mux::FrameReader reader;
  mux::DatagramAssembler assembler;
  std::vector<Bytes> out;
  for (size_t at = 0; at < bytes.size();) {
    const size_t n = std::min(piece, bytes.size() - at);
    ByteView input(bytes.data() + at, n);
    at += n;
    while (!input.empty()) {
      const mux::FrameReader::Step step = reader.next(input);
      input = input.subspan(step.consumed);
      REQUIRE(step.event != mux::FrameReader::Event::kError);
      if (step.event == mux::FrameReader::Event::kNeedMore) break;
      if (step.event == mux::FrameReader::Event::kFrame && metas != nullptr) {
        metas->push_back(reader.meta());
      }
      if (step.event != mux::FrameReader::Event::kData) continue;
      const std::optional<ByteView> whole = assembler.add(reader.data(), reader.last_piece());
      CHECK(whole.has_value() == reader.last_piece());
      if (whole) out.emplace_back(whole->begin(), whole->end());
    }
  }
  CHECK(assembler.held() == 0);
  return out;
}

std::vector<Bytes> datagrams_of(const nlohmann::json& v) {
  std::vector<Bytes> out;
  for (const auto& d : v["datagrams"])
    out.push_back(hex(d));
  return out;
}

}  // namespace

TEST_CASE("mux udp: New and Keep frames are v2ray 4.34's, byte for byte") {
  const auto& frames = load_vectors("mux_udp_frames.json")["frames"];
  REQUIRE(frames.size() >= 7);
  for (const auto& v : frames) {
    CAPTURE(v["name"].get<std::string>());
    if (v["status"] == "response keep") continue;  // the server's; read back below
    CHECK(frames_like_mux_session(v) == hex(v["bytes"]));
  }
}

TEST_CASE("mux udp: each of the server's frames is one datagram, however the bytes arrive") {
  for (const auto& v : load_vectors("mux_udp_frames.json")["frames"]) {
    CAPTURE(v["name"].get<std::string>());
    const Bytes bytes = hex(v["bytes"]);
    for (size_t piece : {size_t{1}, size_t{5}, size_t{100}, size_t{1024}, bytes.size()}) {
      CAPTURE(piece);
      std::vector<mux::FrameMeta> metas;
      CHECK(datagrams_read(bytes, piece, &metas) == datagrams_of(v));
      REQUIRE(!metas.empty());
      CHECK(metas.front().session_id == v["session_id"].get<uint16_t>());
      if (v["status"] == "new") {
        CHECK(metas.front().network == mux::Network::kUdp);
        CHECK(metas.front().target == target_of(v["target"]));
      }
    }
  }
}

TEST_CASE("mux udp: a datagram delivered in pieces is reassembled into one") {
  mux::DatagramAssembler assembler;
  const Bytes a = {1, 2, 3};
  const Bytes b = {4, 5};
  const Bytes c = {6};
  CHECK_FALSE(assembler.add(a, false).has_value());
  CHECK(assembler.held() == 3);
  CHECK_FALSE(assembler.add(b, false).has_value());
  const std::optional<ByteView> whole = assembler.add(c, true);
  REQUIRE(whole.has_value());
  CHECK(Bytes(whole->begin(), whole->end()) == Bytes{1, 2, 3, 4, 5, 6});
  CHECK(assembler.held() == 0);
  // The next frame starts afresh; one that comes whole is handed back as it is.
  const std::optional<ByteView> next = assembler.add(b, true);
  REQUIRE(next.has_value());
  CHECK(next->data() == b.data());
  CHECK(next->size() == 2);
}

TEST_CASE("mux udp: the datagram limit is the one v2ray 4.34's server enforces") {
  const auto& limits = load_vectors("mux_udp_frames.json")["limits"];
  REQUIRE(limits.size() >= 3);
  bool saw_refusal = false;
  for (const auto& l : limits) {
    const auto size = l["size"].get<size_t>();
    CAPTURE(size);
    CHECK(mux::datagram_fits(size) == l["accepted"].get<bool>());
    if (!l["accepted"].get<bool>()) {
      saw_refusal = true;
      CHECK(l["error"].get<std::string>().find("packet size too large") != std::string::npos);
    }
  }
  CHECK(saw_refusal);
  CHECK(mux::datagram_fits(2048));
  CHECK_FALSE(mux::datagram_fits(2049));
  CHECK_FALSE(mux::datagram_fits(0));
}

TEST_CASE("mux udp: an Xray UDP Keep frame with the address in its metadata (XUDP) is read") {
  // Xray writes Network, Port, AType and the address after the 4 fixed bytes of a UDP Keep
  // (common/mux/frame.go): metaLen 12 here. The extra bytes are skipped, the data is the datagram.
  const Bytes xudp_keep = {0x00, 0x0c, 0x00, 0x09, 0x02, 0x01,  // len, id 9, Keep, data
                           0x02, 0x00, 0x35, 0x01, 127,  0,     // UDP, port 53, IPv4 127.0.0.1
                           0,    1,    0x00, 0x03, 'd',  'n',  's'};
  for (size_t piece : {size_t{1}, size_t{2}, xudp_keep.size()}) {
    std::vector<mux::FrameMeta> metas;
    const std::vector<Bytes> got = datagrams_read(xudp_keep, piece, &metas);
    REQUIRE(metas.size() == 1);
    CHECK(metas[0].session_id == 9);
    CHECK(metas[0].status == mux::Status::kKeep);
    REQUIRE(got.size() == 1);
    CHECK(got[0] == Bytes{'d', 'n', 's'});
  }
}

namespace {

struct IgnoreReplies final : outbound::UdpSessionHandler {
  void on_udp_reply(outbound::VmessUdpSession&, ByteView) override {}
  void on_udp_session_ended(outbound::VmessUdpSession&, const std::string&) override {}
};

}  // namespace

TEST_CASE(
    "mux udp: with [server.mux] on, a UDP destination is a Mux.Cool sub-stream that "
    "refuses a datagram over 2048 B") {
  for (const vmess::Security security : {vmess::Security::kAes128Gcm, vmess::Security::kZero}) {
    CAPTURE(static_cast<int>(security));
    uv_loop_t loop;
    uv_loop_init(&loop);
    crypto::SystemRandom random;
    config::Profile profile;
    config::Profile::Server server;
    server.address = "127.0.0.1";
    server.port = test::closed_port();  // the mux dial fails; these tests do not wait for it
    server.uuid = test::fresh_account().id;
    server.security = security;
    server.mux.enabled = true;
    profile.servers = {server};
    // "zero" carries datagrams over mux (each is a frame of its own): UDP stays on.
    CHECK(config::udp_enabled(profile));
    {
      outbound::ServerPool pool(&loop, random);
      REQUIRE(pool.configure(profile));
      IgnoreReplies handler;
      outbound::UdpQueueBudget budget;
      auto opened = outbound::VmessUdpSession::open(pool, TargetAddress::ipv4({127, 0, 0, 1}, 53),
                                                    handler, budget);
      REQUIRE(opened);
      outbound::VmessUdpSession* session = *opened;
      CHECK(session->route() == "mux");
      CHECK(session->max_datagram() == 2048);
      const Bytes big(2049, 0x55);
      const Bytes fits(2048, 0x66);
      CHECK(session->send(big) == outbound::VmessUdpSession::SendResult::kTooLarge);
      CHECK(session->send(Bytes(3000, 1)) == outbound::VmessUdpSession::SendResult::kTooLarge);
      CHECK(session->send(fits) == outbound::VmessUdpSession::SendResult::kQueued);
      CHECK(budget.queued == 1);
      session->close();
      pool.stop();
      uv_run(&loop, UV_RUN_DEFAULT);
      CHECK(pool.mux_connection_count() == 0);
    }
    CHECK(uv_loop_close(&loop) == 0);
  }
}

TEST_CASE("mux udp: without [server.mux], security \"zero\" still cannot carry UDP") {
  config::Profile profile;
  config::Profile::Server server;
  server.address = "127.0.0.1";
  server.port = 1;
  server.uuid = test::fresh_account().id;
  server.security = vmess::Security::kZero;
  profile.servers = {server};
  CHECK_FALSE(config::udp_enabled(profile));
  // The reason `check` and the start line give (a newcomer was told "[local] udp", which they
  // had never set).
  CHECK(config::udp_off_reason(profile) ==
        "the server has security \"zero\" without [server.mux], which cannot keep datagrams "
        "apart");
  profile.servers = {server, server};
  CHECK(config::udp_off_reason(profile).starts_with("every server has security \"zero\""));
  profile.local.udp = false;
  CHECK(config::udp_off_reason(profile) == "[local] udp = false");
  profile.local.udp = true;
  server.mux.enabled = true;
  profile.servers = {server};
  CHECK(config::udp_enabled(profile));
  CHECK(config::udp_off_reason(profile).empty());
}

namespace {

// The app side of a MuxSession: the datagrams it was handed, one per view.
struct DatagramApp final : transport::StreamHandler {
  std::vector<Bytes> datagrams;
  bool closed = false;
  void on_stream_connected() override {}
  void on_stream_failed(const transport::Failure&) override {}
  MutableByteView on_stream_buffer() override { return {}; }
  void on_stream_read(size_t) override {}
  bool on_stream_views(uv_buf_t* views, size_t count) override {
    for (size_t i = 0; i < count; ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(views[i].base);
      datagrams.emplace_back(p, p + views[i].len);
    }
    return true;
  }
  void on_stream_eof() override {}
  void on_stream_write_done() override {}
  void on_stream_closed() override { closed = true; }
};

Bytes unsent_of(const outbound::MuxSession& session) {
  return Bytes(session.unsent().begin(), session.unsent().end());
}

}  // namespace

TEST_CASE(
    "mux udp: a packet-mode MuxSession frames v2ray's bytes, and hands each reply over "
    "whole, one datagram per view") {
  const auto& frames = load_vectors("mux_udp_frames.json")["frames"];
  const nlohmann::json* new_v = nullptr;
  const nlohmann::json* keep_v = nullptr;
  const nlohmann::json* reply_v = nullptr;
  for (const auto& v : frames) {
    if (v["name"] == "new udp ipv4") new_v = &v;
    if (v["name"] == "keep with one datagram") keep_v = &v;
    if (v["name"] == "the server's reply to one datagram") reply_v = &v;
  }
  REQUIRE((new_v != nullptr && keep_v != nullptr && reply_v != nullptr));

  uv_loop_t loop;
  uv_loop_init(&loop);
  crypto::SystemRandom random;
  {
    outbound::OutboundContext context(&loop, random);
    outbound::MuxPool pool(context);
    config::Profile::Server server;
    server.address = "127.0.0.1";
    server.port = 1;
    server.uuid = test::fresh_account().id;
    auto made = outbound::ServerContext::make(server);
    REQUIRE(made);
    // A connection that is never started: it takes the session's frames into nothing, which
    // leaves them in the session (unsent()) for the test to read.
    outbound::MuxConnection connection(context, *made, pool, 8);
    DatagramApp app;
    outbound::MuxSession session(&loop, pool, *made, target_of((*new_v)["target"]), app,
                                 mux::Network::kUdp);
    CHECK(session.max_write_size() == mux::kMaxUdpFrameData);
    connection.attach(session);
    REQUIRE(session.id() == (*new_v)["session_id"].get<uint16_t>());
    session.connection_ready();
    CHECK(unsent_of(session) == hex((*new_v)["bytes"]));
    session.took(session.unsent().size());

    // Uplink: one Keep frame per datagram; a datagram that cannot go is dropped, not split.
    Bytes datagram = hex((*keep_v)["datagrams"][0]);
    Bytes too_big(2049, 0x42);
    uv_buf_t bufs[2] = {uv_buf_init(reinterpret_cast<char*>(datagram.data()),
                                    static_cast<unsigned>(datagram.size())),
                        uv_buf_init(reinterpret_cast<char*>(too_big.data()),
                                    static_cast<unsigned>(too_big.size()))};
    CHECK(session.write(bufs, 2) == transport::Stream::WriteResult::kPending);
    CHECK(unsent_of(session) == hex((*keep_v)["bytes"]));
    CHECK(session.uplink_drops() == 1);
    session.took(session.unsent().size());
    // A full write of the largest datagrams fits the session's buffer.
    std::vector<Bytes> many(outbound::kMaxUplinkChunks, Bytes(mux::kMaxUdpFrameData, 7));
    std::vector<uv_buf_t> many_bufs;
    for (Bytes& d : many)
      many_bufs.push_back(uv_buf_init(reinterpret_cast<char*>(d.data()), 2048));
    CHECK(session.write(many_bufs.data(), many_bufs.size()) ==
          transport::Stream::WriteResult::kPending);
    CHECK(session.unsent().size() == outbound::kMaxUplinkChunks * (8 + 2048));
    session.took(session.unsent().size());

    // Downlink: the server's frame data in pieces (as FrameReader hands it) is one datagram.
    session.read_start();
    const Bytes reply = hex((*reply_v)["datagrams"][0]);
    const ByteView r(reply);
    session.on_frame_data(r.first(1), false);
    session.on_frame_data(r.subspan(1, 700), false);
    CHECK(app.datagrams.empty());
    session.on_frame_data(r.subspan(701), true);
    REQUIRE(app.datagrams.size() == 1);
    CHECK(app.datagrams[0] == reply);
    session.on_frame_data(r.first(10), true);
    REQUIRE(app.datagrams.size() == 2);
    CHECK(app.datagrams[1] == Bytes(reply.begin(), reply.begin() + 10));

    // An app that does not read: replies over the budget are dropped and counted, and the
    // session never holds more than kUdpDownlinkBudget (the shared connection never stalls).
    session.read_stop();
    const size_t fit = outbound::MuxSession::kUdpDownlinkBudget / reply.size();
    for (size_t i = 0; i < fit + 5; ++i)
      session.on_frame_data(r, true);
    CHECK(session.buffered() <= outbound::MuxSession::kUdpDownlinkBudget);
    CHECK(session.buffered() < outbound::MuxSession::kDownlinkBudget / 2);
    CHECK(session.downlink_drops() == 5);
    session.read_start();
    uv_run(&loop, UV_RUN_NOWAIT);  // read_start delivers on a later loop iteration
    CHECK(app.datagrams.size() == 2 + fit);

    session.close(false);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(app.closed);
  }
  CHECK(uv_loop_close(&loop) == 0);
}
