// H2Stream's lifetime, the nghttp2 session and its callbacks, and the downlink. The uplink
// (write, shutdown, framing output, graceful close) is in h2_stream_write.cpp.
#include "vmlocal/transport/h2_stream.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "vmlocal/log/log.hpp"

namespace vmlocal::transport {

namespace {

std::string_view view(const uint8_t* data, size_t len) {
  return {reinterpret_cast<const char*>(data), len};
}

// gRPC status codes by number (grpc/grpc doc/statuscodes.md), for messages.
std::string grpc_status_name(const std::string& code) {
  static constexpr std::array<std::string_view, 17> kNames = {"OK",
                                                              "CANCELLED",
                                                              "UNKNOWN",
                                                              "INVALID_ARGUMENT",
                                                              "DEADLINE_EXCEEDED",
                                                              "NOT_FOUND",
                                                              "ALREADY_EXISTS",
                                                              "PERMISSION_DENIED",
                                                              "RESOURCE_EXHAUSTED",
                                                              "FAILED_PRECONDITION",
                                                              "ABORTED",
                                                              "OUT_OF_RANGE",
                                                              "UNIMPLEMENTED",
                                                              "INTERNAL",
                                                              "UNAVAILABLE",
                                                              "DATA_LOSS",
                                                              "UNAUTHENTICATED"};
  if (code.size() <= 2 && !code.empty() &&
      std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const size_t n = std::stoul(code);
    if (n < kNames.size()) return code + " " + std::string(kNames[n]);
  }
  return code;
}

}  // namespace

// nghttp2 calls these from inside mem_recv / mem_send: they only record what happened; the
// handler hears of it after the call returns (a handler may close the stream, which must not
// happen inside nghttp2).
struct H2Stream::Callbacks {
  static H2Stream& self(void* user_data) { return *static_cast<H2Stream*>(user_data); }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                       void* user_data) {
    H2Stream& s = self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != s.stream_id_) return 0;
    const std::string_view key = view(name, namelen);
    const std::string_view text = view(value, valuelen);
    if (key == ":status") {
      s.status_ = 0;
      for (char c : text)
        s.status_ = s.status_ * 10 + (c - '0');  // nghttp2 checked 3 digits
    } else if (key == "content-type") {
      s.content_type_ = text;
    } else if (key == "grpc-status") {
      s.grpc_status_ = text;
    } else if (key == "grpc-message") {
      s.grpc_message_ = text.substr(0, 200);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    H2Stream& s = self(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      log::debug("HTTP/2: the server sent GOAWAY (",
                 nghttp2_http2_strerror(frame->goaway.error_code), ")");
      return 0;
    }
    if (frame->hd.stream_id != s.stream_id_ || s.pending_failure_) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
      s.on_response_headers();
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
        (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)) {
      s.on_remote_end();
    }
    return 0;
  }

  static int on_data_chunk_recv(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                                size_t len, void* user_data) {
    H2Stream& s = self(user_data);
    if (stream_id != s.stream_id_ || s.pending_failure_) return 0;
    if (!s.options_.grpc) {
      s.deliver(data, len);
      return 0;
    }
    ByteView rest(data, len);
    while (!rest.empty()) {
      const grpc::DecodeStep step = s.decoder_.next(rest);
      rest = rest.subspan(step.consumed);
      if (step.status == grpc::DecodeStatus::kError) {
        s.note_failure(FailureKind::kProtocol, s.decoder_.error());
        return 0;
      }
      if (step.status == grpc::DecodeStatus::kNeedMore) break;
      s.deliver(step.data.data(), step.data.size());
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                             void* user_data) {
    H2Stream& s = self(user_data);
    if (stream_id != s.stream_id_) return 0;
    s.stream_closed_ = true;
    if (s.remote_ended_ || s.closing()) return 0;  // a reset after the response ended: whole
    s.note_failure(FailureKind::kReset,
                   error_code == NGHTTP2_NO_ERROR
                       ? std::string("HTTP/2: the server closed the stream before the response "
                                     "ended")
                       : std::string("HTTP/2: the server reset the stream (") +
                             nghttp2_http2_strerror(error_code) + ")");
    return 0;
  }

  // Uplink: the caller's bytes are not copied into nghttp2's buffer (NO_COPY); send_data puts
  // the frame header and the caller's buffers into the batch instead.
  static ssize_t read_data(nghttp2_session*, int32_t, uint8_t*, size_t length, uint32_t* data_flags,
                           nghttp2_data_source*, void* user_data) {
    H2Stream& s = self(user_data);
    size_t remaining = 0;
    for (size_t i = s.source_index_; i < s.source_.size(); ++i)
      remaining += s.source_[i].len;
    if (remaining == 0) {
      if (!s.shut_down_) return NGHTTP2_ERR_DEFERRED;
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;  // END_STREAM: the request's end
      return 0;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    return static_cast<ssize_t>(std::min(length, remaining));
  }

  static int send_data(nghttp2_session*, nghttp2_frame*, const uint8_t* framehd, size_t length,
                       nghttp2_data_source*, void* user_data) {
    H2Stream& s = self(user_data);
    s.append_own(framehd, 9);  // no padding: we never ask nghttp2 for any
    while (length > 0) {
      uv_buf_t& buf = s.source_[s.source_index_];
      const size_t n = std::min(length, buf.len);
      s.slices_.push_back(Slice{reinterpret_cast<const uint8_t*>(buf.base), 0, n});
      buf.base += n;
      buf.len -= n;
      length -= n;
      if (buf.len == 0) ++s.source_index_;
    }
    if (s.source_index_ == s.source_.size()) s.source_drained_ = true;
    return 0;
  }
};

H2Stream::H2Stream(uv_loop_t* loop, StreamHandler& handler, H2Options options,
                   const MakeInner& make_inner)
    : LayerStream(loop, handler, make_inner), options_(std::move(options)) {}

H2Stream::~H2Stream() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

std::string_view H2Stream::connect_stage() const {
  if (!inner_connected_) return inner_->connect_stage();
  if (connected_) return "connected";
  return options_.grpc ? "gRPC: response headers" : "HTTP/2: response headers";
}

std::vector<std::pair<std::string, std::string>> H2Stream::request_headers(
    const H2Options& options) {
  if (options.grpc) {
    return {{":method", "POST"},
            {":scheme", "https"},
            {":path", options.path},
            {":authority", options.authority},
            {"content-type", "application/grpc"},
            {"te", "trailers"}};
  }
  // The order and values Go's http2.Transport writes for v2ray's request.
  return {{":authority", options.authority}, {":method", "PUT"},
          {":path", options.path},           {":scheme", "https"},
          {"accept-encoding", "identity"},   {"user-agent", "Go-http-client/2.0"}};
}

// ---------------------------------------------------------------------------------------------
// Session

void H2Stream::on_stream_connected() {
  if (closing() || failed()) return;
  inner_connected_ = true;
  if (!start_session() || !pump_output()) {
    fail(failure_.kind, failure_.message);
    return;
  }
  update_inner_reading();
}

bool H2Stream::start_session() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) {
    failure_ = Failure{FailureKind::kOther, "HTTP/2: out of memory"};
    return false;
  }
  nghttp2_session_callbacks_set_on_header_callback(callbacks, Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                            Callbacks::on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_send_data_callback(callbacks, Callbacks::send_data);
  const int rv = nghttp2_session_client_new(&session_, callbacks, this);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    failure_ = Failure{FailureKind::kOther, std::string("HTTP/2: ") + nghttp2_strerror(rv)};
    return false;
  }
  const std::array<nghttp2_settings_entry, 2> settings = {{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kH2ReceiveWindow)},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kH2ReceiveWindow);

  const auto headers = request_headers(options_);
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    nva.push_back(nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                             const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                             name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider provider{};
  provider.read_callback = Callbacks::read_data;
  stream_id_ = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &provider, this);
  if (stream_id_ < 0) {
    failure_ = Failure{FailureKind::kOther, std::string("HTTP/2: cannot start the request: ") +
                                                nghttp2_strerror(stream_id_)};
    return false;
  }
  log::debug(options_.grpc ? "gRPC: POST " : "HTTP/2: PUT ", options_.path, " (",
             options_.authority, ")");
  return true;
}

