#include "vmlocal/inbound/udp_association.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "vmlocal/handshake/socks5_udp_header.hpp"
#include "vmlocal/log/log.hpp"

namespace vmlocal::inbound {
namespace {

std::string format_seconds(uint64_t ms) {
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + " s";
}

}  // namespace

UdpAssociation::UdpAssociation(uv_loop_t* loop, uv_udp_t* socket, const sockaddr& client,
                               const config::Profile& profile, outbound::UdpDialer& dialer,
                               std::string name)
    : loop_(loop),
      socket_(socket),
      dialer_(dialer),
      name_(std::move(name)),
      expiry_(profile.local.udp_idle_timeout, profile.timeouts.connect),
      max_destinations_(profile.local.udp_max_destinations) {
  std::memcpy(&client_, &client,
              client.sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  budget_.max = profile.local.udp_max_queued;
  started_ms_ = uv_now(loop_);
  uv_timer_init(loop_, &expiry_timer_);
  expiry_timer_.data = this;
}

UdpAssociation::~UdpAssociation() = default;

void UdpAssociation::on_client_datagram(ByteView datagram) {
  const socks5::UdpDatagram parsed = socks5::parse_udp_datagram(datagram);
  if (parsed.status != socks5::UdpParseStatus::kOk) {
    ++drops_.malformed;
    log::debug("udp ", name_,
               ": dropped a datagram: ", socks5::udp_parse_status_name(parsed.status));
    return;
  }
  if (parsed.frag != 0) {
    ++drops_.fragment;
    log::debug("udp ", name_, ": dropped a fragment (FRAG ", int{parsed.frag}, ") for ",
               parsed.target.to_string(), ": reassembly is not supported");
    return;
  }
  if (parsed.payload.empty()) {
    ++drops_.empty;
    return;
  }
  outbound::VmessUdpSession* session = destination_for(parsed.target);
  if (session == nullptr) return;
  switch (session->send(parsed.payload)) {
    case outbound::VmessUdpSession::SendResult::kQueued:
      ++datagrams_up_;
      expiry_.activity(parsed.target.to_string(), now());
      return;
    case outbound::VmessUdpSession::SendResult::kTooLarge:
      ++drops_.too_large;
      if (session->route() == "mux") {
        // v2ray's server ends the whole Mux.Cool connection on a bigger UDP frame (§14).
        log::debug("udp ", name_, " -> ", parsed.target.to_string(), ": dropped a datagram of ",
                   parsed.payload.size(), " B: Mux.Cool carries at most ", session->max_datagram(),
                   " B per datagram (v2ray's server ends the whole mux connection over that)");
      } else {
        log::debug("udp ", name_, " -> ", parsed.target.to_string(), ": dropped a datagram of ",
                   parsed.payload.size(), " B: one VMess packet chunk carries at most ",
                   session->max_datagram(), " B with this server's security");
      }
      return;
    case outbound::VmessUdpSession::SendResult::kQueueFull:
      ++drops_.queue_full;
      return;
    case outbound::VmessUdpSession::SendResult::kEmpty:
      ++drops_.empty;
      return;
  }
}

outbound::VmessUdpSession* UdpAssociation::destination_for(const TargetAddress& target) {
  const std::string key = target.to_string();
  if (auto it = destinations_.find(key); it != destinations_.end()) return it->second.session;
  if (destinations_.size() >= max_destinations_) {
    ++drops_.destinations;
    log::debug("udp ", name_, " -> ", key, ": dropped: ", max_destinations_,
               " destinations already open (local.udp_max_destinations)");
    return nullptr;
  }
  Result<outbound::VmessUdpSession*> opened =
      outbound::VmessUdpSession::open(dialer_, target, *this, budget_);
  if (!opened) {
    ++drops_.unreachable;
    log::warn("udp ", name_, " -> ", key, ": ", opened.error().message);
    return nullptr;
  }
  destinations_.emplace(key, Destination{*opened});
  expiry_.opened(key, now());
  arm_expiry();
  ++destinations_opened_;
  const std::string_view route = (*opened)->route();
  log::debug("udp ", name_, " -> ", key,
             route == "direct" ? ": sending direct ([route])"
             : route == "mux"  ? ": opening a Mux.Cool UDP sub-stream"
                               : ": opening a VMess UDP tunnel");
  return *opened;
}

void UdpAssociation::on_udp_reply(outbound::VmessUdpSession& session, ByteView datagram) {
  std::array<uint8_t, socks5::kMaxUdpHeaderSize> header{};
  const size_t header_size = socks5::encode_udp_header(session.target(), header.data());
  expiry_.activity(session.target().to_string(), now());
  uv_buf_t bufs[2] = {
      uv_buf_init(reinterpret_cast<char*>(header.data()), static_cast<unsigned>(header_size)),
      uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(datagram.data())),
                  static_cast<unsigned>(datagram.size())),
  };
  // try_send: a datagram the socket will not take now is lost, as UDP allows; nothing queues.
  const int rc = uv_udp_try_send(socket_, bufs, 2, reinterpret_cast<const sockaddr*>(&client_));
  if (rc < 0) {
    ++drops_.send_failed;
    return;
  }
  ++datagrams_down_;
}

