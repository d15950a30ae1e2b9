#include "targets.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "reader_model.hpp"
#include "support/vmess_test_server.hpp"
#include "vmlocal/config/constraints.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/handshake/socks5_constants.hpp"
#include "vmlocal/handshake/socks5_handshake.hpp"
#include "vmlocal/handshake/socks5_udp_header.hpp"
#include "vmlocal/import/argument.hpp"
#include "vmlocal/import/import.hpp"
#include "vmlocal/import/subscription.hpp"
#include "vmlocal/mux/datagram.hpp"
#include "vmlocal/mux/frame.hpp"
#include "vmlocal/transport/grpc_frame.hpp"
#include "vmlocal/transport/http_header.hpp"
#include "vmlocal/transport/httpupgrade.hpp"
#include "vmlocal/transport/ws_frame.hpp"
#include "vmlocal/util/http_date.hpp"
#include "vmlocal/util/http_head.hpp"
#include "vmlocal/util/http_url.hpp"
#include "vmlocal/util/target_address.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/body_reader.hpp"
#include "vmlocal/vmess/response_keys.hpp"
#include "vmlocal/vmess/response_reader.hpp"

namespace vmlocal::fuzz {
namespace {

using socks5::Action;
using socks5::Credentials;
using socks5::HandshakeParser;
using socks5::Step;
using vmess::ReadStatus;

// ==== SOCKS5 handshake ========================================================================
//
// Input: [credential mode][split seed][the app's byte stream]. The stream is fed once whole, as
// one read, and once in pieces, as a read callback would see it; both must agree step for step.
// Whole, every step ends exactly one message, so each is checked against what the bytes say.

constexpr std::string_view kSocksUser = "fuzz-user";
constexpr std::string_view kSocksPassword = "s3cr3t-Pw#fuzz";  // distinctive, so a leak shows
const std::string kLongUser(socks5::kMaxCredentialLength, 'u');
const std::string kLongPassword(socks5::kMaxCredentialLength, 'p');

std::optional<Credentials> socks_credentials(uint8_t mode) {
  switch (mode & 3) {
    case 0:
      return std::nullopt;
    case 1:
      return Credentials{kSocksUser, kSocksPassword};
    case 2:
      return Credentials{kLongUser, kLongPassword};
    default:
      return Credentials{"", kSocksPassword};  // can never match: ULEN 0 is refused
  }
}

struct SocksRun {
  std::vector<std::pair<Action, Bytes>> events;  // every step but kNeedMore: action, reply
  std::vector<size_t> ends;                      // stream offset where each event's step ended
  size_t consumed = 0;                           // handshake bytes taken in all
  bool requested = false;
  bool failed = false;
  TargetAddress target;
  std::string reason;
};

bool is_one_of(ByteView reply, std::initializer_list<Bytes> allowed) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const Bytes& a) {
    return std::equal(a.begin(), a.end(), reply.begin(), reply.end());
  });
}

void check_socks_step(const Step& step, ByteView in, const std::optional<Credentials>& creds) {
  require(step.consumed <= in.size(), "socks5: consumed more than the input");
  switch (step.action) {
    case Action::kNeedMore:
      require(step.consumed == in.size(), "socks5: kNeedMore left input untaken");
      require(step.reply.empty() && step.reason.empty(), "socks5: kNeedMore with a reply");
      break;
    case Action::kSend:
      // A kSend that takes nothing would make the documented loop spin forever.
      require(step.consumed > 0, "socks5: kSend took no bytes");
      require(is_one_of(step.reply, {{0x05, 0x00}, {0x05, 0x02}, {0x01, 0x00}}),
              "socks5: unexpected kSend reply");
      require(step.reason.empty(), "socks5: kSend with a reason");
      break;
    case Action::kRequest:
      require(step.reply.empty() && step.reason.empty(), "socks5: kRequest with a reply");
      break;
    case Action::kFail: {
      require(!step.reason.empty(), "socks5: kFail without a reason");
      const bool request_reply =
          step.reply.size() == 10 && step.reply[0] == 0x05 &&
          (step.reply[1] == 0x01 || step.reply[1] == 0x07 || step.reply[1] == 0x08) &&
          std::all_of(step.reply.begin() + 2, step.reply.end(), [](uint8_t b) { return b <= 1; });
      require(step.reply.empty() || request_reply ||
                  is_one_of(step.reply, {{0x05, 0xff}, {0x01, 0x01}}),
              "socks5: unexpected kFail reply");
      if (creds) {
        require(step.reason.find(creds->password) == std::string_view::npos &&
                    (creds->username.empty() ||
                     step.reason.find(creds->username) == std::string_view::npos),
                "socks5: failure reason contains a credential");
      }
      break;
    }
  }
}

SocksRun drive_socks(ByteView stream, const std::optional<Credentials>& creds,
                     std::optional<uint8_t> split_seed) {
  HandshakeParser parser(creds);
  SocksRun run;
  const Step empty = parser.feed({});
  require(empty.action == Action::kNeedMore && empty.consumed == 0,
          "socks5: an empty read was not harmless");

  std::optional<Pieces> pieces;
  if (split_seed) pieces.emplace(*split_seed, stream.size());
  size_t offset = 0;
  while (offset < stream.size() && !run.requested && !run.failed) {
    const size_t n =
        pieces ? std::min(pieces->next(), stream.size() - offset) : stream.size() - offset;
    ByteView in = stream.subspan(offset, n);
    offset += n;
    for (int calls = 0;; ++calls) {
      // Greeting, auth, request: at most three answers per read, then kNeedMore.
      require(calls < 4, "socks5: too many steps for one read");
      const Step step = parser.feed(in);
      check_socks_step(step, in, creds);
      in = in.subspan(step.consumed);
      run.consumed += step.consumed;
      if (step.action == Action::kNeedMore) break;
      run.events.emplace_back(step.action, to_bytes(step.reply));
      run.ends.push_back(run.consumed);
      if (step.action == Action::kSend) continue;
      if (step.action == Action::kRequest) {
        run.requested = true;
        run.target = parser.target();
        // What follows is app payload: the parser must leave it, now and on any later call.
        for (ByteView later : {in, ByteView{}}) {
          const Step again = parser.feed(later);
          require(again.action == Action::kRequest && again.consumed == 0 && again.reply.empty(),
                  "socks5: after kRequest the parser took payload or changed its answer");
        }
      } else {
        run.failed = true;
        run.reason = std::string(step.reason);
        const Step again = parser.feed(in);
        require(again.action == Action::kFail && again.consumed == in.size() &&
                    again.reply.empty() && again.reason == run.reason,
                "socks5: after kFail the parser did not stay failed");
      }
      break;
    }
  }
  return run;
}

