// VmessStream, redial: a warm stack (warm_pool.hpp) that turns out dead before the first
// response byte is replaced once by a fresh dial. The request is built anew (a fresh AuthID
// and keys: the server's replay filter may have seen the first one, vmess-protocol.md §6.2),
// and the plaintext sent so far is sealed again and sent on the new stack, so the app never
// sees the dead connection. Only what was sent before any response byte can be replayed, and
// at most one write's worth; past that the stream fails as usual.
#include "vmlocal/log/log.hpp"
#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/transport/upstream.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::outbound {

void VmessStream::keep_for_replay(const uv_buf_t* bufs, size_t count) {
  size_t total = replay_.size();
  for (size_t i = 0; i < count; ++i)
    total += bufs[i].len;
  if (total > max_write_size()) {
    response_started();  // too much to replay: a failure is reported as it is
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    const auto* data = reinterpret_cast<const uint8_t*>(bufs[i].base);
    replay_.insert(replay_.end(), data, data + bufs[i].len);
  }
}

// The server has answered: the connection was alive, nothing will be replayed.
void VmessStream::response_started() {
  replay_possible_ = false;
  replay_end_ = false;
  replay_.clear();
  replay_.shrink_to_fit();
}

bool VmessStream::redial_instead_of_failing() {
  if (!replay_possible_ || closing_ || failed_) return false;
  replay_possible_ = false;  // once
  redial_due_ = true;
  inner_->read_stop();
  // On the next turn: this may run inside the dead stack's callback or the handler's call.
  uv_timer_start(&flush_timer_, on_flush_timer, 0, 0);
  return true;
}

void VmessStream::redial() {
  if (closing_) return;
  auto prepared = prepare(context_, *server_, target_, command_);
  if (!prepared) {
    fail(prepared.error().kind, prepared.error().message);
    return;
  }
  log::debug("a warm connection to ", server_->settings.address, " was dead; dialling again");
  request_ = std::move(prepared->request);
  clock_offset_ = prepared->clock_offset;
  header_sent_ = false;
  header_alone_pending_ = false;
  deferred_count_ = 0;
  end_in_write_ = false;
  retired_ = std::move(inner_);
  retired_->close(true);  // its on_stream_closed still counts in the latch
  inner_ = transport::make_upstream(context_.loop, static_cast<transport::StreamHandler&>(*this),
                                    server_->settings, server_->tls.get(), context_.random);
  latch_.opened(1);
  redialing_ = true;
  inner_->connect();
}

// The fresh stack is up: header + everything sent before, sealed anew, in one write.
void VmessStream::replay() {
  redialing_ = false;
  if (seal_ == nullptr) seal_ = context_.seal_pool.acquire();
  size_t out = put_header_once(seal_->bufs.data());
  if (!replay_.empty()) {
    uv_buf_t all = uv::make_buf(replay_.data(), replay_.size());
    out = seal_into(*seal_, out, &all, 1);
  }
  replay_write_pending_ = true;
  const WriteResult result = send(seal_->bufs.data(), out);
  if (result == WriteResult::kFailed) {
    replay_write_pending_ = false;
    fail(failure_.kind, failure_.message);
    return;
  }
  if (reading_wanted_ && !views_held_) inner_->read_start();
  if (result == WriteResult::kDone) after_replay_write();
}

// Our replay write (then the handler's write made meanwhile, or END) has gone.
void VmessStream::after_replay_write() {
  if (closing_) return;
  if (replay_write_pending_) {
    replay_write_pending_ = false;
    replay_.clear();
    replay_.shrink_to_fit();
    context_.seal_pool.release(seal_);
    seal_ = nullptr;
    request_.header.clear();
    request_.header.shrink_to_fit();
    if (!deferred_bufs_.empty()) {
      // The handler's write made while redialling: sealed and sent as usual now.
      std::vector<uv_buf_t> bufs = std::move(deferred_bufs_);
      deferred_bufs_.clear();
      seal_ = context_.seal_pool.acquire();
      const size_t count = seal_into(*seal_, 0, bufs.data(), bufs.size());
      const WriteResult result = send(seal_->bufs.data(), count);
      if (result == WriteResult::kPending) return;  // on_stream_write_done finishes it
      handler_write_pending_ = false;
      if (result == WriteResult::kFailed) {
        fail(failure_.kind, failure_.message);
        return;
      }
      write_finished();
      handler_.on_stream_write_done();
      return;
    }
    if (replay_end_ && request_.uplink.has_end_chunk()) {
      seal_ = context_.seal_pool.acquire();
      vmess::BodyWriter::Frame& f = seal_->frames[0];
      request_.uplink.seal_end(f);
      size_t count = 0;
      if (f.prefix_len > 0) seal_->bufs[count++] = uv::make_buf(f.prefix.data(), f.prefix_len);
      if (f.suffix_len > 0) seal_->bufs[count++] = uv::make_buf(f.suffix.data(), f.suffix_len);
      end_after_replay_pending_ = true;
      const WriteResult result = send(seal_->bufs.data(), count);
      if (result == WriteResult::kPending) return;
      if (result == WriteResult::kFailed) {
        end_after_replay_pending_ = false;
        fail(failure_.kind, failure_.message);
        return;
      }
    } else if (!replay_end_) {
      if (handler_write_pending_) {
        handler_write_pending_ = false;
        handler_.on_stream_write_done();
      }
      return;
    }
  }
  // END has gone (or the security has no END chunk): end our side, as shutdown() would.
  end_after_replay_pending_ = false;
  if (seal_ != nullptr) {
    context_.seal_pool.release(seal_);
    seal_ = nullptr;
  }
  replay_end_ = false;
  inner_->shutdown();
  if (handler_write_pending_) {
    handler_write_pending_ = false;
    handler_.on_stream_write_done();
  }
}

}  // namespace vmlocal::outbound