void UdpAssociation::on_udp_session_ended(outbound::VmessUdpSession& session,
                                          const std::string& reason) {
  close_destination(session.target().to_string(), reason);
}

void UdpAssociation::close_destination(std::string key, const std::string& why) {
  auto it = destinations_.find(key);
  if (it == destinations_.end()) return;
  outbound::VmessUdpSession* session = it->second.session;
  destinations_.erase(it);
  expiry_.forget(key);
  if (session->dropped_too_large() > 0) {
    // Counted as sent when queued: now as dropped instead.
    drops_.too_large += session->dropped_too_large();
    datagrams_up_ -= std::min(datagrams_up_, session->dropped_too_large());
    log::debug("udp ", name_, " -> ", key, ": ", session->dropped_too_large(),
               " datagram(s) queued while connecting were over the limit of the server it failed "
               "over to, and dropped");
  }
  log::debug("udp ", name_, " -> ", key, ": ", session->datagrams_up(), " datagrams up, ",
             session->datagrams_down(), " down, ", why);
  session->close();
}

void UdpAssociation::arm_expiry() {
  const std::optional<UdpExpiry::Millis> next = expiry_.next_deadline();
  if (!next) {
    uv_timer_stop(&expiry_timer_);
    armed_for_.reset();
    return;
  }
  if (armed_for_ && *armed_for_ <= *next) return;
  // The timer fires no earlier than its timeout after uv_now, so a destination never closes
  // before its deadline; it fires at most a loop iteration after.
  const UdpExpiry::Millis at = now();
  const uint64_t wait = *next > at ? static_cast<uint64_t>((*next - at).count()) : 0;
  uv_timer_start(&expiry_timer_, on_expiry, wait, 0);
  armed_for_ = *next;
}

void UdpAssociation::on_expiry(uv_timer_t* timer) {
  auto* self = static_cast<UdpAssociation*>(timer->data);
  self->armed_for_.reset();
  for (const auto& [key, d] : self->destinations_) {
    if (d.session->connected()) self->expiry_.connected(key);
  }
  const auto idle_ms = static_cast<uint64_t>(self->expiry_.idle_timeout().count());
  const auto connect_ms = static_cast<uint64_t>(self->expiry_.connect_timeout().count());
  for (const UdpExpiry::Due& due : self->expiry_.due(self->now())) {
    self->close_destination(
        due.key, due.why == UdpExpiry::Why::kConnect
                     ? "the VMess tunnel did not connect within " + format_seconds(connect_ms) +
                           " (timeouts.connect)"
                     : "idle for " + format_seconds(idle_ms) + " (local.udp_idle_timeout)");
  }
  self->arm_expiry();
}

void UdpAssociation::close(const std::string& why) {
  while (!destinations_.empty()) {
    close_destination(destinations_.begin()->first, "the association ended");
  }
  const uint64_t elapsed = uv_now(loop_) - started_ms_;
  log::info("udp association ", name_, " ended (", why, "): ", destinations_opened_,
            " destination(s), ", datagrams_up_, " datagrams up, ", datagrams_down_, " down, ",
            drops_.total(), " dropped (", drops_.fragment, " fragments, ", drops_.too_large,
            " too large, ", drops_.malformed, " malformed, ", drops_.queue_full, " queue full, ",
            drops_.destinations, " over the destination limit), ", format_seconds(elapsed));
  uv_timer_stop(&expiry_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&expiry_timer_),
           [](uv_handle_t* handle) { delete static_cast<UdpAssociation*>(handle->data); });
}

}  // namespace vmlocal::inbound