Bytes encode_request(const TargetAddress& target) {
  Bytes out = {socks5::kVersion, static_cast<uint8_t>(socks5::Command::kConnect), 0};
  switch (target.type) {
    case TargetAddress::Type::kIpv4:
      out.push_back(static_cast<uint8_t>(socks5::AddressType::kIpv4));
      out.insert(out.end(), target.ip.begin(), target.ip.begin() + 4);
      break;
    case TargetAddress::Type::kIpv6:
      out.push_back(static_cast<uint8_t>(socks5::AddressType::kIpv6));
      out.insert(out.end(), target.ip.begin(), target.ip.end());
      break;
    case TargetAddress::Type::kDomain:
      out.push_back(static_cast<uint8_t>(socks5::AddressType::kDomain));
      out.push_back(static_cast<uint8_t>(target.domain.size()));
      out.insert(out.end(), target.domain.begin(), target.domain.end());
      break;
  }
  out.push_back(static_cast<uint8_t>(target.port >> 8));
  out.push_back(static_cast<uint8_t>(target.port));
  return out;
}

// Fed whole, each step's bytes are one message: check each against what was answered.
void check_socks_messages(ByteView stream, const SocksRun& run,
                          const std::optional<Credentials>& creds) {
  const uint8_t wanted =
      static_cast<uint8_t>(creds ? socks5::Method::kUsernamePassword : socks5::Method::kNoAuth);
  size_t start = 0;
  for (size_t i = 0; i < run.events.size(); ++i) {
    const auto& [action, reply] = run.events[i];
    const ByteView message = stream.subspan(start, run.ends[i] - start);
    start = run.ends[i];
    if (action == Action::kSend && i == 0) {
      require(message.size() >= 3 && message[0] == socks5::kVersion &&
                  message.size() == 2 + size_t{message[1]},
              "socks5: greeting accepted with a wrong layout");
      require(std::find(message.begin() + 2, message.end(), wanted) != message.end(),
              "socks5: greeting accepted without the required method");
      require(reply == Bytes{socks5::kVersion, wanted}, "socks5: wrong method chosen");
    } else if (action == Action::kSend) {
      require(i == 1 && creds.has_value(), "socks5: a second kSend without authentication");
      Bytes expected = {socks5::kAuthVersion, static_cast<uint8_t>(creds->username.size())};
      expected.insert(expected.end(), creds->username.begin(), creds->username.end());
      expected.push_back(static_cast<uint8_t>(creds->password.size()));
      expected.insert(expected.end(), creds->password.begin(), creds->password.end());
      require(std::equal(message.begin(), message.end(), expected.begin(), expected.end()),
              "socks5: authentication accepted with wrong credentials");
    } else if (action == Action::kRequest) {
      require(i == (creds ? 2U : 1U), "socks5: kRequest before the handshake was done");
      if (run.target.type == TargetAddress::Type::kDomain) {
        require(!run.target.domain.empty() && run.target.domain.size() <= 255,
                "socks5: domain length out of range");
        require(std::none_of(run.target.domain.begin(), run.target.domain.end(),
                             [](char c) {
                               const auto b = static_cast<unsigned char>(c);
                               return b < 0x20 || b == 0x7f;
                             }),
                "socks5: control character in an accepted domain");
      }
      Bytes expected = encode_request(run.target);
      expected[2] = message.size() > 2 ? message[2] : 0;  // RSV is not checked
      require(std::equal(message.begin(), message.end(), expected.begin(), expected.end()),
              "socks5: target does not match the request bytes");
    }
  }
}

// ==== Profile =================================================================================

// Every UUID written in the profile text: the credential, which no message may show. Only
// whole runs count (not next to another hex digit or dash): inside "\u00008318..." the digits of
// an escape would otherwise make one that the user never wrote, and the message shows the escape.
std::vector<std::string_view> uuids_in(std::string_view text) {
  constexpr size_t kUuidText = 36;
  auto joins = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
  };
  std::vector<std::string_view> out;
  for (size_t i = 0; i + kUuidText <= text.size(); ++i) {
    if ((i > 0 && joins(text[i - 1])) ||
        (i + kUuidText < text.size() && joins(text[i + kUuidText]))) {
      continue;
    }
    if (vmess::parse_uuid(text.substr(i, kUuidText))) out.push_back(text.substr(i, kUuidText));
  }
  return out;
}

bool shows_any(std::string_view message, const std::vector<std::string_view>& secrets) {
  return std::any_of(secrets.begin(), secrets.end(), [&](std::string_view secret) {
    return message.find(secret) != std::string_view::npos;
  });
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "fuzz.toml:LINE:COLUMN: message", on one line, without the credential.
void check_profile_error(std::string_view error, std::string_view path,
                         const std::vector<std::string_view>& uuids) {
  require(error.substr(0, path.size()) == path && error.size() > path.size() &&
              error[path.size()] == ':',
          "profile: error does not start with the path");
  std::string_view rest = error.substr(path.size() + 1);
  const size_t line_end = rest.find(':');
  require(line_end != std::string_view::npos && is_digits(rest.substr(0, line_end)),
          "profile: error has no line number");
  rest = rest.substr(line_end + 1);
  const size_t column_end = rest.find(':');
  require(column_end != std::string_view::npos && is_digits(rest.substr(0, column_end)),
          "profile: error has no column number");
  rest = rest.substr(column_end + 1);
  require(rest.size() > 1 && rest[0] == ' ', "profile: error has no message");
  require(rest.find_first_of("\r\n") == std::string_view::npos,
          "profile: error message spans several lines");
  require(!shows_any(error, uuids), "profile: error message shows a UUID from the profile");
}

bool is_printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b > 0x20 && b < 0x7f;
  });
}

