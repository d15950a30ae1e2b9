// UDP sub-streams of Mux.Cool (docs/vmess-protocol.md §14), the packet-mode rules on top of the
// frames of frame.hpp. From v2ray 4.34's common/mux: the client's writer puts each datagram in
// one Keep frame with the data option, never split (writer.go, TransferTypePacket), and the
// server answers each datagram in one frame; the server reads a UDP frame's data as one buffer
// of at most 2048 bytes and refuses a bigger one (reader.go PacketReader: "packet size too
// large"), and that error ends the whole mux connection, every tunnel on it. Pure code.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "vmlocal/mux/frame.hpp"
#include "vmlocal/util/bytes.hpp"

namespace vmlocal::mux {

// Whether a datagram of `size` bytes may go as one Keep frame: 1..kMaxUdpFrameData. An empty
// one carries nothing (and a v2ray server would hand an empty buffer on); a bigger one would
// end the connection (see above), so it is refused here, per datagram.
constexpr bool datagram_fits(size_t size) {
  return size > 0 && size <= kMaxUdpFrameData;
}

// Turns one frame's data, which FrameReader hands out in pieces (Event::kData, last_piece()),
// back into the one datagram it is. At most one frame's data is held: 65535 bytes.
class DatagramAssembler {
 public:
  // `piece`: the next piece of the current frame's data; `last`: it completes the frame.
  // Returns the whole datagram when `last` (valid until the next call), else nothing. A frame
  // that comes in one piece is returned as that piece, without a copy.
  std::optional<ByteView> add(ByteView piece, bool last);
  // Forgets a partial datagram (its session left in the middle of a frame).
  void reset() { partial_.clear(); }
  size_t held() const { return partial_.size(); }

 private:
  std::vector<uint8_t> partial_;
  std::vector<uint8_t> whole_;
};

}  // namespace vmlocal::mux
