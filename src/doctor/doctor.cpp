// The doctor's I/O: each layer is one short exchange on a private loop, run to completion before
// the next (a diagnosis is sequential, and nothing else shares the loop).
#include "vmlocal/doctor/doctor.hpp"

#include <arpa/inet.h>
#include <uv.h>

#include <array>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/doctor/diagnosis.hpp"
#include "vmlocal/doctor/fix_terms.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/clock_check.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/probe.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/transport/http_header.hpp"
#include "vmlocal/transport/tcp_stream.hpp"
#include "vmlocal/transport/tls_stream.hpp"
#include "vmlocal/transport/upstream.hpp"
#include "vmlocal/util/http_date.hpp"
#include "vmlocal/util/http_head.hpp"
#include "vmlocal/util/http_url.hpp"
#include "vmlocal/uv/sockaddr.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::doctor {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long a plain request waits for the server's first byte: a VMess server stays silent
// (it drains, then times out after 4 s in v2ray), an HTTP or TLS server answers at once.
constexpr milliseconds kPlainWait{1500};
// A close within this is "at once" (a TLS server dropping a non-TLS first record).
constexpr milliseconds kAtOnce{1000};

bool is_ip_literal(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

class Doctor;

// Records what a stream reports, so a step can run the loop until something happened.
class Watch final : public transport::StreamHandler {
 public:
  bool connected = false;
  bool failed = false;
  bool eof = false;
  bool closed = false;
  transport::Failure failure;
  std::string received;

  void on_stream_connected() override { connected = true; }
  void on_stream_failed(const transport::Failure& f) override {
    failed = true;
    failure = f;
  }
  MutableByteView on_stream_buffer() override { return MutableByteView(buf_.data(), buf_.size()); }
  void on_stream_read(size_t n) override {
    received.append(reinterpret_cast<const char*>(buf_.data()), n);
  }
  void on_stream_eof() override { eof = true; }
  void on_stream_write_done() override {}
  void on_stream_closed() override { closed = true; }

 private:
  std::array<uint8_t, 4096> buf_{};
};

class Doctor {
 public:
  Doctor(const config::Profile& profile, const config::Profile::Server& server, std::FILE* out)
      : profile_(profile), server_(server), out_(out) {
    uv_loop_init(&loop_);
    context_ = std::make_unique<outbound::OutboundContext>(&loop_, random_);
  }
  ~Doctor() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    context_.reset();
    uv_loop_close(&loop_);
  }

  int run();

 private:
  const config::Profile::Server& server() const { return server_; }
  milliseconds step_timeout() const { return profile_.timeouts.connect; }

  // Runs the loop until `done` or the deadline; true when done.
  bool run_until(const std::function<bool()>& done, milliseconds limit) {
    const auto end = Clock::now() + limit;
    uv_timer_t tick{};
    uv_timer_init(&loop_, &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 20, 20);  // wakes the loop to check
    while (!done() && Clock::now() < end)
      uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }
  void close_stream(transport::Stream& stream, Watch& watch) {
    stream.close(true);
    run_until([&] { return watch.closed; }, milliseconds(3000));
  }

  bool report(const Verdict& verdict);
  DnsObservation resolve();
  std::vector<TcpAttempt> connect_each(const std::vector<std::string>& addresses);
  // What the port says to `request` ("": a plain GET / with the server's address as Host).
  PlainObservation plain_request(const std::string& address, const std::string& request = {});
  TlsObservation check_tls(const std::string& address);
  // A profile without [server.tls]: whether the port completes a TLS handshake (certificate not
  // checked), which tells a TLS port from a VMess server that drained a refused login.
  bool tls_handshake_works(const std::string& address);
  WsObservation check_ws(const std::string& address);
  VmessObservation check_vmess();
  // The server's clock from an HTTP Date, once: `date` as received just now, or a ClockCheck.
  void note_date(const std::string& date, std::string source);
  void check_clock(const std::shared_ptr<const outbound::ServerContext>& context);

  const config::Profile& profile_;
  const config::Profile::Server& server_;
  std::FILE* out_;
  uv_loop_t loop_{};
  crypto::SystemRandom random_;
  std::unique_ptr<outbound::OutboundContext> context_;
  std::optional<int64_t> clock_offset_;  // the server's clock minus ours, from an HTTP Date
  std::string clock_source_;
  bool plain_closed_at_once_ = false;
  std::string address_;  // the address TCP connected to
};

