// A fault-injecting TCP relay for chaos tests. It listens on 127.0.0.1 (kernel-chosen port),
// forwards every accepted connection to an upstream endpoint (the real VMess server), and
// applies to connection k (in accept order) the FaultPlan given for k: added delays, writes cut
// into 1-byte writes, a stall, and at most one cut — a reset (RST both ways, SO_LINGER 0) or a
// truncation (FIN toward the receiver, the rest of that direction read and dropped) at a byte
// offset of either direction. It records what it actually did to each connection, and when,
// so a test can tell which outcomes each tunnel is allowed.
//
// Directions: kUp is client -> upstream (vmess-local -> server), kDown is the reverse. Offsets
// count the bytes of that direction the relay has written to the receiver.
//
// Resets and FINs from either peer are passed on as they came (a reset as a reset), so the
// relay itself never turns a failure into a clean end. One thread per connection; every wait
// has a deadline (`max_connection_time`, after which the connection is reset both ways).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "harness/deadline.hpp"
#include "harness/endpoint.hpp"
#include "harness/socket.hpp"

namespace vmlocal::itest {

enum class Direction : std::uint8_t { kUp = 0, kDown = 1 };
const char* to_string(Direction d);

struct FaultPlan {
  // Each of the first `segments` segments read in `dir` waits `each` before it is forwarded.
  struct Delay {
    Direction dir = Direction::kUp;
    std::chrono::milliseconds each{0};
    std::uint32_t segments = 0;
  };
  // Bytes of `dir` go one write(2) per byte until `until` bytes of it have been forwarded.
  struct Dribble {
    Direction dir = Direction::kUp;
    std::uint64_t until = 0;
  };
  // Once `at` bytes of `dir` have been forwarded, nothing more of it is read or written for
  // `length` (the sender sees backpressure).
  struct Stall {
    Direction dir = Direction::kUp;
    std::uint64_t at = 0;
    std::chrono::milliseconds length{0};
  };
  enum class CutKind : std::uint8_t { kReset, kFin };
  // Once `at` bytes of `dir` have been forwarded (and nothing beyond): kReset resets both
  // peers; kFin shuts down the write side toward the receiver of `dir` and drops the rest of
  // `dir`, while the other direction goes on. With `after_client_end` (kFin, kDown only) the
  // cut also waits until the client's FIN has arrived, and then happens at the first point at
  // or after `at`: vmess-local sends FIN only after its END chunk, so the cut is then known to
  // come after the app's END.
  struct Cut {
    CutKind kind = CutKind::kReset;
    Direction dir = Direction::kUp;
    std::uint64_t at = 0;
    bool after_client_end = false;
  };

  std::optional<Delay> delay;
  std::optional<Dribble> dribble;
  std::optional<Stall> stall;
  std::optional<Cut> cut;

  bool empty() const { return !delay && !dribble && !stall && !cut; }
  std::string describe() const;  // "delay down 12 ms x 3; cut FIN up at 5000", or "none"

  // What the drawing needs to know about the traffic of the connection.
  struct Hints {
    std::uint64_t up_bytes = 0;    // about how many bytes go up on the wire
    std::uint64_t down_bytes = 0;  // ... and down
    // false: a kFin cut of kDown is drawn with after_client_end (see Cut).
    bool early_down_fin = true;
  };
  // A random plan: each fault kind with its own probability, offsets uniform over the hinted
  // sizes (and sometimes beyond, so the fault never happens), stalls of at most 400 ms and
  // delays of at most 30 ms (well under v2ray's 1 s one-direction rule, vmess-protocol.md §11).
  static FaultPlan draw(std::mt19937_64& rng, const Hints& hints);
};

// What the relay did to one connection.
struct RelayRecord {
  enum class Ending : std::uint8_t {
    kRunning,        // not finished yet
    kClosed,         // both directions ended with FIN (passed on, or cut), then closed
    kClientReset,    // the client reset (or a write to it failed): passed on as a reset
    kUpstreamReset,  // the same from the upstream side
    kCutReset,       // the plan's kReset cut
    kConnectFailed,  // the upstream refused: the client was reset
    kTimedOut,       // max_connection_time passed: both reset
    kStopped,        // the relay stopped: both reset
  };
  struct CutDone {
    FaultPlan::CutKind kind = FaultPlan::CutKind::kReset;
    Direction dir = Direction::kUp;
    std::uint64_t offset = 0;   // bytes of `dir` forwarded before the cut
    bool client_ended = false;  // the client's FIN had arrived at the relay by then
    Deadline::Clock::time_point when{};
  };

  std::uint64_t index = 0;
  FaultPlan plan;
  std::array<std::uint64_t, 2> forwarded{};  // bytes written to the receiver, by Direction
  bool client_fin = false;                   // the client's FIN arrived
  bool upstream_fin = false;                 // the upstream's FIN arrived
  bool stalled = false;                      // the stall took place
  std::optional<CutDone> cut;                // the cut took place
  Ending ending = Ending::kRunning;
  std::string error;  // the errno text behind a reset or failure ending

  std::string describe() const;  // plan, what happened, bytes each way, ending
};
const char* to_string(RelayRecord::Ending e);

class ChaosRelay {
 public:
  // Listens at once. Connections beyond `plans` get no faults.
  explicit ChaosRelay(Endpoint upstream, std::vector<FaultPlan> plans = {},
                      std::chrono::milliseconds max_connection_time = std::chrono::seconds(90));
  ~ChaosRelay();  // stop()
  ChaosRelay(const ChaosRelay&) = delete;
  ChaosRelay& operator=(const ChaosRelay&) = delete;

  // Stops accepting, resets the connections still open and joins every thread.
  void stop();

  const Endpoint& endpoint() const { return endpoint_; }
  std::uint16_t port() const { return endpoint_.port; }
  std::uint64_t accepted() const;

  // Waits until every accepted connection has finished. False at the deadline.
  bool wait_all_finished(Deadline deadline) const;
  // A copy of every connection's record, in accept order.
  std::vector<RelayRecord> records() const;

 private:
  struct Connection;
  void accept_loop();
  void serve(Connection& c);

  Endpoint upstream_;
  std::vector<FaultPlan> plans_;
  std::chrono::milliseconds max_connection_time_;
  Socket listener_;
  Endpoint endpoint_;
  int stop_fd_ = -1;  // an eventfd, readable once stop() began; every thread polls it
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::list<std::unique_ptr<Connection>> connections_;
  std::thread accept_thread_;
};

}  // namespace vmlocal::itest
