#include "vmlocal/transport/httpupgrade.hpp"

namespace vmlocal::transport::httpupgrade {

std::string build_request(const Request& request) {
  std::string out;
  out.reserve(96 + request.host.size() + request.path.size());
  out += "GET ";
  out += request.path;
  out += " HTTP/1.1\r\nHost: ";
  out += request.host;
  out += "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  return out;
}

}  // namespace vmlocal::transport::httpupgrade
