// ServerState: when the fail-fast check probes, marks and clears a server, the back-off, and the
// clock offset "auto" applies. Pure: no clock, no I/O.
#include <doctest/doctest.h>

#include <optional>
#include <vector>

#include "vmlocal/outbound/server_state.hpp"

using vmlocal::outbound::ServerState;
using Outcome = ServerState::ProbeOutcome;

TEST_CASE("server state: silent tunnels ask for a probe, and never mark the server themselves") {
  ServerState state;
  int probes = 0;
  state.on_probe_wanted = [&] {
    ++probes;
    state.note_probe_started();
  };
  for (int i = 0; i < ServerState::kSilentTunnelsBeforeProbe - 1; ++i)
    state.note_tunnel(false);
  CHECK(probes == 0);
  state.note_tunnel(true);  // a response breaks the run
  for (int i = 0; i < ServerState::kSilentTunnelsBeforeProbe - 1; ++i)
    state.note_tunnel(false);
  CHECK(probes == 0);
  state.note_tunnel(false);
  CHECK(probes == 1);
  CHECK_FALSE(state.refusing());  // silence alone marks nothing
  // While the probe runs, more silent tunnels do not start another.
  for (int i = 0; i < 10; ++i)
    state.note_tunnel(false);
  CHECK(probes == 1);
  // The probe got through: nothing marked, no retry.
  CHECK(state.note_probe_result(Outcome::kAnswered, "") == 0);
  CHECK_FALSE(state.refusing());
}

TEST_CASE("server state: a refused probe marks, retries back off, a good probe clears") {
  ServerState state;
  std::vector<bool> changes;
  state.on_change = [&](bool refusing) { changes.push_back(refusing); };
  state.note_probe_started();
  CHECK(state.note_probe_result(Outcome::kRefused, "no response") == ServerState::kFirstRetryMs);
  CHECK(state.refusing());
  CHECK(state.refusing_reason() == "no response");
  // Further failures: one change only (one log line), the delay doubles up to the cap.
  uint64_t delay = ServerState::kFirstRetryMs;
  for (int i = 0; i < 10; ++i) {
    const uint64_t next = state.note_probe_result(Outcome::kRefused, "no response");
    CHECK(next == std::min(delay * 2, ServerState::kMaxRetryMs));
    delay = next;
  }
  CHECK(delay == ServerState::kMaxRetryMs);
  // Unreachable while marked: the mark stays, the checks go on.
  CHECK(state.note_probe_result(Outcome::kUnreachable, "") == ServerState::kMaxRetryMs);
  CHECK(state.refusing());
  // While marked, silent tunnels do not start probes of their own (the retries run).
  int probes = 0;
  state.on_probe_wanted = [&] { ++probes; };
  for (int i = 0; i < 10; ++i)
    state.note_tunnel(false);
  CHECK(probes == 0);
  // The tunnels failed at once are counted while marked; the clear's callback still sees the
  // count (for its log line), and the count starts over after it.
  for (int i = 0; i < 3; ++i)
    state.note_refused_tunnel();
  CHECK(state.refused_tunnels() == 3);
  uint64_t seen_at_clear = 0;
  state.on_change = [&](bool refusing) {
    changes.push_back(refusing);
    if (!refusing) seen_at_clear = state.refused_tunnels();
  };
  CHECK(state.note_probe_result(Outcome::kAnswered, "") == 0);
  CHECK_FALSE(state.refusing());
  CHECK(changes == std::vector<bool>{true, false});
  CHECK(seen_at_clear == 3);
  CHECK(state.refused_tunnels() == 0);
  // The back-off starts over after a clear.
  CHECK(state.note_probe_result(Outcome::kRefused, "x") == ServerState::kFirstRetryMs);
}

TEST_CASE("server state: an unreachable server is not a refusing one") {
  ServerState state;
  CHECK(state.note_probe_result(Outcome::kUnreachable, "") == 0);
  CHECK_FALSE(state.refusing());
}

TEST_CASE("server state: clock_offset auto applies the Date estimate only beyond 60 s") {
  ServerState state;  // auto
  CHECK(state.clock_auto());
  CHECK(state.clock_offset() == 0);
  CHECK_FALSE(state.note_server_date(1'000'030, 1'000'000));  // 30 s: left alone
  CHECK(state.clock_offset() == 0);
  CHECK(state.estimated_offset() == 30);
  CHECK(state.note_server_date(1'000'300, 1'000'000));  // 5 minutes ahead: applied
  CHECK(state.clock_offset() == 300);
  CHECK_FALSE(state.note_server_date(1'000'301, 1'000'000));  // the same, a second later
  CHECK(state.clock_offset() == 300);
  CHECK(state.note_server_date(1'000'000 - 90, 1'000'000));  // behind by 90 s
  CHECK(state.clock_offset() == -90);
  CHECK(state.note_server_date(1'000'000, 1'000'000));  // fixed: back to our clock
  CHECK(state.clock_offset() == 0);
}

TEST_CASE("server state: a configured clock_offset is never replaced") {
  ServerState state(std::optional<int32_t>(-42));
  CHECK_FALSE(state.clock_auto());
  CHECK(state.clock_offset() == -42);
  CHECK_FALSE(state.note_server_date(1'000'300, 1'000'000));
  CHECK(state.clock_offset() == -42);
  CHECK(state.estimated_offset() == 300);  // still estimated, for the doctor
  ServerState zero(std::optional<int32_t>(0));
  CHECK_FALSE(zero.note_server_date(1'000'300, 1'000'000));
  CHECK(zero.clock_offset() == 0);
}
