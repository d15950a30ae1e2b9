// What tests read back from vmess-local's log: how often a text occurs, the per-server counters
// it logs on SIGUSR1, and a reload (a new profile and SIGHUP) with its logged outcome.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "harness/deadline.hpp"
#include "harness/vmess_local.hpp"

namespace vmlocal::itest {

// Non-overlapping-start occurrences of `needle` in `text` (each start position counts once).
size_t count_of(std::string_view text, std::string_view needle);

// Sends SIGUSR1 and waits for the counters line of `server` ("server \"NAME\": ..."); returns
// its "M total" tunnels, nullopt when no new line came before the deadline.
std::optional<uint64_t> tunnels_total(VmessLocal& local, const std::string& server,
                                      Deadline deadline);

// Writes `text` as the running profile (a new file renamed over the old, as editors and
// `install` do: a SIGHUP never sees half a file).
void write_profile(const VmessLocal& local, const std::string& text);

// write_profile, SIGHUP, and the outcome: true once `reloaded_lines` more "profile reloaded: "
// lines were logged, false on "reload refused"; throws (failing the test) when neither came in
// time.
bool reload(VmessLocal& local, const std::string& text, Deadline deadline,
            size_t reloaded_lines = 1);

}  // namespace vmlocal::itest
