#include "vmlocal/transport/httpupgrade_stream.hpp"

#include <algorithm>
#include <cstring>

#include "vmlocal/log/log.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::transport {

struct HttpUpgradeStream::Upgrade {
  std::string request;
  uv_buf_t request_buf{};
  ws::UpgradeResponseReader reader = httpupgrade::make_response_reader();
  std::array<uint8_t, 4096> scratch{};
};

HttpUpgradeStream::HttpUpgradeStream(uv_loop_t* loop, StreamHandler& handler,
                                     httpupgrade::Request request, const MakeInner& make_inner)
    : LayerStream(loop, handler, make_inner), request_(std::move(request)) {}

HttpUpgradeStream::~HttpUpgradeStream() = default;

std::string_view HttpUpgradeStream::connect_stage() const {
  if (!inner_connected_) return inner_->connect_stage();
  return connected_ ? "connected" : "HTTPUpgrade: upgrade";
}

void HttpUpgradeStream::on_stream_connected() {
  if (closing() || failed()) return;
  inner_connected_ = true;
  upgrade_ = std::make_unique<Upgrade>();
  upgrade_->request = httpupgrade::build_request(request_);
  upgrade_->request_buf = uv::make_buf(reinterpret_cast<const uint8_t*>(upgrade_->request.data()),
                                       upgrade_->request.size());
  switch (inner_->write(&upgrade_->request_buf, 1)) {
    case WriteResult::kDone:
      break;
    case WriteResult::kPending:
      request_in_flight_ = true;
      break;
    case WriteResult::kFailed:
      fail(inner_->failure().kind, inner_->failure().message);
      return;
  }
  update_inner_reading();
}

MutableByteView HttpUpgradeStream::on_stream_buffer() {
  if (!connected_) return MutableByteView(upgrade_->scratch.data(), upgrade_->scratch.size());
  const MutableByteView space = handler_.on_stream_buffer();
  lent_ = space.data();
  return space;
}

void HttpUpgradeStream::on_stream_read(size_t n) {
  if (closing() || failed()) return;
  if (connected_) {
    handler_.on_stream_read(n);
    return;
  }
  on_upgrade_bytes(n);
}

void HttpUpgradeStream::on_upgrade_bytes(size_t n) {
  const ws::UpgradeResponseReader::Step step =
      upgrade_->reader.feed(ByteView(upgrade_->scratch.data(), n));
  switch (step.status) {
    case ws::UpgradeResponseReader::Status::kNeedMore:
      return;
    case ws::UpgradeResponseReader::Status::kError: {
      std::string message = "HTTPUpgrade: " + upgrade_->reader.error();
      const int code = upgrade_->reader.status_code();
      if (code == 404 || code == 400 || code == 403) {
        message += " (check [server.httpupgrade] path \"" + request_.path + "\" and host \"" +
                   request_.host + "\")";
      }
      fail(FailureKind::kProtocol, std::move(message));
      return;
    }
    case ws::UpgradeResponseReader::Status::kDone:
      break;
  }
  hold(upgrade_->scratch.data() + step.consumed, n - step.consumed);
  connected_ = true;
  if (!request_in_flight_) upgrade_.reset();
  update_inner_reading();  // stops until the handler reads
  log::debug("HTTPUpgrade: upgraded (GET ", request_.path, ", Host ", request_.host, ")");
  handler_.on_stream_connected();
}

bool HttpUpgradeStream::wants_inner_reads() const {
  if (inner_eof_ || !inner_connected_) return false;
  return !connected_ || (reading() && !holds_bytes() && !eof_reported());
}

void HttpUpgradeStream::on_stream_eof() {
  if (closing() || failed()) return;
  inner_eof_ = true;
  note_inner_reads_stopped();
  if (!connected_) {
    fail(FailureKind::kProtocol,
         "HTTPUpgrade: the server closed the connection during the upgrade (check "
         "[server.httpupgrade] path \"" +
             request_.path + "\" and host \"" + request_.host + "\")");
    return;
  }
  report_eof();
}

Stream::WriteResult HttpUpgradeStream::write(uv_buf_t* bufs, size_t count) {
  if (!connected_ || closing() || failed()) {
    if (failure_.message.empty())
      failure_ = Failure{FailureKind::kReset, "HTTPUpgrade: not writable"};
    return WriteResult::kFailed;
  }
  if (request_in_flight_) {
    // The 101 came before the request's write was reported done: this write follows it.
    queued_bufs_ = bufs;
    queued_count_ = count;
    write_queued_ = true;
    return WriteResult::kPending;
  }
  const WriteResult result = inner_->write(bufs, count);
  if (result == WriteResult::kFailed) failure_ = inner_->failure();
  return result;
}

Stream::WriteResult HttpUpgradeStream::shutdown() {
  return inner_->shutdown();
}

void HttpUpgradeStream::on_stream_write_done() {
  if (failed()) return;
  if (closing()) {
    on_close_write_done();
    return;
  }
  if (request_in_flight_) {
    request_in_flight_ = false;
    if (connected_) upgrade_.reset();
    if (!write_queued_) return;
    write_queued_ = false;
    switch (inner_->write(queued_bufs_, queued_count_)) {
      case WriteResult::kDone:
        break;
      case WriteResult::kPending:
        return;
      case WriteResult::kFailed:
        fail(inner_->failure().kind, inner_->failure().message);
        return;
    }
  }
  handler_.on_stream_write_done();
}

}  // namespace vmlocal::transport
