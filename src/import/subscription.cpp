#include "vmlocal/import/subscription.hpp"

#include <set>

#include "vmlocal/import/import.hpp"

namespace vmlocal::import {

SubscriptionServers subscription_servers(std::string_view text) {
  SubscriptionServers out;
  ImportResult imported = import_text(text);
  out.warnings = std::move(imported.warnings);
  for (std::string& error : imported.errors)
    out.warnings.push_back(std::move(error));
  if (imported.servers.empty()) {
    out.error = out.warnings.empty() ? "no server in it" : out.warnings.front();
    out.warnings.clear();
    return out;
  }
  // Through the loader, as `vmess-local import` writes them: what comes out is what a profile
  // with these servers would hold.
  const config::ProfileResult loaded = config::parse_profile(to_toml(imported.servers, {}), "");
  if (!loaded.ok()) {
    out.error = "the servers in it do not load";  // import_text checked each one: not expected
    return out;
  }
  out.servers = loaded.profile().servers;
  if (imported.servers.size() == 1 && !imported.servers.front().name.empty()) {
    out.servers.front().name = imported.servers.front().name;  // a lone [server] has no name
  }
  return out;
}

config::Profile with_subscription(config::Profile profile,
                                  const std::vector<config::Profile::Server>& servers) {
  std::set<std::string> taken;
  for (const config::Profile::Server& own : profile.servers)
    taken.insert(own.name);
  for (config::Profile::Server server : servers) {
    const std::string base = server.name;
    for (int n = 2; taken.count(server.name) != 0; ++n)
      server.name = base + " (" + std::to_string(n) + ")";
    taken.insert(server.name);
    server.origin = config::Profile::Server::Origin::kSubscription;
    profile.servers.push_back(std::move(server));
  }
  return profile;
}

}  // namespace vmlocal::import
