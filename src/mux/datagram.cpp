// DatagramAssembler: one Mux.Cool UDP frame's data, in pieces, back into one datagram.
#include "vmlocal/mux/datagram.hpp"

namespace vmlocal::mux {

std::optional<ByteView> DatagramAssembler::add(ByteView piece, bool last) {
  if (partial_.empty() && last) return piece;  // the usual case: the frame came whole
  partial_.insert(partial_.end(), piece.begin(), piece.end());
  if (!last) return std::nullopt;
  whole_.swap(partial_);
  partial_.clear();
  return ByteView(whole_);
}

}  // namespace vmlocal::mux