void check_loaded_profile(const config::Profile& p) {
  require(!p.local.listen.empty(), "profile: no listen address");
  for (size_t i = 0; i < p.local.listen.size(); ++i) {
    const config::ListenEndpoint& e = p.local.listen[i];
    require(e.port != 0 && !e.host.empty() && is_printable_ascii(e.host),
            "profile: accepted a bad listen endpoint");
    for (size_t j = 0; j < i; ++j) {
      require(!(p.local.listen[j].host == e.host && p.local.listen[j].port == e.port),
              "profile: accepted a duplicate listen endpoint");
    }
  }
  // RFC 1929 carries each field in 1..255 bytes: anything else could never be presented.
  const config::Profile::Local& local = p.local;
  require((local.username.empty() && local.password.empty()) ||
              (!local.username.empty() && local.username.size() <= 255 && !local.password.empty() &&
               local.password.size() <= 255),
          "profile: accepted SOCKS5 credentials no app can present");
  // The open-proxy guard: beyond loopback, either a username or an explicit opt-in.
  for (const config::ListenEndpoint& e : local.listen) {
    require(e.is_loopback() || !local.username.empty() || local.allow_open_proxy,
            "profile: accepted an open proxy beyond loopback without allow_open_proxy");
  }
  require(local.workers >= 1, "profile: accepted zero workers");
  require(!p.servers.empty(), "profile: accepted no server");
  for (const config::Profile::Server& server : p.servers) {
    // The address goes to the resolver and into log lines: nothing invisible may hide in it.
    require(!server.address.empty() && is_printable_ascii(server.address),
            "profile: accepted a server address with control, space or non-ASCII bytes");
    require(server.port != 0, "profile: accepted port 0");
    // TLS and WebSocket settings end up in a ClientHello and in HTTP request lines and headers:
    // a CR, LF or NUL there would split or cut a header.
    if (server.tls) {
      require(is_printable_ascii(server.tls->sni), "profile: accepted a bad tls.sni");
      if (server.tls->alpn) {
        for (const std::string& protocol : *server.tls->alpn) {
          require(!protocol.empty() && protocol.size() <= 255, "profile: accepted a bad ALPN id");
        }
      }
    }
    require(
        !server.ws.path.empty() && server.ws.path[0] == '/' && is_printable_ascii(server.ws.path),
        "profile: accepted a bad ws.path");
    require(is_printable_ascii(server.ws.host), "profile: accepted a bad ws.host");
    for (const auto& [name, value] : server.ws.headers) {
      require(!name.empty() && is_printable_ascii(name) && name.find(':') == std::string::npos,
              "profile: accepted a bad ws header name");
      require(std::none_of(value.begin(), value.end(),
                           [](char c) { return c == '\r' || c == '\n' || c == '\0'; }),
              "profile: accepted a ws header value with CR, LF or NUL");
    }
    // The name goes into log lines and counters.
    require(!server.name.empty() && std::none_of(server.name.begin(), server.name.end(),
                                                 [](char c) {
                                                   const auto b = static_cast<unsigned char>(c);
                                                   return b < 0x20 || b == 0x7f;
                                                 }),
            "profile: accepted a server name with control characters");
  }
  // The constraint table: a loaded profile breaks no rule that refuses or repairs (rules about
  // which tables were written cannot be seen from here, and report nothing without them).
  for (const config::Profile::Server& server : p.servers) {
    config::Profile one = p;  // rules are written for one server (constraints.hpp)
    one.servers = {server};
    for (const config::Constraint& rule : config::constraints()) {
      if (rule.verdict == config::Verdict::kWarn) continue;
      require(!rule.breaks(one, config::WrittenKeys{}),
              "profile: accepted a profile that breaks a refusing or repairing constraint");
    }
  }
  for (auto t : {p.timeouts.handshake, p.timeouts.connect, p.timeouts.idle}) {
    require(t.count() >= 1 && t.count() <= 86'400'000, "profile: timeout out of range");
  }
}

// ==== Readers =================================================================================

constexpr std::array<uint8_t, 16> kBodyKey = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                              0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
constexpr std::array<uint8_t, 16> kBodyIv = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                             0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

// What one drive of a reader produced.
struct ReaderRun {
  std::vector<Bytes> data;  // every kData
  ReadStatus last = ReadStatus::kNeedMore;
  std::string error;
  size_t consumed = 0;
  bool eof_clean = false;
  bool header_done = false;
  Bytes joined() const {
    Bytes all;
    for (const Bytes& d : data)
      all.insert(all.end(), d.begin(), d.end());
    return all;
  }
};

bool clean_eof(const vmess::BodyReader& r) {
  return r.at_boundary();
}
bool clean_eof(const vmess::ResponseReader& r) {
  return r.eof_is_clean();
}
bool header_done(const vmess::BodyReader&) {
  return true;
}
bool header_done(const vmess::ResponseReader& r) {
  return r.header_done();
}

// Feeds `wire` as the downlink pump does: unconsumed bytes stay at the front of a buffer and
// new ones are appended. Whole (one read) or in pieces. Checks the reader's side of the contract
// at every step.
template <class Reader>
ReaderRun drive(Reader& reader, ByteView wire, std::optional<uint8_t> split_seed) {
  ReaderRun run;
  const vmess::ReadStep first = reader.next({});
  require(first.status == ReadStatus::kNeedMore && first.consumed == 0,
          "reader: an empty presentation was not harmless");

  std::optional<Pieces> pieces;
  if (split_seed) pieces.emplace(*split_seed, wire.size());
  // The pump's buffer: bytes are appended at the back and consumed from `head`. Reserved whole,
  // so it never moves and nothing is copied twice.
  Bytes buffer;
  buffer.reserve(wire.size());
  size_t head = 0;
  size_t steps = 0;
  while (buffer.size() < wire.size()) {
    const size_t at = buffer.size();
    const size_t n = pieces ? std::min(pieces->next(), wire.size() - at) : wire.size() - at;
    buffer.insert(buffer.end(), wire.begin() + static_cast<std::ptrdiff_t>(at),
                  wire.begin() + static_cast<std::ptrdiff_t>(at + n));
    for (;;) {
      require(++steps <= 2 * wire.size() + 16, "reader: no progress");
      const MutableByteView held(buffer.data() + head, buffer.size() - head);
      const vmess::ReadStep step = reader.next(held);
      require(step.consumed <= held.size(), "reader: consumed more than the input");
      if (step.status == ReadStatus::kData) {
        require(!step.data.empty(), "reader: empty kData");
        require(step.data.data() >= held.data() &&
                    step.data.data() + step.data.size() <= held.data() + step.consumed,
                "reader: kData outside the consumed bytes");
        run.data.emplace_back(step.data.begin(), step.data.end());
      } else {
        require(step.data.empty(), "reader: data with a status other than kData");
      }
      if (step.status == ReadStatus::kError) {
        require(!reader.error().empty(), "reader: kError without a description");
        run.last = ReadStatus::kError;
        run.error = std::string(reader.error());
        for (MutableByteView again : {held, MutableByteView{}}) {
          const vmess::ReadStep more = reader.next(again);
          require(more.status == ReadStatus::kError && more.consumed == 0 && more.data.empty(),
                  "reader: did not stay in error");
        }
        require(!clean_eof(reader), "reader: EOF after kError counted as clean");
        run.eof_clean = false;
        run.header_done = header_done(reader);
        return run;
      }
      head += step.consumed;
      run.consumed += step.consumed;
      const MutableByteView rest(buffer.data() + head, buffer.size() - head);
      if (step.status == ReadStatus::kEnd) {
        const vmess::ReadStep more = reader.next(rest);
        require(more.status == ReadStatus::kEnd && more.consumed == 0,
                "reader: did not stay ended");
        require(clean_eof(reader), "reader: EOF after kEnd counted as unclean");
        run.eof_clean = true;
        run.last = ReadStatus::kEnd;
        run.header_done = header_done(reader);
        return run;
      }
      if (step.status == ReadStatus::kNeedMore) {
        // "Nothing more can be decoded from the bytes given": asking again changes nothing.
        const vmess::ReadStep more = reader.next(rest);
        require(more.status == ReadStatus::kNeedMore && more.consumed == 0,
                "reader: kNeedMore, then progress on the same bytes");
        // The pump's buffer holds kMaxPending bytes; a reader that waits with it full stalls.
        require(rest.size() < vmess::ResponseReader::kMaxPending,
                "reader: waits for more than kMaxPending bytes");
        break;
      }
    }
  }
  run.eof_clean = clean_eof(reader);
  run.header_done = header_done(reader);
  return run;
}

