// Fuzz targets for the inbound protocols beside SOCKS5: the SOCKS4/4a handshake, the HTTP proxy
// request parser (with the HTTP/1 codec behind it: framing, body scanning, the rewrite) and the
// first-byte sniff. Each input is [mode][split seed][the app's byte stream]; the stream is fed
// once whole and once in pieces, and both runs must agree exactly.
#include <optional>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "targets.hpp"
#include "vmlocal/handshake/http1.hpp"
#include "vmlocal/handshake/http_proxy_handshake.hpp"
#include "vmlocal/handshake/sniff_handshake.hpp"
#include "vmlocal/handshake/socks4_handshake.hpp"

namespace vmlocal::fuzz {
namespace {

using handshake::Action;

constexpr std::string_view kUser = "fuzz-user";
constexpr std::string_view kPassword = "s3cr3t-Pw#fuzz";  // distinctive, so a leak shows

struct Run {
  std::vector<std::pair<Action, std::string>> events;  // every step but kNeedMore
  size_t consumed = 0;
  bool requested = false;
  bool failed = false;
  std::string target;
  std::string reason;
};

// True when `text` shows the password although the app never sent it in the clear (so it could
// only have come from decoding the app's Proxy-Authorization, or from the profile).
bool leaks(std::string_view text, ByteView stream) {
  const std::string_view sent(reinterpret_cast<const char*>(stream.data()), stream.size());
  return text.find(kPassword) != std::string_view::npos &&
         sent.find(kPassword) == std::string_view::npos;
}

// Drives `h` over `stream` in one read (no seed) or in seeded pieces, checking each step.
Run drive(handshake::InboundHandshake& h, ByteView stream, std::optional<uint8_t> seed,
          const char* name) {
  Run run;
  SplitMix mix(seed.value_or(0));
  size_t at = 0;
  while (at < stream.size() && !run.requested && !run.failed) {
    const size_t piece =
        seed ? 1 + mix.below(std::min<size_t>(stream.size() - at, 64)) : stream.size() - at;
    ByteView in = stream.subspan(at, piece);
    at += piece;
    for (;;) {
      const handshake::Step step = h.feed(in);
      require(step.consumed <= in.size(), name);
      in = in.subspan(step.consumed);
      run.consumed += step.consumed;
      if (step.action == Action::kNeedMore) {
        require(in.empty(), "kNeedMore left input untaken");
        break;
      }
      const std::string reply(reinterpret_cast<const char*>(step.reply.data()), step.reply.size());
      require(!leaks(reply, stream), "a reply shows the password");
      require(!leaks(step.reason, stream), "a reason shows the password");
      run.events.emplace_back(step.action, reply);
      if (step.action == Action::kSend) {
        require(step.consumed > 0, "kSend took no bytes");
        continue;
      }
      if (step.action == Action::kFail) {
        run.failed = true;
        run.reason = std::string(step.reason);
        require(!run.reason.empty(), "kFail without a reason");
      } else {
        run.requested = true;
        run.target = h.request().target.to_string();
        // Further feeds after kRequest take nothing.
        require(h.feed(in).consumed == 0, "kRequest then took payload bytes");
      }
      break;
    }
  }
  return run;
}

bool same(const Run& a, const Run& b) {
  return a.events == b.events && a.consumed == b.consumed && a.requested == b.requested &&
         a.failed == b.failed && a.target == b.target && a.reason == b.reason;
}

std::optional<socks5::Credentials> credentials(uint8_t mode) {
  if ((mode & 1) == 0) return std::nullopt;
  return socks5::Credentials{kUser, kPassword};
}

Result outcome(const Run& run) {
  if (run.requested) return {Outcome::kAccepted, false};
  return {run.failed ? Outcome::kRejected : Outcome::kIncomplete, false};
}

// The forwarded head must survive the codec: parse, framing, rewrite without credentials, and a
// body scanner that agrees with itself whole and byte by byte on what follows.
void check_forwarded(const http_proxy::HandshakeParser& h, ByteView after) {
  const std::string head(h.head());
  require(http1::find_head_end(head) == head.size(), "http: forwarded head is not one head");
  vmlocal::Result<http1::RequestHead> parsed = http1::parse_request_head(head);
  require(parsed.ok(), "http: forwarded head does not parse again");
  vmlocal::Result<http1::AbsoluteTarget> target = http1::parse_absolute_form(parsed->target);
  require(target.ok(), "http: forwarded target does not parse again");
  vmlocal::Result<http1::Framing> framing = http1::request_framing(*parsed);
  require(framing.ok(), "http: forwarded head has bad framing");
  const std::string rewritten = http1::rewrite_request_head(*parsed, *target);
  require(http1::find_head_end(rewritten) == rewritten.size(), "http: rewrite is not one head");
  vmlocal::Result<http1::RequestHead> again = http1::parse_request_head(rewritten);
  require(again.ok(), "http: the rewritten head does not parse");
  for (const http1::Header& h : again->headers) {
    for (const char* hop : {"proxy-authorization", "proxy-connection", "keep-alive", "te"})
      require(!http1::iequals(h.name, hop), "http: rewrite keeps a hop-by-hop field");
  }
  require(again->target == target->origin_form, "http: rewrite lost the origin-form");

  http1::BodyScanner whole(*framing), bytewise(*framing);
  vmlocal::Result<size_t> w = whole.feed(after);
  size_t b = 0;
  bool b_error = false;
  for (size_t i = 0; i < after.size() && !bytewise.done(); ++i) {
    vmlocal::Result<size_t> n = bytewise.feed(after.subspan(i, 1));
    if (!n) {
      b_error = true;
      break;
    }
    b += *n;
  }
  require(w.ok() != b_error, "http: body scanner whole and bytewise disagree on errors");
  if (w.ok()) {
    require(*w == b && whole.done() == bytewise.done(),
            "http: body scanner whole and bytewise disagree");
  }
}

}  // namespace

Result socks4_handshake(ByteView input) {
  Cursor in(input);
  const bool auth = (in.u8() & 1) != 0;
  const uint8_t seed = in.u8();
  const ByteView stream = in.rest();
  socks4::HandshakeParser a(auth), b(auth);
  const Run whole = drive(a, stream, std::nullopt, "socks4: consumed more than the input");
  const Run split = drive(b, stream, seed, "socks4: consumed more than the input");
  require(same(whole, split), "socks4: whole and split feeds disagree");
  for (const auto& [action, reply] : whole.events) {
    require(action != Action::kSend, "socks4: kSend in a one-message protocol");
    require(action != Action::kFail || reply == std::string("\x00\x5b\0\0\0\0\0\0", 8),
            "socks4: a failure is not 0x5B");
  }
  if (whole.requested) {
    require(!auth, "socks4: granted although a password is required");
    require(stream.size() >= 9 && stream[0] == 4 && stream[1] == 1, "socks4: not a CONNECT");
    require(
        whole.target.find(":" + std::to_string(get_be16(stream.data() + 2))) != std::string::npos,
        "socks4: the port is not DSTPORT");
  }
  return outcome(whole);
}

Result http_proxy_request(ByteView input) {
  Cursor in(input);
  const std::optional<socks5::Credentials> creds = credentials(in.u8());
  const uint8_t seed = in.u8();
  const ByteView stream = in.rest();
  http_proxy::HandshakeParser a(creds), b(creds);
  const Run whole = drive(a, stream, std::nullopt, "http: consumed more than the input");
  const Run split = drive(b, stream, seed, "http: consumed more than the input");
  require(same(whole, split), "http: whole and split feeds disagree");
  for (const auto& [action, reply] : whole.events) {
    require(action != Action::kSend, "http: kSend before the request");
    require(action != Action::kFail || (reply.rfind("HTTP/1.1 4", 0) == 0 &&
                                        http1::find_head_end(reply) != std::string::npos),
            "http: a refusal is not a 4xx response");
  }
  require(whole.consumed <= http1::kMaxHeadSize, "http: took more than the head limit");
  if (whole.requested && a.forwarding()) check_forwarded(a, stream.subspan(whole.consumed));
  if (whole.requested) {
    require(!a.success_reply().name.empty(), "http: success reply has no name");
    const handshake::Reply failure = a.failure_reply(ErrorKind::kTimeout);
    require(
        std::string_view(reinterpret_cast<const char*>(failure.bytes.data()), failure.bytes.size())
                .rfind("HTTP/1.1 504", 0) == 0,
        "http: a timeout is not 504");
  }
  return outcome(whole);
}

Result sniff(ByteView input) {
  Cursor in(input);
  const uint8_t mode = in.u8();
  const uint8_t seed = in.u8();
  const ByteView stream = in.rest();
  const handshake::Protocols enabled{(mode & 2) == 0, (mode & 4) == 0, (mode & 8) == 0};
  handshake::SniffHandshake a(enabled, credentials(mode)), b(enabled, credentials(mode));
  const Run whole = drive(a, stream, std::nullopt, "sniff: consumed more than the input");
  Run split = drive(b, stream, seed, "sniff: consumed more than the input");
  // Unknown bytes are shown as far as the first read went (at most 4): the split run may have
  // seen fewer. The first byte is in both.
  constexpr std::string_view kUnknown = "unknown protocol (first bytes ";
  if (whole.reason.rfind(kUnknown, 0) == 0 && split.reason.rfind(kUnknown, 0) == 0) {
    require(whole.reason.compare(0, kUnknown.size() + 2, split.reason, 0, kUnknown.size() + 2) == 0,
            "sniff: whole and split name a different first byte");
    split.reason = whole.reason;
  }
  require(same(whole, split), "sniff: whole and split feeds disagree");
  require(a.protocol() == b.protocol(), "sniff: whole and split chose different protocols");
  if (whole.requested) {
    const uint8_t first = stream[0];
    require((first == 5 && enabled.socks5) || (first == 4 && enabled.socks4) ||
                (first >= 'A' && enabled.http),
            "sniff: a request through a protocol that is not enabled");
  }
  return outcome(whole);
}

}  // namespace vmlocal::fuzz
