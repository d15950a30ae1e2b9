// The HTTP Date header (RFC 9110 §5.6.7): parsing it, and the clock offset it shows. The doctor
// and the clock_offset = "auto" setting estimate how far this clock is from the server's from the
// Date of an HTTP answer the server gives (the WebSocket upgrade response).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace vmlocal::http {

// Unix seconds from an HTTP-date: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), and the
// obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994")
// forms recipients must accept. nullopt for anything else (the weekday is not checked).
std::optional<int64_t> parse_http_date(std::string_view text);

// The server's clock minus ours, in seconds, from a Date received at local time `received_unix`.
// Date has a resolution of one second and is set when the server wrote the answer, so the
// estimate is good to about a second plus the round trip.
inline int64_t clock_offset_from_date(int64_t server_date_unix, int64_t received_unix) {
  return server_date_unix - received_unix;
}

// VMess servers accept a request whose timestamp is within 120 s of their clock (v2ray 4.34,
// vmess-protocol.md §6.2): an offset beyond this is a refused login.
inline constexpr int64_t kVmessClockTolerance = 120;

}  // namespace vmlocal::http