void H2Stream::note_failure(FailureKind kind, std::string message) {
  if (pending_failure_) return;
  pending_failure_ = true;
  pending_ = Failure{kind, std::move(message)};
}

void H2Stream::on_response_headers() {
  if (response_seen_) return;  // trailers come as HEADERS of another category
  response_seen_ = true;
  if (status_ != 200) {
    std::string message = std::string(options_.grpc ? "gRPC" : "HTTP/2") +
                          ": the server answered " + std::to_string(status_) + " to " +
                          (options_.grpc ? "POST " : "PUT ") + options_.path;
    if (options_.grpc) {
      message += " (check [server.grpc] service_name)";
    } else {
      message +=
          " (check [server.h2] path and host; the host sent was \"" + options_.authority + "\")";
    }
    note_failure(FailureKind::kProtocol, std::move(message));
    return;
  }
  if (options_.grpc && !content_type_.starts_with("application/grpc")) {
    note_failure(FailureKind::kProtocol,
                 "gRPC: the server answered with content-type \"" + content_type_ +
                     "\", not a gRPC response (check [server.grpc] service_name, and that the "
                     "server's transport is grpc)");
  }
}

void H2Stream::on_remote_end() {
  remote_ended_ = true;
  if (!options_.grpc) return;
  if (!grpc_status_.empty() && grpc_status_ != "0") {
    std::string message =
        "gRPC: the server ended the call with status " + grpc_status_name(grpc_status_);
    if (!grpc_message_.empty()) message += " (" + grpc_message_ + ")";
    if (grpc_status_ == "12") message += "; check [server.grpc] service_name";
    note_failure(FailureKind::kProtocol, std::move(message));
  } else if (!decoder_.at_message_boundary()) {
    note_failure(FailureKind::kReset, "gRPC: the stream ended inside a message");
  }
}

