#include "vmlocal/config/reload.hpp"

#include <algorithm>

namespace vmlocal::config {
namespace {

// A changed server keeps its name (or address:port); a new or gone one has a name the other
// profile lacks.
std::string describe_server_changes(const Profile& running, const Profile& next,
                                    const std::vector<std::optional<size_t>>& same,
                                    const std::vector<bool>& taken) {
  const auto named = [](const std::vector<Profile::Server>& list, const std::string& name) {
    return std::any_of(list.begin(), list.end(),
                       [&](const Profile::Server& s) { return s.name == name; });
  };
  size_t kept = 0;
  std::string added, changed, gone;
  const auto add = [](std::string& list, const std::string& name) {
    list += (list.empty() ? "\"" : ", \"") + name + "\"";
  };
  for (size_t i = 0; i < next.servers.size(); ++i) {
    if (same[i]) {
      ++kept;
    } else {
      add(named(running.servers, next.servers[i].name) ? changed : added, next.servers[i].name);
    }
  }
  for (size_t i = 0; i < running.servers.size(); ++i) {
    if (!taken[i] && !named(next.servers, running.servers[i].name))
      add(gone, running.servers[i].name);
  }
  if (added.empty() && changed.empty() && gone.empty()) return {};
  std::string out = "servers: " + std::to_string(kept) + " kept";
  if (!added.empty()) out += "; new: " + added;
  if (!changed.empty()) out += "; changed: " + changed;
  if (!gone.empty()) out += "; gone: " + gone;
  return out;
}

}  // namespace

ReloadPlan plan_reload(const Profile& running, Profile& next) {
  ReloadPlan plan;
  if (next.local.workers != running.local.workers) {
    plan.notes.push_back("[local] workers = " + std::to_string(next.local.workers) +
                         " needs a restart: still running " +
                         std::to_string(running.local.workers) + " worker(s)");
    next.local.workers = running.local.workers;
  }

  std::vector<bool> taken(running.servers.size(), false);
  for (const Profile::Server& server : next.servers) {
    std::optional<size_t> same;
    for (size_t i = 0; i < running.servers.size() && !same; ++i) {
      if (!taken[i] && running.servers[i] == server) same = i;
    }
    if (same) taken[*same] = true;
    plan.same_server.push_back(same);
  }

  plan.servers_changed = describe_server_changes(running, next, plan.same_server, taken);

  for (const ListenEndpoint& endpoint : next.local.listen) {
    plan.listen_kept.push_back(std::find(running.local.listen.begin(), running.local.listen.end(),
                                         endpoint) != running.local.listen.end());
  }
  for (const ListenEndpoint& endpoint : running.local.listen) {
    if (std::find(next.local.listen.begin(), next.local.listen.end(), endpoint) ==
        next.local.listen.end()) {
      ++plan.listen_closed;
    }
  }
  return plan;
}

}  // namespace vmlocal::config
