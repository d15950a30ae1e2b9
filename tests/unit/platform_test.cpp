#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

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
