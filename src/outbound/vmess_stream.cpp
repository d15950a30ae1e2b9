// VmessStream: building the request, the stack below, failures and the close.
#include "vmlocal/outbound/vmess_stream.hpp"

#include <cassert>
#include <cstdint>
#include <ctime>
#include <exception>
#include <optional>

#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/clock_check.hpp"
#include "vmlocal/outbound/server_state.hpp"
#include "vmlocal/transport/upstream.hpp"
#include "vmlocal/util/http_date.hpp"

namespace vmlocal::outbound {
namespace {

// A VMess server never explains a refusal (§11): it closes, or drains and closes. And some
// servers (sing-box's) close the same way when the target refused, or closed without sending
// anything, so every cause stays on the list.
constexpr std::string_view kNoResponse =
    "server closed the connection before responding: the target refused the connection or "
    "closed it without sending anything, or the server could not reach it, or the server "
    "rejected the request (wrong uuid or alter_id, or this clock is off by more than 2 minutes)";

}  // namespace

Result<VmessStream::Prepared> VmessStream::prepare(OutboundContext& context,
                                                   const ServerContext& server,
                                                   const TargetAddress& target,
                                                   vmess::Command command) {
  // Built before connecting, so a target VMess cannot carry fails without traffic.
  const vmess::RequestParams params = server.request_params(target, command);
  const int64_t offset = server.state->clock_offset();
  std::optional<vmess::BuildResult> built;
  try {
    // The vmess layer throws only on a caller's contract breach (bad key sizes, an unknown
    // security): this runs inside a libuv callback, where no exception may escape.
    const vmess::RequestSecrets secrets =
        vmess::RequestSecrets::draw(context.random, server.account, server.header_mode);
    built = vmess::build_request(server.account, params, secrets,
                                 static_cast<int64_t>(std::time(nullptr)) + offset, context.random);
  } catch (const std::exception& e) {
    return Error{ErrorKind::kOther, std::string("internal: building the request: ") + e.what()};
  }
  if (!built->request) return Error{ErrorKind::kUnreachable, "target rejected: " + built->error};
  if (command == vmess::Command::kUdp && built->request->uplink.max_payload() == SIZE_MAX) {
    return Error{ErrorKind::kUnreachable,
                 "UDP needs a chunked VMess body, and security \"zero\" has none"};
  }
  return Prepared{target, std::move(*built->request), offset, command};
}

std::unique_ptr<VmessStream> VmessStream::create(OutboundContext& context,
                                                 std::shared_ptr<const ServerContext> server,
                                                 Prepared prepared,
                                                 transport::StreamHandler& handler,
                                                 bool report_outcome, WarmPool* warm) {
  return std::unique_ptr<VmessStream>(new VmessStream(
      context, std::move(server), std::move(prepared), handler, report_outcome, warm));
}

Result<std::unique_ptr<VmessStream>> VmessStream::open(OutboundContext& context,
                                                       std::shared_ptr<const ServerContext> server,
                                                       const TargetAddress& target,
                                                       transport::StreamHandler& handler,
                                                       vmess::Command command, WarmPool* warm) {
  auto prepared = prepare(context, *server, target, command);
  if (!prepared) return prepared.error();
  return create(context, std::move(server), std::move(*prepared), handler, true, warm);
}

VmessStream::VmessStream(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                         Prepared prepared, transport::StreamHandler& handler, bool report_outcome,
                         WarmPool* warm)
    : context_(context),
      server_(std::move(server)),
      target_(std::move(prepared.target)),
      command_(prepared.command),
      request_(std::move(prepared.request)),
      clock_offset_(prepared.clock_offset),
      handler_(handler),
      report_outcome_(report_outcome) {
  uv_timer_init(context_.loop, &flush_timer_);
  flush_timer_.data = this;
  if (warm != nullptr) {
    std::unique_ptr<WarmConnection> taken = warm->take(*this);
    if (taken) {
      warm_ = true;
      replay_possible_ = true;
      announce_connected_ = taken->connected();
      inner_ = std::move(taken);
    }
  }
  if (!inner_) {
    inner_ = transport::make_upstream(context_.loop, static_cast<transport::StreamHandler&>(*this),
                                      server_->settings, server_->tls.get(), context_.random);
  }
  latch_.opened(2);  // the flush timer and the stack below
}

VmessStream::~VmessStream() {
  // Only from the handler's on_stream_closed(): libuv no longer points into the blocks.
  assert(latch_.open() == 0);
  if (seal_ != nullptr) context_.seal_pool.release(seal_);
  if (open_ != nullptr) context_.open_pool.release(open_);
}

void VmessStream::connect() {
  if (announce_connected_) {
    // Connected already: said on the next loop iteration, never from inside this call.
    uv_timer_start(&flush_timer_, on_flush_timer, 0, 0);
    return;
  }
  inner_->connect();  // a warm stack still connecting ignores this and reports when ready
}

void VmessStream::apply_server_clock() {
  ServerState& state = *server_->state;
  const std::string_view date = inner_->http_date();
  // A Date on the upgrade (CDNs and web servers in front add one; v2ray's own has none).
  const std::optional<int64_t> server_time =
      date.empty() ? std::nullopt : http::parse_http_date(date);
  if (state.clock_auto() && server_time &&
      state.note_server_date(*server_time, static_cast<int64_t>(std::time(nullptr)))) {
    log_clock_change(*server_);
  }
  if (state.clock_offset() == clock_offset_ || header_sent_) return;
  // The request was built with the old offset and has not gone: build it again.
  auto rebuilt = prepare(context_, *server_, target_, command_);
  if (!rebuilt) return;  // it was buildable a moment ago; keep the old one
  request_ = std::move(rebuilt->request);
  clock_offset_ = rebuilt->clock_offset;
}

void VmessStream::report_outcome(bool responded) {
  if (!report_outcome_ || outcome_reported_) return;
  outcome_reported_ = true;
  server_->state->note_tunnel(responded);
}

void VmessStream::on_stream_connected() {
  if (closing_) return;
  if (redialing_) {
    replay();
    return;
  }
  apply_server_clock();
  connected_ = true;
  start_flush_timer();
  handler_.on_stream_connected();
}

// Early data: the header (with the app's first bytes, if they come in time) is the payload the
// opening carries, so the flush timer runs from here and the handler may write now.
void VmessStream::on_stream_writable() {
  if (closing_) return;
  start_flush_timer();
  handler_.on_stream_writable();
}

void VmessStream::start_flush_timer() {
  if (flush_timer_started_ || header_sent_) return;
  flush_timer_started_ = true;
  // The header waits this long for the app's first bytes (see the header comment).
  constexpr uint64_t kHeaderFlushMs = 100;
  uv_timer_start(&flush_timer_, on_flush_timer, kHeaderFlushMs, 0);
}

void VmessStream::on_stream_failed(const transport::Failure& failure) {
  if (redial_instead_of_failing()) return;
  if (connected_ && !request_.downlink.header_done()) {
    fail(ErrorKind::kNoResponse, std::string(kNoResponse) + " (upstream " + failure.message + ")");
  } else {
    fail(failure.kind, "upstream " + failure.message);
  }
}

void VmessStream::on_stream_eof() {
  if (closing_ || ended_) return;
  const vmess::ResponseReader& reader = request_.downlink;
  if (reader.eof_is_clean()) {
    // A chunked response ends with END when the target finished. v2ray closes without it
    // when the target sent nothing, when a failure or its idle timer cuts the tunnel, and —
    // routinely — 1-2 s after our END when the target stays silent, since it never passes
    // the half-close on (§10.4, §11). While the app is still sending, a close without END
    // after data is therefore a failure: a plain FIN would pass a cut-off stream to the app
    // as a whole one.
    if (bytes_down_ > 0 && !end_sent_ && request_.uplink.has_end_chunk()) {
      fail(ErrorKind::kReset,
           "server closed the connection without an END chunk: the response may be cut short");
      return;
    }
    ended_ = true;
    downlink_ended();
    return;
  }
  if (!reader.header_done()) {
    if (redial_instead_of_failing()) return;
    fail(ErrorKind::kNoResponse, std::string(kNoResponse));
  } else {
    fail(ErrorKind::kReset, "server closed the connection in the middle of a chunk");
  }
}

void VmessStream::fail(ErrorKind kind, std::string message) {
  if (closing_ || failed_) return;
  failed_ = true;
  if (kind == ErrorKind::kNoResponse) report_outcome(false);
  failure_ = transport::Failure{kind, std::move(message)};
  handler_.on_stream_failed(failure_);
}

void VmessStream::close(bool reset) {
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_timer_),
           [](uv_handle_t* handle) { static_cast<VmessStream*>(handle->data)->on_child_closed(); });
  inner_->close(reset);
}

void VmessStream::on_stream_closed() {
  on_child_closed();
}

void VmessStream::on_child_closed() {
  if (latch_.closed()) handler_.on_stream_closed();  // may destroy this: nothing after it
}

}  // namespace vmlocal::outbound