struct WholeAndSplit {
  ReaderRun whole;
  ReaderRun split;
};

// Two fresh readers from `make`, one fed `wire` whole and one in pieces.
template <class MakeReader>
WholeAndSplit drive_whole_and_split(const MakeReader& make, ByteView wire, uint8_t split_seed) {
  auto whole_reader = make();
  auto split_reader = make();
  return {drive(whole_reader, wire, std::nullopt), drive(split_reader, wire, split_seed)};
}

// The same bytes fed whole and in pieces must decode the same.
void require_same(const ReaderRun& a, const ReaderRun& b, bool chunked) {
  require(a.joined() == b.joined(), "reader: whole and split feeds decoded different bytes");
  if (chunked) require(a.data == b.data, "reader: whole and split feeds cut different chunks");
  require(a.last == b.last && a.error == b.error,
          "reader: whole and split feeds ended differently");
  // After kError the stream is dead and what the failing step reports as consumed means nothing
  // (a chunk whose length field came in an earlier read counts it there, not here).
  if (a.last != ReadStatus::kError) {
    require(a.consumed == b.consumed, "reader: whole and split feeds consumed different counts");
  }
  require(a.eof_clean == b.eof_clean && a.header_done == b.header_done,
          "reader: whole and split feeds disagree on EOF or header state");
}

Outcome outcome_of(const ReaderRun& run) {
  if (run.last == ReadStatus::kEnd) return Outcome::kAccepted;
  if (run.last == ReadStatus::kError) return Outcome::kRejected;
  return run.eof_clean && run.header_done ? Outcome::kAccepted : Outcome::kIncomplete;
}

// A reader's output against the model's expectation for the bytes it was given.
void check_exact(const ReaderRun& run, const Expectation& e, bool chunked) {
  if (chunked) {
    require(run.data == e.data, "model: reader yielded different chunks");
  } else {
    require(run.joined() == e.joined(), "model: reader yielded different bytes");
  }
  require(run.last == e.last, "model: reader ended differently");
  require(run.eof_clean == e.eof_clean, "model: reader disagrees on a clean EOF");
  require(run.header_done == e.header_done, "model: reader disagrees on the header");
}

// With an AEAD body no mutation, lying length or header trouble can produce bytes that were not
// sealed, reorder them, or end the stream early: the output is a prefix of the sealed stream,
// chunk for chunk, and all of it when END is reported.
void check_integrity(const ReaderRun& run, const SealedStream& sealed) {
  require(run.data.size() <= sealed.data.size(), "integrity: more chunks than were sealed");
  for (size_t i = 0; i < run.data.size(); ++i) {
    require(run.data[i] == sealed.data[i], "integrity: a chunk that was never sealed");
  }
  if (run.last == ReadStatus::kEnd) {
    require(sealed.ends && run.data.size() == sealed.data.size(),
            "integrity: END before the sealed data was complete");
  }
}

Result finish_sealed(const ReaderRun& whole, const ReaderRun& split, const Scenario& s) {
  require_same(whole, split, s.body.config.chunked());
  Result result{outcome_of(whole), false};
  if (!s.mutated) {
    const Expectation e = s.expect(s.wire.size());
    if (e.exact) {
      check_exact(whole, e, s.body.config.chunked());
      result.exact = true;
    } else {
      // Only the chunks before the one the model cannot predict are certain.
      require(whole.data.size() >= e.data.size() &&
                  std::equal(e.data.begin(), e.data.end(), whole.data.begin()),
              "model: reader lost chunks before an unpredictable one");
    }
  }
  if (s.body.config.aead()) check_integrity(whole, s.body.sealed());
  return result;
}

}  // namespace

// ==== Targets =================================================================================

Result socks5_handshake(ByteView input) {
  Cursor in(input);
  const std::optional<Credentials> creds = socks_credentials(in.u8());
  const uint8_t split_seed = in.u8();
  const ByteView stream = in.rest();

  const SocksRun whole = drive_socks(stream, creds, std::nullopt);
  check_socks_messages(stream, whole, creds);
  const SocksRun split = drive_socks(stream, creds, split_seed);
  require(whole.events == split.events && whole.consumed == split.consumed &&
              whole.requested == split.requested && whole.failed == split.failed &&
              whole.target == split.target && whole.reason == split.reason,
          "socks5: whole and split feeds disagree");
  if (whole.requested) return {Outcome::kAccepted, false};
  return {whole.failed ? Outcome::kRejected : Outcome::kIncomplete, false};
}

Result profile(ByteView input) {
  constexpr std::string_view kPath = "fuzz.toml";
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  // The same text as one local.listen entry, the profile's only parser with a public entry.
  const auto endpoint = config::parse_listen_endpoint(text);
  if (const auto* e = std::get_if<config::ListenEndpoint>(&endpoint)) {
    require(is_printable_ascii(text), "profile: accepted a listen entry with hidden bytes");
    const auto again = config::parse_listen_endpoint(e->to_string());
    const auto* same = std::get_if<config::ListenEndpoint>(&again);
    require(same != nullptr && same->host == e->host && same->port == e->port,
            "profile: a listen endpoint does not survive its own to_string()");
  } else {
    const std::string& error = std::get<std::string>(endpoint);
    require(!error.empty() && error.find_first_of("\r\n") == std::string::npos,
            "profile: listen entry error is empty or spans several lines");
  }

  const config::ProfileResult result = config::parse_profile(text, kPath);
  const std::vector<std::string_view> uuids = uuids_in(text);
  for (const std::string& warning : result.warnings) {
    require(!shows_any(warning, uuids), "profile: warning shows a UUID from the profile");
  }
  if (!result.ok()) {
    check_profile_error(result.error(), kPath, uuids);
    return {Outcome::kRejected, false};
  }
  check_loaded_profile(result.profile());
  return {Outcome::kAccepted, false};
}