// ---------------------------------------------------------------------------------------------
// Downlink

MutableByteView H2Stream::on_stream_buffer() {
  // The handler's buffer only while it reads and DATA may still come; control frames after
  // the response's end, and everything before the response, go through the scratch buffer.
  if (connected_ && reading() && !remote_ended_ && !holds_bytes()) {
    const MutableByteView space = handler_.on_stream_buffer();
    lent_ = space.data();
    return space;
  }
  lent_ = nullptr;
  return MutableByteView(scratch_.data(), scratch_.size());
}

void H2Stream::on_stream_read(size_t n) {
  if (closing() || failed()) return;
  if (lent_ != nullptr) {
    receive(lent_, n, true);
  } else {
    receive(scratch_.data(), n, false);
  }
}

void H2Stream::deliver(const uint8_t* data, size_t n) {
  if (n == 0) return;
  if (into_handler_) {
    // Payload only ever moves left: the frame headers before it were cut out.
    if (lent_ + delivered_ != data) std::memmove(lent_ + delivered_, data, n);
    delivered_ += n;
    return;
  }
  hold(data, n);
}

void H2Stream::receive(uint8_t* base, size_t n, bool into_handler_buffer) {
  into_handler_ = into_handler_buffer;
  delivered_ = 0;
  const ssize_t rv = nghttp2_session_mem_recv(session_, base, n);
  into_handler_ = false;
  if (rv < 0) {
    fail(FailureKind::kProtocol, std::string(options_.grpc ? "gRPC" : "HTTP/2") + ": " +
                                     nghttp2_strerror(static_cast<int>(rv)));
    return;
  }
  if (pending_failure_) {
    fail(pending_.kind, pending_.message);
    return;
  }
  if (response_seen_ && !connected_) {
    connected_ = true;
    update_inner_reading();  // stops until the handler reads
    handler_.on_stream_connected();
    if (closing() || failed()) return;
  }
  if (delivered_ > 0) {
    handler_.on_stream_read(delivered_);
    if (closing() || failed()) return;
  }
  // SETTINGS and PING acknowledgements, WINDOW_UPDATEs, and DATA a window update unblocked.
  const bool write_was_pending = user_write_pending_;
  if (!pump_output()) {
    fail(failure_.kind, failure_.message);
    return;
  }
  if (write_was_pending && !source_active_ && !inner_write_pending_) {
    user_write_pending_ = false;
    handler_.on_stream_write_done();
    if (closing() || failed()) return;
  }
  if (stream_closed_ && source_active_ && !source_drained_) {
    fail(FailureKind::kReset, std::string(options_.grpc ? "gRPC" : "HTTP/2") +
                                  ": the server ended the stream while the uplink was sending");
    return;
  }
  if (remote_ended_ && connected_) report_eof();
  update_inner_reading();
}

void H2Stream::on_stream_eof() {
  if (closing() || failed()) return;
  inner_eof_ = true;
  note_inner_reads_stopped();
  if (!connected_) {
    fail(FailureKind::kProtocol,
         std::string(options_.grpc ? "gRPC" : "HTTP/2") +
             ": the server closed the connection before answering the request");
    return;
  }
  if (!remote_ended_) {
    fail(FailureKind::kReset, std::string(options_.grpc ? "gRPC" : "HTTP/2") +
                                  ": the connection closed before the response ended");
    return;
  }
  report_eof();
}

bool H2Stream::wants_inner_reads() const {
  if (inner_eof_ || !inner_connected_) return false;
  if (!connected_) return true;  // SETTINGS and the response headers
  // After the response's end only control frames come (window updates for the uplink).
  if (remote_ended_) return !stream_closed_ || inner_write_pending_ || source_active_;
  return reading() && !holds_bytes() && !end_pending();
}

}  // namespace vmlocal::transport
