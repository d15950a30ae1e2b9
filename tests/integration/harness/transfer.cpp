#include "harness/transfer.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "harness/data_stream.hpp"
#include "harness/sink_server.hpp"
#include "harness/source_server.hpp"

namespace vmlocal::itest {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 64 * 1024;

// Sends `count` stream bytes in kChunk writes; returns their digest.
Digest send_stream(Socket& s, std::uint64_t count, std::uint64_t seed, Deadline deadline) {
  DataStream stream(seed);
  Sha256 hash;
  std::vector<std::uint8_t> buf(kChunk);
  while (count > 0) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(count, buf.size()));
    auto chunk = std::span(buf).first(n);
    stream.fill(chunk);
    hash.update(chunk);
    s.send_all(chunk, deadline);
    count -= n;
  }
  return hash.finish();
}

// Reads until EOF into r.received / r.received_sha256; notes when `expected` bytes had arrived.
void receive_stream(Socket& s, std::uint64_t expected, SteadyClock::time_point start,
                    Deadline deadline, TransferResult& r,
                    const std::function<void()>& on_complete = {}) {
  Sha256 hash;
  std::vector<std::uint8_t> buf(kChunk);
  bool complete = expected == 0;
  for (;;) {
    std::size_t n = s.recv_some(buf, deadline);
    if (n == 0) break;
    hash.update(std::span(buf).first(n));
    r.received += n;
    if (!complete && r.received >= expected) {
      complete = true;
      r.elapsed = SteadyClock::now() - start;
      if (on_complete) on_complete();
    }
  }
  r.until_close = SteadyClock::now() - start;
  if (!complete) r.elapsed = r.until_close;
  r.received_sha256 = hash.finish();
}

}  // namespace

double TransferResult::mib_per_s() const {
  double secs = elapsed.count();
  if (secs <= 0) return 0;
  return static_cast<double>(std::max(sent, received)) / (1024.0 * 1024.0) / secs;
}

std::string TransferResult::summary(std::string_view label) const {
  char text[200];
  std::snprintf(text, sizeof text, "%.*s: %.1f MiB in %.3f s = %.1f MiB/s (closed after %.3f s)",
                static_cast<int>(label.size()), label.data(),
                static_cast<double>(std::max(sent, received)) / (1024.0 * 1024.0), elapsed.count(),
                mib_per_s(), until_close.count());
  return text;
}

TransferResult echo_transfer(Socket& s, std::uint64_t count, std::uint64_t seed, Deadline deadline,
                             EchoEnd end) {
  TransferResult r;
  auto start = SteadyClock::now();
  std::mutex mutex;
  std::condition_variable echoed_cv;
  bool echoed = false;  // every byte is back (or the reader gave up)
  std::exception_ptr writer_error;
  std::thread writer([&] {
    try {
      r.sent_sha256 = send_stream(s, count, seed, deadline);
      r.sent = count;
      if (end == EchoEnd::kAfterEcho) {
        std::unique_lock lock(mutex);
        echoed_cv.wait_until(lock, deadline.when(), [&] { return echoed; });
      }
      s.shutdown_write();
    } catch (...) {
      writer_error = std::current_exception();
      s.shutdown_both();  // the reader must not wait for an echo that will never come
    }
  });
  auto on_complete = [&] {
    std::lock_guard lock(mutex);
    echoed = true;
    echoed_cv.notify_all();
  };
  std::exception_ptr reader_error;
  try {
    receive_stream(s, count, start, deadline, r, on_complete);
  } catch (...) {
    reader_error = std::current_exception();
    s.shutdown_both();  // unblocks the writer if the proxy stopped reading
  }
  on_complete();
  writer.join();
  if (writer_error) std::rethrow_exception(writer_error);
  if (reader_error) std::rethrow_exception(reader_error);
  return r;
}

TransferResult download(Socket& s, std::uint64_t count, std::uint64_t seed, Deadline deadline,
                        AfterRequest after) {
  TransferResult r;
  auto start = SteadyClock::now();
  s.send_all(SourceServer::request(count, seed), deadline);
  if (after == AfterRequest::kHalfClose) s.shutdown_write();
  receive_stream(s, count, start, deadline, r);
  return r;
}

TransferResult upload(Socket& s, std::uint64_t count, std::uint64_t seed, Deadline deadline,
                      UploadEnd end) {
  TransferResult r;
  auto start = SteadyClock::now();
  s.send_all(SinkServer::header(end == UploadEnd::kAnnounced ? count : SinkServer::kUntilEof),
             deadline);
  r.sent_sha256 = send_stream(s, count, seed, deadline);
  r.sent = count;
  s.shutdown_write();
  Bytes report = s.recv_exact(SinkServer::kReportSize, deadline);
  r.elapsed = SteadyClock::now() - start;
  auto parsed = SinkServer::parse_report(std::span(report).first<SinkServer::kReportSize>());
  r.received = parsed.count;
  r.received_sha256 = parsed.sha256;
  Bytes rest = s.recv_until_eof(deadline);
  r.until_close = SteadyClock::now() - start;
  if (!rest.empty()) {
    throw std::runtime_error("upload: " + std::to_string(rest.size()) +
                             " unexpected bytes after the sink's report");
  }
  return r;
}

}  // namespace vmlocal::itest