// Input: [config][split seed][V][response bytes].
Result response_reader(ByteView input) {
  Cursor in(input);
  const BodyConfig c = BodyConfig::decode(in.u8());
  const uint8_t split_seed = in.u8();
  const uint8_t v = in.u8();
  const ByteView wire = in.rest();
  const vmess::HeaderMode mode = c.flag ? vmess::HeaderMode::kLegacy : vmess::HeaderMode::kAead;
  const vmess::ResponseKeys keys = vmess::derive_response_keys(mode, kBodyKey, kBodyIv);
  auto make = [&] {
    return vmess::ResponseReader(mode, c.security, c.options, c.transfer, keys.key, keys.iv, v);
  };
  const auto [whole, split] = drive_whole_and_split(make, wire, split_seed);
  require_same(whole, split, c.chunked());
  return {outcome_of(whole), false};
}

// Input: [config][split seed][body bytes]. Config bit 5: a legacy body continues a CFB stream
// that has already run 4 bytes (as after a legacy response header).
Result body_reader(ByteView input) {
  Cursor in(input);
  const BodyConfig c = BodyConfig::decode(in.u8());
  const uint8_t split_seed = in.u8();
  const ByteView wire = in.rest();
  auto make = [&] {
    std::optional<crypto::Aes128Cfb> continued;
    if (c.flag && c.security == vmess::SecurityType::kLegacy) {
      continued.emplace(kBodyKey.data(), kBodyIv.data(), crypto::Aes128Cfb::Direction::kDecrypt);
      std::array<uint8_t, 4> header{};  // as if a 4-byte header had come first
      continued->apply(header);
    }
    return vmess::BodyReader(c.security, c.options, c.transfer, kBodyKey, kBodyIv,
                             std::move(continued));
  };
  const auto [whole, split] = drive_whole_and_split(make, wire, split_seed);
  require_same(whole, split, c.chunked());
  return {outcome_of(whole), false};
}

// Input: see reader_model.hpp (Scenario::body_only).
Result body_reader_sealed(ByteView input) {
  Cursor in(input);
  const Scenario s = Scenario::body_only(in, kBodyKey, kBodyIv);
  auto make = [&] {
    return vmess::BodyReader(s.body.config.security, s.body.config.options, s.body.config.transfer,
                             kBodyKey, kBodyIv, s.reader_cfb());
  };
  const auto [whole, split] = drive_whole_and_split(make, s.wire, s.split_seed);
  return finish_sealed(whole, split, s);
}

// Input: see reader_model.hpp (Scenario::with_response_header).
Result response_reader_sealed(ByteView input) {
  Cursor in(input);
  const Scenario s = Scenario::with_response_header(in, kBodyKey, kBodyIv);
  const vmess::ResponseKeys keys = vmess::derive_response_keys(s.header_mode, kBodyKey, kBodyIv);
  auto make = [&] {
    return vmess::ResponseReader(s.header_mode, s.body.config.security, s.body.config.options,
                                 s.body.config.transfer, keys.key, keys.iv, s.expected_v);
  };
  const auto [whole, split] = drive_whole_and_split(make, s.wire, s.split_seed);
  return finish_sealed(whole, split, s);
}

namespace {

// What a FrameDecoder made of a byte stream, for comparing whole and split feeds.
struct WsRun {
  Bytes data;                  // payload of data frames, concatenated
  std::vector<uint8_t> kinds;  // per event: opcode | 0x80 for message_end / control
  Bytes control;               // control payloads, concatenated
  bool failed = false;
  std::string error;
};

WsRun drive_ws(ByteView stream, transport::ws::Role role, std::optional<uint8_t> split_seed) {
  using transport::ws::DecodeStatus;
  WsRun run;
  transport::ws::FrameDecoder decoder(role);
  Bytes copy(stream.begin(), stream.end());  // the decoder unmasks in place
  SplitMix split(split_seed.value_or(0));
  size_t at = 0;
  while (at < copy.size() && !run.failed) {
    size_t piece = copy.size() - at;
    if (split_seed) piece = std::min(piece, 1 + split.below(copy.size() <= 16384 ? 1 : 4096));
    MutableByteView input(copy.data() + at, piece);
    for (;;) {
      const transport::ws::DecodeStep step = decoder.next(input);
      require(step.consumed <= input.size(), "ws: consumed more than the input");
      if (step.status == DecodeStatus::kData) {
        // An empty step is a zero-length frame: it still carries the opcode and message end.
        require(step.data.data() >= input.data() &&
                    step.data.data() + step.data.size() <= input.data() + step.consumed,
                "ws: data outside the consumed input");
        run.data.insert(run.data.end(), step.data.begin(), step.data.end());
        run.kinds.push_back(static_cast<uint8_t>(static_cast<uint8_t>(step.opcode) |
                                                 (step.message_end ? 0x80 : 0)));
      } else if (step.status == DecodeStatus::kControl) {
        require(transport::ws::is_control(step.opcode), "ws: control step for a data opcode");
        require(step.data.size() <= transport::ws::kMaxControlPayload,
                "ws: control payload over 125 bytes");
        run.control.insert(run.control.end(), step.data.begin(), step.data.end());
        run.kinds.push_back(static_cast<uint8_t>(static_cast<uint8_t>(step.opcode) | 0x80));
      } else if (step.status == DecodeStatus::kError) {
        require(decoder.failed() && !decoder.error().empty(), "ws: error without a reason");
        run.failed = true;
        run.error = decoder.error();
        break;
      } else {
        require(step.consumed == input.size(), "ws: kNeedMore left input unread");
      }
      input = input.subspan(step.consumed);
      if (step.status == DecodeStatus::kNeedMore || input.empty()) break;
    }
    at += piece;
  }
  if (run.failed) {
    // Once failed, it stays failed.
    Bytes more{0x82, 0x00};
    require(decoder.next(more).status == DecodeStatus::kError, "ws: recovered after an error");
  }
  return run;
}

}  // namespace

