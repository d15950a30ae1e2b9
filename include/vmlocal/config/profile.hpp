// The TOML profile: how to listen and where to go. Parsing from a string is the primitive;
// loading a file is a thin wrapper. Every error is "path:line:column: what is wrong".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "vmlocal/log/log.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/security.hpp"

namespace vmlocal::config {

// A numeric listen address: "127.0.0.1:1080" or "[::1]:1080".
struct ListenEndpoint {
  std::string host;  // IP literal without brackets
  uint16_t port = 0;
  bool is_loopback() const;
  std::string to_string() const;  // as written in a profile
};

enum class Transport : uint8_t { kTcp };

struct Profile {
  struct Local {
    std::vector<ListenEndpoint> listen;  // default: 127.0.0.1:1080
  } local;

  struct Server {
    std::string address;  // host name or IP literal
    uint16_t port = 0;
    vmess::Uuid uuid{};
    uint16_t alter_id = 0;
    vmess::Security security = vmess::Security::kAuto;
    Transport transport = Transport::kTcp;
  } server;

  struct Timeouts {
    std::chrono::milliseconds handshake{10'000};  // SOCKS greeting + request from the app
    std::chrono::milliseconds connect{10'000};    // upstream resolve + connect
    std::chrono::milliseconds idle{300'000};      // no bytes either way
  } timeouts;

  struct Log {
    log::Level level = log::Level::kInfo;
  } log;
};

struct ProfileResult {
  std::variant<Profile, std::string> value;  // the profile, or one "path:line:column: message"
  std::vector<std::string> warnings;         // e.g. the file is readable by other users

  bool ok() const { return value.index() == 0; }
  const Profile& profile() const { return std::get<Profile>(value); }
  const std::string& error() const { return std::get<std::string>(value); }
};

// `source_path` names the text in error messages.
ProfileResult parse_profile(std::string_view text, std::string_view source_path);
// Reads and parses a file; adds a warning when it is readable by group or others.
ProfileResult load_profile(const std::string& path);

// "127.0.0.1:1080" / "[::1]:1080" -> endpoint; nullopt-like error string on failure.
std::variant<ListenEndpoint, std::string> parse_listen_endpoint(std::string_view text);

}  // namespace vmlocal::config
