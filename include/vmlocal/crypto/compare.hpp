// Comparison of secrets (passwords, tags) whose running time does not depend on their content.
#pragma once

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::crypto {

// True when `candidate` and `expected` hold the same bytes. The time taken depends only on
// expected.size(): when the lengths differ, `expected` is still scanned in full, so neither how
// much of the candidate matched nor where the secret differs can be timed. (The length of the
// secret itself is not hidden.)
bool constant_time_equal(ByteView candidate, ByteView expected);

}  // namespace vmlocal::crypto
