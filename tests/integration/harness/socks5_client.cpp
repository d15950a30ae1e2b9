#include "harness/socks5_client.hpp"

#include <arpa/inet.h>

#include <stdexcept>

namespace vmlocal::itest {

Socks5Target Socks5Target::to(const Endpoint& e) {
  return Socks5Target{e.family() == Family::kV4 ? Kind::kIpv4 : Kind::kIpv6, e.host, e.port};
}

Socks5Target Socks5Target::domain(std::string name, std::uint16_t port) {
  return Socks5Target{Kind::kDomain, std::move(name), port};
}

std::string Socks5Target::to_string() const {
  if (kind == Kind::kIpv6) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace socks5 {

const char* reply_name(std::uint8_t rep) {
  switch (rep) {
    case 0x00:
      return "succeeded";
    case 0x01:
      return "general SOCKS server failure";
    case 0x02:
      return "connection not allowed by ruleset";
    case 0x03:
      return "network unreachable";
    case 0x04:
      return "host unreachable";
    case 0x05:
      return "connection refused";
    case 0x06:
      return "TTL expired";
    case 0x07:
      return "command not supported";
    case 0x08:
      return "address type not supported";
    default:
      return "unassigned reply code";
  }
}

// The builders append byte by byte: GCC 12 reports a bogus -Warray-bounds for
// vector::insert after brace-initialising a small vector.
void append(Bytes& out, std::string_view s) {
  for (char c : s)
    out.push_back(static_cast<std::uint8_t>(c));
}

Bytes greeting(std::initializer_list<std::uint8_t> methods) {
  Bytes out;
  out.push_back(kVersion);
  out.push_back(static_cast<std::uint8_t>(methods.size()));
  for (std::uint8_t m : methods)
    out.push_back(m);
  return out;
}

Bytes userpass_request(const Socks5Credentials& c) {
  if (c.username.size() > 255 || c.password.size() > 255)
    throw std::invalid_argument("RFC 1929 fields are at most 255 bytes");
  Bytes out;
  out.push_back(0x01);  // RFC 1929 sub-negotiation version
  out.push_back(static_cast<std::uint8_t>(c.username.size()));
  append(out, c.username);
  out.push_back(static_cast<std::uint8_t>(c.password.size()));
  append(out, c.password);
  return out;
}

Bytes request(const Socks5Target& target, std::uint8_t command) {
  Bytes out;
  for (std::uint8_t b :
       {kVersion, command, std::uint8_t{0x00}, static_cast<std::uint8_t>(target.kind)})
    out.push_back(b);
  switch (target.kind) {
    case Socks5Target::Kind::kIpv4: {
      std::uint8_t a[4];
      if (inet_pton(AF_INET, target.host.c_str(), a) != 1)
        throw std::invalid_argument("not IPv4: " + target.host);
      for (std::uint8_t b : a)
        out.push_back(b);
      break;
    }
    case Socks5Target::Kind::kIpv6: {
      std::uint8_t a[16];
      if (inet_pton(AF_INET6, target.host.c_str(), a) != 1)
        throw std::invalid_argument("not IPv6: " + target.host);
      for (std::uint8_t b : a)
        out.push_back(b);
      break;
    }
    case Socks5Target::Kind::kDomain:
      if (target.host.size() > 255) throw std::invalid_argument("domain longer than 255 bytes");
      out.push_back(static_cast<std::uint8_t>(target.host.size()));
      append(out, target.host);
      break;
  }
  out.push_back(static_cast<std::uint8_t>(target.port >> 8));
  out.push_back(static_cast<std::uint8_t>(target.port));
  return out;
}

}  // namespace socks5

std::string Socks5Result::describe() const {
  switch (stage) {
    case Stage::kMethodRejected:
      return "no acceptable method (proxy chose " + std::to_string(method) + ")";
    case Stage::kAuthRejected:
      return "username/password rejected";
    case Stage::kReplied:
      break;
  }
  return "reply " + std::to_string(reply) + " (" + socks5::reply_name(reply) + "), bound " +
         bound.to_string();
}

Socket Socks5Client::open_raw(Deadline deadline) const {
  return Socket::connect(proxy_, deadline);
}

Socks5Result Socks5Client::read_reply(Socket s, Deadline deadline) {
  Socks5Result r;
  Bytes head = s.recv_exact(4, deadline);
  if (head[0] != socks5::kVersion)
    throw std::runtime_error("SOCKS reply with version " + std::to_string(head[0]));
  r.reply = head[1];
  switch (head[3]) {
    case 0x01: {
      Bytes a = s.recv_exact(4 + 2, deadline);
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, a.data(), text, sizeof text);
      r.bound = Endpoint{text, static_cast<std::uint16_t>(a[4] << 8 | a[5])};
      break;
    }
    case 0x04: {
      Bytes a = s.recv_exact(16 + 2, deadline);
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(AF_INET6, a.data(), text, sizeof text);
      r.bound = Endpoint{text, static_cast<std::uint16_t>(a[16] << 8 | a[17])};
      break;
    }
    case 0x03: {
      Bytes len = s.recv_exact(1, deadline);
      Bytes a = s.recv_exact(len[0] + 2u, deadline);
      r.bound = Endpoint{std::string(a.begin(), a.end() - 2),
                         static_cast<std::uint16_t>(a[len[0]] << 8 | a[len[0] + 1u])};
      break;
    }
    default:
      throw std::runtime_error("SOCKS reply with address type " + std::to_string(head[3]));
  }
  r.stage = Socks5Result::Stage::kReplied;
  r.method = socks5::kMethodNoAuth;
  r.socket = std::move(s);
  return r;
}

Socks5Result Socks5Client::connect(const Socks5Target& target, Deadline deadline) const {
  Socket s = Socket::connect(proxy_, deadline);
  const auto& creds = options_.credentials;
  Bytes hello = creds ? socks5::greeting({socks5::kMethodUserPass})
                      : socks5::greeting({socks5::kMethodNoAuth});
  Bytes auth = creds ? socks5::userpass_request(*creds) : Bytes{};
  Bytes req = socks5::request(target);

  if (options_.pipelined) {
    Bytes all = hello;
    all.insert(all.end(), auth.begin(), auth.end());
    all.insert(all.end(), req.begin(), req.end());
    s.send_all(all, deadline);
  } else {
    s.send_all(hello, deadline);
  }

  Bytes choice = s.recv_exact(2, deadline);
  if (choice[0] != socks5::kVersion)
    throw std::runtime_error("SOCKS method reply with version " + std::to_string(choice[0]));
  std::uint8_t expected = creds ? socks5::kMethodUserPass : socks5::kMethodNoAuth;
  if (choice[1] != expected) {
    Socks5Result r;
    r.stage = Socks5Result::Stage::kMethodRejected;
    r.method = choice[1];
    r.socket = std::move(s);
    return r;
  }

  if (creds) {
    if (!options_.pipelined) s.send_all(auth, deadline);
    Bytes status = s.recv_exact(2, deadline);
    if (status[1] != 0x00) {
      Socks5Result r;
      r.stage = Socks5Result::Stage::kAuthRejected;
      r.method = choice[1];
      r.socket = std::move(s);
      return r;
    }
  }

  if (!options_.pipelined) s.send_all(req, deadline);
  Socks5Result r = read_reply(std::move(s), deadline);
  r.method = choice[1];
  return r;
}

Socket Socks5Client::open_tunnel(const Socks5Target& target, Deadline deadline) const {
  Socks5Result r = connect(target, deadline);
  if (!r.ok()) {
    throw std::runtime_error("SOCKS5 CONNECT " + target.to_string() + " via " + proxy_.to_string() +
                             ": " + r.describe());
  }
  return std::move(r.socket);
}

}  // namespace vmlocal::itest
