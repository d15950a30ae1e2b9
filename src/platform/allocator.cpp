#include "vmlocal/platform/allocator.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <climits>

namespace vmlocal::platform {

bool give_large_blocks_back_to_the_os(size_t bytes) {
#if defined(__GLIBC__)
  // Setting it also stops glibc from raising the threshold by itself after frees.
  return bytes <= INT_MAX && mallopt(M_MMAP_THRESHOLD, static_cast<int>(bytes)) == 1;
#else
  (void)bytes;
  return false;
#endif
}

}  // namespace vmlocal::platform
