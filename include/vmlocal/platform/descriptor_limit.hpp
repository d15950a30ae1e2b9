// The process's open-descriptor limit (RLIMIT_NOFILE on POSIX): every tunnel holds two sockets,
// so this limit caps how many tunnels one process can serve.
#pragma once

#include <cstddef>
#include <optional>

namespace vmlocal::platform {

// Raises the soft limit to the hard limit, as far as the platform allows. Best effort: on
// failure the limit stays as it was and nothing is reported; descriptor_limit() then shows what
// the process actually has.
void raise_descriptor_limit();

// The current soft limit, in descriptors. Nullopt when it is unlimited or cannot be read.
std::optional<size_t> descriptor_limit();

}  // namespace vmlocal::platform
