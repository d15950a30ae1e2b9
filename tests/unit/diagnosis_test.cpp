// The doctor's judgement, observation by observation: which layer fails, the cause it names and
// the fix, and that a cause is only named when the observation shows it.
#include <doctest/doctest.h>

#include <string>

#include "vmlocal/doctor/diagnosis.hpp"

using namespace vmlocal;
using namespace vmlocal::doctor;
using std::chrono::milliseconds;

namespace {
bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("diagnosis: DNS") {
  DnsObservation literal{"127.0.0.1", true, {"127.0.0.1"}, {}};
  CHECK(judge_dns(literal).ok);
  DnsObservation resolved{"vmess.example.org", false, {"192.0.2.1", "2001:db8::1"}, {}};
  const Verdict good = judge_dns(resolved);
  CHECK(good.ok);
  CHECK(good.details == std::vector<std::string>{"vmess.example.org -> 192.0.2.1, 2001:db8::1"});
  DnsObservation failed{"vmess.example.org", false, {}, "unknown node or service"};
  const Verdict bad = judge_dns(failed);
  CHECK_FALSE(bad.ok);
  CHECK(bad.layer == Layer::kDns);
  CHECK(bad.cause == "the name vmess.example.org does not resolve (unknown node or service)");
  CHECK(has(bad.fix, "server.address"));
}

TEST_CASE("diagnosis: TCP names refused, silent and mixed addresses") {
  const TcpAttempt refused{"127.0.0.1", false, milliseconds(1), ErrorKind::kRefused, "refused"};
  const TcpAttempt timed_out{"192.0.2.1", false, milliseconds(3000), ErrorKind::kTimeout, "t/o"};
  const TcpAttempt connected{"::1", true, milliseconds(2), ErrorKind::kOther, {}};
  const Verdict r = judge_tcp(443, {refused});
  CHECK_FALSE(r.ok);
  CHECK(r.cause == "nothing listens on port 443 (connection refused)");
  CHECK(has(r.fix, "server.port"));
  const Verdict t = judge_tcp(443, {timed_out});
  CHECK(has(t.cause, "a firewall drops it"));
  const Verdict mixed = judge_tcp(443, {refused, connected});
  CHECK(mixed.ok);  // one address that works is enough
  CHECK(mixed.details.size() == 2);
  CHECK(mixed.details[1] == "[::1]:443 connected in 2 ms");
}

TEST_CASE("diagnosis: TLS tells a bad certificate from a port without TLS") {
  TlsObservation cert;
  cert.error = "TLS: certificate verify failed: self-signed certificate";
  cert.insecure_ok = true;
  cert.version = "TLSv1.3";
  cert.certificate = CertificateSummary{"CN=localhost", "CN=localhost", "Dec  2 2026 GMT", false};
  const Verdict c = judge_tls(cert);
  CHECK_FALSE(c.ok);
  CHECK(c.cause == "the server's certificate did not verify: " + cert.error);
  CHECK(has(c.fix, "ca_file"));
  CHECK(c.details[1] ==
        "certificate: subject CN=localhost, issuer CN=localhost, valid until Dec  2 "
        "2026 GMT");
  cert.certificate->expired = true;
  CHECK(has(judge_tls(cert).fix, "expired"));

  TlsObservation plain;
  plain.error = "TLS: the server closed the connection during the handshake";
  plain.plain.answer = PlainAnswer::kSilent;
  CHECK(has(judge_tls(plain).cause, "does not speak TLS on this port"));
  CHECK(judge_tls(plain).fix == "remove [server.tls]");
  plain.plain = PlainObservation{PlainAnswer::kHttp, "HTTP/1.1 400 Bad Request", {}, {}};
  CHECK(has(judge_tls(plain).cause, "plain HTTP on this port"));
  plain.plain.answer = PlainAnswer::kOtherBytes;  // not enough to name a cause
  CHECK(has(judge_tls(plain).cause, "the TLS handshake failed"));

  TlsObservation good;
  good.ok = true;
  good.version = "TLSv1.3";
  good.alpn = "http/1.1";
  CHECK(judge_tls(good).ok);
  CHECK(judge_tls(good).details[0] == "TLSv1.3, ALPN http/1.1");
}

TEST_CASE("diagnosis: WebSocket") {
  WsObservation path;
  path.status_line = "HTTP/1.1 404 Not Found";
  path.status = 404;
  path.path = "/wrong";
  path.host = "example.org";
  const Verdict p = judge_ws(path);
  CHECK_FALSE(p.ok);
  CHECK(p.cause == "the server refused the WebSocket upgrade: \"HTTP/1.1 404 Not Found\"");
  CHECK(has(p.fix, "path (\"/wrong\")"));
  WsObservation silent;
  silent.plain.answer = PlainAnswer::kSilent;
  CHECK(judge_ws(silent).fix == "set transport = \"tcp\"");
  WsObservation closed;
  closed.plain.answer = PlainAnswer::kClosedAtOnce;
  CHECK(has(judge_ws(closed).fix, "add [server.tls] if the server uses TLS"));
  WsObservation alert;
  alert.plain.answer = PlainAnswer::kTlsAlert;
  CHECK(judge_ws(alert).fix == "add [server.tls]");
  WsObservation good;
  good.ok = true;
  good.status_line = "HTTP/1.1 101 Switching Protocols";
  CHECK(judge_ws(good).ok);
}

TEST_CASE("diagnosis: the port of a tcp profile") {
  const Verdict silent = judge_tcp_transport({PlainAnswer::kSilent, {}, {}, {}});
  CHECK(silent.ok);
  // The line says why silence is good news (a newcomer read it as a problem).
  REQUIRE(silent.details.size() == 2);
  CHECK(has(silent.details[1], "as a tcp VMess server does"));
  const Verdict http =
      judge_tcp_transport({PlainAnswer::kHttp, "HTTP/1.1 400 Bad Request", {}, {}});
  CHECK_FALSE(http.ok);
  CHECK(http.layer == Layer::kTransport);
  CHECK(has(http.fix, "set transport = \"ws\""));
  CHECK(judge_tcp_transport({PlainAnswer::kTlsAlert, {}, {}, {}}).fix == "add [server.tls]");
  // A VMess server with a short drain closes at once too: not enough to name TLS.
  CHECK(judge_tcp_transport({PlainAnswer::kClosedAtOnce, {}, {}, {}}).ok);
}

TEST_CASE("diagnosis: VMess refusals, the clock, and the probe URL") {
  VmessObservation seen;
  seen.url = "http://127.0.0.1:8080/";
  seen.refused = true;
  seen.error = "no response from the server within 2000 ms while it kept the connection open";
  SUBCASE("no Date: one of these") {
    const Verdict v = judge_vmess(seen);
    CHECK_FALSE(v.ok);
    CHECK(has(v.cause, "wrong uuid/alter_id, or the clock is off"));
    CHECK(has(v.details[1], "cannot be estimated"));
    seen.plain_closed_at_once = true;
    const Verdict closed = judge_vmess(seen);  // and a TLS handshake failed (no tls_on_port)
    CHECK(closed.cause == v.cause);
    CHECK(has(closed.details.back(), "a TLS handshake with it failed: not a TLS port"));
  }
  SUBCASE("this clock 300 s behind: the clock") {
    seen.clock.server_minus_local = 300;
    seen.clock.source = "the WebSocket upgrade response";
    const Verdict v = judge_vmess(seen);
    CHECK(v.cause ==
          "the server refused us: this computer's clock is 300 s (about 5 min) behind "
          "the server's, and VMess allows 120 s");
    CHECK(has(v.fix, "clock_offset = 300"));
  }
  SUBCASE("this clock 200 s ahead") {
    seen.clock.server_minus_local = -200;
    CHECK(has(judge_vmess(seen).cause, "200 s (about 3 min) ahead of the server's"));
  }
  SUBCASE("clocks agree: the uuid") {
    seen.clock.server_minus_local = 1;
    const Verdict v = judge_vmess(seen);
    CHECK(has(v.cause, "the clocks agree (within 1 s), so the uuid or alter_id is wrong"));
  }
  SUBCASE("an offset already applied is not blamed") {
    seen.clock.server_minus_local = 300;
    seen.clock.applied = 300;
    CHECK(has(judge_vmess(seen).cause, "the clocks agree"));
    CHECK(has(judge_vmess(seen).details[1], "shifted by 300 s (clock_offset = \"auto\")"));
  }
  SUBCASE("the server answered; the URL did not") {
    seen.refused = false;
    seen.responded = true;
    seen.error = "the probe URL's connection closed before an HTTP answer";
    const Verdict v = judge_vmess(seen);
    CHECK(has(v.cause, "the server accepted us, but the probe URL"));
    CHECK(v.details.empty());  // it accepted us: no Date, no clock line
  }
  SUBCASE("all good") {
    seen.refused = false;
    seen.ok = true;
    seen.responded = true;
    seen.status_line = "HTTP/1.1 204 No Content";
    seen.elapsed = milliseconds(12);
    const Verdict v = judge_vmess(seen);
    CHECK(v.ok);
    CHECK(v.details[0] == "probe http://127.0.0.1:8080/: \"HTTP/1.1 204 No Content\" in 12 ms");
    // A pass without a Date: nothing to say about the clock.
    CHECK(v.details.size() == 1);
    // With one, the offset is worth knowing.
    seen.clock.server_minus_local = 2;
    seen.clock.source = "the WebSocket upgrade response";
    const Verdict dated = judge_vmess(seen);
    REQUIRE(dated.details.size() == 2);
    CHECK(has(dated.details[1], "clock: this computer's clock is 2 s behind the server's"));
  }
}

TEST_CASE("diagnosis: ws early data — the upgrade without it, and a server that drops it") {
  WsObservation ws;
  ws.ok = true;
  ws.status_line = "HTTP/1.1 101 Switching Protocols";
  ws.path = "/ws";
  ws.host = "example.org";
  ws.early_data = true;
  const Verdict w = judge_ws(ws);
  CHECK(w.ok);
  REQUIRE(w.details.size() == 2);
  CHECK(has(w.details[1], "the upgrade went without early data"));

  VmessObservation v;
  v.url = "http://example.org/";
  v.refused = true;
  v.error = "no response from the server within 2000 ms while it kept the connection open";
  v.clock.server_minus_local = 0;
  v.clock.source = "the WebSocket upgrade response";
  v.ok_without_early_data = true;
  const Verdict e = judge_vmess(v);
  CHECK_FALSE(e.ok);
  CHECK(has(e.cause, "the server ignores WebSocket early data"));
  CHECK(e.fix.starts_with("set [server.ws] max_early_data = 0"));
  CHECK_FALSE(has(e.fix, "uuid"));
  CHECK(e.details[0] == "probe http://example.org/ with early data: " + v.error);
  v.ok_without_early_data = false;  // the same refusal without that evidence: the uuid first
  CHECK(judge_vmess(v).fix.starts_with("copy server.uuid"));
}

TEST_CASE("diagnosis: tcp with v2ray's HTTP header disguise, on either side") {
  // The profile has the header: the port is asked its request head, and silence is a pass.
  PlainObservation head{PlainAnswer::kSilent, {}, {}, "GET /a HTTP/1.1"};
  const Verdict ok = judge_tcp_transport(head);
  CHECK(ok.ok);
  CHECK(ok.details[0] == "sent [server.tcp]'s HTTP header request: GET /a HTTP/1.1");
  // A path the server does not list: its 404 names [server.tcp] path, not ws.
  head.answer = PlainAnswer::kHttp;
  head.status_line = "HTTP/1.1 404 Not Found";
  const Verdict wrong = judge_tcp_transport(head);
  CHECK_FALSE(wrong.ok);
  CHECK(has(wrong.cause, "\"GET /a HTTP/1.1\" with \"HTTP/1.1 404 Not Found\""));
  CHECK(wrong.fix.starts_with("set [server.tcp] path"));
  CHECK_FALSE(has(wrong.fix, "\"ws\""));
  // The server has the header and the profile not: its HTTP answer to a non-request says so.
  VmessObservation v;
  v.url = "http://example.org/";
  v.error = "response header length authentication failed";
  v.http_header_answer = "HTTP/1.1 400 Bad Request";
  const Verdict h = judge_vmess(v);
  CHECK_FALSE(h.ok);
  CHECK(has(h.cause, "HTTP header disguise"));
  CHECK(h.fix.starts_with("set [server.tcp] header = \"http\""));
  CHECK_FALSE(has(h.fix, "alter_id"));
  v.http_header_answer.clear();  // without that answer: as before
  CHECK(has(judge_vmess(v).fix, "alter_id"));
}

TEST_CASE("diagnosis: a plain profile on a TLS port names [server.tls] first, not the uuid") {
  VmessObservation v;
  v.url = "http://example.org/";
  v.error = "the server closed the connection at once without a response";
  v.plain_closed_at_once = true;
  v.tls_on_port = true;
  const Verdict t = judge_vmess(v);
  CHECK_FALSE(t.ok);
  CHECK(t.cause == "the server expects TLS on this port, and the profile has no [server.tls]");
  CHECK(t.fix.starts_with("add [server.tls]"));
  CHECK_FALSE(has(t.fix, "uuid"));
  // Closed at once but no TLS handshake: still one of several, the uuid first.
  v.tls_on_port = false;
  v.refused = true;
  CHECK(judge_vmess(v).fix.starts_with("copy server.uuid"));
}

TEST_CASE("diagnosis: an h2 or gRPC answer that names its setting gets that setting as the fix") {
  VmessObservation v;
  v.url = "http://example.org/";
  v.error =
      "upstream HTTP/2: the server answered 404 to PUT /x (check [server.h2] path and host; the "
      "host sent was \"www.example.com\")";
  const Verdict h2 = judge_vmess(v);
  CHECK_FALSE(h2.ok);
  CHECK(h2.cause == "the VMess request failed: " + v.error);
  CHECK(h2.fix == "check [server.h2] path and host; the host sent was \"www.example.com\"");
  v.error =
      "upstream gRPC: the server ended the call with status UNIMPLEMENTED; check "
      "[server.grpc] service_name";
  CHECK(judge_vmess(v).fix == "check [server.grpc] service_name");
  v.error = "server sent a bad response: response header length authentication failed";
  CHECK(judge_vmess(v).fix == "check security and alter_id against the server's settings");
}
