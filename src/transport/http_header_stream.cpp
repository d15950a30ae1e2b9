#include "vmlocal/transport/http_header_stream.hpp"

#include <cstring>

#include "vmlocal/log/log.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::transport {

HttpHeaderStream::HttpHeaderStream(uv_loop_t* loop, StreamHandler& handler,
                                   const http_header::RequestOptions& options,
                                   crypto::Random& random, const MakeInner& make_inner)
    : LayerStream(loop, handler, make_inner),
      request_head_(http_header::build_request_head(options, random)) {}

std::string_view HttpHeaderStream::connect_stage() const {
  return inner_->connect_stage();
}

void HttpHeaderStream::on_stream_connected() {
  if (closing() || failed()) return;
  connected_ = true;
  handler_.on_stream_connected();
}

Stream::WriteResult HttpHeaderStream::write(uv_buf_t* bufs, size_t count) {
  if (!connected_ || closing() || failed()) {
    if (failure_.message.empty())
      failure_ = Failure{FailureKind::kReset, "HTTP header: not writable"};
    return WriteResult::kFailed;
  }
  WriteResult result;
  if (!head_sent_) {
    head_sent_ = true;
    iov_.clear();
    iov_.push_back(
        uv::make_buf(reinterpret_cast<const uint8_t*>(request_head_.data()), request_head_.size()));
    iov_.insert(iov_.end(), bufs, bufs + count);
    result = inner_->write(iov_.data(), iov_.size());
  } else {
    result = inner_->write(bufs, count);
  }
  switch (result) {
    case WriteResult::kDone:
      break;
    case WriteResult::kPending:
      write_pending_ = true;
      return result;
    case WriteResult::kFailed:
      failure_ = inner_->failure();
      return result;
  }
  if (!request_head_.empty()) {
    request_head_.clear();
    request_head_.shrink_to_fit();
  }
  return result;
}

Stream::WriteResult HttpHeaderStream::shutdown() {
  return inner_->shutdown();
}

void HttpHeaderStream::on_stream_write_done() {
  if (failed()) return;
  write_pending_ = false;
  if (closing()) {
    on_close_write_done();
    return;
  }
  if (!request_head_.empty()) {
    request_head_.clear();
    request_head_.shrink_to_fit();
  }
  handler_.on_stream_write_done();
}

MutableByteView HttpHeaderStream::on_stream_buffer() {
  const MutableByteView space = handler_.on_stream_buffer();
  lent_ = space.data();
  return space;
}

void HttpHeaderStream::on_stream_read(size_t n) {
  if (closing() || failed()) return;
  if (response_head_done_) {
    body_seen_ = true;
    handler_.on_stream_read(n);
    return;
  }
  const http_header::ResponseHeadReader::Step step = reader_.feed(ByteView(lent_, n));
  switch (step.status) {
    case http_header::ResponseHeadReader::Status::kNeedMore:
      return;
    case http_header::ResponseHeadReader::Status::kError:
      fail(FailureKind::kProtocol, "HTTP header: " + reader_.error());
      return;
    case http_header::ResponseHeadReader::Status::kDone:
      break;
  }
  response_head_done_ = true;
  log::debug("HTTP header: response ", reader_.status_code(), " ", reader_.reason());
  const size_t rest = n - step.consumed;
  if (rest == 0) return;
  std::memmove(lent_, lent_ + step.consumed, rest);
  body_seen_ = true;
  handler_.on_stream_read(rest);
}

void HttpHeaderStream::on_stream_eof() {
  if (closing() || failed()) return;
  inner_eof_ = true;
  note_inner_reads_stopped();
  if (!response_head_done_ && reader_.seen() > 0) {
    fail(FailureKind::kProtocol,
         "HTTP header: the server closed in the middle of its response head");
    return;
  }
  const int code = reader_.status_code();
  if (response_head_done_ && !body_seen_ && (code < 200 || code > 299)) {
    // v2ray's server answers a request head it refuses with 400 (malformed or too long) or 404
    // (a path not in its list), then closes (headers/http/http.go, Conn.Close).
    std::string message = "HTTP header: the server answered \"" + std::to_string(code) + " " +
                          reader_.reason() + "\" and closed";
    if (code == 404) message += " (check [server.tcp] path: the server accepts only its own list)";
    fail(FailureKind::kProtocol, std::move(message));
    return;
  }
  handler_.on_stream_eof();
}

}  // namespace vmlocal::transport
