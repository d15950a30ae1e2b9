#include "vmlocal/doctor/diagnosis.hpp"

#include <cstdlib>

#include "vmlocal/util/http_date.hpp"

namespace vmlocal::doctor {
namespace {

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

Verdict failed(Layer layer, std::string cause, std::string fix) {
  Verdict v;
  v.layer = layer;
  v.cause = std::move(cause);
  v.fix = std::move(fix);
  return v;
}

std::string seconds_text(int64_t s) {
  const int64_t a = std::llabs(s);
  std::string out = std::to_string(a) + " s";
  if (a >= 120) out += " (about " + std::to_string((a + 30) / 60) + " min)";
  return out;
}

}  // namespace

std::string_view layer_name(Layer layer) {
  switch (layer) {
    case Layer::kDns:
      return "DNS";
    case Layer::kTcp:
      return "TCP";
    case Layer::kTls:
      return "TLS";
    case Layer::kWebSocket:
      return "WebSocket";
    case Layer::kTransport:
      return "transport";
    case Layer::kVmess:
      return "VMess";
  }
  return "?";
}

Verdict judge_dns(const DnsObservation& seen) {
  if (seen.literal) {
    Verdict v;
    v.layer = Layer::kDns;
    v.ok = true;
    v.details.push_back(seen.name + " is an IP address: nothing to resolve");
    return v;
  }
  if (seen.addresses.empty()) {
    return failed(Layer::kDns,
                  "the name " + seen.name + " does not resolve" +
                      (seen.error.empty() ? std::string() : " (" + seen.error + ")"),
                  "check server.address for a typo; if it is right, this computer's DNS cannot "
                  "resolve it (try another resolver, or put the server's IP address in "
                  "server.address and the name in [server.tls] sni)");
  }
  Verdict v;
  v.layer = Layer::kDns;
  v.ok = true;
  std::string list;
  for (const std::string& a : seen.addresses)
    list += (list.empty() ? "" : ", ") + a;
  v.details.push_back(seen.name + " -> " + list);
  return v;
}

Verdict judge_tcp(uint16_t port, const std::vector<TcpAttempt>& attempts) {
  Verdict v;
  v.layer = Layer::kTcp;
  bool refused = false;
  bool timeout = false;
  for (const TcpAttempt& a : attempts) {
    const std::string where =
        (a.address.find(':') != std::string::npos ? "[" + a.address + "]" : a.address) + ":" +
        std::to_string(port);
    if (a.connected) {
      v.ok = true;
      v.details.push_back(where + " connected in " + ms(a.time));
    } else {
      v.details.push_back(where + " failed after " + ms(a.time) + ": " + a.error);
      refused = refused || a.kind == ErrorKind::kRefused;
      timeout = timeout || a.kind == ErrorKind::kTimeout;
    }
  }
  if (v.ok) return v;
  if (refused && !timeout) {
    v.cause = "nothing listens on port " + std::to_string(port) + " (connection refused)";
    v.fix = "check server.port against the server's inbound port, and that the server is running";
  } else if (timeout) {
    v.cause = "no answer to the TCP connection on port " + std::to_string(port) +
              ": a firewall drops it, the server is down, or the address is wrong";
    v.fix =
        "check server.address and server.port; if they are right, the server or the network "
        "in between drops the connection";
  } else {
    v.cause = "the server cannot be reached on port " + std::to_string(port);
    v.fix = "check server.address and this computer's network";
  }
  return v;
}

std::string describe_plain(const PlainObservation& seen) {
  switch (seen.answer) {
    case PlainAnswer::kHttp:
      return "answers plain HTTP: \"" + seen.status_line + "\"";
    case PlainAnswer::kTlsAlert:
      return "answers plain HTTP with a TLS alert";
    case PlainAnswer::kClosedAtOnce:
      return "closes a plain HTTP request at once without a byte";
    case PlainAnswer::kSilent:
      return "keeps a plain HTTP request open without answering";
    case PlainAnswer::kOtherBytes:
      return "answers plain HTTP with bytes that are neither HTTP nor TLS";
    case PlainAnswer::kNoConnection:
      return "could not be reached for a plain request";
  }
  return {};
}

Verdict judge_tls(const TlsObservation& seen) {
  Verdict v;
  v.layer = Layer::kTls;
  if (seen.ok || seen.insecure_ok) {
    v.details.push_back(seen.version + (seen.alpn.empty() ? ", no ALPN" : ", ALPN " + seen.alpn));
  }
  if (seen.certificate) {
    v.details.push_back("certificate: subject " + seen.certificate->subject + ", issuer " +
                        seen.certificate->issuer + ", valid until " + seen.certificate->not_after +
                        (seen.certificate->expired ? " (EXPIRED)" : ""));
  }
  if (seen.ok) {
    v.ok = true;
    return v;
  }
  if (seen.insecure_ok) {
    v.cause = "the server's certificate did not verify: " + seen.error;
    v.fix = seen.certificate && seen.certificate->expired
                ? "the certificate has expired: renew it on the server (or check this computer's "
                  "clock)"
                : "if the server uses its own CA, set [server.tls] ca_file to it; or pin its key "
                  "with pin_sha256; check that [server.tls] sni (or server.address) is a name in "
                  "the certificate";
    return v;
  }
  // No TLS at all on the port: what it said to plain HTTP shows what it is.
  v.details.push_back("the port " + describe_plain(seen.plain));
  switch (seen.plain.answer) {
    case PlainAnswer::kHttp:
      v.cause = "the server speaks plain HTTP on this port, not TLS (" + seen.error + ")";
      v.fix = "remove [server.tls] (the server is a ws server without TLS: transport = \"ws\")";
      break;
    case PlainAnswer::kSilent:
      v.cause =
          "the server does not speak TLS on this port: it waited silently, as a plain "
          "(tcp) VMess server does (" +
          seen.error + ")";
      v.fix = "remove [server.tls]";
      break;
    default:
      v.cause = "the TLS handshake failed: " + seen.error;
      v.fix =
          "check that the server has TLS on this port (its streamSettings security = "
          "\"tls\"); if it has not, remove [server.tls]";
      break;
  }
  return v;
}

Verdict judge_ws(const WsObservation& seen) {
  Verdict v;
  v.layer = Layer::kWebSocket;
  if (!seen.status_line.empty())
    v.details.push_back("GET " + seen.path + " (Host " + seen.host + "): \"" + seen.status_line +
                        "\"");
  if (seen.early_data) {
    v.details.push_back(
        "(the upgrade went without early data; the VMess probe sends its header as early data)");
  }
  if (seen.ok) {
    v.ok = true;
    return v;
  }
  if (seen.status == 404 || seen.status == 400 || seen.status == 403) {
    v.cause = "the server refused the WebSocket upgrade: \"" + seen.status_line + "\"";
    v.fix = "check [server.ws] path (\"" + seen.path + "\") and host (\"" + seen.host +
            "\") against the server's wsSettings";
    return v;
  }
  if (!seen.status_line.empty()) {
    v.cause = "the WebSocket upgrade failed: " + seen.error;
    v.fix = "check that the server's inbound uses network = \"ws\" on this port, and [server.ws]";
    return v;
  }
  v.details.push_back("the port " + describe_plain(seen.plain));
  switch (seen.plain.answer) {
    case PlainAnswer::kSilent:
      v.cause =
          "no answer to the WebSocket upgrade: the server waits silently, as a tcp VMess "
          "server does (" +
          seen.error + ")";
      v.fix = "set transport = \"tcp\"";
      break;
    case PlainAnswer::kTlsAlert:
      v.cause = "the server answered with a TLS alert: the port expects TLS (" + seen.error + ")";
      v.fix = "add [server.tls]";
      break;
    case PlainAnswer::kClosedAtOnce:
      v.cause =
          "the server closed the WebSocket upgrade without an answer: the port expects TLS, "
          "or it is a tcp VMess server (" +
          seen.error + ")";
      v.fix = "add [server.tls] if the server uses TLS; otherwise set transport = \"tcp\"";
      break;
    default:
      v.cause = "the WebSocket upgrade got no HTTP answer: " + seen.error;
      v.fix = "check transport and [server.ws] against the server's streamSettings";
      break;
  }
  return v;
}

Verdict judge_tcp_transport(const PlainObservation& seen) {
  Verdict v;
  v.layer = Layer::kTransport;
  if (!seen.request_line.empty()) {
    v.details.push_back("sent [server.tcp]'s HTTP header request: " + seen.request_line);
    v.details.push_back("the port " + (seen.answer == PlainAnswer::kHttp
                                           ? "answers it: \"" + seen.status_line + "\""
                                           : describe_plain(seen)));
  } else {
    v.details.push_back("the port " + describe_plain(seen));
  }
  if (!seen.request_line.empty() && seen.answer == PlainAnswer::kHttp) {
    // v2ray's header server answers only a path it does not list (404) or a bad request (400).
    v.cause = "the server answered [server.tcp]'s request \"" + seen.request_line + "\" with \"" +
              seen.status_line +
              "\": its tcpSettings HTTP header lists other paths, or it is not a tcp server with "
              "the HTTP header";
    v.fix =
        "set [server.tcp] path to one of the server's tcpSettings.header.request.path (or check "
        "transport)";
    return v;
  }
  switch (seen.answer) {
    case PlainAnswer::kSilent:
      // What a tcp VMess server does: it reads on, waiting for bytes it can authenticate.
      v.ok = true;
      v.details.push_back("(as a tcp VMess server does: it waits for a request it can check)");
      return v;
    case PlainAnswer::kNoConnection:  // TCP passed: a hiccup, the probe tells
      v.ok = true;
      return v;
    case PlainAnswer::kHttp:
      v.cause = "the server answers HTTP on this port (\"" + seen.status_line +
                "\"), so it expects WebSocket (or another HTTP transport), not raw tcp";
      v.fix =
          "set transport = \"ws\" and [server.ws] path to the server's wsSettings path (or, if "
          "the server is tcp with v2ray's HTTP header disguise, [server.tcp] header = \"http\" "
          "and path as its tcpSettings.header.request has them)";
      return v;
    case PlainAnswer::kClosedAtOnce:
      // A TLS server does this, and so does a VMess server whose drain (a per-server random
      // 54..3384 bytes in v2ray 4.34) is shorter than the request: the probe decides.
      v.ok = true;
      v.details.push_back(
          "(a TLS port, or a VMess server that drained the request: the probe "
          "tells)");
      return v;
    case PlainAnswer::kTlsAlert:
      v.cause = "the server answered a plain request with a TLS alert: it expects TLS";
      v.fix = "add [server.tls]";
      return v;
    case PlainAnswer::kOtherBytes:
      v.cause =
          "the server answers a plain request with bytes that are neither HTTP nor TLS: it "
          "is not a tcp VMess server";
      v.fix = "check server.port and the server's protocol";
      return v;
  }
  return v;
}

std::string clock_line(const ClockObservation& clock) {
  if (!clock.server_minus_local) {
    return "clock: the server gave no HTTP answer with a Date, so the clock offset cannot be "
           "estimated";
  }
  const int64_t off = *clock.server_minus_local;
  std::string line = "clock: this computer's clock is " + seconds_text(off) + " " +
                     (off > 0 ? "behind" : "ahead of") + " the server's (from the Date of " +
                     clock.source + ")";
  if (off == 0) line = "clock: agrees with the server's (Date of " + clock.source + ")";
  if (clock.applied != 0) {
    line += "; VMess timestamps are shifted by " + std::to_string(clock.applied) + " s" +
            (clock.automatic ? " (clock_offset = \"auto\")" : " (clock_offset)");
  }
  return line;
}

Verdict judge_vmess(const VmessObservation& seen) {
  Verdict v;
  v.layer = Layer::kVmess;
  // The clock is worth a line when a Date gave its offset, or when a refusal makes it a suspect
  // (then "no Date" says why it cannot be ruled out); after a pass, "no Date" says nothing.
  const bool clock_suspect = seen.refused && !seen.responded && !seen.ok;
  if (seen.clock.server_minus_local || clock_suspect) v.details.push_back(clock_line(seen.clock));
  if (seen.ok) {
    v.ok = true;
    v.details.insert(v.details.begin(),
                     "probe " + seen.url + ": \"" + seen.status_line + "\" in " + ms(seen.elapsed));
    return v;
  }
  if (seen.tls_on_port) {
    v.details.insert(v.details.begin(), "probe " + seen.url + ": " + seen.error);
    v.details.push_back(
        "the port closed a plain request at once, and a TLS handshake with it worked");
    v.cause = "the server expects TLS on this port, and the profile has no [server.tls]";
    v.fix =
        "add [server.tls] (with sni, and ca_file or pin_sha256 if the server's certificate is its "
        "own)";
    return v;
  }
  if (!seen.http_header_answer.empty()) {
    v.details.insert(v.details.begin(), "probe " + seen.url + ": " + seen.error);
    v.details.push_back("the port answers bytes that are no HTTP request with \"" +
                        seen.http_header_answer + "\"");
    v.cause =
        "the server expects v2ray's HTTP header disguise (tcpSettings.header type \"http\"): it "
        "answers a first flight that is no HTTP request with HTTP";
    v.fix =
        "set [server.tcp] header = \"http\", with path and host as the server's "
        "tcpSettings.header.request has them (its default path is \"/\")";
    return v;
  }
  if (seen.ok_without_early_data) {
    v.details.insert(v.details.begin(), "probe " + seen.url + " with early data: " + seen.error);
    v.cause =
        "the server ignores WebSocket early data: the VMess request sent in the upgrade got no "
        "response, the same request sent after it did (v2ray 4.x has no early data)";
    v.fix = "set [server.ws] max_early_data = 0 (or turn early data on in the server's wsSettings)";
    return v;
  }
  if (seen.responded) {
    v.cause = "the server accepted us, but the probe URL " + seen.url + " failed: " + seen.error;
    v.fix =
        "the server cannot reach the probe URL, or it does not answer HTTP: set [probe] url to "
        "a URL the server can reach";
    return v;
  }
  if (!seen.refused) {
    v.cause = "the VMess request failed: " + seen.error;
    // A transport that names its own setting (h2 "check [server.h2] path and host", gRPC
    // "check [server.grpc] service_name") failed before VMess: the fix is that setting.
    const size_t hint = seen.error.find("check [server.");
    if (hint != std::string::npos) {
      std::string named = seen.error.substr(hint);
      if (named.ends_with(")")) named.pop_back();
      v.fix = named;
      return v;
    }
    v.fix = "check security and alter_id against the server's settings";
    return v;
  }
  v.details.insert(v.details.begin(), "probe " + seen.url + ": " + seen.error);
  const ClockObservation& clock = seen.clock;
  if (clock.server_minus_local) {
    const int64_t effective = *clock.server_minus_local - clock.applied;
    if (std::llabs(effective) > http::kVmessClockTolerance) {
      v.cause = "the server refused us: this computer's clock is " + seconds_text(effective) + " " +
                (effective > 0 ? "behind" : "ahead of") + " the server's, and VMess allows 120 s";
      v.fix =
          "set this computer's clock right (enable NTP: timedatectl set-ntp true); or set "
          "[server] clock_offset = " +
          std::to_string(*clock.server_minus_local);
      return v;
    }
    v.cause = "the server refused us: the clocks agree (within " +
              std::to_string(std::llabs(effective)) +
              " s), so the uuid or alter_id is wrong (or the server cannot reach the probe URL)";
    v.fix = "copy server.uuid and alter_id again from the server's settings";
    return v;
  }
  v.cause =
      "the server refused us: wrong uuid/alter_id, or the clock is off by more than 120 s "
      "(or the server cannot reach the probe URL)";
  v.fix =
      "copy server.uuid and alter_id again from the server's settings, and check that this "
      "computer's clock is right (timedatectl)";
  if (seen.plain_closed_at_once) {
    // The doctor tried TLS on such a port (tls_on_port): it is not TLS, so not one of these.
    v.details.push_back(
        "the port closed a plain request at once, but a TLS handshake with it failed: not a TLS "
        "port (a VMess server that drained a short request does this)");
  }
  return v;
}

}  // namespace vmlocal::doctor
