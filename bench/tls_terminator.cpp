#include "tls_terminator.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/ports.hpp"

namespace vmlocal::bench {

using namespace std::chrono_literals;

namespace {

std::string host_port(const itest::Endpoint& e) {
  const bool v6 = e.host.find(':') != std::string::npos;
  return (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

}  // namespace

TlsTerminator::TlsTerminator(const itest::Endpoint& backend, const std::filesystem::path& cert,
                             const std::filesystem::path& key, itest::TempDir& dir) {
  // free_port() can race with another process taking the port: a few attempts, as the bench
  // does for v2ray clients.
  for (int attempt = 1;; ++attempt) {
    endpoint_ = itest::Endpoint::loopback(itest::Family::kV4, itest::free_port());
    // foreground: the harness owns the process (and kills it); "pid =": no pid file.
    const std::string config =
        "foreground = yes\npid =\ndebug = warning\n[rtt]\naccept = " + host_port(endpoint_) +
        "\nconnect = " + host_port(backend) + "\ncert = " + cert.string() +
        "\nkey = " + key.string() + "\nsocket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n";
    const std::string stem = "rtt-stunnel-" + std::to_string(attempt);
    const auto file = dir.write_file(stem + ".conf", config);
    stunnel_.reset();
    stunnel_.emplace(std::vector<std::string>{"stunnel4", file.string()}, dir.file(stem + ".log"));
    try {
      itest::wait_until_accepting(endpoint_, *stunnel_, itest::Deadline::after(10s));
      return;
    } catch (const std::runtime_error&) {
      if (attempt == 3) throw;
    }
  }
}

}  // namespace vmlocal::bench
