#include "harness/sink_server.hpp"

#include <algorithm>

#include "harness/data_stream.hpp"

namespace vmlocal::itest {
namespace {

void serve(Socket& s) {
  Bytes head = s.recv_exact(SinkServer::kHeaderSize, Deadline::after(TcpServer::kIoTimeout));
  std::uint64_t left = get_be64(std::span(head).first<8>());
  Sha256 hash;
  std::uint64_t count = 0;
  std::array<std::uint8_t, 64 * 1024> buf;
  while (left > 0) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    std::size_t n = s.recv_some(std::span(buf).first(want), Deadline::after(TcpServer::kIoTimeout));
    if (n == 0) break;
    hash.update(std::span(buf).first(n));
    count += n;
    left -= n;
  }
  std::array<std::uint8_t, SinkServer::kReportSize> report{};
  put_be64(std::span(report).first<8>(), count);
  Digest d = hash.finish();
  std::copy(d.begin(), d.end(), report.begin() + 8);
  s.send_all(report, Deadline::after(TcpServer::kIoTimeout));
  s.shutdown_write();
}

}  // namespace

SinkServer::SinkServer(Family family) : server_("sink", family, serve) {}

std::array<std::uint8_t, SinkServer::kHeaderSize> SinkServer::header(std::uint64_t length) {
  std::array<std::uint8_t, kHeaderSize> out{};
  put_be64(out, length);
  return out;
}

SinkServer::Report SinkServer::parse_report(std::span<const std::uint8_t, kReportSize> bytes) {
  Report r;
  r.count = get_be64(bytes.first<8>());
  std::copy(bytes.begin() + 8, bytes.end(), r.sha256.begin());
  return r;
}

}  // namespace vmlocal::itest
