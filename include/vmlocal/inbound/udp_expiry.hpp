// When each destination of a SOCKS5 UDP association closes: after `idle_timeout` ([local]
// udp_idle_timeout) with no datagram either way, or, while its tunnel has not connected, after
// `connect_timeout` ([timeouts] connect) from its opening, whichever comes first. A datagram
// either way starts the idle time again.
//
// Pure (no clock of its own: every call takes `now`, a monotonic time in milliseconds such as
// uv_now), so the exact timeouts are tested on a fake clock; UdpAssociation arms one timer at
// next_deadline() and closes what due() returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vmlocal::inbound {

class UdpExpiry {
 public:
  using Millis = std::chrono::milliseconds;

  UdpExpiry(Millis idle_timeout, Millis connect_timeout)
      : idle_(idle_timeout), connect_(connect_timeout) {}

  // A destination opened at `now` (its tunnel not yet connected). Replaces one of that key.
  void opened(const std::string& key, Millis now);
  // Its tunnel is up: from now on only the idle timeout applies.
  void connected(const std::string& key);
  // A datagram to or from the destination at `now`.
  void activity(const std::string& key, Millis now);
  // The destination closed (for any reason).
  void forget(const std::string& key);

  enum class Why : uint8_t { kIdle, kConnect };
  struct Due {
    std::string key;
    Why why;
  };
  // The destinations whose time is up at `now` (a deadline equal to `now` is up), in key order.
  // They stay known until forget().
  std::vector<Due> due(Millis now) const;
  // The earliest deadline of any destination; none when there is none.
  std::optional<Millis> next_deadline() const;

  size_t size() const { return times_.size(); }
  Millis idle_timeout() const { return idle_; }
  Millis connect_timeout() const { return connect_; }

 private:
  struct Times {
    Millis opened;
    Millis last_activity;
    bool connected = false;
  };
  // The deadline that comes first for `t`, and which timeout it is.
  std::pair<Millis, Why> deadline(const Times& t) const;

  Millis idle_;
  Millis connect_;
  std::map<std::string, Times> times_;
};

}  // namespace vmlocal::inbound