bool Doctor::report(const Verdict& verdict) {
  const std::string name(layer_name(verdict.layer));
  std::fprintf(out_, "%-9s %s\n", name.c_str(), verdict.ok ? "ok" : "FAILED");
  for (const std::string& line : verdict.details)
    std::fprintf(out_, "          %s\n", line.c_str());
  if (!verdict.ok) {
    const std::string fix = fix_for_origin(verdict.fix, server_.origin, server_.name);
    std::fprintf(out_, "          cause: %s\n          fix: %s\n", verdict.cause.c_str(),
                 fix.c_str());
    std::fprintf(out_, "doctor: the %s layer failed: %s\n", name.c_str(), verdict.cause.c_str());
  }
  std::fflush(out_);
  return verdict.ok;
}

DnsObservation Doctor::resolve() {
  DnsObservation seen;
  seen.name = server().address;
  if (is_ip_literal(seen.name)) {
    seen.literal = true;
    seen.addresses.push_back(seen.name);
    return seen;
  }
  // The same lookup the tunnels make (transport/tcp_stream.cpp).
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  uv_getaddrinfo_t req{};
  struct Outcome {
    bool done = false;
    DnsObservation* seen;
  } outcome{false, &seen};
  req.data = &outcome;
  const int rc = uv_getaddrinfo(
      &loop_, &req,
      [](uv_getaddrinfo_t* r, int status, addrinfo* result) {
        auto* o = static_cast<Outcome*>(r->data);
        o->done = true;
        if (status != 0) {
          o->seen->error = uv_strerror(status);
        } else {
          for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
            std::string text = uv::format_sockaddr(ai->ai_addr);
            // "1.2.3.4:443" / "[::1]:443" -> the address alone
            text = text.substr(0, text.rfind(':'));
            if (text.starts_with("[")) text = text.substr(1, text.size() - 2);
            o->seen->addresses.push_back(text);
          }
        }
        uv_freeaddrinfo(result);
      },
      seen.name.c_str(), std::to_string(server().port).c_str(), &hints);
  if (rc != 0) {
    seen.error = uv_strerror(rc);
    return seen;
  }
  run_until([&] { return outcome.done; }, step_timeout() + milliseconds(5000));
  if (!outcome.done) {
    uv_cancel(reinterpret_cast<uv_req_t*>(&req));
    run_until([&] { return outcome.done; }, milliseconds(5000));
    seen.error = "no answer from the resolver";
    seen.addresses.clear();
  }
  return seen;
}

std::vector<TcpAttempt> Doctor::connect_each(const std::vector<std::string>& addresses) {
  std::vector<TcpAttempt> attempts;
  for (const std::string& address : addresses) {
    TcpAttempt attempt;
    attempt.address = address;
    Watch watch;
    transport::TcpStream tcp(&loop_, watch, address, server().port);
    const auto start = Clock::now();
    tcp.connect();
    run_until([&] { return watch.connected || watch.failed; }, step_timeout());
    attempt.time = since(start);
    attempt.connected = watch.connected;
    if (!watch.connected) {
      attempt.kind = watch.failed ? watch.failure.kind : ErrorKind::kTimeout;
      attempt.error = watch.failed ? watch.failure.message : "no answer (timed out)";
    }
    close_stream(tcp, watch);
    attempts.push_back(std::move(attempt));
  }
  return attempts;
}

PlainObservation Doctor::plain_request(const std::string& address, const std::string& request) {
  PlainObservation seen;
  Watch watch;
  transport::TcpStream tcp(&loop_, watch, address, server().port);
  tcp.connect();
  run_until([&] { return watch.connected || watch.failed; }, step_timeout());
  if (!watch.connected) {
    close_stream(tcp, watch);
    return seen;
  }
  const std::string host = server().address + ":" + std::to_string(server().port);
  const std::string sent =
      !request.empty() ? request
                       : "GET / HTTP/1.1\r\nHost: " + host +
                             "\r\nUser-Agent: vmess-local-doctor\r\nConnection: close\r\n\r\n";
  uv_buf_t buf = uv::make_buf(reinterpret_cast<const uint8_t*>(sent.data()), sent.size());
  const auto start = Clock::now();
  tcp.write(&buf, 1);
  tcp.read_start();
  http::ResponseHeadReader reader;
  bool head_done = false;
  run_until(
      [&] {
        if (watch.received.empty()) return watch.eof || watch.failed;
        const auto step = reader.feed(ByteView(
            reinterpret_cast<const uint8_t*>(watch.received.data()), watch.received.size()));
        watch.received.clear();
        head_done = step.status != http::ResponseHeadReader::Status::kNeedMore;
        return head_done || watch.eof || watch.failed;
      },
      kPlainWait);
  const milliseconds waited = since(start);
  if (head_done && reader.error().empty()) {
    seen.answer = PlainAnswer::kHttp;
    seen.status_line = reader.head().status_line;
    seen.date = std::string(reader.head().header("Date").value_or(""));
  } else if (!reader.error().empty()) {
    seen.answer = reader.error().starts_with("not an HTTP response (starts with 0x15")
                      ? PlainAnswer::kTlsAlert
                      : PlainAnswer::kOtherBytes;
  } else if (watch.eof || watch.failed) {
    seen.answer = waited <= kAtOnce ? PlainAnswer::kClosedAtOnce : PlainAnswer::kSilent;
  } else {
    seen.answer = PlainAnswer::kSilent;
  }
  close_stream(tcp, watch);
  return seen;
}

