#include "harness/source_server.hpp"

#include <algorithm>
#include <vector>

#include "harness/data_stream.hpp"

namespace vmlocal::itest {
namespace {

void serve(Socket& s) {
  Bytes req = s.recv_exact(SourceServer::kRequestSize, Deadline::after(TcpServer::kIoTimeout));
  std::uint64_t count = get_be64(std::span(req).subspan<0, 8>());
  std::uint64_t seed = get_be64(std::span(req).subspan<8, 8>());
  DataStream stream(seed);
  std::vector<std::uint8_t> buf(64 * 1024);
  while (count > 0) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(count, buf.size()));
    stream.fill(std::span(buf).first(n));
    s.send_all(std::span(buf).first(n), Deadline::after(TcpServer::kIoTimeout));
    count -= n;
  }
  s.shutdown_write();
}

}  // namespace

SourceServer::SourceServer(Family family) : server_("source", family, serve) {}

std::array<std::uint8_t, SourceServer::kRequestSize> SourceServer::request(std::uint64_t count,
                                                                           std::uint64_t seed) {
  std::array<std::uint8_t, kRequestSize> out{};
  put_be64(std::span(out).subspan<0, 8>(), count);
  put_be64(std::span(out).subspan<8, 8>(), seed);
  return out;
}

}  // namespace vmlocal::itest
