// What a reload (SIGHUP, a changed subscription) changes, decided from the old and the new
// profile alone (pure, unit-tested): which servers are unchanged (they keep their health,
// counters, TLS sessions and Mux.Cool connections), which listen endpoints stay open, and the
// keys that cannot change while running (`[local] workers`: the threads exist; it needs a
// restart), which are put back to the running value with a note for the log.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::config {

struct ReloadPlan {
  // For each server of the new profile: the index of the old server with exactly the same
  // settings (name included), or nullopt for a new or changed one. Each old server is matched
  // at most once.
  std::vector<std::optional<size_t>> same_server;
  // For each listen endpoint of the new profile: whether the old profile listens there too
  // (its socket is kept).
  std::vector<bool> listen_kept;
  size_t listen_closed = 0;  // old endpoints the new profile does not list
  // For the log, empty when the servers are the same ones: what the reload did to them, by
  // name ("servers: 2 kept; new: \"d\"; changed: \"b\"; gone: \"c\""). A subscription refresh
  // that changed them says so only here.
  std::string servers_changed;
  // One line each for the log: what was ignored and why ("[local] workers: ...").
  std::vector<std::string> notes;
};

// Compares `next` with `running` and puts the keys that cannot change back to their running
// value in `next` (see the notes).
ReloadPlan plan_reload(const Profile& running, Profile& next);

}  // namespace vmlocal::config