TlsObservation Doctor::check_tls(const std::string& address) {
  TlsObservation seen;
  auto attempt = [&](transport::TlsOptions options, bool& ok, std::string& error) {
    auto made = transport::TlsContext::create(std::move(options));
    if (const auto* e = std::get_if<std::string>(&made)) {
      error = *e;
      return;
    }
    auto context = std::move(std::get<std::unique_ptr<transport::TlsContext>>(made));
    Watch watch;
    transport::TlsStream tls(&loop_, watch, *context, [&](transport::StreamHandler& h) {
      return std::make_unique<transport::TcpStream>(&loop_, h, address, server().port);
    });
    tls.connect();
    run_until([&] { return watch.connected || watch.failed; }, step_timeout());
    ok = watch.connected;
    if (watch.connected) {
      seen.version = tls.protocol_version();
      seen.alpn = tls.alpn_selected();
      if (auto cert = tls.peer_certificate()) {
        seen.certificate =
            CertificateSummary{cert->subject, cert->issuer, cert->not_after, cert->expired};
      }
    } else {
      error = watch.failed ? watch.failure.message
                           : "no answer to the TLS handshake within " +
                                 std::to_string(step_timeout().count()) + " ms";
    }
    close_stream(tls, watch);
  };
  const transport::TlsOptions options = transport::tls_options_for(server());
  attempt(options, seen.ok, seen.error);
  if (seen.ok) return seen;
  transport::TlsOptions insecure = options;
  insecure.insecure = true;
  insecure.pins.clear();
  std::string ignored;
  attempt(insecure, seen.insecure_ok, ignored);
  if (!seen.insecure_ok) seen.plain = plain_request(address);
  return seen;
}

bool Doctor::tls_handshake_works(const std::string& address) {
  config::Profile::Server with_tls = server();
  with_tls.tls.emplace();
  transport::TlsOptions options = transport::tls_options_for(with_tls);
  options.insecure = true;
  options.pins.clear();
  auto made = transport::TlsContext::create(std::move(options));
  if (!std::holds_alternative<std::unique_ptr<transport::TlsContext>>(made)) return false;
  auto context = std::move(std::get<std::unique_ptr<transport::TlsContext>>(made));
  Watch watch;
  transport::TlsStream tls(&loop_, watch, *context, [&](transport::StreamHandler& h) {
    return std::make_unique<transport::TcpStream>(&loop_, h, address, server().port);
  });
  tls.connect();
  run_until([&] { return watch.connected || watch.failed; }, step_timeout());
  const bool ok = watch.connected;
  close_stream(tls, watch);
  return ok;
}

WsObservation Doctor::check_ws(const std::string& address) {
  WsObservation seen;
  const transport::WsOptions options = transport::ws_options_for(server());
  seen.path = options.request.path;
  seen.host = options.request.host;
  // With early data on, the stream sends its upgrade only with the first payload, and this
  // check has none: it upgrades without early data (servers that take early data take an
  // upgrade without it too), and the VMess probe then sends its header as the early data.
  config::Profile::Server upgrade = server();
  seen.early_data = upgrade.ws.max_early_data > 0;
  upgrade.ws.max_early_data = 0;
  auto made = outbound::ServerContext::make(upgrade);
  if (!made) {
    seen.error = made.error().message;
    return seen;
  }
  Watch watch;
  std::unique_ptr<transport::Stream> stack =
      transport::make_upstream(&loop_, watch, upgrade, (*made)->tls.get(), random_);
  stack->connect();
  run_until([&] { return watch.connected || watch.failed; }, step_timeout());
  seen.ok = watch.connected;
  seen.status_line = std::string(stack->http_status_line());
  if (seen.status_line.size() >= 12) seen.status = std::atoi(seen.status_line.c_str() + 9);
  if (!seen.ok) {
    seen.error = watch.failed ? watch.failure.message
                              : "no answer to the upgrade within " +
                                    std::to_string(step_timeout().count()) + " ms";
  }
  note_date(std::string(stack->http_date()), "the WebSocket upgrade response");
  close_stream(*stack, watch);
  if (!seen.ok && seen.status_line.empty() && !server().tls) seen.plain = plain_request(address);
  return seen;
}

