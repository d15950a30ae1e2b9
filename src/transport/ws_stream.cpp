// WsStream's lifetime, the HTTP upgrade, and the downlink (frames decoded in the handler's
// buffer). Writing and control frames are in ws_stream_write.cpp.
#include "vmlocal/transport/ws_stream.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "vmlocal/log/log.hpp"
#include "ws_stream_internal.hpp"

namespace vmlocal::transport {

using uv::make_buf;

WsStream::WsStream(uv_loop_t* loop, StreamHandler& handler, WsOptions options,
                   crypto::Random& random, const MakeInner& make_inner)
    : LayerStream(loop, handler, make_inner), options_(std::move(options)), random_(random) {}

WsStream::~WsStream() = default;

std::string_view WsStream::connect_stage() const {
  if (!inner_connected_) return inner_->connect_stage();
  if (awaiting_first_write_) return "WebSocket: waiting for the early data";
  return connected_ ? "connected" : "WebSocket: upgrade";
}

ws::MaskKey WsStream::draw_mask() {
  ws::MaskKey key{};
  random_.fill(MutableByteView(key.data(), key.size()));
  return key;
}

// ---------------------------------------------------------------------------------------------
// Upgrade

void WsStream::on_stream_connected() {
  if (closing() || failed()) return;
  inner_connected_ = true;
  if (options_.max_early_data > 0) {
    // The request waits for the first bytes it is to carry (write_early).
    awaiting_first_write_ = true;
    handler_.on_stream_writable();
    return;
  }
  if (!send_upgrade(options_.request, {})) fail(failure_.kind, failure_.message);
}

bool WsStream::send_upgrade(const ws::UpgradeRequest& request, std::string offered_protocol) {
  handshake_ = std::make_unique<Handshake>();
  std::array<uint8_t, 16> nonce{};
  random_.fill(MutableByteView(nonce.data(), nonce.size()));
  handshake_->key = ws::make_key(nonce);
  handshake_->request = ws::build_upgrade_request(request, handshake_->key);
  handshake_->reader.emplace(handshake_->key, std::move(offered_protocol));
  handshake_->request_buf = make_buf(reinterpret_cast<const uint8_t*>(handshake_->request.data()),
                                     handshake_->request.size());
  switch (inner_->write(&handshake_->request_buf, 1)) {
    case WriteResult::kDone:
      break;
    case WriteResult::kPending:
      handshake_->request_in_flight = true;
      inner_write_pending_ = true;
      break;
    case WriteResult::kFailed:
      failure_ = inner_->failure();
      return false;
  }
  update_inner_reading();
  return true;
}

// The handler's first write with early data on: its first bytes go in the upgrade request, the
// rest waits in the caller's buffers (rewritten to skip what went) for the 101.
Stream::WriteResult WsStream::write_early(uv_buf_t* bufs, size_t count) {
  awaiting_first_write_ = false;
  Bytes early;
  early.reserve(options_.max_early_data);
  for (size_t i = 0; i < count && early.size() < options_.max_early_data; ++i) {
    const size_t take = std::min<size_t>(bufs[i].len, options_.max_early_data - early.size());
    const auto* data = reinterpret_cast<const uint8_t*>(bufs[i].base);
    early.insert(early.end(), data, data + take);
    bufs[i].base += take;
    bufs[i].len -= take;
  }
  const ws::UpgradeRequest request =
      ws::with_early_data(options_.request, early, options_.early_data_header);
  // Only a value in Sec-WebSocket-Protocol may come back (echoed) in the 101.
  std::string offered;
  if (!options_.early_data_header.empty() && request.headers.back().first.size() == 22 &&
      std::equal(request.headers.back().first.begin(), request.headers.back().first.end(),
                 "sec-websocket-protocol",
                 [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
    offered = request.headers.back().second;
  }
  queued_bufs_ = bufs;
  queued_count_ = count;
  early_write_ = true;
  log::debug("WebSocket: ", early.size(), " bytes of early data in the upgrade request");
  if (!send_upgrade(request, std::move(offered))) return WriteResult::kFailed;
  return WriteResult::kPending;
}

void WsStream::finish_early_write() {
  if (!early_write_ || inner_write_pending_) return;  // the request is still being written
  early_write_ = false;
  switch (send_data(queued_bufs_, queued_count_)) {
    case WriteResult::kDone:
      handler_.on_stream_write_done();
      return;
    case WriteResult::kPending:
      return;  // on_stream_write_done() reports it
    case WriteResult::kFailed:
      fail(failure_.kind, failure_.message);
      return;
  }
}

void WsStream::on_upgrade_bytes(size_t n) {
  Handshake& h = *handshake_;
  const ws::UpgradeResponseReader::Step step = h.reader->feed(ByteView(h.scratch.data(), n));
  if (step.status != ws::UpgradeResponseReader::Status::kNeedMore) {
    status_line_ = h.reader->status_line();
    date_ = h.reader->date();
  }
  switch (step.status) {
    case ws::UpgradeResponseReader::Status::kNeedMore:
      return;
    case ws::UpgradeResponseReader::Status::kError: {
      std::string message = "WebSocket: " + h.reader->error();
      const int code = h.reader->status_code();
      if (code == 404 || code == 400 || code == 403) {
        message += " (check [server.ws] path \"" + options_.request.path + "\" and host \"" +
                   options_.request.host + "\")";
      }
      fail(FailureKind::kProtocol, std::move(message));
      return;
    }
    case ws::UpgradeResponseReader::Status::kDone:
      break;
  }
  // Frames may follow the head in the same read; keep them for the first read_start().
  if (step.consumed < n) hold(h.scratch.data() + step.consumed, n - step.consumed);
  connected_ = true;
  if (!h.request_in_flight) handshake_.reset();
  update_inner_reading();  // stops until the handler reads
  log::debug("WebSocket: upgraded (GET ", options_.request.path, ", Host ", options_.request.host,
             ")");
  handler_.on_stream_connected();
  if (closing() || failed()) return;
  finish_early_write();
}

// ---------------------------------------------------------------------------------------------
// Reading

MutableByteView WsStream::on_stream_buffer() {
  if (!connected_) {
    return MutableByteView(handshake_->scratch.data(), handshake_->scratch.size());
  }
  const MutableByteView space = handler_.on_stream_buffer();
  lent_ = space.data();
  return space;
}

void WsStream::on_stream_read(size_t n) {
  if (closing() || failed()) return;
  if (!connected_) {
    on_upgrade_bytes(n);
    return;
  }
  process(lent_, n);
}

void WsStream::process(uint8_t* base, size_t n) {
  size_t out = 0;
  size_t pos = 0;
  while (pos < n && !close_received_) {
    const ws::DecodeStep step = decoder_.next(MutableByteView(base + pos, n - pos));
    pos += step.consumed;
    if (step.status == ws::DecodeStatus::kNeedMore) break;
    if (step.status == ws::DecodeStatus::kError) {
      fail(FailureKind::kProtocol, "WebSocket: " + decoder_.error());
      return;
    }
    if (step.status == ws::DecodeStatus::kControl) {
      on_control(step.opcode, step.data);
      if (failed() || closing()) return;
      continue;
    }
    // kData
    if (step.opcode == ws::Opcode::kText) {
      fail(FailureKind::kProtocol,
           "WebSocket: the server sent a text message; VMess over WebSocket uses binary "
           "messages");
      return;
    }
    if (!step.data.empty()) {
      uint8_t* to = base + out;
      if (to != step.data.data()) std::memmove(to, step.data.data(), step.data.size());
      out += step.data.size();
    }
  }
  if (out > 0) handler_.on_stream_read(out);
  if (closing() || failed()) return;
  // Answers (pong, the Close echo) go below before the handler hears of the end.
  send_queued_control();
  if (closing() || failed()) return;
  if (close_received_) report_eof();
}

void WsStream::on_control(ws::Opcode opcode, ByteView payload) {
  switch (opcode) {
    case ws::Opcode::kPing:
      if (!close_sent_) queue_control(ws::Opcode::kPong, payload);
      return;
    case ws::Opcode::kPong:
      return;
    case ws::Opcode::kClose: {
      uint16_t code = 0;
      std::string reason;
      if (!ws::parse_close_payload(payload, code, reason)) {
        fail(FailureKind::kProtocol, "WebSocket: the server sent a malformed close frame");
        return;
      }
      close_received_ = true;
      peer_close_code_ = code;
      log::debug("WebSocket: the server closed (", code, reason.empty() ? "" : " ", reason, ")");
      if (!close_sent_) {
        // Echo the code (§5.5.1); "no status" is answered with a plain normal closure.
        std::array<uint8_t, ws::kMaxControlPayload> body{};
        const uint16_t echo = code == ws::kCloseNoStatus ? ws::kCloseNormal : code;
        const size_t len = ws::encode_close_payload(echo, {}, body);
        queue_control(ws::Opcode::kClose, ByteView(body.data(), len));
      }
      return;
    }
    default:
      return;
  }
}

void WsStream::on_stream_eof() {
  if (closing() || failed()) return;
  inner_eof_ = true;
  note_inner_reads_stopped();
  if (!connected_) {
    fail(FailureKind::kProtocol,
         "WebSocket: the server closed the connection during the upgrade (check [server.ws] "
         "path \"" +
             options_.request.path + "\" and host \"" + options_.request.host + "\")");
    return;
  }
  if (!close_received_) log::debug("WebSocket: the connection ended without a close frame");
  report_eof();
}

void WsStream::deliver_held(uint8_t* base, size_t n) {
  process(base, n);  // frames that came with the 101
}

bool WsStream::wants_inner_reads() const {
  if (inner_eof_ || !inner_connected_ || awaiting_first_write_) return false;
  return !connected_ || (reading() && !eof_reported() && !close_received_ && !holds_bytes());
}

}  // namespace vmlocal::transport
