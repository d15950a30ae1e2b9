#include "vmlocal/platform/descriptor_limit.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace vmlocal::platform {

void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::optional<size_t> descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return std::nullopt;
  }
  // rlim_t can be wider than size_t (a 32-bit build with 64-bit limits).
  return static_cast<size_t>(
      std::min<uintmax_t>(limit.rlim_cur, std::numeric_limits<size_t>::max()));
}

}  // namespace vmlocal::platform