void Doctor::note_date(const std::string& date, std::string source) {
  if (clock_offset_ || date.empty()) return;
  if (auto server_time = http::parse_http_date(date)) {
    clock_offset_ =
        http::clock_offset_from_date(*server_time, static_cast<int64_t>(std::time(nullptr)));
    clock_source_ = std::move(source);
  }
}

void Doctor::check_clock(const std::shared_ptr<const outbound::ServerContext>& context) {
  if (clock_offset_) return;
  std::optional<outbound::ClockCheckResult> result;
  outbound::ClockCheck::start(*context_, context, milliseconds(3000),
                              [&](const outbound::ClockCheckResult& r) { result = r; });
  run_until([&] { return result.has_value(); }, milliseconds(8000));
  if (result && result->server_unix) {
    clock_offset_ = *result->server_unix - result->local_unix;
    clock_source_ = "the answer to a plain HTTP request";
  }
}

VmessObservation Doctor::check_vmess() {
  VmessObservation seen;
  // url = "" turns the run-time probes off; the doctor still needs one.
  seen.url = profile_.probe.url.empty() ? config::Profile::Probe{}.url : profile_.probe.url;
  auto url = http::parse_url(seen.url);
  auto made = outbound::ServerContext::make(server());
  if (!made || !std::holds_alternative<http::Url>(url)) {
    seen.error = made ? "bad probe URL" : made.error().message;
    return seen;
  }
  std::shared_ptr<const outbound::ServerContext> context = *made;
  // With clock_offset = "auto" on a ws server, the tunnels take the server's clock from its HTTP
  // Date (fail_fast.hpp); the doctor does the same before probing.
  if (server().transport == config::Transport::kWs) check_clock(context);
  if (clock_offset_) {
    context->state->note_server_date(static_cast<int64_t>(std::time(nullptr)) + *clock_offset_,
                                     static_cast<int64_t>(std::time(nullptr)));
  }
  outbound::ProbeOptions options;
  options.url = std::get<http::Url>(url);
  options.connect_timeout = step_timeout();
  options.timeout = profile_.probe.timeout;
  auto probe = [&](const std::shared_ptr<const outbound::ServerContext>& through) {
    std::optional<outbound::ProbeResult> result;
    outbound::Probe::start(*context_, through, options,
                           [&](const outbound::ProbeResult& r) { result = r; });
    run_until([&] { return result.has_value(); },
              options.connect_timeout + options.timeout + milliseconds(5000));
    return result;
  };
  const std::optional<outbound::ProbeResult> result = probe(context);
  if (result && !result->ok && !result->responded && server().transport == config::Transport::kWs &&
      server().ws.max_early_data > 0) {
    // A server without early data (v2ray 4.x) answers the upgrade but drops the header that
    // rode in it, which looks like a refusal: the same probe without early data tells.
    config::Profile::Server plain = server();
    plain.ws.max_early_data = 0;
    if (auto without = outbound::ServerContext::make(plain)) {
      if (clock_offset_) {
        (*without)->state->note_server_date(
            static_cast<int64_t>(std::time(nullptr)) + *clock_offset_,
            static_cast<int64_t>(std::time(nullptr)));
      }
      const auto retry = probe(*without);
      seen.ok_without_early_data = retry && (retry->ok || retry->responded);
    }
  }
  if (result && !result->ok && !result->responded && plain_closed_at_once_ && !server().tls &&
      !address_.empty()) {
    seen.tls_on_port = tls_handshake_works(address_);
  }
  if (result && !result->ok && !result->responded &&
      server().transport == config::Transport::kTcp &&
      server().tcp.header == config::TcpHeader::kNone && !server().tls && !address_.empty()) {
    // A server with v2ray's HTTP header disguise answers a first flight that is no HTTP request
    // (as our VMess request is not) with "HTTP/1.1 400 Bad Request": a few such bytes tell.
    const PlainObservation garbled = plain_request(address_, "vmess-local-doctor\r\n\r\n");
    if (garbled.answer == PlainAnswer::kHttp) seen.http_header_answer = garbled.status_line;
  }
  if (!result) {
    seen.error = "the probe did not finish";
    return seen;
  }
  seen.ok = result->ok;
  seen.responded = result->responded;
  seen.refused = result->refused;
  seen.kind = result->error.kind;
  seen.error = result->error.message;
  seen.elapsed = result->elapsed;
  if (result->ok) seen.status_line = result->head.status_line;
  note_date(result->upgrade_date, "the WebSocket upgrade response");
  if (!seen.ok) check_clock(context);  // the server's clock explains a refusal, or rules it out

  seen.clock.automatic = !server().clock_offset.has_value();
  seen.clock.applied = context->state->clock_offset();
  seen.clock.server_minus_local = clock_offset_;
  seen.clock.source = clock_source_;
  seen.plain_closed_at_once = plain_closed_at_once_;
  return seen;
}

