#include "vmlocal/config/reload.hpp"

#include <algorithm>

namespace vmlocal::config {

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
