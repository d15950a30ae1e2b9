#include "clients.hpp"

#include <chrono>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "harness/ports.hpp"

namespace vmlocal::bench {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Another process can take a kernel-chosen port between our probe and the client's bind.
constexpr int kStartAttempts = 3;

json v2ray_client_config(std::uint16_t socks_port, const std::string& security,
                         const itest::V2rayServer& server) {
  json user = {{"id", server.uuid()}, {"alterId", 0}, {"security", security}};
  json vnext = {
      {"address", server.endpoint().host}, {"port", server.port()}, {"users", json::array({user})}};
  return json{
      {"log", {{"loglevel", "warning"}, {"access", "none"}}},
      {"inbounds",
       json::array({{{"listen", "127.0.0.1"},
                     {"port", socks_port},
                     {"protocol", "socks"},
                     {"settings", {{"auth", "noauth"}, {"udp", true}, {"ip", "127.0.0.1"}}}}})},
      {"outbounds",
       json::array({{{"protocol", "vmess"}, {"settings", {{"vnext", json::array({vnext})}}}}})},
  };
}

}  // namespace

const char* client_name(ClientKind kind) {
  switch (kind) {
    case ClientKind::kVmessLocal:
      return "vmess-local";
    case ClientKind::kV2ray:
      return "v2ray";
    case ClientKind::kBaseline:
      return "baseline";
  }
  return "?";
}

ClientUnderTest::ClientUnderTest(ClientKind kind, const std::string& security,
                                 const itest::V2rayServer& server, itest::TempDir& dir,
                                 const ClientPaths& paths)
    : kind_(kind) {
  if (kind != ClientKind::kV2ray) {
    itest::VmessLocalProfile profile = itest::VmessLocalProfile::for_server(server);
    profile.security = security;
    profile.log_level = "warn";  // as v2ray's "warning": no line per tunnel
    itest::VmessLocalOptions options;
    options.binary = kind == ClientKind::kBaseline ? paths.baseline : paths.vmess_local;
    vmess_local_.emplace(dir, profile, options);
    socks_ = vmess_local_->socks_endpoint();
    pid_ = process().pid();
    return;
  }
  for (int attempt = 1;; ++attempt) {
    socks_ = itest::Endpoint::loopback(itest::Family::kV4, itest::free_port());
    const std::string stem = "v2ray-client-" + security + "-" + std::to_string(attempt);
    auto config =
        dir.write_file(stem + ".json", v2ray_client_config(socks_.port, security, server).dump(2));
    v2ray_.reset();
    v2ray_.emplace(std::vector<std::string>{paths.v2ray.string(), "-config", config.string()},
                   dir.file(stem + ".log"));
    try {
      itest::wait_until_accepting(socks_, *v2ray_, itest::Deadline::after(10s));
      pid_ = v2ray_->pid();
      return;
    } catch (const std::runtime_error&) {
      bool port_taken = !v2ray_->alive() &&
                        v2ray_->log_text().find("address already in use") != std::string::npos;
      if (!port_taken || attempt == kStartAttempts) throw;
    }
  }
}

itest::Process& ClientUnderTest::process() {
  return vmess_local_ ? vmess_local_->process() : *v2ray_;
}

void ClientUnderTest::check_alive() {
  if (!process().alive()) {
    throw std::runtime_error(std::string(client_name(kind_)) +
                             " exited during the benchmark: " + process().describe_with_log());
  }
}

void ClientUnderTest::stop() {
  check_alive();
  process().terminate(itest::Deadline::after(10s));
}

}  // namespace vmlocal::bench
