// The doctor's fix texts (diagnosis.hpp) name profile keys as a [server] table spells them:
// "server.port", "[server.tls] sni", "[server] clock_offset". For a server written as a
// [[servers]] entry or taken from a [subscription], that spelling names keys the user's profile
// does not have; this rewrites them for where the server came from (pure text, no I/O).
#pragma once

#include <string>
#include <string_view>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::doctor {

// kServer: `fix` unchanged. kServers: "server.port" -> "port in [[servers]] \"b\"",
// "[server.tls]" -> "[servers.tls] of \"b\"", "[server] clock_offset" -> "clock_offset in
// [[servers]] \"b\"". kSubscription: the same words for "the subscription's entry \"b\"", after
// a lead saying that its provider sets them and how to override one.
std::string fix_for_origin(std::string_view fix, config::Profile::Server::Origin origin,
                           std::string_view name);

}  // namespace vmlocal::doctor
