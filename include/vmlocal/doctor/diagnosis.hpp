// What the doctor's observations mean (pure: no I/O). The runner (doctor.hpp) walks the layers —
// DNS, TCP, TLS, the transport (WebSocket upgrade, or a plain HTTP request on a tcp profile), the
// VMess probe — records what it saw in these structs, and each judge_* turns one layer's
// observation into a verdict: passed or not, the lines to show, and on failure the cause in plain
// words and the fix. A cause is named only when the observation shows it; otherwise the verdict
// lists what it may be ("one of these").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmlocal/util/error.hpp"

namespace vmlocal::doctor {

enum class Layer : uint8_t { kDns, kTcp, kTls, kWebSocket, kTransport, kVmess };
// "DNS", "TCP", "TLS", "WebSocket", "transport", "VMess".
std::string_view layer_name(Layer layer);

struct Verdict {
  Layer layer = Layer::kDns;
  bool ok = false;
  std::vector<std::string> details;  // what was seen, one line each
  std::string cause;                 // failed: what is wrong, in plain words
  std::string fix;                   // failed: what to change
};

// --- DNS ---
struct DnsObservation {
  std::string name;
  bool literal = false;                // an IP address: nothing to resolve
  std::vector<std::string> addresses;  // as text
  std::string error;                   // the resolver's message when it failed
};
Verdict judge_dns(const DnsObservation& seen);

// --- TCP ---
struct TcpAttempt {
  std::string address;  // "127.0.0.1" / "::1"
  bool connected = false;
  std::chrono::milliseconds time{0};
  ErrorKind kind = ErrorKind::kOther;  // when not connected
  std::string error;
};
Verdict judge_tcp(uint16_t port, const std::vector<TcpAttempt>& attempts);

// --- What the server port says to a plain HTTP request (no TLS, no VMess) ---
enum class PlainAnswer : uint8_t {
  kHttp,          // an HTTP/1.x response
  kTlsAlert,      // a TLS record (an alert): a TLS server
  kClosedAtOnce,  // closed without a byte within a second
  kSilent,        // kept the connection open without a byte (what a VMess server does)
  kOtherBytes,    // something else
  kNoConnection,  // could not connect
};
struct PlainObservation {
  PlainAnswer answer = PlainAnswer::kNoConnection;
  std::string status_line;  // kHttp
  std::string date;         // kHttp: the Date header, "" when absent
  // The request line sent when it was [server.tcp]'s HTTP header head ("GET /a HTTP/1.1"); ""
  // for the doctor's plain GET /.
  std::string request_line;
};
std::string describe_plain(const PlainObservation& seen);

// --- TLS ---
struct CertificateSummary {
  std::string subject;
  std::string issuer;
  std::string not_after;
  bool expired = false;
};
struct TlsObservation {
  bool ok = false;           // the handshake with verification as the profile asks
  std::string error;         // its failure message (names why verification failed)
  bool insecure_ok = false;  // a second handshake without verification worked
  std::string version;       // of the handshake that worked
  std::string alpn;
  std::optional<CertificateSummary> certificate;
  PlainObservation plain;  // when no handshake worked: what the port says to plain HTTP
};
Verdict judge_tls(const TlsObservation& seen);

// --- WebSocket (ws profiles) ---
struct WsObservation {
  bool ok = false;
  std::string status_line;  // of the upgrade response, "" when none came
  int status = 0;
  std::string error;
  std::string path;  // what the profile asked for
  std::string host;
  // [server.ws] max_early_data > 0: the check's upgrade went without early data (it has no
  // payload to carry); the VMess probe sends its header as the early data.
  bool early_data = false;
  PlainObservation plain;  // when no HTTP answer came: what the port says to plain HTTP
};
Verdict judge_ws(const WsObservation& seen);

// --- The port of a tcp profile (no TLS): what it says to a plain HTTP request ---
Verdict judge_tcp_transport(const PlainObservation& seen);

// --- VMess: the probe through the server ---
struct ClockObservation {
  std::optional<int64_t> server_minus_local;  // seconds, from an HTTP Date of the server's
  std::string source;                         // "the WebSocket upgrade response", ...
  bool automatic = true;                      // clock_offset = "auto"
  int64_t applied = 0;                        // seconds added to VMess timestamps
};
struct VmessObservation {
  std::string url;
  bool ok = false;          // the URL answered
  bool responded = false;   // the server sent a VMess response
  bool refused = false;     // connected, no VMess response
  std::string status_line;  // the URL's answer
  std::chrono::milliseconds elapsed{0};
  std::string error;
  ErrorKind kind = ErrorKind::kOther;
  ClockObservation clock;
  // tcp profile: the port closed a plain request at once (the doctor then tries a TLS
  // handshake when the probe fails: tls_on_port).
  bool plain_closed_at_once = false;
  // ws early data on and the probe got no VMess response: the same probe without early data
  // got one (the server drops early data: v2ray 4.x has none).
  bool ok_without_early_data = false;
  // tcp profile without [server.tcp] header and the probe got no VMess response: the status
  // line the port answered a first flight that is no HTTP request with ("" when none), which a
  // server with v2ray's HTTP header disguise does.
  std::string http_header_answer;
  // A profile without [server.tls] whose port closed a plain request at once, and the probe got
  // no VMess response: a TLS handshake (certificate not checked) with the port worked.
  bool tls_on_port = false;
};
Verdict judge_vmess(const VmessObservation& seen);
// One line about the clock: the offset and whether it explains a refusal (or is compensated).
// judge_vmess adds it when a Date was seen or the server refused us, not after a pass without
// one.
std::string clock_line(const ClockObservation& clock);

}  // namespace vmlocal::doctor
