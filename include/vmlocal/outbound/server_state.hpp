// What one event loop has learnt about one server while running, next to its immutable
// ServerContext: the clock offset VMess timestamps use, and whether the server refuses us.
// Pure (no clock, no I/O): the VmessStreams report what they saw, the fail-fast runner
// (fail_fast.hpp) runs the probes this asks for, and a pool skips or refuses a marked server.
//
// Refusing: only a failed probe marks the server — a VMess request through it to the probe URL
// that got no response while the connection stayed open or closed without a byte. Silent tunnels
// alone never do (a target that closes without a byte, or v2ray 4.34's rare replay-filter hang,
// look the same from one tunnel); kSilentTunnelsBeforeProbe of them in a row start a probe.
// While marked, the probe is retried with back-off (kFirstRetryMs doubling up to kMaxRetryMs);
// a good probe clears the mark.
//
// Clock: clock_offset = SECONDS applies that; "auto" applies the offset the server's HTTP Date
// showed (the WebSocket upgrade response) once it exceeds kAutoClockThreshold seconds, since
// VMess servers refuse timestamps more than 120 s away (vmess-protocol.md §6.2).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace vmlocal::outbound {

class ServerState {
 public:
  static constexpr int kSilentTunnelsBeforeProbe = 3;
  static constexpr uint64_t kFirstRetryMs = 2'000;
  static constexpr uint64_t kMaxRetryMs = 60'000;
  static constexpr int64_t kAutoClockThreshold = 60;

  // configured_offset: server.clock_offset (nullopt: "auto").
  explicit ServerState(std::optional<int32_t> configured_offset = std::nullopt)
      : configured_offset_(configured_offset),
        applied_offset_(configured_offset ? *configured_offset : 0) {}

  // --- Clock ---
  // Seconds to add to this clock for VMess timestamps.
  int64_t clock_offset() const { return applied_offset_; }
  bool clock_auto() const { return !configured_offset_; }
  // An HTTP Date from the server, received at local_unix. With "auto": updates the applied
  // offset (0 unless the estimate exceeds kAutoClockThreshold); true when it changed (log it).
  bool note_server_date(int64_t server_unix, int64_t local_unix);
  // The last estimate from a Date, if any.
  std::optional<int64_t> estimated_offset() const { return estimated_offset_; }

  // --- Fail fast ---
  bool refusing() const { return refusing_; }
  // Why, for the one log line and the tunnels' failure message (no secret).
  const std::string& refusing_reason() const { return refusing_reason_; }

  // A tunnel through this server ended its wait for the response: `responded` false when the
  // server closed before answering. Asks for a probe (on_probe_wanted) after
  // kSilentTunnelsBeforeProbe silent ones in a row, unless one runs or the server is marked.
  void note_tunnel(bool responded);

  enum class ProbeOutcome : uint8_t {
    kAnswered,    // the probe URL answered through the server
    kRefused,     // connected, but no VMess response: the server refuses us
    kUnreachable  // the server could not be reached (DNS, TCP, TLS, WebSocket): says nothing
  };
  void note_probe_started() { probing_ = true; }
  // Returns the delay before the next probe in ms, 0 for none. `reason` explains kRefused.
  // Transitions (marked, cleared) are reported through on_change for the one log line.
  uint64_t note_probe_result(ProbeOutcome outcome, const std::string& reason);
  bool probing() const { return probing_; }
  // A new tunnel was failed at once because of the mark: counted until the mark clears, so the
  // retries can say how many (the tunnels themselves log at debug, not to flood).
  void note_refused_tunnel() { ++refused_tunnels_; }
  uint64_t refused_tunnels() const { return refused_tunnels_; }

  // Set by the fail-fast runner: start a probe now.
  std::function<void()> on_probe_wanted;
  // Set by the fail-fast runner: the mark was set (true) or cleared (false).
  std::function<void(bool refusing)> on_change;

 private:
  std::optional<int32_t> configured_offset_;
  int64_t applied_offset_ = 0;
  std::optional<int64_t> estimated_offset_;

  bool refusing_ = false;
  std::string refusing_reason_;
  int silent_in_a_row_ = 0;
  bool probing_ = false;
  uint64_t next_retry_ms_ = kFirstRetryMs;
  uint64_t refused_tunnels_ = 0;
};

}  // namespace vmlocal::outbound
