// When a SOCKS5 UDP association's destinations close (inbound/udp_expiry.hpp), on a fake clock:
// exactly at [local] udp_idle_timeout after the last datagram either way, not a millisecond
// before; at [timeouts] connect when the tunnel never came up.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "vmlocal/inbound/udp_expiry.hpp"

using vmlocal::inbound::UdpExpiry;
using Millis = UdpExpiry::Millis;
using Why = UdpExpiry::Why;

namespace {

std::vector<std::string> due_keys(const UdpExpiry& e, Millis now) {
  std::vector<std::string> keys;
  for (const UdpExpiry::Due& d : e.due(now))
    keys.push_back(d.key);
  return keys;
}

}  // namespace

TEST_CASE("udp expiry: a connected destination closes exactly at the idle timeout") {
  UdpExpiry e(Millis(60'000), Millis(10'000));
  e.opened("127.0.0.1:53", Millis(1'000));
  e.connected("127.0.0.1:53");
  CHECK(e.next_deadline() == Millis(61'000));
  CHECK(e.due(Millis(60'999)).empty());
  const auto due = e.due(Millis(61'000));
  REQUIRE(due.size() == 1);
  CHECK(due[0].key == "127.0.0.1:53");
  CHECK(due[0].why == Why::kIdle);
  // Still due until the association forgets it (it closes it then).
  CHECK(due_keys(e, Millis(70'000)) == std::vector<std::string>{"127.0.0.1:53"});
  e.forget("127.0.0.1:53");
  CHECK(e.due(Millis(70'000)).empty());
  CHECK_FALSE(e.next_deadline().has_value());
}

TEST_CASE("udp expiry: a datagram either way starts the idle time again") {
  UdpExpiry e(Millis(60'000), Millis(10'000));
  e.opened("a:1", Millis(0));
  e.connected("a:1");
  e.activity("a:1", Millis(59'999));  // just before it was due
  CHECK(e.due(Millis(60'000)).empty());
  CHECK(e.next_deadline() == Millis(119'999));
  e.activity("a:1", Millis(90'000));
  CHECK(e.due(Millis(149'999)).empty());
  CHECK(due_keys(e, Millis(150'000)) == std::vector<std::string>{"a:1"});
  // A time older than the last datagram (another worker's late report) does not move it back.
  e.activity("a:1", Millis(10'000));
  CHECK(e.next_deadline() == Millis(150'000));
  // Activity for a destination it does not know is ignored.
  e.activity("b:2", Millis(1));
  CHECK(e.size() == 1);
}

TEST_CASE("udp expiry: a tunnel that never connects closes at the connect timeout") {
  UdpExpiry e(Millis(60'000), Millis(10'000));
  e.opened("a:1", Millis(500));
  e.activity("a:1", Millis(9'000));  // datagrams queued for it do not extend the connect time
  CHECK(e.next_deadline() == Millis(10'500));
  CHECK(e.due(Millis(10'499)).empty());
  const auto due = e.due(Millis(10'500));
  REQUIRE(due.size() == 1);
  CHECK(due[0].why == Why::kConnect);

  // Connected in time: only the idle timeout is left.
  e.connected("a:1");
  CHECK(e.due(Millis(10'500)).empty());
  CHECK(e.next_deadline() == Millis(69'000));
}

TEST_CASE("udp expiry: an idle timeout shorter than the connect timeout comes first") {
  UdpExpiry e(Millis(2'000), Millis(10'000));
  e.opened("a:1", Millis(0));
  CHECK(e.next_deadline() == Millis(2'000));
  const auto due = e.due(Millis(2'000));
  REQUIRE(due.size() == 1);
  CHECK(due[0].why == Why::kIdle);
}

TEST_CASE("udp expiry: each destination has its own deadline; the timer goes to the earliest") {
  UdpExpiry e(Millis(1'000), Millis(5'000));
  e.opened("a:1", Millis(0));
  e.opened("b:2", Millis(300));
  e.opened("c:3", Millis(600));
  for (const char* key : {"a:1", "b:2", "c:3"})
    e.connected(key);
  e.activity("a:1", Millis(700));
  CHECK(e.next_deadline() == Millis(1'300));  // b, opened at 300
  CHECK(due_keys(e, Millis(1'299)).empty());
  CHECK(due_keys(e, Millis(1'300)) == std::vector<std::string>{"b:2"});
  CHECK(due_keys(e, Millis(1'700)) == std::vector<std::string>{"a:1", "b:2", "c:3"});
  e.forget("b:2");
  CHECK(e.next_deadline() == Millis(1'600));  // c
  // Opened again: a new start, not the old times.
  e.opened("a:1", Millis(2'000));
  CHECK(due_keys(e, Millis(2'000)) == std::vector<std::string>{"c:3"});
  CHECK(e.next_deadline() == Millis(1'600));
  e.forget("c:3");
  CHECK(e.next_deadline() == Millis(3'000));
}
