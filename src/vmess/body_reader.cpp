#include "vmlocal/vmess/body_reader.hpp"

#include <utility>

#include "body_framing.hpp"
#include "vmlocal/crypto/checksum.hpp"

namespace vmlocal::vmess {

using detail::Framing;

namespace {
constexpr std::string_view kAuthFailed = "chunk authentication failed";
constexpr std::string_view kLengthTooSmall = "chunk length smaller than its overhead and padding";
}  // namespace

struct BodyReader::State : detail::BodyCiphers {
  enum class Phase : uint8_t { kLength, kChunk, kEnded, kFailed };

  State(SecurityType security, uint8_t options, Transfer transfer, ByteView key, ByteView iv,
        std::optional<crypto::Aes128Cfb> continued_cfb)
      : BodyCiphers(security, options, transfer, key, iv, crypto::Aes128Cfb::Direction::kDecrypt,
                    std::move(continued_cfb)) {}

  ReadStep fail(std::string_view why) {
    phase = Phase::kFailed;
    error = why;
    return {ReadStatus::kError, 0, {}};
  }

  ReadStep next(MutableByteView input);
  // Opens one whole chunk (L bytes after the length field) in place: the payload, or nullopt
  // when the tag or FNV does not verify.
  std::optional<MutableByteView> open_chunk(MutableByteView chunk);

  Phase phase = Phase::kLength;
  uint16_t size = 0;     // L of the chunk whose length field was consumed
  uint16_t padding = 0;  // P of that chunk
  size_t held = 0;       // bytes the caller kept unconsumed after the last call
  std::string_view error;
};

ReadStep BodyReader::State::next(MutableByteView input) {
  if (params.framing == Framing::kRawNone || params.framing == Framing::kRawLegacy) {
    if (input.empty()) return {};
    if (cfb) cfb->apply(input);
    return {ReadStatus::kData, input.size(), input};
  }

  size_t consumed = 0;
  switch (phase) {
    case Phase::kEnded:
      return {ReadStatus::kEnd, 0, {}};
    case Phase::kFailed:
      return {ReadStatus::kError, 0, {}};
    case Phase::kLength: {
      if (input.size() < body::kLengthSize) return {};
      // The length field is decrypted and the SHAKE words drawn exactly once, so it is consumed
      // now and L remembered; the caller then only has to gather L contiguous bytes.
      MutableByteView field = input.first(body::kLengthSize);
      if (cfb) cfb->apply(field);
      const detail::ChunkDraw draw = detail::draw_chunk(shake, params.padding);
      size = static_cast<uint16_t>(get_be16(field.data()) ^ draw.mask);
      padding = draw.padding;
      if (size < params.overhead + padding) return fail(kLengthTooSmall);
      consumed = body::kLengthSize;
      phase = Phase::kChunk;
      break;
    }
    case Phase::kChunk:
      break;
  }

  if (input.size() - consumed < size) return {ReadStatus::kNeedMore, consumed, {}};
  const std::optional<MutableByteView> payload = open_chunk(input.subspan(consumed, size));
  if (!payload) return fail(kAuthFailed);
  consumed += size;
  phase = Phase::kLength;
  // END is recognised as v2ray does (L == overhead + P), but only after its tag or FNV has been
  // checked too: without masking, a forged END could otherwise truncate the stream.
  if (payload->empty()) {
    phase = Phase::kEnded;
    return {ReadStatus::kEnd, consumed, {}};
  }
  return {ReadStatus::kData, consumed, *payload};
}

std::optional<MutableByteView> BodyReader::State::open_chunk(MutableByteView chunk) {
  const size_t payload_len = chunk.size() - params.overhead - padding;
  switch (params.framing) {
    case Framing::kAead: {
      MutableByteView payload = chunk.first(payload_len);
      if (!aead->open(nonce.next(), payload, chunk.data() + payload_len)) return std::nullopt;
      return payload;
    }
    case Framing::kLegacyChunks: {
      // Padding too: the CFB stream runs over every byte of the body.
      cfb->apply(chunk);
      MutableByteView payload = chunk.subspan(body::kFnvSize, payload_len);
      if (get_be32(chunk.data()) != crypto::fnv1a32(payload)) return std::nullopt;
      return payload;
    }
    default:
      return chunk.first(payload_len);
  }
}

BodyReader::BodyReader(SecurityType security, uint8_t options, Transfer transfer, ByteView key,
                       ByteView iv, std::optional<crypto::Aes128Cfb> continued_cfb)
    : state_(std::make_unique<State>(security, options, transfer, key, iv,
                                     std::move(continued_cfb))) {}

BodyReader::~BodyReader() = default;
BodyReader::BodyReader(BodyReader&&) noexcept = default;
BodyReader& BodyReader::operator=(BodyReader&&) noexcept = default;

ReadStep BodyReader::next(MutableByteView input) {
  ReadStep step = state_->next(input);
  // The caller keeps what was not consumed; a transport EOF with any of it held (even a whole
  // chunk not yet asked for) loses data.
  state_->held = input.size() - step.consumed;
  return step;
}

bool BodyReader::at_boundary() const {
  const State& s = *state_;
  return s.phase == State::Phase::kEnded || (s.phase == State::Phase::kLength && s.held == 0);
}

std::string_view BodyReader::error() const {
  return state_->error;
}

}  // namespace vmlocal::vmess
