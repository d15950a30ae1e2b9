// A scripted VMess server on loopback for tests that the real v2ray cannot stage: a server that
// streams as fast as it can while the app reads nothing (backpressure), one that stops reading
// the request (uplink backpressure), one that drips its answer slower than the idle timeout, one
// that never answers, and ones that misbehave in a precise way (bad check byte, flipped tag bit,
// truncated or impossible chunks, garbage). It decodes requests like a v2ray 4.34 inbound
// (through vmess_test_server) and frames responses with the real BodyWriter.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <thread>

#include "vmlocal/vmess/account.hpp"

namespace vmlocal::test {

enum class FakeScript : uint8_t {
  kEcho,              // echo each request chunk back; END answers END
  kSource,            // response header + `source_bytes` of source_byte(i), END, close
  kSilent,            // read and discard the request, never send a byte
  kWrongCheckByte,    // a response header whose check byte is V ^ 0xFF
  kFlipTagBit,        // a correct header, then a chunk with one tag bit flipped
  kTruncatedChunk,    // a correct header, then half a chunk, then close
  kImpossibleLength,  // a correct header, then a chunk length below the tag size
  kGarbage,           // 64 random bytes instead of a response
  kCutAfterData,      // a correct header and one 100-byte chunk, then close without END
  kHeaderThenClose,   // a correct header, then close: the target sent nothing
  kDrip,              // header, then `source_bytes` of source_byte(i) in 1 KiB chunks `pace`
                      // apart, END, close: a download slower than the idle timeout
  kPausedSink,        // reads nothing past the request header until resume_reading(), then
                      // checks each request payload byte against source_byte(i); END answers END
  kIgnoreEnd,         // echo like kEcho, but the request's END is skipped, not answered, and the
                      // connection stays open until the server stops: sing-box's server
  kByTargetPort,      // each request picks its script: target port = kScriptPortBase + script
};

inline constexpr uint16_t kScriptPortBase = 1000;
inline uint16_t port_for_script(FakeScript script) {
  return static_cast<uint16_t>(kScriptPortBase + static_cast<uint16_t>(script));
}

// The byte at offset i of a kSource stream.
inline uint8_t source_byte(uint64_t i) {
  return static_cast<uint8_t>((i * 131 + (i >> 9)) & 0xff);
}

class FakeVmessServer {
 public:
  FakeVmessServer(const vmess::Account& account, FakeScript script, uint64_t source_bytes = 0,
                  std::chrono::milliseconds pace = std::chrono::milliseconds(0));
  ~FakeVmessServer();
  FakeVmessServer(const FakeVmessServer&) = delete;
  FakeVmessServer& operator=(const FakeVmessServer&) = delete;

  uint16_t port() const { return port_; }
  // kSource: payload bytes the kernel has accepted from the server so far.
  uint64_t payload_sent() const { return payload_sent_.load(); }
  int connections() const { return connections_.load(); }
  int requests_decoded() const { return requests_decoded_.load(); }
  // kPausedSink: let the paused connections read (each waits at most 60 s for this).
  void resume_reading() { resume_reading_ = true; }
  // kPausedSink: request payload bytes decoded so far, and how many differed from the pattern.
  uint64_t payload_received() const { return payload_received_.load(); }
  uint64_t payload_mismatches() const { return payload_mismatches_.load(); }

 private:
  void accept_loop();
  void serve(int fd);
  // Sleeps `duration`; false (at once) when the server is being destroyed.
  bool pause_for(std::chrono::milliseconds duration);

  const vmess::Account& account_;
  FakeScript script_;
  uint64_t source_bytes_;
  std::chrono::milliseconds pace_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> payload_sent_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_decoded_{0};
  std::atomic<bool> resume_reading_{false};
  std::atomic<uint64_t> payload_received_{0};
  std::atomic<uint64_t> payload_mismatches_{0};
  std::mutex mutex_;
  std::list<int> open_fds_;
  std::list<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace vmlocal::test
