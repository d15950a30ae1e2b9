#include "vmlocal/vmess/response_reader.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <utility>

#include "body_framing.hpp"
#include "vmlocal/crypto/aead_cipher.hpp"
#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/vmess/kdf.hpp"

namespace vmlocal::vmess {

namespace {
constexpr std::string_view kLengthAuthFailed = "response header length authentication failed";
constexpr std::string_view kHeaderAuthFailed = "response header authentication failed";
constexpr std::string_view kCheckByteMismatch = "response check byte mismatch";
constexpr std::string_view kHeaderTooShort = "response header too short";
constexpr std::string_view kHeaderTooLong = "response header too long";

// The sealed header and its tag must fit the caller's buffer (sized by kMaxPending).
constexpr size_t kMaxSealedHeader = ResponseReader::kMaxPending - kAeadTagSize;

struct AeadKey {
  crypto::Key16 key;
  crypto::SecretArray<kAeadNonceSize> nonce{};
};

// §10.2: keys come from RK, nonces from RN.
AeadKey derive(ByteView rk, ByteView rn, std::string_view key_label, std::string_view iv_label) {
  AeadKey out;
  out.key = kdf16(rk, {as_bytes(key_label)});
  const crypto::Key32 iv = kdf(rn, {as_bytes(iv_label)});
  std::copy_n(iv.begin(), out.nonce.size(), out.nonce.begin());
  return out;
}

}  // namespace

struct ResponseReader::State {
  enum class Phase : uint8_t { kAeadLength, kAeadHeader, kLegacyHeader, kLegacyCommand, kBody };

  State(HeaderMode mode, SecurityType security, uint8_t options, Transfer transfer, ByteView rk,
        ByteView rn, uint8_t expected_v)
      : security(security), options(options), transfer(transfer), expected_v(expected_v) {
    if (rk.size() != 16 || rn.size() != 16) {
      throw std::invalid_argument("response key and IV must be 16 bytes");
    }
    detail::resolve_framing(security, options, transfer);  // reject a bad security up front
    std::copy(rk.begin(), rk.end(), response_key.begin());
    std::copy(rn.begin(), rn.end(), response_iv.begin());
    if (mode == HeaderMode::kAead) {
      phase = Phase::kAeadLength;
    } else {
      phase = Phase::kLegacyHeader;
      header_cfb.emplace(response_key.data(), response_iv.data(),
                         crypto::Aes128Cfb::Direction::kDecrypt);
    }
  }

  ReadStep next(MutableByteView input);
  // One header phase each: takes its bytes from the front of `rest`, adds them to `consumed`
  // and moves to the next phase; returns the step next() must return instead (more input
  // needed, or an error).
  std::optional<ReadStep> open_aead_length(MutableByteView rest, size_t& consumed);
  std::optional<ReadStep> open_aead_header(MutableByteView rest, size_t& consumed);
  std::optional<ReadStep> decrypt_legacy_header(MutableByteView rest, size_t& consumed);
  std::optional<ReadStep> skip_legacy_command(MutableByteView rest, size_t& consumed);
  // Checks V in the fixed 4 header bytes and notes how many command bytes follow them.
  bool accept_fixed_header(ByteView plain);
  void start_body();
  ReadStep fail(std::string_view why) {
    failed = true;
    error = why;
    return {ReadStatus::kError, 0, {}};
  }

