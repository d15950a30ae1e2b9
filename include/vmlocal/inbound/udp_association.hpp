// One SOCKS5 UDP association (RFC 1928 §7) on the relay's loop: the datagrams of one app, each
// with a SOCKS UDP header naming its destination, sent through one VMess UDP tunnel per
// destination (outbound::VmessUdpSession), and the replies sent back to the app with a header
// naming the destination they came from.
//
// Bounds (from [local]): at most udp_max_destinations tunnels at once, udp_max_queued datagrams
// waiting over all of them, each destination closed after udp_idle_timeout without a datagram
// either way (or after timeouts.connect if its tunnel never came up): udp_expiry.hpp, with one
// timer armed at the next deadline. What cannot be sent is
// dropped and counted by reason; the counts are in the line logged when the association ends.
//
// Lifetime: owned by the UdpRelay; close() ends every destination and frees the association
// once its timer has closed. The sessions free themselves after their streams have closed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/inbound/udp_expiry.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/outbound/vmess_udp_session.hpp"
#include "vmlocal/util/bytes.hpp"

namespace vmlocal::inbound {

// Why datagrams were dropped, per association (and summed by the relay).
struct UdpDrops {
  uint64_t fragment = 0;      // FRAG != 0: reassembly is not offered
  uint64_t malformed = 0;     // the SOCKS UDP header did not parse
  uint64_t too_large = 0;     // over one VMess packet chunk (vmess-protocol.md §13)
  uint64_t empty = 0;         // no payload: VMess cannot carry an empty datagram
  uint64_t queue_full = 0;    // udp_max_queued datagrams already waiting
  uint64_t destinations = 0;  // udp_max_destinations destinations already open
  uint64_t unreachable = 0;   // the tunnel could not be opened (e.g. a domain VMess cannot carry)
  uint64_t send_failed = 0;   // a reply the app's socket would not take
  uint64_t total() const {
    return fragment + malformed + too_large + empty + queue_full + destinations + unreachable +
           send_failed;
  }
};

class UdpAssociation final : private outbound::UdpSessionHandler {
 public:
  // `socket`: the relay socket replies leave from; `client`: the app's datagram address.
  UdpAssociation(uv_loop_t* loop, uv_udp_t* socket, const sockaddr& client,
                 const config::Profile& profile, outbound::UdpDialer& dialer, std::string name);
  UdpAssociation(const UdpAssociation&) = delete;
  UdpAssociation& operator=(const UdpAssociation&) = delete;

  // One datagram from the app, SOCKS UDP header first.
  void on_client_datagram(ByteView datagram);

  // Ends every destination, logs the summary line with `why`, frees itself once the timer has
  // closed. Call once; the association must not be used afterwards.
  void close(const std::string& why);

  const UdpDrops& drops() const { return drops_; }
  size_t destination_count() const { return destinations_.size(); }

 private:
  ~UdpAssociation();

  void on_udp_reply(outbound::VmessUdpSession& session, ByteView datagram) override;
  void on_udp_session_ended(outbound::VmessUdpSession& session, const std::string& reason) override;
  outbound::VmessUdpSession* destination_for(const TargetAddress& target);
  // `key` by value: callers pass the map's own key, which the erase frees.
  void close_destination(std::string key, const std::string& why);
  // Arms the timer at the next deadline, unless it is armed for that time or earlier.
  void arm_expiry();
  static void on_expiry(uv_timer_t* timer);
  UdpExpiry::Millis now() const { return UdpExpiry::Millis(uv_now(loop_)); }

  struct Destination {
    outbound::VmessUdpSession* session;  // frees itself after close()
  };

  uv_loop_t* loop_;
  uv_udp_t* socket_;
  sockaddr_storage client_{};
  outbound::UdpDialer& dialer_;
  std::string name_;  // the app's address, for log lines
  UdpExpiry expiry_;
  size_t max_destinations_;
  outbound::UdpQueueBudget budget_;
  std::map<std::string, Destination> destinations_;  // keyed by TargetAddress::to_string()
  uv_timer_t expiry_timer_{};
  std::optional<UdpExpiry::Millis> armed_for_;  // the deadline the timer is armed for
  UdpDrops drops_;
  uint64_t started_ms_ = 0;
  uint64_t datagrams_up_ = 0;
  uint64_t datagrams_down_ = 0;
  uint64_t destinations_opened_ = 0;
};

}  // namespace vmlocal::inbound