// Input: [role][split seed][frames].
Result ws_frames(ByteView input) {
  Cursor in(input);
  const auto role = (in.u8() & 1) ? transport::ws::Role::kServer : transport::ws::Role::kClient;
  const uint8_t split_seed = in.u8();
  const ByteView stream = in.rest();
  const WsRun whole = drive_ws(stream, role, std::nullopt);
  const WsRun split = drive_ws(stream, role, split_seed);
  // Split reads may cut one frame's payload into several kData steps: compare the bytes and
  // where messages end, not the step boundaries.
  auto ends = [](const WsRun& run) {
    std::vector<uint8_t> out;
    for (uint8_t kind : run.kinds) {
      if (kind & 0x80) out.push_back(kind);
    }
    return out;
  };
  require(whole.data == split.data && whole.control == split.control &&
              ends(whole) == ends(split) && whole.failed == split.failed &&
              whole.error == split.error,
          "ws: whole and split feeds disagree");
  if (whole.failed) return {Outcome::kRejected, false};
  return {whole.kinds.empty() ? Outcome::kIncomplete : Outcome::kAccepted, false};
}

// ==== Import ==================================================================================

// import_text on arbitrary text: links, subscriptions (plain or base64) and JSON configs. Every
// message is one line without a UUID the text holds (a base64 link hides its id from this
// check, but not the plain forms); every server it returns writes a profile that loads and
// survives its own v2rayN link. The same for import::subscription_servers.
Result share_import(ByteView input) {
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  const import::ImportResult result = import::import_text(text);
  const std::vector<std::string_view> uuids = uuids_in(text);
  for (const auto* messages : {&result.warnings, &result.errors}) {
    for (const std::string& message : *messages) {
      require(!message.empty() && message.find_first_of("\r\n") == std::string::npos,
              "import: a message is empty or spans several lines");
      require(!shows_any(message, uuids), "import: a message shows a UUID from the input");
    }
  }
  require(!result.servers.empty() || !result.errors.empty(),
          "import: neither a server nor an error");
  // The same text as `vmess-local import`'s argument, naming no file: what a message may echo
  // (a path, the source) never shows a UUID; a link is never taken for a path.
  const import::Argument argument =
      import::classify_argument(text, [](const std::string&) { return false; });
  require(!shows_any(import::path_for_message(text), uuids),
          "import argument: the path for a message shows a UUID");
  require(argument.kind == import::ArgumentKind::kFile || !shows_any(argument.source, uuids),
          "import argument: the source shows a UUID");
  require(
      text.find("://") == std::string_view::npos || argument.kind != import::ArgumentKind::kFile,
      "import argument: a link taken for a path");
  // The same text as a fetched [subscription]: the same servers, or an error, never both; the
  // error is one line without a UUID.
  const import::SubscriptionServers subscription = import::subscription_servers(text);
  require(subscription.servers.size() == result.servers.size(),
          "subscription: not the servers import reads");
  require(subscription.servers.empty() != subscription.error.empty(),
          "subscription: servers and an error, or neither");
  require(subscription.error.find_first_of("\r\n") == std::string::npos &&
              !shows_any(subscription.error, uuids),
          "subscription: the error spans lines or shows a UUID");
  if (result.servers.empty()) return {Outcome::kRejected, false};
  const std::string profile = import::to_toml(result.servers, {"fuzz", {}});
  if (result.servers.size() == 1) {
    const config::ProfileResult loaded = config::parse_profile(profile, "imported.toml");
    require(loaded.ok(), "import: the profile it wrote does not load");
    const import::ImportResult again =
        import::import_text(import::to_v2rayn_link(result.servers.front()));
    // A v2rayN link has no field for Mux.Cool (a JSON config's "mux"): compare without it.
    std::vector<import::ImportedServer> original = result.servers;
    original.front().mux = false;
    original.front().mux_concurrency = 0;
    require(again.servers.size() == 1 &&
                import::to_toml(again.servers, {}) == import::to_toml(original, {}),
            "import: a server does not survive its own v2rayN link");
  }
  return {Outcome::kAccepted, false};
}

namespace {

struct MuxFrame {
  mux::FrameMeta meta;
  size_t declared = 0;
  std::vector<uint8_t> data;
};

struct MuxRun {
  std::vector<MuxFrame> frames;
  bool failed = false;
  std::string error;
};

MuxRun drive_mux(ByteView stream, std::optional<uint8_t> split_seed) {
  MuxRun run;
  mux::FrameReader reader;
  mux::DatagramAssembler assembler;  // as a UDP sub-stream reads each frame (MuxSession)
  uint32_t state = split_seed.value_or(0) * 2654435761u + 1;
  size_t at = 0;
  while (at < stream.size() && !run.failed) {
    size_t n = stream.size() - at;
    if (split_seed) {
      state = state * 1103515245u + 12345u;
      n = std::min<size_t>(n, 1 + (state >> 16) % 37);
    }
    ByteView input = stream.subspan(at, n);
    at += n;
    while (!run.failed) {
      const mux::FrameReader::Step step = reader.next(input);
      require(step.consumed <= input.size(), "mux: consumed more than the input");
      input = input.subspan(step.consumed);
      if (step.event == mux::FrameReader::Event::kNeedMore) {
        require(input.empty(), "mux: kNeedMore left input untaken");
        break;
      }
      if (step.event == mux::FrameReader::Event::kError) {
        require(!reader.error().empty(), "mux: kError without a reason");
        run.failed = true;
        run.error = std::string(reader.error());
        break;
      }
      if (step.event == mux::FrameReader::Event::kFrame) {
        run.frames.push_back({reader.meta(), reader.data_length(), {}});
      } else {
        require(!run.frames.empty(), "mux: data before any frame");
        MuxFrame& f = run.frames.back();
        require(!reader.data().empty(), "mux: an empty data piece");
        f.data.insert(f.data.end(), reader.data().begin(), reader.data().end());
        require(f.data.size() <= f.declared, "mux: more data than DataLen");
        require(reader.last_piece() == (f.data.size() == f.declared),
                "mux: last_piece() disagrees with DataLen");
        const std::optional<ByteView> datagram = assembler.add(reader.data(), reader.last_piece());
        require(datagram.has_value() == reader.last_piece(), "mux: a datagram before its end");
        require(!datagram ||
                    std::equal(datagram->begin(), datagram->end(), f.data.begin(), f.data.end()),
                "mux: a reassembled datagram is not the frame's data");
      }
      if (input.empty()) break;
    }
  }
  return run;
}

}  // namespace

