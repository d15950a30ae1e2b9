// How the C library's allocator treats the tunnels' I/O blocks (64-69 KiB each, pooled per
// loop, see uv/block_pool.hpp).
#pragma once

#include <cstddef>

namespace vmlocal::platform {

// Allocations of `bytes` or more get pages of their own from the OS and give them back when
// freed (glibc: M_MMAP_THRESHOLD). Without it, glibc serves the blocks from its heap below its
// default 128 KiB threshold, and a burst of them — hundreds of tunnels reading at once when a
// server dies — leaves freed pages resident wherever small allocations pin the heap: the soak
// showed RSS stepping up by 0.1-0.3 MiB at every server kill and never coming back. The pools
// keep up to 64 blocks each, so only blocks beyond that pay the mmap/munmap. A no-op where the
// allocator has no such setting. Returns whether it took effect.
bool give_large_blocks_back_to_the_os(size_t bytes);

}  // namespace vmlocal::platform
