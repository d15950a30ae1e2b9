// The v2ray 4.34 inbound "streamSettings" the suites configure (v2ray's transport config:
// network, wsSettings, security and tlsSettings), and the matching client tables of a
// vmess-local profile, so every suite asks for the same server the same way.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "harness/certificate.hpp"

namespace vmlocal::itest {

struct VmessLocalProfile;

// The four upstream transports the tcp/ws suites run over.
enum class TransportKind { kTcp, kWs, kTls, kWsTls };

const char* transport_name(TransportKind kind);  // "tcp", "ws", "tcp+tls", "ws+tls"
bool has_tls(TransportKind kind);
bool has_ws(TransportKind kind);

// "tlsSettings" with `cert` as the server's one certificate.
nlohmann::json tls_settings(const Certificate& cert);
// `stream` with TLS below it ("security": "tls" and tlsSettings for `cert`).
nlohmann::json with_tls(nlohmann::json stream, const Certificate& cert);
// {"network": "ws", "wsSettings": {"path": path}}.
nlohmann::json ws_stream_settings(const std::string& path);
// The inbound for `kind`: ws at `ws_path` when has_ws, TLS with `cert` when has_tls.
nlohmann::json stream_settings(TransportKind kind, const Certificate& cert,
                               const std::string& ws_path = "/ws");

// The client side of a TLS server with `cert`: server_address "localhost" (the certificate's
// name, and SNI), and "[server.tls]\nca_file = ...\n" appended to extra_toml.
void trust_certificate(VmessLocalProfile& profile, const Certificate& cert);
// "ca_file = \"CERT\"\n": the [server.tls] line that trusts `cert`.
std::string ca_file_line(const Certificate& cert);

}  // namespace vmlocal::itest
