#include "vmlocal/outbound/probe.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>

#include <variant>

#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/transport/tls_stream.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::outbound {
namespace {

// The deadlines are checked on this tick: a probe is rare, and one timer serves both.
constexpr uint64_t kTickMs = 50;

bool is_ip_literal(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

TargetAddress target_of(const http::Url& url) {
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, url.host.c_str(), &v4) == 1) {
    std::array<uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &v4, 4);
    return TargetAddress::ipv4(bytes, url.port);
  }
  if (inet_pton(AF_INET6, url.host.c_str(), &v6) == 1) {
    std::array<uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &v6, 16);
    return TargetAddress::ipv6(bytes, url.port);
  }
  return TargetAddress::from_domain(url.host, url.port);
}

}  // namespace

Probe* Probe::start(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                    ProbeOptions options, Callback callback) {
  auto* probe = new Probe(context, std::move(server), std::move(options), std::move(callback));
  probe->begin();
  return probe;
}

Probe::Probe(OutboundContext& context, std::shared_ptr<const ServerContext> server,
             ProbeOptions options, Callback callback)
    : context_(context),
      server_(std::move(server)),
      options_(std::move(options)),
      callback_(std::move(callback)) {
  uv_timer_init(context_.loop, &tick_);
  tick_.data = this;
  latch_.opened();
  started_ms_ = uv_now(context_.loop);
}

Probe::~Probe() = default;

void Probe::begin() {
  auto prepared = VmessStream::prepare(context_, *server_, target_of(options_.url));
  if (!prepared) {
    pending_start_error_ = prepared.error();
  } else if (!options_.url.https) {
    auto stream = VmessStream::create(context_, server_, std::move(*prepared),
                                      static_cast<transport::StreamHandler&>(*this), false);
    vmess_ = stream.get();
    stream_ = std::move(stream);
  } else {
    transport::TlsOptions tls;
    tls.server_name = is_ip_literal(options_.url.host) ? "" : options_.url.host;
    tls.verify_name = options_.url.host;
    tls.alpn = {"http/1.1"};
    tls.require_http11 = true;
    auto made = transport::TlsContext::create(std::move(tls));
    if (const auto* error = std::get_if<std::string>(&made)) {
      pending_start_error_ = Error{ErrorKind::kOther, "probe TLS: " + *error};
    } else {
      url_tls_ = std::move(std::get<std::unique_ptr<transport::TlsContext>>(made));
      auto shared = std::make_shared<VmessStream::Prepared>(std::move(*prepared));
      stream_ = std::make_unique<transport::TlsStream>(
          context_.loop, static_cast<transport::StreamHandler&>(*this), *url_tls_,
          [this, shared](transport::StreamHandler& below) -> std::unique_ptr<transport::Stream> {
            auto stream = VmessStream::create(context_, server_, std::move(*shared), below, false);
            vmess_ = stream.get();
            return stream;
          });
    }
  }
  if (stream_) latch_.opened();
  // Every outcome, even an error found here, is reported from a callback: never inside start().
  uv_timer_start(
      &tick_, [](uv_timer_t* t) { static_cast<Probe*>(t->data)->on_tick(); }, 0, kTickMs);
  if (stream_) stream_->connect();
}

std::chrono::milliseconds Probe::since_start() const {
  return std::chrono::milliseconds(uv_now(context_.loop) - started_ms_);
}

void Probe::on_tick() {
  if (done_) return;
  if (pending_start_error_) {
    fail(ProbeStage::kServer, *pending_start_error_);
    return;
  }
  const uint64_t now = uv_now(context_.loop);
  if (server_up_ms_ == 0 && vmess_ != nullptr && vmess_->transport_connected()) {
    server_up_ms_ = now;
  }
  if (server_up_ms_ == 0) {
    if (now - started_ms_ >= static_cast<uint64_t>(options_.connect_timeout.count())) {
      const std::string stage(stream_ ? vmess_->connect_stage() : "connect");
      fail(ProbeStage::kServer,
           Error{ErrorKind::kTimeout, "no connection to the server after " +
                                          std::to_string(options_.connect_timeout.count()) +
                                          " ms (waiting for " + stage + ")"});
    }
    return;
  }
  if (now - server_up_ms_ >= static_cast<uint64_t>(options_.timeout.count())) {
    const bool responded = vmess_->responded();
    fail(responded ? ProbeStage::kUrl : ProbeStage::kResponse,
         Error{ErrorKind::kTimeout,
               responded ? "the server answered, but the probe URL gave no HTTP answer within " +
                               std::to_string(options_.timeout.count()) + " ms"
                         : "no response from the server within " +
                               std::to_string(options_.timeout.count()) +
                               " ms while it kept the connection open"});
  }
}

