// Bulk transfers over an open tunnel, with SHA-256 of both ends so a test can prove that every
// byte arrived intact and in order. Rates are information for humans, never asserted.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "harness/deadline.hpp"
#include "harness/sha256.hpp"
#include "harness/socket.hpp"

namespace vmlocal::itest {

struct TransferResult {
  std::uint64_t sent = 0;      // payload bytes this side sent
  std::uint64_t received = 0;  // payload bytes that arrived (upload(): as the sink reports)
  Digest sent_sha256{};
  Digest received_sha256{};  // upload(): as the sink reports
  // Start to the last expected payload byte (upload(): to the sink's report). The rate uses
  // this, not the time to EOF, which includes however long the proxy takes to close.
  std::chrono::duration<double> elapsed{};
  // Start to EOF on the tunnel. v2ray closes a tunnel only when both directions are done or
  // after its 1 s one-direction idle timer, so this can be about a second more than elapsed.
  std::chrono::duration<double> until_close{};

  // Payload per second in one direction (the larger of sent and received), in MiB/s.
  double mib_per_s() const;
  // "echo: 8.0 MiB in 0.410 s = 19.5 MiB/s (closed after 1.412 s)"
  std::string summary(std::string_view label) const;
};

enum class EchoEnd {
  kAfterSending,  // shut down the write side right after the last byte is sent
  // ... only once the whole echo is back. v2ray 4.34 drops a tunnel whose request has ended
  // when the response then stalls for 1 s (vmess-protocol.md §11), which under heavy load can
  // happen while the echo is still in flight; load tests use this to stay clear of it.
  kAfterEcho,
};

// Sends `count` bytes of DataStream(seed) while a second thread reads the echo; shuts down the
// write side (see EchoEnd) and reads until EOF. For an EchoServer behind the tunnel.
TransferResult echo_transfer(Socket& s, std::uint64_t count, std::uint64_t seed, Deadline deadline,
                             EchoEnd end = EchoEnd::kAfterSending);

enum class AfterRequest {
  // Keep the uplink open until the data is in: v2ray ends the tunnel when the source closes.
  kKeepOpen,
  // Shut the uplink down right after the request (END goes upstream). v2ray then drops the
  // tunnel if the response stalls for 1 s (vmess-protocol.md §11), so a loaded machine can cut
  // a large download short: use it for half-close behaviour, not for bulk checks.
  kHalfClose,
};

// Asks a SourceServer behind the tunnel for `count` bytes of DataStream(seed) and reads until
// EOF. Compare received_sha256 with stream_sha256(seed, count).
TransferResult download(Socket& s, std::uint64_t count, std::uint64_t seed, Deadline deadline,
                        AfterRequest after = AfterRequest::kKeepOpen);

enum class UploadEnd {
  kAnnounced,  // the sink is told the length up front; the uplink is still shut down after it
  kEof,        // the sink learns the end from EOF only: needs a path that carries FIN
};

// Streams `count` bytes of DataStream(seed) to a SinkServer behind the tunnel, shuts down the
// write side, and reads the sink's report into `received` and `received_sha256`.
TransferResult upload(Socket& s, std::uint64_t count, std::uint64_t seed, Deadline deadline,
                      UploadEnd end = UploadEnd::kAnnounced);

}  // namespace vmlocal::itest
