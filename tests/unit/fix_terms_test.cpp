// The doctor's fix texts spelt for where the server was written (doctor/fix_terms.hpp): a
// [[servers]] entry or a [subscription] entry has no "server.port" of its own.
#include <doctest/doctest.h>

#include <string>

#include "vmlocal/doctor/fix_terms.hpp"

using vmlocal::doctor::fix_for_origin;
using Origin = vmlocal::config::Profile::Server::Origin;

TEST_CASE("fix terms: [server] texts are left as they are") {
  const std::string fix = "check server.address and server.port; add [server.tls]";
  CHECK(fix_for_origin(fix, Origin::kServer, "a") == fix);
}

TEST_CASE("fix terms: a [[servers]] entry's keys and tables, by its name") {
  CHECK(fix_for_origin("check server.address and server.port; if they are right, the server",
                       Origin::kServers, "b") ==
        "check address in [[servers]] \"b\" and port in [[servers]] \"b\"; if they are right, "
        "the server");
  CHECK(fix_for_origin("check that [server.tls] sni (or server.address) is a name",
                       Origin::kServers, "b") ==
        "check that [servers.tls] sni of \"b\" (or address in [[servers]] \"b\") is a name");
  CHECK(
      fix_for_origin("remove [server.tls]; check [server.ws] against it", Origin::kServers, "b") ==
      "remove [servers.tls] of \"b\"; check [servers.ws] of \"b\" against it");
  CHECK(fix_for_origin("enable NTP; or set [server] clock_offset = -300", Origin::kServers, "b") ==
        "enable NTP; or set clock_offset = -300 in [[servers]] \"b\"");
  CHECK(fix_for_origin("copy server.uuid and alter_id again from the server's settings",
                       Origin::kServers, "b") ==
        "copy uuid in [[servers]] \"b\" and alter_id again from the server's settings");
  // Words that only look alike stay: "the server." ends a sentence, "[server]" alone is a table.
  CHECK(fix_for_origin("restart the server. then [server]", Origin::kServers, "b") ==
        "restart the server. then [server]");
}

TEST_CASE("fix terms: a subscription entry says its provider sets the keys") {
  const std::string out = fix_for_origin("remove [server.tls]", Origin::kSubscription, "hk-1");
  CHECK(
      out.starts_with("the subscription's provider sets this server's keys: tell them, or copy "
                      "the entry into a [[servers]] table of your own"));
  CHECK(out.ends_with("; remove the tls settings of the subscription's entry \"hk-1\""));
  CHECK(fix_for_origin("set [server.tls] ca_file to it", Origin::kSubscription, "my wss")
            .ends_with("; set the tls ca_file of the subscription's entry \"my wss\" to it"));
  CHECK(fix_for_origin("check server.port", Origin::kSubscription, "hk-1")
            .ends_with("; check port in the subscription's entry \"hk-1\""));
}
