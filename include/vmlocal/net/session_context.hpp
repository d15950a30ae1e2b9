// What every session on one event loop shares: settings, the account, buffer pools, randomness
// and the list of live sessions (so shutdown can reach them).
#pragma once

#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/net/block_pool.hpp"
#include "vmlocal/transport/tls_context.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/constants.hpp"
#include "vmlocal/vmess/response_reader.hpp"
#include "vmlocal/vmess/security.hpp"

namespace vmlocal::net {

class Session;

// Uplink: one app read, sealed in place into chunks, and the frames/iovecs to send it in one
// write. 34 chunks cover a full read at the smallest chunk payload (1966 bytes, §9.8).
inline constexpr size_t kUplinkReadSize = 64 * 1024;
inline constexpr size_t kMaxUplinkChunks = 34;
struct UplinkBlock {
  std::array<uint8_t, kUplinkReadSize> data;
  std::array<vmess::BodyWriter::Frame, kMaxUplinkChunks + 1> frames;  // +1: END
  std::array<uv_buf_t, 1 + 3 * (kMaxUplinkChunks + 1)> bufs;          // header + 3 per chunk
};

// Downlink: room for a whole maximal chunk plus a full read, decrypted in place, and the iovecs
// that point at the plaintext pieces for one write to the app.
inline constexpr size_t kDownlinkBufferSize = vmess::ResponseReader::kMaxPending + 4096;
inline constexpr size_t kMaxDownlinkSegments = 128;
struct DownlinkBlock {
  std::array<uint8_t, kDownlinkBufferSize> data;
  std::array<uv_buf_t, kMaxDownlinkSegments> bufs;
};

struct SessionContext {
  uv_loop_t* loop = nullptr;
  const config::Profile* profile = nullptr;
  const vmess::Account* account = nullptr;
  vmess::HeaderMode header_mode = vmess::HeaderMode::kAead;
  vmess::BodyFormat body_format{vmess::SecurityType::kAes128Gcm, 0};
  crypto::Random* random = nullptr;
  // The shared TLS client context (trust store, session cache), when the profile has
  // [server.tls]; created by Proxy::start.
  std::unique_ptr<transport::TlsContext> tls;

  BlockPool<UplinkBlock> uplink_pool{64};
  BlockPool<DownlinkBlock> downlink_pool{64};

  // Live sessions, an intrusive list (see Session::next_/prev_).
  Session* sessions = nullptr;
  size_t session_count = 0;
  uint64_t sessions_total = 0;
  bool stopping = false;
};

}  // namespace vmlocal::net
