#include "harness/stream_settings.hpp"

#include "harness/vmess_local.hpp"

namespace vmlocal::itest {

using nlohmann::json;

const char* transport_name(TransportKind kind) {
  switch (kind) {
    case TransportKind::kTcp:
      return "tcp";
    case TransportKind::kWs:
      return "ws";
    case TransportKind::kTls:
      return "tcp+tls";
    case TransportKind::kWsTls:
      return "ws+tls";
  }
  return "?";
}

bool has_tls(TransportKind kind) {
  return kind == TransportKind::kTls || kind == TransportKind::kWsTls;
}

bool has_ws(TransportKind kind) {
  return kind == TransportKind::kWs || kind == TransportKind::kWsTls;
}

json tls_settings(const Certificate& cert) {
  return {{"certificates", json::array({{{"certificateFile", cert.cert.string()},
                                         {"keyFile", cert.key.string()}}})}};
}

json with_tls(json stream, const Certificate& cert) {
  stream["security"] = "tls";
  stream["tlsSettings"] = tls_settings(cert);
  return stream;
}

json ws_stream_settings(const std::string& path) {
  return {{"network", "ws"}, {"wsSettings", {{"path", path}}}};
}

json stream_settings(TransportKind kind, const Certificate& cert, const std::string& ws_path) {
  json s = has_ws(kind) ? ws_stream_settings(ws_path) : json{{"network", "tcp"}};
  return has_tls(kind) ? with_tls(std::move(s), cert) : s;
}

std::string ca_file_line(const Certificate& cert) {
  return "ca_file = \"" + cert.cert.string() + "\"\n";
}

void trust_certificate(VmessLocalProfile& profile, const Certificate& cert) {
  profile.server_address = "localhost";
  profile.extra_toml += "[server.tls]\n" + ca_file_line(cert);
}

}  // namespace vmlocal::itest
