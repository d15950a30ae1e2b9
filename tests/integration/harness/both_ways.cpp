#include "harness/both_ways.hpp"

#include "harness/data_stream.hpp"
#include "harness/sha256.hpp"
#include "harness/vmess_local.hpp"

namespace vmlocal::itest {

namespace {

std::string problems_of(const char* direction, const TransferResult& r, std::uint64_t bytes,
                        std::uint64_t seed) {
  std::string problems;
  if (r.received != bytes) {
    problems += std::string(" ") + direction + ": " + std::to_string(r.received) + " of " +
                std::to_string(bytes) + " bytes arrived;";
  }
  const Digest expected = stream_sha256(seed, bytes);
  if (r.received_sha256 != expected) {
    problems += std::string(" ") + direction + ": SHA-256 " + to_hex(r.received_sha256) +
                ", expected " + to_hex(expected) + ";";
  }
  return problems;
}

}  // namespace

BothWays transfer_both_ways(VmessLocal& local, const Socks5Target& source, const Socks5Target& sink,
                            std::uint64_t bytes, std::uint64_t seed, Deadline deadline) {
  BothWays r;
  Socket d = local.open(source, deadline);
  r.down = download(d, bytes, seed, deadline);
  Socket u = local.open(sink, deadline);
  r.up = upload(u, bytes, seed + 1, deadline);
  r.problems =
      problems_of("download", r.down, bytes, seed) + problems_of("upload", r.up, bytes, seed + 1);
  return r;
}

}  // namespace vmlocal::itest
