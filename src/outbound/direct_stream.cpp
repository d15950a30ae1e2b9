#include "vmlocal/outbound/direct_stream.hpp"

#include <arpa/inet.h>

#include <string>

namespace vmlocal::outbound {
namespace {

// The host as TcpStream takes it: an IP literal (skips DNS) or the name.
std::string host_of(const TargetAddress& target) {
  char text[INET6_ADDRSTRLEN] = {};
  switch (target.type) {
    case TargetAddress::Type::kIpv4:
      inet_ntop(AF_INET, target.ip.data(), text, sizeof text);
      return text;
    case TargetAddress::Type::kIpv6:
      inet_ntop(AF_INET6, target.ip.data(), text, sizeof text);
      return text;
    case TargetAddress::Type::kDomain:
      // "[::1]" as some apps write an IPv6 literal in a domain field.
      if (target.domain.size() > 2 && target.domain.front() == '[' && target.domain.back() == ']') {
        return target.domain.substr(1, target.domain.size() - 2);
      }
      return target.domain;
  }
  return {};
}

}  // namespace

DirectStream::DirectStream(uv_loop_t* loop, transport::StreamHandler& handler,
                           const TargetAddress& target)
    : tcp_(loop, handler, host_of(target), target.port) {}

}  // namespace vmlocal::outbound