int Doctor::run() {
  std::fprintf(out_, "doctor: server %s:%u over %s; probe %s\n", server().address.c_str(),
               static_cast<unsigned>(server().port), config::transport_name(server()).c_str(),
               profile_.probe.url.empty() ? config::Profile::Probe{}.url.c_str()
                                          : profile_.probe.url.c_str());
  const DnsObservation dns = resolve();
  if (!report(judge_dns(dns))) return kExitLayerFailed;
  const std::vector<TcpAttempt> tcp = connect_each(dns.addresses);
  if (!report(judge_tcp(server().port, tcp))) return kExitLayerFailed;
  std::string address;
  for (const TcpAttempt& attempt : tcp) {
    if (attempt.connected) {
      address = attempt.address;
      break;
    }
  }
  address_ = address;
  if (server().tls) {
    if (!report(judge_tls(check_tls(address)))) return kExitLayerFailed;
  }
  if (server().transport == config::Transport::kWs) {
    if (!report(judge_ws(check_ws(address)))) return kExitLayerFailed;
  } else if (!server().tls) {
    // With [server.tcp] header = "http" the port is asked what the tunnels send first: the
    // header's request head (a GET / would be a path the server does not list: its 404).
    const bool http_header = server().tcp.header == config::TcpHeader::kHttp;
    const std::string head = http_header
                                 ? transport::http_header::build_request_head(
                                       transport::http_header_options_for(server()), random_)
                                 : std::string();
    PlainObservation plain = plain_request(address, head);
    if (http_header) plain.request_line = head.substr(0, head.find('\r'));
    note_date(plain.date, "the answer to a plain HTTP request");
    plain_closed_at_once_ = plain.answer == PlainAnswer::kClosedAtOnce;
    if (!report(judge_tcp_transport(plain))) return kExitLayerFailed;
  }
  if (!report(judge_vmess(check_vmess()))) return kExitLayerFailed;
  std::fprintf(out_, "doctor: every layer passed\n");
  return kExitAllPassed;
}

}  // namespace

int run_doctor(const config::Profile& profile, std::FILE* out, const std::vector<size_t>& servers) {
  if (servers.size() == 1) {
    Doctor doctor(profile, profile.servers[servers.front()], out);
    return doctor.run();
  }
  // Several servers: each is diagnosed on its own, one after another (a diagnosis is
  // sequential), and the last line says which failed, so a subscription's dead entries show.
  std::vector<std::string> failed;
  for (size_t n = 0; n < servers.size(); ++n) {
    const config::Profile::Server& server = profile.servers[servers[n]];
    const std::string& name = server.name;
    std::fprintf(out, "%sdoctor: [%zu/%zu] %s\n", n == 0 ? "" : "\n", n + 1, servers.size(),
                 name.c_str());
    std::fflush(out);
    Doctor doctor(profile, server, out);
    if (doctor.run() != kExitAllPassed) failed.push_back(name);
  }
  if (failed.empty()) {
    std::fprintf(out, "doctor: all %zu servers passed\n", servers.size());
    return kExitAllPassed;
  }
  std::string names;
  for (const std::string& name : failed)
    names += (names.empty() ? "" : ", ") + name;
  std::fprintf(out, "doctor: %zu of %zu servers failed: %s (each one's failed layer is above)\n",
               failed.size(), servers.size(), names.c_str());
  return kExitLayerFailed;
}

}  // namespace vmlocal::doctor
