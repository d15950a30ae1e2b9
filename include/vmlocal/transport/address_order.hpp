// The order and pacing of connection attempts to a name with several addresses, as RFC 8305
// ("Happy Eyeballs Version 2") §4-§5 and Go's net.Dialer do it: the families interleaved,
// starting with the family of the resolver's first answer (getaddrinfo already sorts by the
// RFC 6724 preference), and the next attempt started after a Connection Attempt Delay while the
// earlier ones still run — or at once when one fails — rather than one after another with the
// whole connect timeout each. Pure: families in, order out.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <vector>

namespace vmlocal::transport {

// RFC 8305 §5 recommends 250 ms (minimum 100 ms); Go's dialer uses 300 ms.
inline constexpr std::chrono::milliseconds kConnectionAttemptDelay{250};

// The indexes of `families` (AF_INET6 / AF_INET, or any other values) in attempt order: the
// first address's family, then the other family, alternating while both last, each family in
// its own order; the rest of whichever family is left over at the end (RFC 8305 §4, "First
// Address Family Count" 1).
std::vector<size_t> interleave_families(std::span<const int> families);

}  // namespace vmlocal::transport
