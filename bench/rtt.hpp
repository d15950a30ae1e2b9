// The RTT section: time to the first echoed byte through a relay that adds a round trip
// (rtt_relay.hpp) between the clients and the server, for tcp, tls, ws+tls, ws+tls with early
// data, ws and ws with early data, with vmess-local (warm connections off: "plain", on: "warm", and
// Mux.Cool: "mux") and v2ray as a client (plain, and with its mux on) side by side. Reported in
// milliseconds and in RTTs.
//
// Samples are spaced by a gap (default 5 RTT): a tunnel opened while the client is in use but
// not in a burst, which is when warm connections (and a mux connection) are there to use. One
// unmeasured tunnel first, per client: it starts the warm pool, the mux connection and the TLS
// session cache alike.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clients.hpp"
#include "first_byte.hpp"
#include "origin.hpp"

namespace vmlocal::bench {

struct RttSettings {
  std::chrono::milliseconds rtt{100};
  std::size_t samples = 20;
  std::chrono::milliseconds gap{0};  // 0: 5 RTT
  std::string security = "aes-128-gcm";
};

struct RttCell {
  std::string transport;  // "tcp", "tls", "ws+tls", "ws", "ws ed"
  std::string client;     // "vmess-local plain" / "warm" / "mux", "v2ray plain", "v2ray mux"
  FirstByteResult result;
};

std::vector<RttCell> run_rtt_section(const RttSettings& settings, const Origin& origin,
                                     itest::TempDir& dir, const ClientPaths& paths);
std::string rtt_markdown(const RttSettings& settings, const std::vector<RttCell>& cells);
nlohmann::json rtt_json(const RttSettings& settings, const std::vector<RttCell>& cells);

}  // namespace vmlocal::bench
