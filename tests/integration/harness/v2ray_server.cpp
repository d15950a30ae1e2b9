#include "harness/v2ray_server.hpp"

#include <thread>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "harness/ports.hpp"
#include "harness/uuid.hpp"

namespace vmlocal::itest {
namespace {

using nlohmann::json;

// Another process can take a kernel-chosen port between our probe and v2ray's bind.
constexpr int kStartAttempts = 3;

std::atomic<int> g_instance{0};

constexpr const char* kLoopbackTag = "loopback";
constexpr const char* kElsewhereTag = "elsewhere";

}  // namespace

json loopback_only_config() {
  return json{
      {"outbounds",
       json::array({
           {{"protocol", "freedom"}, {"tag", kLoopbackTag}, {"settings", json::object()}},
           {{"protocol", "blackhole"}, {"tag", kElsewhereTag}, {"settings", json::object()}},
       })},
      {"routing",
       {{"domainStrategy", "AsIs"},
        {"rules", json::array({
                      {{"type", "field"},
                       {"ip", json::array({"127.0.0.0/8", "::1/128"})},
                       {"outboundTag", kLoopbackTag}},
                      {{"type", "field"},
                       {"domain", json::array({"full:localhost"})},
                       {"outboundTag", kLoopbackTag}},
                      {{"type", "field"}, {"network", "tcp,udp"}, {"outboundTag", kElsewhereTag}},
                  })}}},
  };
}

std::string check_loopback_only(const json& config) {
  // Which protocol each outbound tag names.
  std::map<std::string, std::string> protocols;
  const json outbounds = config.value("outbounds", json::array());
  if (!outbounds.is_array() || outbounds.empty()) return "no outbounds";
  for (const auto& out : outbounds) {
    const std::string protocol = out.value("protocol", "");
    if (protocol != "freedom" && protocol != "blackhole") {
      return "outbound protocol \"" + protocol + "\" (only freedom and blackhole)";
    }
    protocols[out.value("tag", "")] = protocol;
  }
  const json dns = config.value("dns", json::object());
  if (dns.contains("servers")) return "dns.servers set: v2ray would ask a resolver";
  const json routing = config.value("routing", json::object());
  if (routing.value("domainStrategy", "AsIs") != "AsIs") {
    return "routing.domainStrategy resolves names to route";
  }
  const json rules = routing.value("rules", json::array());
  if (!rules.is_array() || rules.empty()) return "no routing rules";
  // The last rule sends every TCP and UDP connection to a blackhole...
  const json& last = rules.back();
  if (last != json{{"type", "field"},
                   {"network", "tcp,udp"},
                   {"outboundTag", last.value("outboundTag", "")}} ||
      protocols[last.value("outboundTag", "")] != "blackhole") {
    return "the last rule does not send everything to a blackhole outbound";
  }
  // ...and every rule before it matches only loopback addresses or the name localhost.
  const json loopback_ips = json::array({"127.0.0.0/8", "::1/128"});
  for (size_t i = 0; i + 1 < rules.size(); ++i) {
    const json& rule = rules[i];
    for (const auto& [key, value] : rule.items()) {
      if (key == "type" || key == "outboundTag") continue;
      if (key == "ip") {
        for (const auto& ip : value) {
          if (std::find(loopback_ips.begin(), loopback_ips.end(), ip) == loopback_ips.end()) {
            return "rule " + std::to_string(i) + " matches ip " + ip.dump();
          }
        }
      } else if (key == "domain") {
        if (value != json::array({"full:localhost"})) {
          return "rule " + std::to_string(i) + " matches domains " + value.dump();
        }
      } else {
        return "rule " + std::to_string(i) + " matches on \"" + key + "\"";
      }
    }
    if (!rule.contains("ip") && !rule.contains("domain")) {
      return "rule " + std::to_string(i) + " matches any address";
    }
  }
  return {};
}

std::filesystem::path v2ray_binary() {
  const char* env = std::getenv("V2RAY_BIN");
  std::string name = env && *env ? env : "v2ray";
  auto found = find_program(name);
  if (!found) {
    throw std::runtime_error("v2ray not found (" + name +
                             "); install it with `apt-get install -y v2ray` or set V2RAY_BIN");
  }
  return *found;
}

V2rayServer::V2rayServer(TempDir& dir, const json& inbound, Family family,
                         const V2rayOptions& options) {
  const int instance = g_instance.fetch_add(1);
  const std::string stem = "v2ray-" + std::to_string(instance);
  const auto binary = v2ray_binary();

  for (int attempt = 1;; ++attempt) {
    endpoint_ = Endpoint::loopback(family, free_port(family));
    json in = inbound;
    in["listen"] = endpoint_.host;
    in["port"] = endpoint_.port;
    json inbounds = json::array({in});
    for (const auto& extra : options.extra_inbounds)
      inbounds.push_back(extra);

    config_ = json{
        // Access log off: one line per connection is noise, and load tests make thousands.
        {"log", {{"loglevel", options.log_level}, {"access", "none"}}},
        {"inbounds", inbounds},
    };
    config_.merge_patch(loopback_only_config());
    config_.merge_patch(options.extra_config);
    if (const std::string why = check_loopback_only(config_); !why.empty()) {
      throw std::runtime_error("v2ray config would relay beyond loopback: " + why);
    }
    config_path_ = dir.write_file(stem + ".json", config_.dump(2));

    auto log = dir.file(stem + ".log");
    process_.reset();
    process_.emplace(std::vector<std::string>{binary.string(), "-config", config_path_.string()},
                     log);
    try {
      const auto deadline = Deadline::after(options.start_timeout);
      // v2ray logs "started" (at warning level) only once every inbound is bound; a probe
      // alone could be answered by another process that took the port first.
      if (options.log_level == "debug" || options.log_level == "info" ||
          options.log_level == "warning") {
        while (process_->log_text().find("started") == std::string::npos) {
          if (!process_->alive() || deadline.expired()) {
            throw std::runtime_error("v2ray did not start:\n" + process_->describe_with_log());
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      wait_until_accepting(endpoint_, *process_, deadline);
      return;
    } catch (const std::runtime_error&) {
      bool port_taken = !process_->alive() &&
                        process_->log_text().find("address already in use") != std::string::npos;
      if (!port_taken || attempt == kStartAttempts) throw;
    }
  }
}

V2rayServer V2rayServer::vmess(TempDir& dir, const VmessInboundOptions& inbound,
                               const V2rayOptions& options) {
  std::string uuid = inbound.uuid.empty() ? random_uuid() : inbound.uuid;
  json settings = {{"clients", json::array({{{"id", uuid}, {"alterId", inbound.alter_id}}})}};
  if (inbound.disable_insecure_encryption) settings["disableInsecureEncryption"] = true;
  json in = {{"protocol", "vmess"}, {"settings", settings}};
  if (!inbound.stream_settings.is_null()) in["streamSettings"] = inbound.stream_settings;
  V2rayServer server(dir, in, inbound.family, options);
  server.uuid_ = uuid;
  server.alter_id_ = inbound.alter_id;
  return server;
}

V2rayServer V2rayServer::socks(TempDir& dir, const SocksInboundOptions& inbound,
                               const V2rayOptions& options) {
  json settings = {{"auth", "noauth"}, {"udp", false}};
  if (inbound.credentials) {
    settings["auth"] = "password";
    settings["accounts"] = json::array(
        {{{"user", inbound.credentials->username}, {"pass", inbound.credentials->password}}});
  }
  V2rayServer server(dir, json{{"protocol", "socks"}, {"settings", settings}}, inbound.family,
                     options);
  server.socks_credentials_ = inbound.credentials;
  return server;
}

Socks5Client V2rayServer::socks_client() const {
  Socks5Client::Options options;
  options.credentials = socks_credentials_;
  return Socks5Client(endpoint_, options);
}

Process restart_v2ray(TempDir& dir, const V2rayServer& server) {
  Process restarted({v2ray_binary().string(), "-config", server.config_path().string()},
                    dir.file("v2ray-restarted.log"));
  const auto deadline = Deadline::after(std::chrono::seconds(15));
  if (!restarted.wait_for_log("started", deadline)) {
    throw std::runtime_error("v2ray did not start again:\n" + restarted.log_text());
  }
  wait_until_accepting(server.endpoint(), restarted, deadline);
  return restarted;
}

}  // namespace vmlocal::itest
