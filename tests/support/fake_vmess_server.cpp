#include "support/fake_vmess_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <vector>

#include "support/vmess_test_server.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/vmess/body_reader.hpp"
#include "vmlocal/vmess/body_writer.hpp"

namespace vmlocal::test {
namespace {

// Blocking send of everything; false once the peer is gone.
bool send_all(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool send_all(int fd, ByteView bytes) {
  return send_all(fd, bytes.data(), bytes.size());
}

// A sealed chunk as contiguous bytes: prefix, payload, suffix.
Bytes seal_chunk(vmess::BodyWriter& writer, ByteView payload) {
  Bytes data(payload.begin(), payload.end());
  vmess::BodyWriter::Frame frame;
  writer.seal(data, frame);
  Bytes out(frame.prefix.begin(), frame.prefix.begin() + frame.prefix_len);
  out.insert(out.end(), data.begin(), data.end());
  out.insert(out.end(), frame.suffix.begin(), frame.suffix.begin() + frame.suffix_len);
  return out;
}

Bytes seal_end(vmess::BodyWriter& writer) {
  if (!writer.has_end_chunk()) return {};
  vmess::BodyWriter::Frame frame;
  writer.seal_end(frame);
  Bytes out(frame.prefix.begin(), frame.prefix.begin() + frame.prefix_len);
  out.insert(out.end(), frame.suffix.begin(), frame.suffix.begin() + frame.suffix_len);
  return out;
}

}  // namespace

FakeVmessServer::FakeVmessServer(const vmess::Account& account, FakeScript script,
                                 uint64_t source_bytes, std::chrono::milliseconds pace)
    : account_(account), script_(script), source_bytes_(source_bytes), pace_(pace) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error("FakeVmessServer: cannot listen on loopback");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeVmessServer::~FakeVmessServer() {
  stopping_ = true;
  (void)!::write(wake_pipe_[1], "x", 1);
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_)
      ::shutdown(fd, SHUT_RDWR);  // wakes blocked serve() threads
  }
  for (std::thread& t : threads_)
    t.join();
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void FakeVmessServer::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (stopping_) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] {
      serve(fd);
      std::lock_guard inner(mutex_);
      open_fds_.remove(fd);
      ::close(fd);
    });
  }
}

bool FakeVmessServer::pause_for(std::chrono::milliseconds duration) {
  // The wake pipe stays readable once the destructor wrote to it, so this is a stoppable sleep.
  pollfd wake{wake_pipe_[0], POLLIN, 0};
  const int rc = ::poll(&wake, 1, static_cast<int>(duration.count()));
  return rc == 0 && !stopping_;
}

