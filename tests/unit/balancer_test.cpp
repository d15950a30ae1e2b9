// The server choice policy (outbound/balancer.hpp) on a fake clock: order by strategy, marking
// down after failures, back-off and its doubling, the tolerance that stops "fastest" flapping,
// and each change of choice reported once.
#include <doctest/doctest.h>

#include <vector>

#include "vmlocal/outbound/balancer.hpp"
#include "vmlocal/outbound/server_health.hpp"

using vmlocal::outbound::Balancer;
using vmlocal::outbound::BalancerSettings;
using vmlocal::outbound::Millis;
using Strategy = vmlocal::config::Profile::Balancer::Strategy;
using Order = std::vector<size_t>;

namespace {

BalancerSettings settings(Strategy strategy = Strategy::kFirst) {
  BalancerSettings s;
  s.strategy = strategy;
  s.tolerance = Millis(50);
  s.failures_to_mark_down = 2;
  s.first_backoff = Millis(2'000);
  s.max_backoff = Millis(8'000);
  return s;
}

}  // namespace

TEST_CASE("balancer: first keeps profile order while every server is up") {
  Balancer b(settings(), 3);
  CHECK(b.order(Millis(0)) == Order{0, 1, 2});
  CHECK(b.take_choice_change(Millis(0)) == 0u);
  CHECK_FALSE(b.take_choice_change(Millis(0)).has_value());  // reported once
}

TEST_CASE("balancer: a server is marked down after failures in a row, and a success resets") {
  Balancer b(settings(), 2);
  (void)b.take_choice_change(Millis(0));
  b.record_failure(0, Millis(100), "connect 127.0.0.1:1: connection refused");
  CHECK_FALSE(b.state(0).down);  // one failure is not enough
  CHECK(b.order(Millis(100)) == Order{0, 1});
  b.record_success(0);
  b.record_failure(0, Millis(200), "x");
  CHECK_FALSE(b.state(0).down);  // the success broke the run
  b.record_failure(0, Millis(300), "refused");
  CHECK(b.state(0).down);
  CHECK(b.state(0).last_failure == "refused");
  CHECK(b.order(Millis(300)) == Order{1, 0});  // still tried last, never dropped
  CHECK(b.take_choice_change(Millis(300)) == 1u);
  CHECK_FALSE(b.take_choice_change(Millis(400)).has_value());
}

TEST_CASE("balancer: a down server is retried after its back-off, which doubles up to the max") {
  Balancer b(settings(), 2);
  b.record_failure(0, Millis(0), "a");
  b.record_failure(0, Millis(0), "b");  // down; retry at 2 s
  CHECK(b.order(Millis(1'999)) == Order{1, 0});
  CHECK(b.order(Millis(2'000)) == Order{0, 1});  // due: "first" tries it first again
  (void)b.take_choice_change(Millis(1'000));
  // Due for a retry is not yet a change of choice; only its success is.
  CHECK_FALSE(b.take_choice_change(Millis(2'000)).has_value());
  b.record_failure(0, Millis(2'000), "still dead");  // back-off 4 s
  CHECK(b.order(Millis(5'999)) == Order{1, 0});
  CHECK(b.order(Millis(6'000)) == Order{0, 1});
  b.record_failure(0, Millis(6'000), "still dead");   // 8 s
  b.record_failure(0, Millis(14'000), "still dead");  // capped at 8 s
  CHECK(b.state(0).backoff == Millis(8'000));
  CHECK(b.state(0).retry_at == Millis(22'000));
  b.record_success(0);
  CHECK_FALSE(b.state(0).down);
  CHECK(b.order(Millis(14'001)) == Order{0, 1});
  CHECK(b.take_choice_change(Millis(14'001)) == 0u);  // taken back, said once
}

TEST_CASE(
    "balancer: failures of tunnels already under way when a server is marked down do not double "
    "its back-off") {
  Balancer b(settings(), 2);
  // 16 tunnels waiting on one dead connection fail together: the 2nd marks it down.
  for (int i = 0; i < 16; ++i)
    b.record_failure(0, Millis(1'000 + i), "refused");
  CHECK(b.state(0).down);
  CHECK(b.state(0).failures_in_a_row == 16u);
  CHECK(b.state(0).backoff == Millis(2'000));
  CHECK(b.state(0).retry_at == Millis(3'001));  // 2 s after the failure that marked it
  CHECK(b.order(Millis(3'001)) == Order{0, 1});
  // The retry fails (doubles), and so do tunnels that tried with it (they do not).
  b.record_failure(0, Millis(3'050), "refused");
  b.record_failure(0, Millis(3'060), "refused");
  CHECK(b.state(0).backoff == Millis(4'000));
  CHECK(b.state(0).retry_at == Millis(7'050));
}

TEST_CASE("balancer: with every server down, the soonest due is tried first") {
  Balancer b(settings(), 3);
  for (size_t i : {2, 0, 1}) {
    b.record_failure(i, Millis(i * 10), "x");
    b.record_failure(i, Millis(i * 10), "x");
  }
  CHECK(b.order(Millis(100)) == Order{0, 1, 2});
  CHECK(b.take_choice_change(Millis(100)) == 0u);
}

TEST_CASE("balancer: probes mark a server down and bring it back") {
  Balancer b(settings(), 2);
  b.record_probe(0, Millis(0), std::nullopt, "probe: timed out");
  b.record_probe(0, Millis(10), std::nullopt, "probe: timed out");
  CHECK(b.state(0).down);
  CHECK(b.order(Millis(20)) == Order{1, 0});
  b.record_probe(0, Millis(30), Millis(80));
  CHECK_FALSE(b.state(0).down);
  CHECK(b.state(0).probe_time == Millis(80));
  CHECK(b.order(Millis(30)) == Order{0, 1});
}

TEST_CASE("balancer: fastest goes by probe time, unprobed last, within the tolerance no flap") {
  Balancer b(settings(Strategy::kFastest), 3);
  CHECK(b.order(Millis(0)) == Order{0, 1, 2});  // nothing probed: profile order
  b.record_probe(1, Millis(0), Millis(200));
  b.record_probe(2, Millis(0), Millis(100));
  CHECK(b.order(Millis(0)) == Order{2, 1, 0});
  CHECK(b.take_choice_change(Millis(0)) == 2u);
  // 1 is now a little faster than 2 (by 40 ms, within 50): 2 stays the choice.
  b.record_probe(1, Millis(1), Millis(60));
  CHECK(b.order(Millis(1)) == Order{2, 1, 0});
  CHECK_FALSE(b.take_choice_change(Millis(1)).has_value());
  // By more than the tolerance: it moves, once.
  b.record_probe(1, Millis(2), Millis(40));
  CHECK(b.order(Millis(2)) == Order{1, 2, 0});
  CHECK(b.take_choice_change(Millis(2)) == 1u);
  // Slower again by less than the tolerance: 1 is kept.
  b.record_probe(1, Millis(3), Millis(120));
  CHECK(b.order(Millis(3)) == Order{1, 2, 0});
  // The choice going down moves to the next fastest.
  b.record_failure(1, Millis(4), "x");
  b.record_failure(1, Millis(4), "x");
  CHECK(b.order(Millis(4)) == Order{2, 0, 1});
  CHECK(b.take_choice_change(Millis(4)) == 2u);
}

TEST_CASE("server health: the counters line per server says health, tunnels, bytes, failures") {
  vmlocal::config::Profile profile;
  profile.servers.resize(2);
  profile.servers[0].name = "tokyo";
  profile.servers[1].address = "2001:db8::1";
  profile.servers[1].port = 443;  // unnamed: "address:port"
  vmlocal::outbound::ServerHealth health(profile);
  CHECK(health.probes_enabled());  // two servers, the default interval
  auto& c = health.counters(0);
  c.tunnels_open = 2;
  c.tunnels_total = 7;
  c.bytes_up = 1234;
  c.bytes_down = 56789;
  health.record_failure(0, {vmlocal::ErrorKind::kRefused, "connect: refused"}, true);
  health.record_failure(0, {vmlocal::ErrorKind::kTimeout, "no answer"}, true);  // down now
  health.record_failure(0, {vmlocal::ErrorKind::kReset, "read: reset"}, false);
  // Our own shutdown is nobody's failure: neither counted nor marking.
  health.record_failure(1, {vmlocal::ErrorKind::kStopping, "vmess-local is stopping"}, true);
  health.record_failure(1, {vmlocal::ErrorKind::kStopping, "vmess-local is stopping"}, true);
  health.record_probe(1, Millis(85));
  auto lines = health.stats_lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].starts_with(R"(server "tokyo": down (retry in )"));
  CHECK(lines[0].find("; tunnels 2 open, 7 total; bytes up 1234, down 56789; failures 3 "
                      "(refused 1, timeout 1, reset 1); probe none") != std::string::npos);
  CHECK(lines[1].starts_with(R"(server "[2001:db8::1]:443": up; tunnels 0 open, 0 total;)"));
  CHECK(lines[1].find("; failures 0; probe 85 ms (") != std::string::npos);
  CHECK(health.order() == Order{1, 0});
  // A failed probe counts towards marking too, so the line shows it beside the tunnels'.
  health.record_probe(1, std::nullopt, "no answer");
  lines = health.stats_lines();
  CHECK(lines[1].find("; failures 0, and 1 failed probe; probe failed ") != std::string::npos);

  profile.servers.resize(1);
  CHECK_FALSE(vmlocal::outbound::ServerHealth(profile).probes_enabled());  // one server: no probes
}
