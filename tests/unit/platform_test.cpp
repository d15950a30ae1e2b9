#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "vmlocal/platform/allocator.hpp"
#include "vmlocal/platform/descriptor_limit.hpp"
#include "vmlocal/platform/socket_options.hpp"

using namespace vmlocal;

namespace {

// A plain TCP socket, closed at scope exit.
struct Socket {
  Socket() : fd(::socket(AF_INET, SOCK_STREAM, 0)) { REQUIRE(fd >= 0); }
  ~Socket() { ::close(fd); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd;
};

}  // namespace

TEST_CASE("platform: SO_REUSEPORT is set on a TCP socket") {
  Socket s;
  REQUIRE(platform::enable_reuseport(s.fd));
  int value = 0;
  socklen_t len = sizeof value;
  REQUIRE(getsockopt(s.fd, SOL_SOCKET, SO_REUSEPORT, &value, &len) == 0);
  CHECK(value != 0);
}

TEST_CASE("platform: options on a descriptor that is not a socket fail instead of throwing") {
  CHECK_FALSE(platform::enable_reuseport(-1));
  CHECK_FALSE(platform::enable_fast_open_connect(-1));
  CHECK_FALSE(platform::fast_open_used(-1).has_value());
}

TEST_CASE("platform: the Fast Open client option is set, or refused with a reason") {
  Socket s;
  errno = 0;
  if (platform::enable_fast_open_connect(s.fd)) {
#ifdef TCP_FASTOPEN_CONNECT
    int value = 0;
    socklen_t len = sizeof value;
    REQUIRE(getsockopt(s.fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &value, &len) == 0);
    CHECK(value != 0);
#endif
  } else {
    // Kernels before 4.11 refuse it; the caller then connects without Fast Open.
    CHECK(errno != 0);
  }
}

TEST_CASE("platform: raising the descriptor limit never lowers it") {
  const auto before = platform::descriptor_limit();
  platform::raise_descriptor_limit();
  const auto after = platform::descriptor_limit();
  if (before && after) CHECK(*after >= *before);
  if (!before) CHECK_FALSE(after.has_value());  // unlimited stays unlimited
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMLOCAL_TEST_ASAN 1
#endif
#endif

namespace {

// The process's resident anonymous memory (heap and stacks), in KiB.
[[maybe_unused]] long rss_anon_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
  }
  return -1;
}

}  // namespace

TEST_CASE("platform: freed I/O-sized blocks go back to the OS, even between live small ones") {
  const bool took = platform::give_large_blocks_back_to_the_os(64 * 1024);
#if defined(__SANITIZE_ADDRESS__) || defined(VMLOCAL_TEST_ASAN)
  // AddressSanitizer's allocator replaces glibc's and has no such setting (its mallopt answers
  // 0): the function must say it did not take effect.
  CHECK_FALSE(took);
#else
  REQUIRE(took);  // glibc on this machine
  // A burst of blocks interleaved with small allocations that stay, as when hundreds of tunnels
  // read at once: from glibc's heap, the freed blocks' pages would stay resident.
  constexpr size_t kBlocks = 200;
  constexpr size_t kBlockSize = 70 * 1024;
  const long before = rss_anon_kib();
  REQUIRE(before > 0);
  std::vector<char*> blocks;
  std::vector<std::unique_ptr<char[]> > small;
  for (size_t i = 0; i < kBlocks; ++i) {
    blocks.push_back(new char[kBlockSize]);
    std::memset(blocks.back(), 1, kBlockSize);  // resident
    small.push_back(std::make_unique<char[]>(64));
  }
  const long during = rss_anon_kib();
  for (char* block : blocks)
    delete[] block;
  const long after = rss_anon_kib();
  MESSAGE("RssAnon KiB: before " << before << ", with the blocks " << during << ", after "
                                 << after);
  CHECK(during - before > static_cast<long>(kBlocks * kBlockSize / 1024 / 2));
  CHECK(after - before < 2048);
#endif
}
