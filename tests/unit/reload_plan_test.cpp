// What a reload keeps (config/reload.hpp): unchanged servers matched by their whole settings,
// listen endpoints kept or closed, `[local] workers` put back with a note; and the health of
// the new generation (ServerHealth::successor) carrying over the unchanged servers' state and
// the very same counters.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/config/reload.hpp"
#include "vmlocal/outbound/server_health.hpp"

using vmlocal::Error;
using vmlocal::ErrorKind;
using vmlocal::config::parse_profile;
using vmlocal::config::plan_reload;
using vmlocal::config::Profile;

namespace {

Profile parse(const std::string& text) {
  auto result = parse_profile(text, "p.toml");
  INFO((result.ok() ? std::string() : result.error()));
  REQUIRE(result.ok());
  return result.profile();
}

std::string server(const std::string& name, int port, const std::string& security = "auto") {
  return "[[servers]]\nname = \"" + name +
         "\"\naddress = \"127.0.0.1\"\nport = " + std::to_string(port) +
         "\nuuid = \"b831381d-6324-4d53-ad4f-8cda48b30811\"\nsecurity = \"" + security + "\"\n";
}

using Same = std::vector<std::optional<size_t>>;

}  // namespace

TEST_CASE("reload plan: servers with the same settings are matched, in any order, once each") {
  const Profile running = parse(server("a", 1001) + server("b", 1002) + server("c", 1003));
  Profile next = parse(server("c", 1003) + server("b", 1002, "chacha20-poly1305") +
                       server("a", 1001) + server("d", 1004));
  const auto plan = plan_reload(running, next);
  CHECK(plan.same_server == Same{2u, std::nullopt, 0u, std::nullopt});
  CHECK(plan.notes.empty());
  CHECK(plan.servers_changed == "servers: 2 kept; new: \"d\"; changed: \"b\"");

  Profile same = parse(server("b", 1002) + server("a", 1001) + server("c", 1003));
  CHECK(plan_reload(running, same).servers_changed.empty());  // order alone is no change
  Profile fewer = parse(server("a", 1001));
  CHECK(plan_reload(running, fewer).servers_changed == "servers: 1 kept; gone: \"b\", \"c\"");

  // A renamed server is another server (its counters are named after it).
  Profile renamed = parse(server("z", 1001));
  CHECK(plan_reload(running, renamed).same_server == Same{std::nullopt});
}

TEST_CASE("reload plan: listen endpoints kept and closed") {
  const Profile running =
      parse("[local]\nlisten = [\"127.0.0.1:1080\", \"[::1]:1080\"]\n" + server("a", 1));
  Profile next = parse("[local]\nlisten = [\"[::1]:1080\", \"127.0.0.1:1081\"]\n" + server("a", 1));
  const auto plan = plan_reload(running, next);
  CHECK(plan.listen_kept == std::vector<bool>{true, false});
  CHECK(plan.listen_closed == 1);
}

TEST_CASE("reload plan: [local] workers keeps its running value, with a note") {
  const Profile running = parse("[local]\nworkers = 2\n" + server("a", 1));
  Profile next = parse("[local]\nworkers = 4\n" + server("a", 1));
  const auto plan = plan_reload(running, next);
  CHECK(next.local.workers == 2);
  REQUIRE(plan.notes.size() == 1);
  CHECK(plan.notes[0] == "[local] workers = 4 needs a restart: still running 2 worker(s)");

  Profile same = parse("[local]\nworkers = 2\n" + server("a", 1));
  CHECK(plan_reload(running, same).notes.empty());
}

TEST_CASE("reload: the new health carries over unchanged servers' state and counters") {
  using vmlocal::outbound::ServerHealth;
  const Profile running = parse(server("a", 1001) + server("b", 1002));
  ServerHealth old(running);
  old.counters(0).tunnels_total = 5;
  old.counters(1).tunnels_total = 7;
  const Error refused{ErrorKind::kRefused, "connection refused"};
  old.record_failure(0, refused, true);
  old.record_failure(0, refused, true);  // two in a row: "a" is down
  CHECK(old.order() == std::vector<size_t>{1, 0});

  Profile next = parse(server("b", 1002, "none") + server("a", 1001));
  const auto plan = plan_reload(running, next);
  auto health = old.successor(next, plan.same_server);
  // "a" (now second) is still down, so still tried last; "b" changed and starts fresh.
  CHECK(health->order() == std::vector<size_t>{0, 1});
  CHECK(health->counters(1).tunnels_total == 5);
  CHECK(health->counters(0).tunnels_total == 0);
  // The same counters: a tunnel of the old generation still counts where they are shown.
  old.counters(0).bytes_up += 100;
  CHECK(health->counters(1).bytes_up == 100);
  const auto lines = health->stats_lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].find("server \"a\": down") == 0);
  CHECK(lines[0].find("server \"b\": up") == 0);
}
