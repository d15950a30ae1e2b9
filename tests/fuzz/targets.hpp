// The fuzz targets' bodies, shared by the libFuzzer binaries (tests/fuzz/fuzz_<name>.cpp, each a
// one-line LLVMFuzzerTestOneInput) and the unit test that replays the seed corpora and every
// saved crash (tests/unit/fuzz_regressions_test.cpp).
//
// A target returns normally when every invariant it checks held, and throws InvariantError
// (fuzz_support.hpp) when one did not. Anything else escaping it — a crash, a sanitizer report,
// any other exception — is a bug in the code under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::fuzz {

// How far an input got, so the replay test can check that the seeds reach past the first check.
enum class Outcome : uint8_t {
  kIncomplete,  // the parser wanted more bytes
  kRejected,    // a clean refusal: SOCKS kFail, reader kError, a profile error
  kAccepted,    // to the end: SOCKS kRequest, reader kEnd or a clean EOF, a loaded profile
};

struct Result {
  Outcome outcome = Outcome::kIncomplete;
  // Structure-aware targets: the reader's output was compared exactly with an independent model
  // of what it must produce (the input was well-formed or only forged, never blindly mutated).
  bool exact = false;
};

using Target = Result (*)(ByteView input);

// SOCKS5 greeting, RFC 1929 auth and request through HandshakeParser, whole and split.
Result socks5_handshake(ByteView input);
// parse_profile on arbitrary text.
Result profile(ByteView input);
// ResponseReader (AEAD or legacy header, any body security) on raw bytes.
Result response_reader(ByteView input);
// One SOCKS5 UDP datagram (RFC 1928 §7) through parse_udp_datagram, re-encoded and re-parsed.
Result socks5_udp_header(ByteView input);
// BodyReader (every security, option set and transfer) on raw bytes.
Result body_reader(ByteView input);
// BodyReader on bodies sealed by BodyWriter or forged chunk by chunk, then mutated.
Result body_reader_sealed(ByteView input);
// ResponseReader on sealed (possibly malformed) headers and sealed or forged bodies, mutated.
Result response_reader_sealed(ByteView input);
// The WebSocket FrameDecoder (client and server role) on raw bytes, whole and split.
Result ws_frames(ByteView input);
// The HTTP response-head readers of the HTTP/1 transports on raw bytes, whole and split.
Result http_heads(ByteView input);
// import_text (share links, subscriptions, v2ray/Xray JSON configs) on arbitrary text.
Result share_import(ByteView input);
// The Mux.Cool FrameReader on raw bytes, whole and split; every frame it reads re-encoded by
// encode_frame_header and read back the same.
Result mux_frames(ByteView input);
// The gRPC HunkDecoder on raw bytes, whole and split, and a re-encoding round trip.
Result grpc_hunks(ByteView input);
// inbound_targets.cpp: SOCKS4/4a, the HTTP proxy request parser (and the HTTP/1 codec behind
// it), and the first-byte sniff, each whole and split.
Result socks4_handshake(ByteView input);
Result http_proxy_request(ByteView input);
Result sniff(ByteView input);
// HTTP answers from a server or a probe URL: ResponseHeadReader whole and split, the Date parser
// on every header value, and the probe URL parser on the text.
Result http_answer(ByteView input);

struct TargetInfo {
  std::string_view name;  // fuzzer fuzz_<name>, seeds corpus/<name>, crashes regressions/<name>
  Target run;
};

std::span<const TargetInfo> all_targets();

// The body of every LLVMFuzzerTestOneInput: runs the target and turns an InvariantError into a
// message on stderr and abort(), which libFuzzer records as a crash with its input.
int run_for_libfuzzer(Target target, const uint8_t* data, size_t size);

}  // namespace vmlocal::fuzz
