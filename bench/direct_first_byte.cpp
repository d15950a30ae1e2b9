#include "direct_first_byte.hpp"

#include <arpa/inet.h>

#include <array>
#include <ctime>
#include <stdexcept>

#include "blocking_socks.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/request_builder.hpp"
#include "vmlocal/vmess/security.hpp"

namespace vmlocal::bench {
namespace {

TargetAddress target_of(const itest::Endpoint& to) {
  std::array<uint8_t, 16> ip{};
  if (inet_pton(AF_INET, to.host.c_str(), ip.data()) == 1) {
    return TargetAddress::ipv4({ip[0], ip[1], ip[2], ip[3]}, to.port);
  }
  if (inet_pton(AF_INET6, to.host.c_str(), ip.data()) == 1) return TargetAddress::ipv6(ip, to.port);
  throw std::invalid_argument("not an IP literal: " + to.host);
}

// Reads until the response header is open and the first plaintext byte is out; throws when the
// stream ends or breaks first.
uint8_t first_plaintext_byte(int fd, vmess::ResponseReader& reader) {
  std::array<uint8_t, 4096> buffer{};
  size_t held = 0;
  for (;;) {
    if (held == buffer.size()) throw std::runtime_error("response too large");
    const size_t n = recv_some(fd, std::span(buffer).subspan(held));
    if (n == 0) throw itest::SocketError(itest::SocketError::Kind::kEof, "closed by the server");
    held += n;
    MutableByteView input(buffer.data(), held);
    for (;;) {
      const vmess::ReadStep step = reader.next(input);
      if (step.status == vmess::ReadStatus::kError) {
        throw std::runtime_error(std::string(reader.error()));
      }
      if (step.status == vmess::ReadStatus::kEnd) throw std::runtime_error("END before the echo");
      if (step.status == vmess::ReadStatus::kData && !step.data.empty()) return step.data[0];
      input = input.subspan(step.consumed);
      if (step.status == vmess::ReadStatus::kNeedMore) break;
    }
    // What the reader has not finished with goes to the front for the next read.
    std::copy(input.begin(), input.end(), buffer.begin());
    held = input.size();
  }
}

}  // namespace

FirstByteResult measure_direct_first_byte(const itest::Endpoint& server, const std::string& uuid,
                                          const std::string& security, const itest::Endpoint& echo,
                                          std::size_t samples, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto id = vmess::parse_uuid(uuid);
  const auto chosen = vmess::parse_security(security);
  if (!id || !chosen) throw std::invalid_argument("direct first byte: bad uuid or security");
  const vmess::Account account = vmess::Account::make(*id, 0);
  const vmess::BodyFormat format = vmess::resolve_body_format(*chosen);
  vmess::RequestParams params;
  params.security = format.security;
  params.options = format.options;
  params.target = target_of(echo);
  crypto::SystemRandom random;

  FirstByteResult result;
  result.micros.reserve(samples);
  for (std::size_t i = 0; i < samples; ++i) {
    try {
      UniqueFd fd = new_blocking_socket(timeout);
      const auto secrets = vmess::RequestSecrets::draw(random, account, params.header_mode);
      vmess::BuildResult built =
          vmess::build_request(account, params, secrets, std::time(nullptr), random);
      if (!built.request) throw std::runtime_error(built.error);
      vmess::ClientRequest& request = *built.request;
      // Header, then the sealed one-byte chunk, in one send: as a client coalesces them.
      std::array<uint8_t, 1> payload{'p'};
      vmess::BodyWriter::Frame frame;
      request.uplink.seal(payload, frame);
      Bytes wire = std::move(request.header);
      wire.insert(wire.end(), frame.prefix.begin(), frame.prefix.begin() + frame.prefix_len);
      wire.insert(wire.end(), payload.begin(), payload.end());
      wire.insert(wire.end(), frame.suffix.begin(), frame.suffix.begin() + frame.suffix_len);

      const auto start = Clock::now();
      connect_to(fd.get(), server);
      send_all(fd.get(), wire);
      const uint8_t first = first_plaintext_byte(fd.get(), request.downlink);
      const auto end = Clock::now();
      if (first != 'p') {
        ++result.failures["wrong echo"];
        continue;
      }
      result.micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    } catch (const itest::SocketError& e) {
      ++result.failures[kind_name(e.kind())];
    } catch (const std::exception& e) {
      ++result.failures[e.what()];
    }
  }
  return result;
}

}  // namespace vmlocal::bench
