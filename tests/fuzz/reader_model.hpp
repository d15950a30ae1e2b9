// Structure-aware fuzz cases for the readers: the fuzzer's bytes choose a security, options and
// chunk sizes; the body is sealed by the real BodyWriter, or forged chunk by chunk by an encoder
// written from the protocol text (§9), so the reader also meets validly sealed but wrong framing
// past the crypto: empty and 64 KiB chunks, END in the middle, lengths below the overhead, lying
// lengths, bad tags and counters. An optional response header (§10) goes in front, well formed
// or not. Then the wire may be cut and mutated.
//
// Alongside the wire the case keeps a model of what a correct reader yields from it, which the
// targets compare with the real reader's output whenever no blind mutation was applied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "fuzz_support.hpp"
#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/body_reader.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::fuzz {

// One config byte: bits 0-1 security (gcm, chacha20, none, legacy), bits 2-3 options (0x00,
// 0x01, 0x05, 0x0D), bit 4 packet transfer, bit 5 `flag` (a legacy response header, or a body
// that continues a CFB stream), bit 6 forge the chunks instead of using BodyWriter.
struct BodyConfig {
  vmess::SecurityType security = vmess::SecurityType::kAes128Gcm;
  uint8_t options = 0;
  vmess::Transfer transfer = vmess::Transfer::kStream;
  bool flag = false;
  bool forge = false;

  static BodyConfig decode(uint8_t byte);
  bool aead() const;
  // False for the raw modes (none or legacy without option 0x01): no chunks, no END.
  bool chunked() const;
};

// What a correct reader yields.
struct Expectation {
  std::vector<Bytes> data;  // every kData (raw modes: the whole plaintext as one entry)
  vmess::ReadStatus last = vmess::ReadStatus::kNeedMore;
  bool eof_clean = false;
  bool header_done = true;
  bool exact = true;  // false when some chunk's fate cannot be predicted; `data` is then a prefix
  Bytes joined() const;
};

// One chunk as it was put on the wire, and what a correct reader makes of it.
struct ChunkModel {
  enum class Fate : uint8_t {
    kData,       // yields `payload`
    kEnd,        // a valid END chunk: the body ends here
    kTooSmall,   // L below overhead + padding: an error as soon as the length field is read
    kBadAuth,    // a tag, FNV or counter that does not verify: an error once the chunk is in
    kLengthLie,  // AEAD with a wrong L: an error once `declared` bytes are in
    kUnknown,    // unauthenticated bytes that do not frame as written: unpredictable
  };
  size_t start = 0;     // offset of the length field in the body wire
  size_t end = 0;       // one past the chunk's last byte
  size_t declared = 0;  // L as the length field says it
  Fate fate = Fate::kData;
  Bytes payload;          // what was sealed in it (empty: an END chunk)
  bool sealed_ok = true;  // its tag or FNV verifies at its counter, whatever L says
};

// Every payload an AEAD reader could ever be made to yield, in order: the chunks whose tags
// verify at their counters, up to the first that does not or the first END.
struct SealedStream {
  std::vector<Bytes> data;
  bool ends = false;  // a valid END closes it
};

struct BodyModel {
  BodyConfig config;
  Bytes wire;                      // while it is built; then it moves into the Scenario's wire
  std::vector<ChunkModel> chunks;  // chunked framings
  Bytes raw_plain;                 // raw framings: the plaintext, byte for byte with `wire`

  // From the first `available` bytes of `wire`.
  Expectation expect(size_t available) const;
  SealedStream sealed() const;
};

// A complete case. Input layouts (one byte per field unless noted; bytes past the end read 0):
//   body_only:             config, split seed, <body>
//   with_response_header:  config, split seed, V, header flags, command id, CmdLen,
//                          data length, short length, <body>
//   <body>: padding seed, content seed, chunk count (mod 9), then per chunk
//             BodyWriter: size (2 bytes)      forged: flags, size (2 bytes), extra
//           end flags, cut (2 bytes; 0 = none), mutation count (mod 5), then per mutation
//           kind, position (2 bytes), value.
// Header flags: bit 0 wrong V, bits 1-2 command (none, switch-account, the given id, the given
// id), bit 3 AEAD: write `data length` command bytes instead of CmdLen, bit 4 AEAD: cut the
// plaintext to `short length` % 4 bytes, bits 5-7 which bit of V is wrong.
// Forged chunk flags: bit 0 bad tag/FNV, bit 1 wrong counter, bit 2 length lie (+1 + extra),
// bit 3 length below the overhead (extra % (overhead + padding)), bit 4 empty payload (END),
// bit 5 size up to 65535 instead of up to 2047.
struct Scenario {
  static Scenario body_only(Cursor& in, ByteView key, ByteView iv);
  static Scenario with_response_header(Cursor& in, ByteView key, ByteView iv);

  // body_only: the CFB stream a reader must continue (legacy security with config bit 5).
  std::optional<crypto::Aes128Cfb> reader_cfb() const;
  // From the first `available` bytes of the uncut, unmutated wire.
  Expectation expect(size_t available) const;

  BodyModel body;
  Bytes wire;  // what the reader gets: header + body, cut, then mutated
  uint8_t split_seed = 0;
  bool mutated = false;  // a blind mutation changed the wire: only invariants hold

  bool has_header = false;
  vmess::HeaderMode header_mode = vmess::HeaderMode::kAead;
  uint8_t expected_v = 0;
  size_t header_size = 0;  // bytes of response header on the wire
  bool header_ok = true;
  size_t decided_at = 0;  // bytes after which the reader has judged the header

 private:
  void finish(Cursor& in);

  Bytes key_;  // body_only: for reader_cfb()
  Bytes iv_;
};

}  // namespace vmlocal::fuzz
