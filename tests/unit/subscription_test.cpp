// [subscription] in pure code: the profile keys (file:line:column errors, servers optional), the
// fetch schedule on durations (interval, retries after a failure with back-off capped at the
// interval), the URL as logs show it (no token), the fetched text -> servers, and the profile
// they run in (own servers first, names kept unique).
#include <doctest/doctest.h>

#include <string>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/config/subscription.hpp"
#include "vmlocal/crypto/base64.hpp"
#include "vmlocal/import/subscription.hpp"

using namespace std::chrono_literals;
using vmlocal::config::parse_profile;
using vmlocal::config::Profile;
using vmlocal::config::subscription_url_for_log;
using vmlocal::config::SubscriptionSchedule;

namespace {

const std::string kOwnServer =
    "[server]\naddress = \"127.0.0.1\"\nport = 1000\nuuid = "
    "\"b831381d-6324-4d53-ad4f-8cda48b30811\"\n";

std::string link(const std::string& name, int port) {
  return "vmess://b831381d-6324-4d53-ad4f-8cda48b30811@127.0.0.1:" + std::to_string(port) +
         "?type=tcp&encryption=aes-128-gcm#" + name;
}

}  // namespace

TEST_CASE("subscription profile: url and interval; [server] optional with it") {
  auto result = parse_profile(
      "[subscription]\nurl = \"https://sub.example/api?token=abc\"\ninterval = 600\n", "p.toml");
  INFO((result.ok() ? std::string() : result.error()));
  REQUIRE(result.ok());
  CHECK(result.profile().subscription.url == "https://sub.example/api?token=abc");
  CHECK(result.profile().subscription.interval == 600s);
  CHECK(result.profile().servers.empty());

  auto with_own = parse_profile(kOwnServer + "[subscription]\nurl = \"http://127.0.0.1/s\"\n", "p");
  REQUIRE(with_own.ok());
  CHECK(with_own.profile().servers.size() == 1);
  CHECK(with_own.profile().subscription.interval == 3600s);  // the default

  // Without a subscription a server is still required.
  auto none = parse_profile("[local]\nworkers = 1\n", "p.toml");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().find("missing [server] table") != std::string::npos);
}

TEST_CASE("subscription profile: errors at file:line:column, never echoing the URL") {
  auto bad_url =
      parse_profile("[subscription]\nurl = \"ftp://sub.example/secret-token\"\n", "p.toml");
  REQUIRE_FALSE(bad_url.ok());
  CHECK(bad_url.error().rfind("p.toml:2:7: subscription.url ", 0) == 0);
  CHECK(bad_url.error().find("secret-token") == std::string::npos);

  auto no_url = parse_profile("[subscription]\ninterval = 60\n", "p.toml");
  REQUIRE_FALSE(no_url.ok());
  CHECK(no_url.error().find("p.toml:1:1: [subscription] needs url") == 0);

  auto bad_interval =
      parse_profile("[subscription]\nurl = \"http://a/\"\ninterval = \"1h\"\n", "p.toml");
  REQUIRE_FALSE(bad_interval.ok());
  CHECK(bad_interval.error().find(
            "p.toml:3:12: subscription.interval must be a number of seconds") == 0);

  auto typo = parse_profile("[subscription]\nurl = \"http://a/\"\nintervall = 60\n", "p.toml");
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.error().find("p.toml:3:1:") == 0);
}

TEST_CASE("subscription schedule: the interval after a good fetch; retries back off to it") {
  SubscriptionSchedule schedule(std::chrono::milliseconds(600'000));
  CHECK(schedule.after_fetch(true) == 600s);
  CHECK(schedule.after_fetch(false) == 60s);
  CHECK(schedule.after_fetch(false) == 120s);
  CHECK(schedule.after_fetch(false) == 240s);
  CHECK(schedule.after_fetch(false) == 480s);
  CHECK(schedule.after_fetch(false) == 600s);  // never beyond the interval
  CHECK(schedule.after_fetch(false) == 600s);
  CHECK(schedule.after_fetch(true) == 600s);
  CHECK(schedule.after_fetch(false) == 60s);  // a good fetch starts the back-off anew

  SubscriptionSchedule short_interval(std::chrono::milliseconds(5'000));
  CHECK(short_interval.after_fetch(false) == 5s);
}

TEST_CASE("subscription URL in logs: scheme and host only") {
  CHECK(subscription_url_for_log("https://sub.example/api/v1?token=abc") ==
        "https://sub.example/...");
  CHECK(subscription_url_for_log("http://user:pw@127.0.0.1:8080/s") == "http://127.0.0.1:8080/...");
  CHECK(subscription_url_for_log("https://sub.example") == "https://sub.example");
}

TEST_CASE("subscription servers: links plain or base64; a bad link is a warning; none an error") {
  const std::string list = link("alpha", 2001) + "\n" + link("beta", 2002) + "\n";
  auto plain = vmlocal::import::subscription_servers(list);
  CHECK(plain.error.empty());
  REQUIRE(plain.servers.size() == 2);
  CHECK(plain.servers[0].name == "alpha");
  CHECK(plain.servers[1].port == 2002);
  CHECK(plain.servers[1].security == vmlocal::vmess::Security::kAes128Gcm);

  const std::string encoded = vmlocal::crypto::base64_encode(
      std::span(reinterpret_cast<const uint8_t*>(list.data()), list.size()));
  auto base64 = vmlocal::import::subscription_servers(encoded);
  REQUIRE(base64.servers.size() == 2);
  CHECK(base64.servers == plain.servers);

  auto one = vmlocal::import::subscription_servers(link("solo", 2003));
  REQUIRE(one.servers.size() == 1);
  CHECK(one.servers[0].name == "solo");

  auto mixed = vmlocal::import::subscription_servers(list + "trojan://x@h:1#t\n");
  CHECK(mixed.servers.size() == 2);
  REQUIRE(mixed.warnings.size() == 1);
  CHECK(mixed.warnings[0].find("link 3") == 0);

  auto garbage = vmlocal::import::subscription_servers("<html>not found</html>");
  CHECK(garbage.servers.empty());
  CHECK_FALSE(garbage.error.empty());
  auto empty = vmlocal::import::subscription_servers("");
  CHECK(empty.servers.empty());
  CHECK_FALSE(empty.error.empty());
}

TEST_CASE("subscription servers join the profile after its own, with unique names") {
  auto own = parse_profile(
      "[[servers]]\nname = \"alpha\"\naddress = \"127.0.0.1\"\nport = 1\nuuid = "
      "\"b831381d-6324-4d53-ad4f-8cda48b30811\"\n[balancer]\nstrategy = \"fastest\"\n"
      "[subscription]\nurl = \"http://127.0.0.1/s\"\n",
      "p");
  REQUIRE(own.ok());
  auto sub = vmlocal::import::subscription_servers(link("alpha", 2001) + "\n" + link("b", 2002));
  const Profile profile = vmlocal::import::with_subscription(own.profile(), sub.servers);
  REQUIRE(profile.servers.size() == 3);
  CHECK(profile.servers[0].port == 1);
  CHECK(profile.servers[1].name == "alpha (2)");
  CHECK(profile.servers[2].name == "b");
  CHECK(profile.balancer.strategy == Profile::Balancer::Strategy::kFastest);  // the rest stays
}
