// Bulk transfers through the client under test, with the client's CPU time read from /proc
// just before the first payload byte moves and just after the last one arrives. Nothing else
// runs through the client meanwhile, so the delta is the client's cost of the transfer.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "harness/endpoint.hpp"
#include "pattern.hpp"

namespace vmlocal::bench {

struct BulkResult {
  std::uint64_t bytes = 0;
  double seconds = 0;           // first payload byte sent to last byte arrived (or acknowledged)
  double cpu_seconds = 0;       // the client's utime + stime over the same interval
  double cpu_user_seconds = 0;  // of which in user space (the rest is the kernel's)
  int attempts = 0;             // > 1 when the server never answered a tunnel (see tunnel_pool.hpp)
  std::string retry_reasons;

  double cpu_seconds_per_gib() const;
  double megabytes_per_second() const;  // 10^6 bytes per second
};

// Asks the source origin for `bytes` pattern bytes and checks every one as it arrives.
BulkResult bulk_download(const itest::Endpoint& proxy, const itest::Endpoint& source, pid_t client,
                         std::uint64_t bytes, const Pattern& pattern);
// Streams `bytes` pattern bytes to the sink origin, which checks them and acknowledges.
BulkResult bulk_upload(const itest::Endpoint& proxy, const itest::Endpoint& sink, pid_t client,
                       std::uint64_t bytes, const Pattern& pattern);

}  // namespace vmlocal::bench