Result mux_frames(ByteView input) {
  Cursor in(input);
  const uint8_t split_seed = in.u8();
  const ByteView stream = in.rest();
  const MuxRun whole = drive_mux(stream, std::nullopt);
  const MuxRun split = drive_mux(stream, split_seed);
  require(whole.failed == split.failed && whole.error == split.error &&
              whole.frames.size() == split.frames.size(),
          "mux: whole and split feeds disagree");
  bool exact = false;
  for (size_t i = 0; i < whole.frames.size(); ++i) {
    const MuxFrame& a = whole.frames[i];
    require(a.data == split.frames[i].data && a.meta.session_id == split.frames[i].meta.session_id,
            "mux: whole and split frames differ");
    // Round trip: the header our encoder writes for what was read reads back the same.
    // (A frame that is not New may carry metadata v2ray ignores; the encoder writes none.)
    std::array<uint8_t, mux::kMaxFrameHeader> header{};
    const size_t n = mux::encode_frame_header(a.meta, static_cast<uint16_t>(a.declared), header);
    std::vector<uint8_t> again(header.begin(), header.begin() + static_cast<ptrdiff_t>(n));
    again.insert(again.end(), a.data.begin(), a.data.end());
    if (a.data.size() != a.declared) continue;  // the input ended inside this frame
    const MuxRun back = drive_mux(ByteView(again.data(), again.size()), std::nullopt);
    require(!back.failed && back.frames.size() == 1, "mux: a re-encoded frame did not read back");
    const MuxFrame& b = back.frames[0];
    require(b.meta.session_id == a.meta.session_id && b.meta.status == a.meta.status &&
                b.meta.option == a.meta.option && b.data == a.data,
            "mux: a re-encoded frame read back different");
    if (a.meta.status == mux::Status::kNew) {
      require(b.meta.network == a.meta.network && b.meta.target == a.meta.target,
              "mux: a re-encoded New frame has another target");
    }
    exact = true;
  }
  if (whole.failed) return {Outcome::kRejected, exact};
  return {whole.frames.empty() ? Outcome::kIncomplete : Outcome::kAccepted, exact};
}

// Input: one datagram as the relay receives it. A parsed header must re-encode to the same bytes
// (FRAG aside, which the encoder always writes as 0) and parse back to the same fields.
Result socks5_udp_header(ByteView input) {
  const socks5::UdpDatagram parsed = socks5::parse_udp_datagram(input);
  if (parsed.status != socks5::UdpParseStatus::kOk) {
    require(parsed.header_size == 0 && parsed.payload.empty(), "udp: a failure with fields");
    require(!socks5::udp_parse_status_name(parsed.status).empty(), "udp: a status without a name");
    return {Outcome::kRejected, false};
  }
  require(parsed.header_size <= input.size() && parsed.header_size <= socks5::kMaxUdpHeaderSize,
          "udp: header size out of range");
  require(parsed.payload.data() == input.data() + parsed.header_size &&
              parsed.payload.size() == input.size() - parsed.header_size,
          "udp: payload is not the rest of the datagram");
  std::array<uint8_t, socks5::kMaxUdpHeaderSize> header{};
  const size_t size = socks5::encode_udp_header(parsed.target, header.data());
  require(size == parsed.header_size && size == socks5::udp_header_size(parsed.target),
          "udp: re-encoded header has another size");
  require(header[2] == 0, "udp: encoder wrote a fragment number");
  header[2] = input[2];
  require(
      std::equal(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(size), input.begin()),
      "udp: re-encoded header differs");
  const socks5::UdpDatagram again = socks5::parse_udp_datagram(ByteView(header.data(), size));
  require(again.status == socks5::UdpParseStatus::kOk && again.target == parsed.target &&
              again.payload.empty(),
          "udp: re-encoded header parses differently");
  return {parsed.frag == 0 ? Outcome::kAccepted : Outcome::kRejected, false};
}

namespace {

struct HunkRun {
  Bytes data;
  bool failed = false;
  std::string error;
  bool at_boundary = false;
};

HunkRun drive_hunks(ByteView stream, std::optional<uint8_t> split_seed) {
  using transport::grpc::DecodeStatus;
  HunkRun run;
  transport::grpc::HunkDecoder decoder;
  SplitMix split(split_seed.value_or(0));
  size_t at = 0;
  while (at < stream.size() && !run.failed) {
    size_t piece = stream.size() - at;
    if (split_seed) piece = std::min(piece, 1 + split.below(stream.size() <= 16384 ? 1 : 4096));
    ByteView input(stream.data() + at, piece);
    while (!input.empty()) {
      const transport::grpc::DecodeStep step = decoder.next(input);
      require(step.consumed <= input.size(), "grpc: consumed more than the input");
      if (step.status == DecodeStatus::kData) {
        require(!step.data.empty(), "grpc: an empty data step");
        require(step.data.data() >= input.data() &&
                    step.data.data() + step.data.size() <= input.data() + step.consumed,
                "grpc: data outside the consumed input");
        run.data.insert(run.data.end(), step.data.begin(), step.data.end());
      } else if (step.status == DecodeStatus::kError) {
        require(!decoder.error().empty(), "grpc: error without a reason");
        run.failed = true;
        run.error = decoder.error();
        break;
      } else {
        require(step.consumed == input.size(), "grpc: kNeedMore left input unread");
      }
      input = input.subspan(step.consumed);
    }
    at += piece;
  }
  if (run.failed) {
    const Bytes more{0x00, 0x00, 0x00, 0x00, 0x00};
    require(decoder.next(more).status == DecodeStatus::kError, "grpc: recovered after an error");
  }
  run.at_boundary = decoder.at_message_boundary();
  return run;
}

struct HeadRun {
  int status = 0;  // 0 need more, 1 done, 2 error
  size_t consumed = 0;
  int code = 0;
  std::string error;
};

// Feeds `stream` to a fresh reader in one piece, or in pieces sized by `split_seed`, stopping
// at the first kDone or kError; checks each step's consumed count.
template <typename Reader>
HeadRun drive_head(Reader reader, ByteView stream, std::optional<uint8_t> split_seed) {
  HeadRun run;
  SplitMix sizes(split_seed.value_or(0));
  size_t at = 0;
  while (at < stream.size()) {
    const size_t n =
        split_seed ? std::min<size_t>(stream.size() - at, 1 + sizes.next() % 17) : stream.size();
    const auto step = reader.feed(stream.subspan(at, n));
    require(step.consumed <= n, "http head: consumed more than it was given");
    run.consumed += step.consumed;
    at += n;
    if (step.status == Reader::Status::kNeedMore) {
      require(step.consumed == n, "http head: kNeedMore without taking every byte");
      continue;
    }
    run.status = step.status == Reader::Status::kDone ? 1 : 2;
    run.error = reader.error();
    require(run.status == 1 || !run.error.empty(), "http head: an error without a message");
    break;
  }
  run.code = reader.status_code();
  return run;
}

struct AnswerRun {
  http::ResponseHeadReader::Status status = http::ResponseHeadReader::Status::kNeedMore;
  size_t consumed = 0;
  http::ResponseHead head;
  std::string error;
};

AnswerRun drive_answer(ByteView stream, std::optional<uint8_t> split_seed) {
  AnswerRun run;
  http::ResponseHeadReader reader;
  size_t at = 0;
  uint8_t seed = split_seed.value_or(0);
  while (at < stream.size()) {
    size_t n = stream.size() - at;
    if (split_seed) {
      seed = static_cast<uint8_t>(seed * 37 + 11);
      n = std::min<size_t>(n, 1 + seed % 23);
    }
    const auto step = reader.feed(stream.subspan(at, n));
    require(step.consumed <= n, "http: consumed more than it was given");
    run.consumed += step.consumed;
    at += n;
    run.status = step.status;
    if (step.status != http::ResponseHeadReader::Status::kNeedMore) break;
  }
  if (run.status == http::ResponseHeadReader::Status::kDone) run.head = reader.head();
  run.error = reader.error();
  return run;
}

}  // namespace

