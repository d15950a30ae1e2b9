// Shared by ws_stream.cpp (upgrade and reading) and ws_stream_write.cpp. Private to
// src/transport.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "vmlocal/transport/ws_handshake.hpp"
#include "vmlocal/transport/ws_stream.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::transport {
// The upgrade's request and response; freed once the connection is a WebSocket.
struct WsStream::Handshake {
  std::string key;
  std::string request;
  uv_buf_t request_buf{};
  bool request_in_flight = false;
  std::optional<ws::UpgradeResponseReader> reader;
  std::array<uint8_t, 4096> scratch{};
};

}  // namespace vmlocal::transport
