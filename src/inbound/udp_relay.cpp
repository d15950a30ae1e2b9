#include "vmlocal/inbound/udp_relay.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "vmlocal/log/log.hpp"
#include "vmlocal/uv/sockaddr.hpp"

namespace vmlocal::inbound {
namespace {

uint16_t port_of(const sockaddr& a) {
  return ntohs(a.sa_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(a).sin6_port
                                       : reinterpret_cast<const sockaddr_in&>(a).sin_port);
}

void set_port(sockaddr_storage& a, uint16_t port) {
  if (a.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6&>(a).sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in&>(a).sin_port = htons(port);
  }
}

bool same_ip(const sockaddr& a, const sockaddr& b) {
  if (a.sa_family != b.sa_family) return false;
  if (a.sa_family == AF_INET6) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr,
                       &reinterpret_cast<const sockaddr_in6&>(b).sin6_addr, 16) == 0;
  }
  return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr ==
         reinterpret_cast<const sockaddr_in&>(b).sin_addr.s_addr;
}

bool is_unspecified(const sockaddr& a) {
  if (a.sa_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a).sin6_addr;
    return std::all_of(in6.s6_addr, in6.s6_addr + 16, [](uint8_t b) { return b == 0; });
  }
  return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr == 0;
}

sockaddr_storage copy_of(const sockaddr& a) {
  sockaddr_storage out{};
  std::memcpy(&out, &a, a.sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  return out;
}

TargetAddress target_of(const sockaddr& a, uint16_t port) {
  if (a.sa_family == AF_INET6) {
    std::array<uint8_t, 16> ip{};
    std::memcpy(ip.data(), &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, 16);
    return TargetAddress::ipv6(ip, port);
  }
  std::array<uint8_t, 4> ip{};
  std::memcpy(ip.data(), &reinterpret_cast<const sockaddr_in&>(a).sin_addr, 4);
  return TargetAddress::ipv4(ip, port);
}

// The app's stated address as a sockaddr of the control connection's family; nullopt when it
// names no usable IP (zeros, a domain, or the other family).
std::optional<sockaddr_storage> stated_ip(const TargetAddress& client, int family) {
  sockaddr_storage out{};
  if (client.type == TargetAddress::Type::kIpv4 && family == AF_INET) {
    auto& in = reinterpret_cast<sockaddr_in&>(out);
    in.sin_family = AF_INET;
    std::memcpy(&in.sin_addr, client.ip.data(), 4);
  } else if (client.type == TargetAddress::Type::kIpv6 && family == AF_INET6) {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(out);
    in6.sin6_family = AF_INET6;
    std::memcpy(&in6.sin6_addr, client.ip.data(), 16);
  } else {
    return std::nullopt;
  }
  if (is_unspecified(reinterpret_cast<const sockaddr&>(out))) return std::nullopt;
  return out;
}

}  // namespace

// The tunnel's hold on its association; the relay outlives every lease.
class UdpRelay::Lease final : public tunnel::UdpAssociationLease {
 public:
  Lease(std::shared_ptr<UdpRelay> relay, uint64_t id) : relay_(std::move(relay)), id_(id) {}
  ~Lease() override { relay_->end(id_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

 private:
  std::shared_ptr<UdpRelay> relay_;
  uint64_t id_;
};

UdpRelay::UdpRelay(uv_loop_t* loop, std::shared_ptr<const config::Profile> profile,
                   outbound::UdpDialer& dialer)
    : loop_(loop), profile_(std::move(profile)), dialer_(dialer) {
  uv_async_init(loop_, &wake_,
                [](uv_async_t* async) { static_cast<UdpRelay*>(async->data)->reap(); });
  wake_.data = this;
  // The relay's loop runs while its proxy does; the wake-up handle must not keep it alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&wake_));
  running_ = true;
}

UdpRelay::~UdpRelay() = default;

std::optional<std::string> UdpRelay::bind(const sockaddr& address, const std::string& name) {
  auto* socket = new Socket{};
  socket->relay = this;
  socket->bound = copy_of(address);
  socket->name = name;
  int rc = uv_udp_init(loop_, &socket->handle);
  if (rc != 0) {
    delete socket;
    return "UDP relay " + name + ": " + uv_strerror(rc);
  }
  socket->handle.data = socket;
  sockets_.push_back(socket);
  const unsigned flags = address.sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0;
  rc = uv_udp_bind(&socket->handle, &address, flags);
  if (rc == 0) rc = uv_udp_recv_start(&socket->handle, on_alloc, on_recv);
  if (rc == UV_EADDRINUSE) {
    // The TCP port was free, so another program holds the UDP one (SOCKS5 UDP ASSOCIATE
    // answers on the TCP listener's address and port).
    return "UDP relay " + name + ": " + uv_strerror(rc) +
           " (another program holds this UDP port: free it, use another listen port, or set "
           "[local] udp = false to run without UDP)";
  }
  if (rc != 0) return "UDP relay " + name + ": " + uv_strerror(rc);
  std::lock_guard lock(mutex_);
  bound_.emplace_back(socket->bound, port_of(address));
  return std::nullopt;
}

std::vector<std::string> UdpRelay::bound_names() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [address, port] : bound_)
    names.push_back(uv::format_sockaddr(reinterpret_cast<const sockaddr*>(&address)));
  return names;
}