void Probe::on_stream_connected() {
  if (done_) return;
  if (server_up_ms_ == 0) server_up_ms_ = uv_now(context_.loop);
  send_request();
}

void Probe::send_request() {
  request_ = "GET " + options_.url.target + " HTTP/1.1\r\nHost: " + options_.url.host_header() +
             "\r\nUser-Agent: vmess-local-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  request_buf_ = uv::make_buf(reinterpret_cast<const uint8_t*>(request_.data()), request_.size());
  if (stream_->write(&request_buf_, 1) == transport::Stream::WriteResult::kFailed) {
    on_stream_failed(stream_->failure());
    return;
  }
  stream_->read_start();
}

void Probe::feed(ByteView bytes) {
  if (done_) return;
  const http::ResponseHeadReader::Step step = reader_.feed(bytes);
  if (step.status == http::ResponseHeadReader::Status::kNeedMore) return;
  if (step.status == http::ResponseHeadReader::Status::kError) {
    fail(ProbeStage::kUrl,
         Error{ErrorKind::kProtocol, "the probe URL's answer: " + reader_.error()});
    return;
  }
  ProbeResult result;
  result.ok = true;
  result.stage = ProbeStage::kDone;
  result.responded = true;
  result.head = reader_.head();
  finish(std::move(result));
}

MutableByteView Probe::on_stream_buffer() {
  return MutableByteView(buffer_.data(), buffer_.size());
}

void Probe::on_stream_read(size_t n) {
  feed(ByteView(buffer_.data(), n));
}

bool Probe::on_stream_views(uv_buf_t* views, size_t count) {
  for (size_t i = 0; i < count && !done_; ++i) {
    feed(ByteView(reinterpret_cast<const uint8_t*>(views[i].base), views[i].len));
  }
  return true;
}

void Probe::on_stream_eof() {
  if (done_) return;
  const bool responded = vmess_ != nullptr && vmess_->responded();
  fail(responded ? ProbeStage::kUrl : ProbeStage::kResponse,
       Error{responded ? ErrorKind::kReset : ErrorKind::kNoResponse,
             responded ? "the probe URL's connection closed before an HTTP answer"
                       : "the server closed the connection without a response"});
}

void Probe::on_stream_failed(const transport::Failure& failure) {
  if (done_) return;
  const bool up = vmess_ != nullptr && vmess_->transport_connected();
  const bool responded = vmess_ != nullptr && vmess_->responded();
  ProbeStage stage = ProbeStage::kServer;
  if (up) stage = responded ? ProbeStage::kUrl : ProbeStage::kResponse;
  fail(stage, failure);
}

void Probe::on_stream_write_done() {}

void Probe::fail(ProbeStage stage, Error error) {
  ProbeResult result;
  result.stage = stage;
  result.responded = vmess_ != nullptr && vmess_->responded();
  // A malformed response is an answer of sorts (an HTTP server on a tcp profile): not a refusal.
  result.refused = stage == ProbeStage::kResponse &&
                   (error.kind == ErrorKind::kNoResponse || error.kind == ErrorKind::kTimeout);
  result.error = std::move(error);
  finish(std::move(result));
}

void Probe::finish(ProbeResult result) {
  if (done_) return;
  done_ = true;
  result.elapsed = since_start();
  if (server_up_ms_ != 0) {
    result.connect_time = std::chrono::milliseconds(server_up_ms_ - started_ms_);
  }
  if (vmess_ != nullptr) {
    result.upgrade_status_line = std::string(vmess_->http_status_line());
    result.upgrade_date = std::string(vmess_->http_date());
  }
  Callback callback = std::move(callback_);
  callback_ = nullptr;
  cancel();  // closes; the callback may not free us, we free ourselves
  if (callback) callback(result);
}

void Probe::cancel() {
  done_ = true;
  callback_ = nullptr;
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_),
           [](uv_handle_t* h) { static_cast<Probe*>(h->data)->on_handle_closed(); });
  if (stream_) stream_->close(false);
}

void Probe::on_stream_closed() {
  on_handle_closed();
}

void Probe::on_handle_closed() {
  if (latch_.closed()) delete this;
}

}  // namespace vmlocal::outbound