Result http_answer(ByteView input) {
  Cursor in(input);
  const uint8_t split_seed = in.u8();
  const ByteView stream = in.rest();
  const AnswerRun whole = drive_answer(stream, std::nullopt);
  const AnswerRun split = drive_answer(stream, split_seed);
  require(whole.status == split.status && whole.error == split.error &&
              whole.head.status_line == split.head.status_line &&
              whole.head.headers == split.head.headers,
          "http: whole and split feeds disagree");
  if (whole.status == http::ResponseHeadReader::Status::kDone) {
    require(whole.consumed == split.consumed && whole.consumed <= stream.size(),
            "http: the head ends at different places");
    require(whole.head.status >= 100 && whole.head.status <= 999, "http: status out of range");
    for (const auto& [name, value] : whole.head.headers) {
      if (auto t = http::parse_http_date(value)) {
        require(*t >= -62'167'219'200 && *t <= 253'402'300'799, "http: date out of range");
      }
    }
  }
  const std::string_view text(reinterpret_cast<const char*>(stream.data()), stream.size());
  (void)http::parse_http_date(text);
  auto url = http::parse_url(text);
  if (const auto* parsed = std::get_if<http::Url>(&url)) {
    require(!parsed->host.empty() && parsed->port != 0 && parsed->target.starts_with("/"),
            "http: a parsed URL lacks a host, port or target");
  }
  if (whole.status == http::ResponseHeadReader::Status::kError) return {Outcome::kRejected, false};
  return {whole.status == http::ResponseHeadReader::Status::kDone ? Outcome::kAccepted
                                                                  : Outcome::kIncomplete,
          false};
}

// Input: [split seed][gRPC message stream]. Whole and split feeds must agree; what decodes
// must re-encode (one Hunk per piece) into a stream that decodes to the same bytes.
Result grpc_hunks(ByteView input) {
  Cursor in(input);
  const uint8_t split_seed = in.u8();
  const ByteView stream = in.rest();
  const HunkRun whole = drive_hunks(stream, std::nullopt);
  const HunkRun split = drive_hunks(stream, split_seed);
  require(whole.data == split.data && whole.failed == split.failed && whole.error == split.error &&
              whole.at_boundary == split.at_boundary,
          "grpc: whole and split feeds disagree");
  if (whole.failed) return {Outcome::kRejected, false};
  if (!whole.data.empty()) {
    Bytes again;
    SplitMix pieces(split_seed);
    for (size_t at = 0; at < whole.data.size();) {
      const size_t n = std::min(whole.data.size() - at, 1 + pieces.below(70'000));
      std::array<uint8_t, transport::grpc::kMaxHunkHeader> header{};
      const size_t len = transport::grpc::encode_hunk_header(n, header);
      again.insert(again.end(), header.begin(), header.begin() + static_cast<ptrdiff_t>(len));
      again.insert(again.end(), whole.data.begin() + static_cast<ptrdiff_t>(at),
                   whole.data.begin() + static_cast<ptrdiff_t>(at + n));
      at += n;
    }
    const HunkRun round = drive_hunks(again, std::nullopt);
    require(!round.failed && round.at_boundary && round.data == whole.data,
            "grpc: re-encoded data does not decode to itself");
  }
  return {whole.data.empty() || !whole.at_boundary ? Outcome::kIncomplete : Outcome::kAccepted,
          false};
}

// Input: [reader][split seed][a server's response head and what follows]. Reader bit 0 clear:
// the tcp "http" header's ResponseHeadReader; set: the 101 reader of HTTPUpgrade (the
// WebSocket one without the accept check).
Result http_heads(ByteView input) {
  Cursor in(input);
  const bool upgrade = (in.u8() & 1) != 0;
  const uint8_t split_seed = in.u8();
  const ByteView stream = in.rest();
  auto run = [&](std::optional<uint8_t> seed) {
    return upgrade ? drive_head(transport::httpupgrade::make_response_reader(), stream, seed)
                   : drive_head(transport::http_header::ResponseHeadReader(), stream, seed);
  };
  const HeadRun whole = run(std::nullopt);
  const HeadRun split = run(split_seed);
  require(whole.status == split.status && whole.code == split.code && whole.error == split.error &&
              (whole.status != 1 || whole.consumed == split.consumed),
          "http head: whole and split feeds disagree");
  require(whole.status != 1 ||
              whole.consumed <= (upgrade ? transport::ws::UpgradeResponseReader::kMaxHead + 4
                                         : transport::http_header::kMaxHead),
          "http head: a head longer than the limit was accepted");
  if (whole.status == 2) return {Outcome::kRejected, false};
  return {whole.status == 1 ? Outcome::kAccepted : Outcome::kIncomplete, false};
}

std::span<const TargetInfo> all_targets() {
  static constexpr std::array<TargetInfo, 16> kTargets = {{
      {"socks5_handshake", socks5_handshake},
      {"profile", profile},
      {"response_reader", response_reader},
      {"body_reader", body_reader},
      {"body_reader_sealed", body_reader_sealed},
      {"response_reader_sealed", response_reader_sealed},
      {"ws_frames", ws_frames},
      {"http_answer", http_answer},
      {"share_import", share_import},
      {"mux_frames", mux_frames},
      {"grpc_hunks", grpc_hunks},
      {"socks4_handshake", socks4_handshake},
      {"http_proxy_request", http_proxy_request},
      {"sniff", sniff},
      {"http_heads", http_heads},
      {"socks5_udp_header", socks5_udp_header},
  }};
  return kTargets;
}

int run_for_libfuzzer(Target target, const uint8_t* data, size_t size) {
  try {
    target(ByteView(data, size));
  } catch (const InvariantError& e) {
    std::fprintf(stderr, "==fuzz== invariant violated: %s\n", e.what());
    std::abort();
  }
  return 0;
}

}  // namespace vmlocal::fuzz
