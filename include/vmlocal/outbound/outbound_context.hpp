// What every outbound stream on one event loop shares: the loop, randomness, and the pools of
// the blocks a VMess stream holds only while bytes move (so idle tunnels hold no buffers).
#pragma once

#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/uv/block_pool.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/response_reader.hpp"

namespace vmlocal::outbound {

// Uplink: the frames (length prefix, padding, tag) for one write sealed in place, and the
// iovecs that send header + chunks in one write. 34 chunks cover a 64 KiB write at the smallest
// chunk payload (1966 bytes, vmess-protocol.md §9.8).
inline constexpr size_t kMaxUplinkChunks = 34;
struct SealBlock {
  std::array<vmess::BodyWriter::Frame, kMaxUplinkChunks + 1> frames;  // +1: END
  std::array<uv_buf_t, 1 + 3 * (kMaxUplinkChunks + 1)> bufs;          // header + 3 per chunk
};

// Downlink: room for a whole maximal chunk plus a full read, opened in place, and the views of
// the plaintext pieces handed to the tunnel in one go.
inline constexpr size_t kOpenBufferSize = vmess::ResponseReader::kMaxPending + 4096;
inline constexpr size_t kMaxDownlinkViews = 128;
struct OpenBlock {
  std::array<uint8_t, kOpenBufferSize> data;
  std::array<uv_buf_t, kMaxDownlinkViews> views;
};

struct OutboundContext {
  explicit OutboundContext(uv_loop_t* l, crypto::Random& r) : loop(l), random(r) {}
  uv_loop_t* loop;
  crypto::Random& random;
  uv::BlockPool<SealBlock> seal_pool{64};
  uv::BlockPool<OpenBlock> open_pool{64};
};

}  // namespace vmlocal::outbound
