// What the bench and soak reports say about the run: when, on what, how busy, which versions.
#pragma once

#include <string>
#include <vector>

namespace vmlocal::itest {

// "2026-11-30 06:21 UTC".
std::string utc_now();
// The first "model name" of /proc/cpuinfo, or "unknown CPU".
std::string cpu_model();
// The 1, 5 and 15 minute load averages, "2.16 1.90 3.79".
std::string load_average();
// The first line `command` prints (stdout, else stderr), e.g. for `v2ray -version`.
std::string first_line_of(const std::vector<std::string>& command);

}  // namespace vmlocal::itest
