#include "vmlocal/vmess/body_writer.hpp"

#include <cassert>
#include <stdexcept>
#include <utility>

#include "body_framing.hpp"
#include "vmlocal/crypto/checksum.hpp"
#include "vmlocal/crypto/random.hpp"

namespace vmlocal::vmess {

using detail::Framing;

struct BodyWriter::State : detail::BodyCiphers {
  State(SecurityType security, uint8_t options, Transfer transfer, ByteView key, ByteView iv,
        crypto::Random& padding_random, std::optional<crypto::Aes128Cfb> continued_cfb)
      : BodyCiphers(security, options, transfer, key, iv, crypto::Aes128Cfb::Direction::kEncrypt,
                    std::move(continued_cfb)),
        random(&padding_random) {}

  void seal_chunk(MutableByteView payload, Frame& frame);

  crypto::Random* random;
};

void BodyWriter::State::seal_chunk(MutableByteView payload, Frame& frame) {
  frame.prefix_len = 0;
  frame.suffix_len = 0;
  switch (params.framing) {
    case Framing::kRawNone:
      return;
    case Framing::kRawLegacy:
      cfb->apply(payload);
      return;
    default:
      break;
  }

  const detail::ChunkDraw draw = detail::draw_chunk(shake, params.padding);
  // Bounded by max_payload (≤ 8192) plus overhead and padding, so L always fits 16 bits.
  const auto size = static_cast<uint16_t>(payload.size() + params.overhead + draw.padding);
  put_be16(frame.prefix.data(), static_cast<uint16_t>(size ^ draw.mask));
  frame.prefix_len = body::kLengthSize;

  if (params.framing == Framing::kAead) {
    aead->seal(nonce.next(), payload, frame.suffix.data());
    frame.suffix_len = kAeadTagSize;
  } else if (params.framing == Framing::kLegacyChunks) {
    put_be32(frame.prefix.data() + body::kLengthSize, crypto::fnv1a32(payload));
    frame.prefix_len += body::kFnvSize;
  }

  if (draw.padding > 0) {
    random->fill(MutableByteView(frame.suffix).subspan(frame.suffix_len, draw.padding));
    frame.suffix_len = static_cast<uint8_t>(frame.suffix_len + draw.padding);
  }

  if (params.framing == Framing::kLegacyChunks) {
    // One continuous CFB stream, in wire order: length and FNV, payload, padding.
    cfb->apply(MutableByteView(frame.prefix).first(frame.prefix_len));
    cfb->apply(payload);
    cfb->apply(MutableByteView(frame.suffix).first(frame.suffix_len));
  }
}

BodyWriter::BodyWriter(SecurityType security, uint8_t options, Transfer transfer, ByteView key,
                       ByteView iv, crypto::Random& padding_random,
                       std::optional<crypto::Aes128Cfb> continued_cfb)
    : state_(std::make_unique<State>(security, options, transfer, key, iv, padding_random,
                                     std::move(continued_cfb))) {}

BodyWriter::~BodyWriter() = default;
BodyWriter::BodyWriter(BodyWriter&&) noexcept = default;
BodyWriter& BodyWriter::operator=(BodyWriter&&) noexcept = default;

size_t BodyWriter::max_payload() const {
  return state_->params.max_payload;
}

bool BodyWriter::has_end_chunk() const {
  return state_->params.end_chunk;
}

void BodyWriter::seal(MutableByteView payload, Frame& frame) {
  // Both are caller bugs, and either would put a wrong frame on the wire: an empty chunk reads
  // as END, and an oversize one overflows L or gets dropped by v2ray (§13). On the data path,
  // inside libuv callbacks, so an assertion rather than an exception.
  assert(!payload.empty() && payload.size() <= state_->params.max_payload);
  state_->seal_chunk(payload, frame);
}

void BodyWriter::seal_end(Frame& frame) {
  assert(state_->params.end_chunk);
  uint8_t none = 0;  // a non-null empty span: the ciphers get a valid pointer
  state_->seal_chunk(MutableByteView(&none, 0), frame);
}

}  // namespace vmlocal::vmess
