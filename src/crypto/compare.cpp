#include "vmlocal/crypto/compare.hpp"

#include <sodium.h>

namespace vmlocal::crypto {

bool constant_time_equal(ByteView candidate, ByteView expected) {
  const size_t n = expected.size();
  // sodium_memcmp is a plain loop over `n` bytes; skip it for n == 0 so no null pointer reaches
  // it (an empty span may have data() == nullptr).
  if (candidate.size() != n) {
    // Compare the secret with itself so a length mismatch costs the same as a full comparison.
    if (n != 0) {
      // GCC ignores a (void) cast on warn_unused_result, hence the named result.
      [[maybe_unused]] int ignored = sodium_memcmp(expected.data(), expected.data(), n);
    }
    return false;
  }
  return n == 0 || sodium_memcmp(candidate.data(), expected.data(), n) == 0;
}

}  // namespace vmlocal::crypto