Result<tunnel::UdpAssociated> UdpRelay::associate(const TargetAddress& client, const sockaddr& peer,
                                                  const sockaddr& local) {
  std::lock_guard lock(mutex_);
  if (!running_) return Error{ErrorKind::kOther, "the UDP relay is stopping"};
  // The relay socket on the address this connection came in on: the app sends there.
  const uint16_t local_port = port_of(local);
  const auto socket = std::find_if(bound_.begin(), bound_.end(), [&](const auto& b) {
    const auto& addr = reinterpret_cast<const sockaddr&>(b.first);
    return b.second == local_port && addr.sa_family == local.sa_family &&
           (is_unspecified(addr) || same_ip(addr, local));
  });
  if (socket == bound_.end()) {
    return Error{ErrorKind::kOther, "no UDP relay on " + uv::format_sockaddr(&local)};
  }
  Entry entry{next_id_++, {}, false, false};
  entry.client = stated_ip(client, peer.sa_family).value_or(copy_of(peer));
  const bool port_stated = client.port != 0;
  set_port(entry.client, port_stated ? client.port : 0);
  entry.port_known = port_stated;
  const uint64_t id = entry.id;
  entries_.push_back(std::move(entry));
  return tunnel::UdpAssociated{target_of(local, socket->second),
                               std::make_unique<Lease>(shared_from_this(), id)};
}

void UdpRelay::end(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it =
      std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.id == id; });
  if (it == entries_.end()) return;
  it->ended = true;
  // Under the lock: stop() closes the handle only after clearing running_ under it too.
  if (running_) uv_async_send(&wake_);
}

void UdpRelay::reap() {
  std::vector<uint64_t> ended;
  {
    std::lock_guard lock(mutex_);
    for (const Entry& e : entries_) {
      if (e.ended) ended.push_back(e.id);
    }
    std::erase_if(entries_, [](const Entry& e) { return e.ended; });
  }
  for (uint64_t id : ended) {
    auto it = associations_.find(id);
    if (it == associations_.end()) continue;  // no datagram ever came: nothing was made
    UdpAssociation* association = it->second;
    associations_.erase(it);
    association->close("its TCP connection closed");
  }
}

void UdpRelay::on_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  UdpRelay* self = static_cast<Socket*>(handle->data)->relay;
  *buf = uv_buf_init(reinterpret_cast<char*>(self->recv_buf_.data()),
                     static_cast<unsigned>(self->recv_buf_.size()));
}

void UdpRelay::on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* from,
                       unsigned flags) {
  auto* socket = static_cast<Socket*>(handle->data);
  if (nread < 0) {
    log::debug("UDP relay ", socket->name, ": receive: ", uv_strerror(static_cast<int>(nread)));
    return;
  }
  if (from == nullptr) return;                // nothing more to read for now
  if ((flags & UV_UDP_PARTIAL) != 0) return;  // over 64 KiB: cut short, and far over a chunk
  socket->relay->on_datagram(
      *socket, ByteView(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)),
      *from);
}

void UdpRelay::on_datagram(Socket& socket, ByteView datagram, const sockaddr& from) {
  uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    Entry* learn = nullptr;
    for (Entry& e : entries_) {
      if (e.ended || !same_ip(reinterpret_cast<const sockaddr&>(e.client), from)) continue;
      if (e.port_known && port_of(reinterpret_cast<const sockaddr&>(e.client)) == port_of(from)) {
        id = e.id;
        break;
      }
      if (!e.port_known && learn == nullptr) learn = &e;
    }
    if (id == 0 && learn != nullptr) {
      // The app did not say which port it sends from: its first datagram does.
      set_port(learn->client, port_of(from));
      learn->port_known = true;
      id = learn->id;
    }
  }
  if (id == 0) {
    ++foreign_drops_;
    const uint64_t now = uv_now(loop_);
    if (last_foreign_log_ms_ == 0 || now - last_foreign_log_ms_ >= 10'000) {
      last_foreign_log_ms_ = now;
      log::debug("UDP relay ", socket.name, ": dropped a datagram from ",
                 uv::format_sockaddr(&from), ": no UDP association for that address (",
                 foreign_drops_, " such drops so far)");
    }
    return;
  }
  auto it = associations_.find(id);
  if (it == associations_.end()) {
    it = associations_
             .emplace(id, new UdpAssociation(loop_, &socket.handle, from, *profile_, dialer_,
                                             uv::format_sockaddr(&from)))
             .first;
  }
  it->second->on_client_datagram(datagram);
}

void UdpRelay::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    running_ = false;
    entries_.clear();
  }
  for (auto& [id, association] : associations_)
    association->close("vmess-local is stopping");
  associations_.clear();
  for (Socket* socket : sockets_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&socket->handle),
             [](uv_handle_t* handle) { delete static_cast<Socket*>(handle->data); });
  }
  sockets_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
}

}  // namespace vmlocal::inbound
