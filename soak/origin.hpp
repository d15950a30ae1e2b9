// The loopback origins behind the soak's tunnels, on one epoll thread of the driver process
// (a soak holds a few hundred tunnels, far from any descriptor limit, so no fork as in bench/):
//
//   duplex  the job protocol of wire.hpp: checks every uplink byte against its stream where it
//           lands and sends the downlink stream at the same time; keeps a resumable job's
//           progress across tunnels
//   echo    sends every byte back (the idle tunnels and their probes)
//
// A corrupted uplink byte marks its job corrupt, is recorded with its offset, and resets the
// connection; a later tunnel for that job is answered kCorrupt.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness/endpoint.hpp"
#include "stream.hpp"

namespace vmlocal::soak {

class Origin {
 public:
  struct Stats {
    std::uint64_t connections = 0;
    std::uint64_t up_verified_bytes = 0;       // uplink bytes that matched, all jobs
    std::uint64_t bulk_up_verified_bytes = 0;  // of those, in resumable (bulk) jobs
    std::uint64_t down_sent_bytes = 0;         // downlink bytes the kernel took, resent ones too
    std::uint64_t jobs_completed = 0;          // trailers sent
    std::uint64_t protocol_errors = 0;         // bad headers, bytes where none were expected
    std::vector<std::string> corruptions;
    std::vector<std::string> protocol_error_details;  // the first few
  };

  explicit Origin(const StreamBytes& stream);
  ~Origin();  // stops the thread
  Origin(const Origin&) = delete;
  Origin& operator=(const Origin&) = delete;

  const itest::Endpoint& duplex() const { return duplex_; }
  const itest::Endpoint& echo() const { return echo_; }
  Stats stats() const;
  void stop();

 private:
  class Loop;
  friend class Loop;

  void record_corruption(std::string what);
  void record_protocol_error(std::string what);

  itest::Endpoint duplex_;
  itest::Endpoint echo_;
  mutable std::mutex mutex_;
  Stats stats_;  // under mutex_, except the counters below
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> up_verified_{0};
  std::atomic<std::uint64_t> bulk_up_verified_{0};
  std::atomic<std::uint64_t> down_sent_{0};
  std::atomic<std::uint64_t> jobs_completed_{0};
  std::atomic<bool> stop_{false};
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace vmlocal::soak