  SecurityType security;
  uint8_t options;
  Transfer transfer;
  uint8_t expected_v;
  crypto::Key16 response_key;
  crypto::Key16 response_iv;
  Phase phase;
  bool failed = false;
  size_t sealed_len = 0;   // AEAD: plaintext length of the sealed header
  size_t command_len = 0;  // CmdLen: command bytes after the fixed header, to be skipped
  std::optional<crypto::Aes128Cfb> header_cfb;
  std::optional<BodyReader> body;
  std::string_view error;
};

bool ResponseReader::State::accept_fixed_header(ByteView plain) {
  if (plain[0] != expected_v) return false;
  // Opt (plain[1]) is always 0 from 4.34 and means nothing to a client. Any command, the
  // switch-account one included, only has to be stepped over: CmdLen counts all its bytes.
  // As in v2ray, CmdLen is not read when Cmd is 0.
  command_len = plain[2] != 0 ? plain[3] : 0;
  return true;
}

void ResponseReader::State::start_body() {
  // §10.2: only a legacy header followed by a legacy-security body shares one CFB stream.
  std::optional<crypto::Aes128Cfb> continued;
  if (security == SecurityType::kLegacy) continued = std::move(header_cfb);
  header_cfb.reset();
  body.emplace(security, options, transfer, response_key, response_iv, std::move(continued));
  phase = Phase::kBody;
}

ReadStep ResponseReader::State::next(MutableByteView input) {
  if (failed) return {ReadStatus::kError, 0, {}};
  size_t consumed = 0;
  for (;;) {
    MutableByteView rest = input.subspan(consumed);
    std::optional<ReadStep> stop;
    switch (phase) {
      case Phase::kAeadLength:
        stop = open_aead_length(rest, consumed);
        break;
      case Phase::kAeadHeader:
        stop = open_aead_header(rest, consumed);
        break;
      case Phase::kLegacyHeader:
        stop = decrypt_legacy_header(rest, consumed);
        break;
      case Phase::kLegacyCommand:
        stop = skip_legacy_command(rest, consumed);
        break;
      case Phase::kBody: {
        ReadStep step = body->next(rest);
        if (step.status == ReadStatus::kError) return fail(body->error());
        step.consumed += consumed;
        return step;
      }
    }
    if (stop) return *stop;
  }
}

std::optional<ReadStep> ResponseReader::State::open_aead_length(MutableByteView rest,
                                                                size_t& consumed) {
  if (rest.size() < kSealedLengthSize) return ReadStep{ReadStatus::kNeedMore, consumed, {}};
  const AeadKey k = derive(response_key, response_iv, kdf_label::kResponseLengthKey,
                           kdf_label::kResponseLengthIv);
  crypto::AeadCipher cipher(crypto::AeadAlgorithm::kAes128Gcm, k.key);
  MutableByteView length = rest.first(kSealedLengthSize - kAeadTagSize);
  if (!cipher.open(k.nonce.data(), length, length.data() + length.size())) {
    return fail(kLengthAuthFailed);
  }
  sealed_len = get_be16(length.data());
  if (sealed_len < kResponseHeaderFixedSize) return fail(kHeaderTooShort);
  if (sealed_len > kMaxSealedHeader) return fail(kHeaderTooLong);
  consumed += kSealedLengthSize;
  phase = Phase::kAeadHeader;
  return std::nullopt;
}

std::optional<ReadStep> ResponseReader::State::open_aead_header(MutableByteView rest,
                                                                size_t& consumed) {
  if (rest.size() < sealed_len + kAeadTagSize) return ReadStep{ReadStatus::kNeedMore, consumed, {}};
  const AeadKey k = derive(response_key, response_iv, kdf_label::kResponseHeaderKey,
                           kdf_label::kResponseHeaderIv);
  crypto::AeadCipher cipher(crypto::AeadAlgorithm::kAes128Gcm, k.key);
  MutableByteView plain = rest.first(sealed_len);
  if (!cipher.open(k.nonce.data(), plain, plain.data() + plain.size())) {
    return fail(kHeaderAuthFailed);
  }
  if (!accept_fixed_header(plain)) return fail(kCheckByteMismatch);
  // The command sits inside the sealed header, so skipping it needs no extra step; bytes
  // after it are ignored, as by v2ray.
  if (sealed_len < kResponseHeaderFixedSize + command_len) return fail(kHeaderTooShort);
  consumed += sealed_len + kAeadTagSize;
  start_body();
  return std::nullopt;
}

std::optional<ReadStep> ResponseReader::State::decrypt_legacy_header(MutableByteView rest,
                                                                     size_t& consumed) {
  if (rest.size() < kResponseHeaderFixedSize) return ReadStep{ReadStatus::kNeedMore, consumed, {}};
  MutableByteView plain = rest.first(kResponseHeaderFixedSize);
  header_cfb->apply(plain);
  if (!accept_fixed_header(plain)) return fail(kCheckByteMismatch);
  consumed += kResponseHeaderFixedSize;
  if (command_len > 0) {
    phase = Phase::kLegacyCommand;
  } else {
    start_body();
  }
  return std::nullopt;
}

std::optional<ReadStep> ResponseReader::State::skip_legacy_command(MutableByteView rest,
                                                                   size_t& consumed) {
  if (rest.size() < command_len) return ReadStep{ReadStatus::kNeedMore, consumed, {}};
  // Decrypted only to advance the CFB stream, which the body may continue.
  header_cfb->apply(rest.first(command_len));
  consumed += command_len;
  start_body();
  return std::nullopt;
}

ResponseReader::ResponseReader(HeaderMode header_mode, SecurityType security, uint8_t options,
                               Transfer transfer, ByteView response_key, ByteView response_iv,
                               uint8_t expected_v)
    : state_(std::make_unique<State>(header_mode, security, options, transfer, response_key,
                                     response_iv, expected_v)) {}

ResponseReader::~ResponseReader() = default;
ResponseReader::ResponseReader(ResponseReader&&) noexcept = default;
ResponseReader& ResponseReader::operator=(ResponseReader&&) noexcept = default;

ReadStep ResponseReader::next(MutableByteView input) {
  return state_->next(input);
}

bool ResponseReader::header_done() const {
  return state_->body.has_value();
}

bool ResponseReader::eof_is_clean() const {
  return !state_->failed && state_->body && state_->body->at_boundary();
}

std::string_view ResponseReader::error() const {
  return state_->error;
}

}  // namespace vmlocal::vmess