void FakeVmessServer::serve(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  // 1. The request header.
  Bytes in;
  std::optional<DecodedRequestHeader> header;
  uint8_t buf[65536];
  while (!header) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    in.insert(in.end(), buf, buf + n);
    RequestHeaderDecode decoded =
        decode_request_header(in, account_, static_cast<int64_t>(std::time(nullptr)));
    if (decoded.status == DecodeStatus::kError) return;  // like v2ray: no reply
    if (decoded.status == DecodeStatus::kDone) header = std::move(decoded.header);
  }
  ++requests_decoded_;
  in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(header->size));

  const vmess::Instruction& ins = header->instruction;
  crypto::SystemRandom random;
  vmess::BodyReader request_body(ins.security, ins.options, vmess::Transfer::kStream, ins.body_key,
                                 ins.body_iv);
  vmess::BodyWriter response_body(ins.security, ins.options, vmess::Transfer::kStream,
                                  header->response.key, header->response.iv, random);
  auto response_header = [&](uint8_t v) {
    return encode_response_header(header->header_mode, header->response.key, header->response.iv, v)
        .wire;
  };

  // Reads request chunks until END or EOF, handing each payload to `on_data`.
  auto pump_request = [&](auto&& on_data) {
    for (;;) {
      vmess::ReadStep step = request_body.next(in);
      // step.data points into `in`: take it before dropping the consumed bytes.
      Bytes data(step.data.begin(), step.data.end());
      in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(step.consumed));
      if (step.status == vmess::ReadStatus::kData) {
        if (!on_data(data)) return false;
        continue;
      }
      if (step.status == vmess::ReadStatus::kEnd) return true;
      if (step.status == vmess::ReadStatus::kError) return false;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in.insert(in.end(), buf, buf + n);
    }
  };

  FakeScript script = script_;
  if (script == FakeScript::kByTargetPort) {
    const int index = static_cast<int>(ins.target.port) - kScriptPortBase;
    if (index < 0 || index >= static_cast<int>(FakeScript::kByTargetPort)) return;
    script = static_cast<FakeScript>(index);
  }

  switch (script) {
    case FakeScript::kEcho:
    case FakeScript::kIgnoreEnd: {
      bool header_sent = false;
      bool ok = pump_request([&](ByteView data) {
        Bytes out;
        if (!header_sent) out = response_header(ins.response_v);
        header_sent = true;
        for (size_t off = 0; off < data.size();) {
          size_t len = std::min(response_body.max_payload(), data.size() - off);
          Bytes chunk = seal_chunk(response_body, data.subspan(off, len));
          out.insert(out.end(), chunk.begin(), chunk.end());
          off += len;
        }
        return send_all(fd, out);
      });
      if (ok && script == FakeScript::kIgnoreEnd) {
        // sing-box decrypts END to zero bytes and carries on: no END back, and (over ws) no
        // close when the target does. The connection stays open, whatever the client's FIN,
        // until the server is stopped.
        pause_for(std::chrono::minutes(2));
        return;
      }
      if (ok) {
        Bytes out = header_sent ? Bytes{} : response_header(ins.response_v);
        Bytes end = seal_end(response_body);
        out.insert(out.end(), end.begin(), end.end());
        send_all(fd, out);
      }
      return;
    }
    case FakeScript::kSource: {
      if (!send_all(fd, response_header(ins.response_v))) return;
      std::vector<uint8_t> block(response_body.max_payload());
      for (uint64_t off = 0; off < source_bytes_;) {
        size_t len = static_cast<size_t>(std::min<uint64_t>(block.size(), source_bytes_ - off));
        for (size_t i = 0; i < len; ++i)
          block[i] = source_byte(off + i);
        if (!send_all(fd, seal_chunk(response_body, ByteView(block.data(), len)))) return;
        off += len;
        payload_sent_ += len;
      }
      send_all(fd, seal_end(response_body));
      return;
    }
    case FakeScript::kDrip: {
      if (!send_all(fd, response_header(ins.response_v))) return;
      std::vector<uint8_t> block(1024);
      for (uint64_t off = 0; off < source_bytes_;) {
        if (!pause_for(pace_)) return;
        size_t len = static_cast<size_t>(std::min<uint64_t>(block.size(), source_bytes_ - off));
        for (size_t i = 0; i < len; ++i)
          block[i] = source_byte(off + i);
        if (!send_all(fd, seal_chunk(response_body, ByteView(block.data(), len)))) return;
        off += len;
        payload_sent_ += len;
      }
      send_all(fd, seal_end(response_body));
      return;
    }
    case FakeScript::kPausedSink: {
      // Not reading lets the socket buffers on the way fill up, so the client's upstream writes
      // stay pending; the deadline only keeps a forgotten resume from hanging the test.
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (!resume_reading_ && std::chrono::steady_clock::now() < give_up) {
        if (!pause_for(std::chrono::milliseconds(10))) return;
      }
      uint64_t at = 0;
      const bool ended = pump_request([&](ByteView data) {
        uint64_t wrong = 0;
        for (size_t i = 0; i < data.size(); ++i)
          wrong += data[i] != source_byte(at + i);
        at += data.size();
        payload_mismatches_ += wrong;
        payload_received_ += data.size();
        return true;
      });
      if (ended) {
        Bytes out = response_header(ins.response_v);
        Bytes end = seal_end(response_body);
        out.insert(out.end(), end.begin(), end.end());
        send_all(fd, out);
      }
      return;
    }
    case FakeScript::kSilent:
      while (::recv(fd, buf, sizeof buf, 0) > 0) {
      }
      return;
    default:
      break;
  }

  // The misbehaving scripts answer the first request bytes, as a real server would.
  pump_request([](ByteView) { return false; });
  Bytes out;
  const Bytes payload(100, 'z');
  switch (script) {
    case FakeScript::kWrongCheckByte:
      out = response_header(static_cast<uint8_t>(ins.response_v ^ 0xff));
      break;
    case FakeScript::kFlipTagBit: {
      out = response_header(ins.response_v);
      Bytes chunk = seal_chunk(response_body, payload);
      chunk[2 + payload.size()] ^= 0x01;  // [length][ciphertext][tag][padding]: a tag bit
      out.insert(out.end(), chunk.begin(), chunk.end());
      break;
    }
    case FakeScript::kTruncatedChunk: {
      out = response_header(ins.response_v);
      Bytes chunk = seal_chunk(response_body, payload);
      out.insert(out.end(), chunk.begin(),
                 chunk.begin() + static_cast<std::ptrdiff_t>(chunk.size() / 2));
      break;
    }
    case FakeScript::kImpossibleLength: {
      out = response_header(ins.response_v);
      Bytes chunk = seal_chunk(response_body, payload);
      // Rewrite the length so that, after the receiver's unmasking, it says 3: less than a tag.
      // masked = plain ^ mask, so new_masked = masked ^ plain ^ 3.
      const uint16_t masked = static_cast<uint16_t>(chunk[0] << 8 | chunk[1]);
      const uint16_t plain = static_cast<uint16_t>(chunk.size() - 2);
      const uint16_t forged = static_cast<uint16_t>(masked ^ plain ^ 3);
      chunk[0] = static_cast<uint8_t>(forged >> 8);
      chunk[1] = static_cast<uint8_t>(forged);
      out.insert(out.end(), chunk.begin(), chunk.end());
      break;
    }
    case FakeScript::kGarbage:
      out.resize(64);
      random.fill(out);
      break;
    case FakeScript::kCutAfterData: {
      out = response_header(ins.response_v);
      Bytes chunk = seal_chunk(response_body, payload);
      out.insert(out.end(), chunk.begin(), chunk.end());
      break;
    }
    case FakeScript::kHeaderThenClose:
      out = response_header(ins.response_v);
      break;
    default:
      break;
  }
  send_all(fd, out);
  // These close (EOF) right after what they sent.
  if (script == FakeScript::kTruncatedChunk || script == FakeScript::kCutAfterData ||
      script == FakeScript::kHeaderThenClose) {
    return;
  }
  // Keep the connection open: the client must end the tunnel on its own.
  while (::recv(fd, buf, sizeof buf, 0) > 0) {
  }
}

}  // namespace vmlocal::test
