// One configured VMess server as the outbound uses it: the settings, the account derived from
// the UUID, the header mode and body format, and the TLS client context. Built once per event
// loop from a profile and then immutable (shared_ptr<const>): every tunnel pins the one it was
// opened with, so a reload that builds new ones never changes a live tunnel.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/outbound/server_state.hpp"
#include "vmlocal/transport/tls_context.hpp"
#include "vmlocal/util/error.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/constants.hpp"
#include "vmlocal/vmess/request_builder.hpp"
#include "vmlocal/vmess/security.hpp"

namespace vmlocal::outbound {

struct ServerContext {
  config::Profile::Server settings;
  vmess::Account account;
  vmess::HeaderMode header_mode = vmess::HeaderMode::kAead;
  vmess::BodyFormat body_format{vmess::SecurityType::kAes128Gcm, 0};
  // The TLS client context (trust store, session cache, record buffers) when settings.tls is
  // set. Per event loop: its buffer pool and session cache are not shared between threads.
  std::unique_ptr<transport::TlsContext> tls;
  // What this loop learns about the server while running (clock offset, refusing us): the one
  // mutable part, reached through the const context every stream pins.
  std::unique_ptr<ServerState> state;

  // Errors: the TLS context could not be made (e.g. "ca_file: cannot read ...").
  static Result<std::shared_ptr<const ServerContext>> make(const config::Profile::Server& server);

  // What a TCP request to `target` carries for this server: header mode, the wire security byte
  // (always 3, 4 or 5: servers such as sing-box's panic on 2 "auto" or 6 "zero") and options.
  // `command`: kTcp for a tunnel, kUdp for a UDP destination (§13), kMux for a Mux.Cool
  // connection (no target on the wire).
  vmess::RequestParams request_params(const TargetAddress& target,
                                      vmess::Command command = vmess::Command::kTcp) const;

  // "127.0.0.1:443 over ws+tls (...), aes-128-gcm, AEAD header": the start-up log line.
  std::string describe() const;
};

}  // namespace vmlocal::outbound
