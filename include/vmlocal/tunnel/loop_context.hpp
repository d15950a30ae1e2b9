// What every tunnel on one event loop shares: the loop, the pool of read blocks, and the list of
// live tunnels (so a stop can reach them).
#pragma once

#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "vmlocal/uv/block_pool.hpp"

namespace vmlocal::tunnel {

class Tunnel;
class UdpAssociator;

// One app read, held while it is being written upstream (sealed there in place).
inline constexpr size_t kAppReadSize = 64 * 1024;
struct ReadBlock {
  std::array<uint8_t, kAppReadSize> data;
};

struct LoopContext {
  explicit LoopContext(uv_loop_t* l) : loop(l) {}
  LoopContext(const LoopContext&) = delete;
  LoopContext& operator=(const LoopContext&) = delete;

  // Closes every live tunnel with `reason` (the process is stopping).
  void close_all(const std::string& reason);

  uv_loop_t* loop;
  uv::BlockPool<ReadBlock> read_pool{64};
  // Live tunnels, an intrusive list (Tunnel::next_/prev_).
  Tunnel* tunnels = nullptr;
  size_t tunnel_count = 0;
  // SOCKS5 UDP ASSOCIATE goes here; null when [local] udp is off (the handshake then refuses it).
  UdpAssociator* udp = nullptr;
};

}  // namespace vmlocal::tunnel
