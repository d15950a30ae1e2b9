// The bulk check most suites make of a tunnel: `bytes` down from a SourceServer and `bytes` up
// to a SinkServer through vmess-local, each on its own SOCKS5 tunnel, checked by SHA-256.
#pragma once

#include <cstdint>
#include <string>

#include "harness/deadline.hpp"
#include "harness/socks5_client.hpp"
#include "harness/transfer.hpp"

namespace vmlocal::itest {

class VmessLocal;

struct BothWays {
  TransferResult down;  // DataStream(seed) from the source
  TransferResult up;    // DataStream(seed + 1) to the sink
  // Empty when both arrived whole with the right SHA-256; else what is wrong.
  std::string problems;
};

// Opens a tunnel to `source` and downloads, then one to `sink` and uploads (download() and
// upload() with their defaults). Throws (VmessLocal::open) when a tunnel does not open.
BothWays transfer_both_ways(VmessLocal& local, const Socks5Target& source, const Socks5Target& sink,
                            std::uint64_t bytes, std::uint64_t seed, Deadline deadline);

}  // namespace vmlocal::itest
