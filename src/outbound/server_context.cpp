#include "vmlocal/outbound/server_context.hpp"

#include <variant>

#include "vmlocal/transport/upstream.hpp"

namespace vmlocal::outbound {
namespace {

std::string_view header_mode_name(vmess::HeaderMode mode) {
  return mode == vmess::HeaderMode::kAead ? "AEAD header" : "legacy header";
}

std::string_view wire_security_name(vmess::BodyFormat format) {
  switch (format.security) {
    case vmess::SecurityType::kAes128Gcm:
      return "aes-128-gcm";
    case vmess::SecurityType::kChacha20Poly1305:
      return "chacha20-poly1305";
    case vmess::SecurityType::kNone:
      return format.options == 0 ? "zero" : "none";
    default:
      return "?";
  }
}

}  // namespace

Result<std::shared_ptr<const ServerContext>> ServerContext::make(
    const config::Profile::Server& server) {
  auto context = std::make_shared<ServerContext>(ServerContext{
      server,
      vmess::Account::make(server.uuid, server.alter_id),
      server.alter_id > 0 ? vmess::HeaderMode::kLegacy : vmess::HeaderMode::kAead,
      vmess::resolve_body_format(server.security),
      nullptr,
      std::make_unique<ServerState>(server.clock_offset),
  });
  if (server.tls) {
    auto made = transport::TlsContext::create(transport::tls_options_for(server));
    if (const auto* error = std::get_if<std::string>(&made)) {
      return Error{ErrorKind::kOther, *error};
    }
    context->tls = std::move(std::get<std::unique_ptr<transport::TlsContext>>(made));
  }
  return std::shared_ptr<const ServerContext>(std::move(context));
}

vmess::RequestParams ServerContext::request_params(const TargetAddress& target,
                                                   vmess::Command command) const {
  vmess::RequestParams params;
  params.header_mode = header_mode;
  params.security = body_format.security;
  params.options = body_format.options;
  params.command = command;
  params.target = target;
  return params;
}

std::string ServerContext::describe() const {
  return config::server_label(settings) + " over " + transport::describe_upstream(settings) + ", " +
         std::string(wire_security_name(body_format)) + ", " +
         std::string(header_mode_name(header_mode)) +
         (settings.mux.enabled
              ? ", Mux.Cool (" + std::to_string(settings.mux.concurrency) + " per connection)"
              : std::string());
}

}  // namespace vmlocal::outbound
