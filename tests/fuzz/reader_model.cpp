#include "reader_model.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "support/vmess_test_server.hpp"
#include "vmlocal/crypto/aead_cipher.hpp"
#include "vmlocal/crypto/checksum.hpp"
#include "vmlocal/crypto/hash.hpp"
#include "vmlocal/crypto/shake128.hpp"
#include "vmlocal/vmess/response_keys.hpp"

namespace vmlocal::fuzz {
namespace {

using vmess::ReadStatus;
using vmess::SecurityType;
using Fate = ChunkModel::Fate;

constexpr std::array kSecurities = {SecurityType::kAes128Gcm, SecurityType::kChacha20Poly1305,
                                    SecurityType::kNone, SecurityType::kLegacy};
constexpr std::array<uint8_t, 4> kOptions = {0x00, 0x01, 0x05, 0x0d};

constexpr size_t kLengthField = 2;
constexpr size_t kTag = 16;
constexpr size_t kFnv = 4;
constexpr size_t kMaxL = 0xffff;
// Keeps one case's wire to a few hundred KiB however the sizes come out.
constexpr size_t kMaxWire = 128 * 1024;

void append(Bytes& out, ByteView bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

Bytes random_bytes(SplitMix& mix, size_t n) {
  Bytes out(n);
  mix.fill(out);
  return out;
}

// A CFB stream that has already run over a 4-byte legacy response header (zeros): the writer's
// has encrypted it, the reader's has decrypted the resulting ciphertext. CFB feeds back the
// ciphertext, so both must see the same one.
crypto::Aes128Cfb advanced_cfb(ByteView key, ByteView iv, crypto::Aes128Cfb::Direction d) {
  std::array<uint8_t, 4> header{};
  crypto::Aes128Cfb encrypt(key.data(), iv.data(), crypto::Aes128Cfb::Direction::kEncrypt);
  encrypt.apply(header);
  if (d == crypto::Aes128Cfb::Direction::kEncrypt) return encrypt;
  crypto::Aes128Cfb decrypt(key.data(), iv.data(), d);
  decrypt.apply(header);
  return decrypt;
}

// An encoder for chunked bodies written from §9 alone (it shares no code with BodyWriter), told
// exactly what to get wrong.
class Forger {
 public:
  Forger(const BodyConfig& c, ByteView key, ByteView iv, std::optional<crypto::Aes128Cfb> cfb) {
    const bool masking = (c.options & 0x04) != 0;
    switch (c.security) {
      case SecurityType::kAes128Gcm:
        aead_.emplace(crypto::AeadAlgorithm::kAes128Gcm, key);
        overhead_ = kTag;
        break;
      case SecurityType::kChacha20Poly1305: {
        // §8: MD5(K) || MD5(MD5(K)).
        const crypto::Digest16 first = crypto::md5({key});
        const crypto::Digest16 second = crypto::md5({first});
        std::array<uint8_t, 32> stretched{};
        std::copy(first.begin(), first.end(), stretched.begin());
        std::copy(second.begin(), second.end(), stretched.begin() + 16);
        aead_.emplace(crypto::AeadAlgorithm::kChacha20Poly1305, stretched);
        overhead_ = kTag;
        break;
      }
      case SecurityType::kLegacy:
        legacy_ = true;
        overhead_ = kFnv;
        if (cfb) {
          cfb_ = std::move(cfb);
        } else {
          cfb_.emplace(key.data(), iv.data(), crypto::Aes128Cfb::Direction::kEncrypt);
        }
        break;
      default:
        none_stream_ = c.transfer == vmess::Transfer::kStream;
        break;
    }
    if (masking) shake_.emplace(iv);
    // §9.4 and §9.6: padding needs masking, and none in stream mode never pads.
    padding_ = masking && (c.options & 0x08) != 0 && !none_stream_;
    std::copy(iv.begin() + 2, iv.begin() + 12, nonce_.begin() + 2);
  }

  // Appends one chunk to `m.wire` and its fate to `m.chunks`.
  void chunk(BodyModel& m, uint8_t flags, uint16_t size, uint8_t extra, SplitMix& content) {
    size_t padding = 0;
    uint16_t mask = 0;
    if (shake_) {
      if (padding_) padding = shake_->next_be16() % 64;
      mask = shake_->next_be16();
    }
    const bool authenticated = aead_.has_value() || legacy_;
    size_t payload_len = (flags & 0x10) ? 0 : (flags & 0x20) ? size : size % 2048;
    payload_len = std::min(payload_len, kMaxL - overhead_ - padding);
    const size_t real = overhead_ + payload_len + padding;

    ChunkModel c;
    c.start = m.wire.size();
    c.declared = real;
    c.fate = payload_len == 0 ? Fate::kEnd : Fate::kData;
    const size_t floor = overhead_ + padding;
    if ((flags & 0x08) && floor > 0) {
      c.declared = extra % floor;
    } else if (flags & 0x04) {
      c.declared = (real + 1 + extra) & kMaxL;
      if (c.declared >= floor) c.fate = aead_ ? Fate::kLengthLie : Fate::kUnknown;
    }
    c.sealed_ok = !((authenticated && (flags & 0x01)) || (aead_ && (flags & 0x02)));
    if (c.declared < floor) {
      c.fate = Fate::kTooSmall;
    } else if (!c.sealed_ok && (c.fate == Fate::kData || c.fate == Fate::kEnd)) {
      c.fate = Fate::kBadAuth;
    }

    // Built in place at the end of the wire: [L'][FNV][payload][tag][padding].
    Bytes payload = random_bytes(content, payload_len);
    m.wire.resize(c.start + kLengthField + real);
    const MutableByteView out(m.wire.data() + c.start, kLengthField + real);
    put_be16(out.data(), static_cast<uint16_t>(c.declared ^ mask));
    const size_t fnv_size = legacy_ ? kFnv : 0;
    const MutableByteView body = out.subspan(kLengthField + fnv_size, payload_len);
    std::copy(payload.begin(), payload.end(), body.begin());
    uint8_t* after = body.data() + body.size();
    if (aead_) {
      const uint16_t counter = (flags & 0x02) ? static_cast<uint16_t>(counter_ + 1) : counter_;
      put_be16(nonce_.data(), counter);
      aead_->seal(nonce_.data(), body, after);
      if (flags & 0x01) after[extra % kTag] ^= 0x01;
      after += kTag;
    } else if (legacy_) {
      uint8_t* fnv = out.data() + kLengthField;
      put_be32(fnv, crypto::fnv1a32(payload));
      if (flags & 0x01) fnv[extra % kFnv] ^= 0x01;
    }
    content.fill(MutableByteView(after, padding));
    if (legacy_) cfb_->apply(out);  // §9.5: one CFB stream over every byte of the body
    ++counter_;                     // the reader advances once per chunk, whatever its fate

    c.end = m.wire.size();
    c.payload = std::move(payload);
    m.chunks.push_back(std::move(c));
  }

 private:
  std::optional<crypto::AeadCipher> aead_;
  std::optional<crypto::Shake128> shake_;
  std::optional<crypto::Aes128Cfb> cfb_;
  bool legacy_ = false;
  bool none_stream_ = false;
  bool padding_ = false;
  size_t overhead_ = 0;
  std::array<uint8_t, 12> nonce_{};
  uint16_t counter_ = 0;
};

void write_chunks(Cursor& in, BodyModel& m, size_t count, uint8_t padding_seed, SplitMix& content,
                  ByteView key, ByteView iv, std::optional<crypto::Aes128Cfb> cfb) {
  const BodyConfig& c = m.config;
  FuzzRandom padding(padding_seed);
  vmess::BodyWriter writer(c.security, c.options, c.transfer, key, iv, padding, std::move(cfb));
  const size_t cap = std::min<size_t>(writer.max_payload(), 4096);
  auto add = [&](Bytes payload, Fate fate) {
    Bytes sealed = payload;
    vmess::BodyWriter::Frame frame;
    if (fate == Fate::kEnd) {
      writer.seal_end(frame);
    } else {
      writer.seal(sealed, frame);
    }
    ChunkModel chunk;
    chunk.start = m.wire.size();
    append(m.wire, ByteView(frame.prefix).first(frame.prefix_len));
    append(m.wire, sealed);
    append(m.wire, ByteView(frame.suffix).first(frame.suffix_len));
    chunk.end = m.wire.size();
    chunk.fate = fate;
    if (c.chunked()) {
      chunk.declared = chunk.end - chunk.start - kLengthField;
      chunk.payload = std::move(payload);
      m.chunks.push_back(std::move(chunk));
    } else {
      append(m.raw_plain, payload);
    }
  };
  for (size_t i = 0; i < count && m.wire.size() < kMaxWire; ++i) {
    add(random_bytes(content, 1 + in.u16() % cap), Fate::kData);
  }
  const uint8_t end_flags = in.u8();
  if ((end_flags & 1) && writer.has_end_chunk()) {
    add({}, Fate::kEnd);
    // Bytes after END are not the reader's business.
    if (end_flags & 2) append(m.wire, random_bytes(content, 1 + (end_flags >> 2)));
  }
}

void forge_chunks(Cursor& in, BodyModel& m, size_t count, SplitMix& content, ByteView key,
                  ByteView iv, std::optional<crypto::Aes128Cfb> cfb) {
  Forger forger(m.config, key, iv, std::move(cfb));
  for (size_t i = 0; i < count && m.wire.size() < kMaxWire; ++i) {
    const uint8_t flags = in.u8();
    const uint16_t size = in.u16();
    forger.chunk(m, flags, size, in.u8(), content);
  }
  const uint8_t end_flags = in.u8();
  if (end_flags & 1) {
    forger.chunk(m, 0x10, 0, 0, content);
    if (end_flags & 2) append(m.wire, random_bytes(content, 1 + (end_flags >> 2)));
  }
}

BodyModel build_body(Cursor& in, const BodyConfig& config, ByteView key, ByteView iv,
                     std::optional<crypto::Aes128Cfb> cfb) {
  BodyModel m;
  m.config = config;
  const uint8_t padding_seed = in.u8();
  SplitMix content(in.u8());
  const size_t count = in.u8() % 9;
  if (config.forge && config.chunked()) {
    forge_chunks(in, m, count, content, key, iv, std::move(cfb));
  } else {
    write_chunks(in, m, count, padding_seed, content, key, iv, std::move(cfb));
  }
  return m;
}

}  // namespace

BodyConfig BodyConfig::decode(uint8_t byte) {
  BodyConfig c;
  c.security = kSecurities[byte & 3];
  c.options = kOptions[(byte >> 2) & 3];
  c.transfer = (byte & 0x10) ? vmess::Transfer::kPacket : vmess::Transfer::kStream;
  c.flag = (byte & 0x20) != 0;
  c.forge = (byte & 0x40) != 0;
  return c;
}

bool BodyConfig::aead() const {
  return security == SecurityType::kAes128Gcm || security == SecurityType::kChacha20Poly1305;
}

bool BodyConfig::chunked() const {
  return aead() || (options & 0x01) != 0;
}

Bytes Expectation::joined() const {
  Bytes all;
  for (const Bytes& d : data)
    append(all, d);
  return all;
}

Expectation BodyModel::expect(size_t available) const {
  Expectation e;
  if (!config.chunked()) {
    const size_t n = std::min(available, raw_plain.size());
    if (n > 0)
      e.data.emplace_back(raw_plain.begin(), raw_plain.begin() + static_cast<std::ptrdiff_t>(n));
    e.eof_clean = true;  // a raw body may end anywhere
    return e;
  }
  size_t boundary = 0;
  for (const ChunkModel& c : chunks) {
    if (available <= c.start) {
      e.eof_clean = available == c.start;
      return e;
    }
    switch (c.fate) {
      case Fate::kTooSmall:
        if (available >= c.start + kLengthField) e.last = ReadStatus::kError;
        return e;
      case Fate::kLengthLie:
        if (available >= c.start + kLengthField + c.declared) e.last = ReadStatus::kError;
        return e;
      case Fate::kUnknown:
        e.exact = false;
        return e;
      default:
        break;
    }
    if (available < c.end) return e;
    if (c.fate == Fate::kBadAuth) {
      e.last = ReadStatus::kError;
      return e;
    }
    if (c.fate == Fate::kEnd) {
      e.last = ReadStatus::kEnd;
      e.eof_clean = true;
      return e;
    }
    e.data.push_back(c.payload);
    boundary = c.end;
  }
  e.eof_clean = available == boundary;
  return e;
}

SealedStream BodyModel::sealed() const {
  SealedStream s;
  for (const ChunkModel& c : chunks) {
    if (!c.sealed_ok) break;
    if (c.payload.empty()) {
      s.ends = true;
      break;
    }
    s.data.push_back(c.payload);
  }
  return s;
}

Scenario Scenario::body_only(Cursor& in, ByteView key, ByteView iv) {
  Scenario s;
  const BodyConfig config = BodyConfig::decode(in.u8());
  s.split_seed = in.u8();
  s.key_.assign(key.begin(), key.end());
  s.iv_.assign(iv.begin(), iv.end());
  std::optional<crypto::Aes128Cfb> cfb;
  if (config.flag && config.security == SecurityType::kLegacy) {
    cfb = advanced_cfb(key, iv, crypto::Aes128Cfb::Direction::kEncrypt);
  }
  s.body = build_body(in, config, key, iv, std::move(cfb));
  s.wire = std::move(s.body.wire);
  s.finish(in);
  return s;
}

Scenario Scenario::with_response_header(Cursor& in, ByteView key, ByteView iv) {
  Scenario s;
  const BodyConfig config = BodyConfig::decode(in.u8());
  s.split_seed = in.u8();
  s.has_header = true;
  s.header_mode = config.flag ? vmess::HeaderMode::kLegacy : vmess::HeaderMode::kAead;
  s.expected_v = in.u8();
  const uint8_t flags = in.u8();
  const uint8_t command_id = in.u8();
  const uint8_t command_len = in.u8();
  const uint8_t data_len = in.u8();
  const uint8_t short_len = in.u8();

  const uint8_t v =
      (flags & 1) ? static_cast<uint8_t>(s.expected_v ^ (1U << (flags >> 5))) : s.expected_v;
  const uint8_t selector = (flags >> 1) & 3;
  const uint8_t command = selector == 0   ? 0
                          : selector == 1 ? vmess::kCommandSwitchAccount
                                          : command_id;
  Bytes plain = {v, 0x00, command, command_len};
  SplitMix filler(static_cast<uint64_t>(command_id) << 8 | data_len);
  const vmess::ResponseKeys keys = vmess::derive_response_keys(s.header_mode, key, iv);
  test::EncodedResponseHeader header;
  if (s.header_mode == vmess::HeaderMode::kAead) {
    // Inside the sealed header any length is possible: short, or more or fewer command bytes
    // than CmdLen says.
    const size_t data = (flags & 0x08) ? data_len : command != 0 ? command_len : 0;
    append(plain, random_bytes(filler, data));
    if (flags & 0x10) plain.resize(short_len % 4);
    header = test::protect_response_header(s.header_mode, keys.key, keys.iv, plain);
    s.header_size = header.wire.size();
    const bool too_short = plain.size() < vmess::kResponseHeaderFixedSize;
    s.header_ok = !too_short && v == s.expected_v &&
                  (command == 0 || vmess::kResponseHeaderFixedSize + command_len <= plain.size());
    s.decided_at = too_short ? vmess::kSealedLengthSize : s.header_size;
  } else {
    // In the CFB stream the command is exactly CmdLen bytes (none when Cmd is 0): anything else
    // would simply be body.
    if (command != 0) append(plain, random_bytes(filler, command_len));
    header = test::protect_response_header(s.header_mode, keys.key, keys.iv, plain);
    s.header_size = header.wire.size();
    s.header_ok = v == s.expected_v;
    s.decided_at = s.header_ok ? s.header_size : vmess::kResponseHeaderFixedSize;
  }

  // §10.2: only a legacy header followed by a legacy body shares one CFB stream.
  std::optional<crypto::Aes128Cfb> cfb;
  if (s.header_mode == vmess::HeaderMode::kLegacy && config.security == SecurityType::kLegacy) {
    cfb = std::move(header.cfb);
  }
  s.body = build_body(in, config, keys.key, keys.iv, std::move(cfb));
  s.wire = std::move(header.wire);
  append(s.wire, s.body.wire);
  s.body.wire = {};
  s.finish(in);
  return s;
}

void Scenario::finish(Cursor& in) {
  const uint16_t cut = in.u16();
  if (cut != 0) wire.resize((cut - 1U) % (wire.size() + 1));

  const size_t count = in.u8() % 5;
  const Bytes before = count > 0 ? wire : Bytes{};
  for (size_t i = 0; i < count; ++i) {
    const uint8_t kind = in.u8() % 6;
    const uint16_t position = in.u16();
    const uint8_t value = in.u8();
    if (kind == 2) {  // insert a byte
      wire.insert(wire.begin() + static_cast<std::ptrdiff_t>(position % (wire.size() + 1)), value);
      continue;
    }
    if (wire.empty()) continue;
    const size_t at = position % wire.size();
    switch (kind) {
      case 0:
        wire[at] ^= value != 0 ? value : 0x80;
        break;
      case 1:    // flip one bit of a chunk's length field: framing that lies past the crypto
      case 4: {  // replay a whole chunk right after itself
        if (body.chunks.empty()) break;
        const ChunkModel& c = body.chunks[position % body.chunks.size()];
        const size_t start = header_size + c.start;
        const size_t end = std::min(header_size + c.end, wire.size());
        if (start + kLengthField > end) break;
        if (kind == 1) {
          wire[start + (value & 1)] ^= static_cast<uint8_t>(1U << ((value >> 1) & 7));
        } else {
          const Bytes copy(wire.begin() + static_cast<std::ptrdiff_t>(start),
                           wire.begin() + static_cast<std::ptrdiff_t>(end));
          wire.insert(wire.begin() + static_cast<std::ptrdiff_t>(end), copy.begin(), copy.end());
        }
        break;
      }
      case 3: {  // erase a few bytes
        const size_t n = std::min<size_t>(1 + value % 16, wire.size() - at);
        wire.erase(wire.begin() + static_cast<std::ptrdiff_t>(at),
                   wire.begin() + static_cast<std::ptrdiff_t>(at + n));
        break;
      }
      default:
        wire[at] = value;
        break;
    }
  }
  mutated = count > 0 && wire != before;
}

std::optional<crypto::Aes128Cfb> Scenario::reader_cfb() const {
  if (has_header || !body.config.flag || body.config.security != SecurityType::kLegacy) {
    return std::nullopt;
  }
  return advanced_cfb(key_, iv_, crypto::Aes128Cfb::Direction::kDecrypt);
}

Expectation Scenario::expect(size_t available) const {
  if (!has_header) return body.expect(available);
  Expectation e;
  e.header_done = false;
  if (available < decided_at) return e;
  if (!header_ok) {
    e.last = ReadStatus::kError;
    return e;
  }
  e = body.expect(available - header_size);
  e.header_done = true;
  return e;
}

}  // namespace vmlocal::fuzz
