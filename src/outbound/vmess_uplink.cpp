// VmessStream, uplink: the request header once, chunks sealed in place, END (§9).
#include <algorithm>
#include <cassert>

#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::outbound {

size_t VmessStream::max_write_size() const {
  // Packet mode: a write's buffers are datagrams, each one chunk, so this bounds each of them.
  if (command_ == vmess::Command::kUdp) return request_.uplink.max_payload();
  return kMaxUplinkChunks * request_.uplink.max_payload();
}

// The request header rides in front of the first write (data, END or the flush timer's header
// alone). Returns the buffers it put at `bufs`: 0 or 1.
size_t VmessStream::put_header_once(uv_buf_t* bufs) {
  if (header_sent_) return 0;
  header_sent_ = true;
  uv_timer_stop(&flush_timer_);
  bufs[0] = uv::make_buf(request_.header.data(), request_.header.size());
  return 1;
}

// Seals the `n` plaintext buffers in place into block.bufs from index `count`: prefix, the
// payload itself, suffix per chunk. Returns the new count.
size_t VmessStream::seal_into(SealBlock& block, size_t count, uv_buf_t* bufs, size_t n) {
  vmess::BodyWriter& writer = request_.uplink;
  const size_t max_payload = writer.max_payload();
  size_t frame = 0;
  for (size_t i = 0; i < n; ++i) {
    auto* data = reinterpret_cast<uint8_t*>(bufs[i].base);
    for (size_t offset = 0; offset < bufs[i].len; ++frame) {
      assert(frame < kMaxUplinkChunks);  // callers size their writes by max_write_size()
      const size_t len = std::min(max_payload, bufs[i].len - offset);
      vmess::BodyWriter::Frame& f = block.frames[frame];
      writer.seal(MutableByteView(data + offset, len), f);
      if (f.prefix_len > 0) block.bufs[count++] = uv::make_buf(f.prefix.data(), f.prefix_len);
      block.bufs[count++] = uv::make_buf(data + offset, len);
      if (f.suffix_len > 0) block.bufs[count++] = uv::make_buf(f.suffix.data(), f.suffix_len);
      offset += len;
    }
  }
  return count;
}

transport::Stream::WriteResult VmessStream::write(uv_buf_t* bufs, size_t count) {
  assert(!handler_write_pending_ && !end_sent_);
  if (redial_due_ || redialing_) {
    // Sent once the fresh stack has the replay (vmess_redial.cpp); the bytes stay the caller's.
    deferred_bufs_.assign(bufs, bufs + count);
    handler_write_pending_ = true;
    return WriteResult::kPending;
  }
  if (replay_possible_) keep_for_replay(bufs, count);  // before sealing in place
  if (seal_ == nullptr) seal_ = context_.seal_pool.acquire();
  size_t out = put_header_once(seal_->bufs.data());
  out = seal_into(*seal_, out, bufs, count);
  return submit(out);
}

transport::Stream::WriteResult VmessStream::shutdown() {
  if (end_sent_ || closing_) return WriteResult::kDone;
  end_sent_ = true;
  if (replay_possible_ || redial_due_ || redialing_) replay_end_ = true;
  if (redial_due_ || redialing_) {
    handler_write_pending_ = true;  // END follows the replay
    return WriteResult::kPending;
  }
  end_in_write_ = true;
  if (seal_ == nullptr) seal_ = context_.seal_pool.acquire();
  // The app may close without a byte: the request still goes out so the server sees a clean end.
  size_t out = put_header_once(seal_->bufs.data());
  if (request_.uplink.has_end_chunk()) {
    vmess::BodyWriter::Frame& f = seal_->frames[0];
    request_.uplink.seal_end(f);
    if (f.prefix_len > 0) seal_->bufs[out++] = uv::make_buf(f.prefix.data(), f.prefix_len);
    if (f.suffix_len > 0) seal_->bufs[out++] = uv::make_buf(f.suffix.data(), f.suffix_len);
  }
  return submit(out);
}

// Sends the `out` buffers sealed into seal_ for the handler, after our own header-alone write
// if that is still pending (the stack below takes one write at a time).
transport::Stream::WriteResult VmessStream::submit(size_t out) {
  handler_write_pending_ = true;
  if (header_alone_pending_) {
    deferred_count_ = out;
    return WriteResult::kPending;
  }
  const WriteResult result = out == 0 ? WriteResult::kDone : send(seal_->bufs.data(), out);
  if (result == WriteResult::kFailed && redial_instead_of_failing()) return WriteResult::kPending;
  if (result != WriteResult::kPending) handler_write_pending_ = false;
  if (result == WriteResult::kDone) write_finished();
  // The caller learns of a failure from the result (a handler call from inside its own call is
  // not allowed); later reports of it are then ignored.
  if (result == WriteResult::kFailed) failed_ = true;
  return result;
}

transport::Stream::WriteResult VmessStream::send(uv_buf_t* bufs, size_t count) {
  const WriteResult result = inner_->write(bufs, count);
  if (result == WriteResult::kFailed) {
    failure_ = transport::Failure{inner_->failure().kind, "upstream " + inner_->failure().message};
  }
  return result;
}

// A write of the handler's is on the wire: give the block back, drop the header bytes, and end
// our side after END.
void VmessStream::write_finished() {
  if (seal_ != nullptr) {
    context_.seal_pool.release(seal_);
    seal_ = nullptr;
  }
  if (header_sent_ && !request_.header.empty()) {
    request_.header.clear();
    request_.header.shrink_to_fit();
  }
  if (end_in_write_) {
    end_in_write_ = false;
    inner_->shutdown();
  }
}

void VmessStream::on_flush_timer(uv_timer_t* timer) {
  auto* self = static_cast<VmessStream*>(timer->data);
  if (self->redial_due_) {
    self->redial_due_ = false;
    self->redial();
    return;
  }
  if (self->announce_connected_) {
    self->announce_connected_ = false;
    self->on_stream_connected();  // restarts this timer for the header
    return;
  }
  self->send_header_alone();
}

// The app has said nothing for a while: send the header alone so the server reaches the target.
void VmessStream::send_header_alone() {
  if (header_sent_ || handler_write_pending_ || closing_) return;
  header_sent_ = true;
  header_buf_ = uv::make_buf(request_.header.data(), request_.header.size());
  switch (send(&header_buf_, 1)) {
    case WriteResult::kDone:
      request_.header.clear();
      request_.header.shrink_to_fit();
      return;
    case WriteResult::kPending:
      header_alone_pending_ = true;
      return;
    case WriteResult::kFailed:
      if (redial_instead_of_failing()) return;
      fail(failure_.kind, failure_.message);  // from this timer callback, as send() recorded it
      return;
  }
}

void VmessStream::on_stream_write_done() {
  if (closing_) return;
  if (replay_write_pending_ || end_after_replay_pending_) {
    after_replay_write();
    return;
  }
  if (header_alone_pending_) {
    header_alone_pending_ = false;
    request_.header.clear();
    request_.header.shrink_to_fit();
    if (!handler_write_pending_) return;
    // The handler wrote meanwhile: its sealed buffers go now.
    const size_t count = deferred_count_;
    deferred_count_ = 0;
    const WriteResult result = count == 0 ? WriteResult::kDone : send(seal_->bufs.data(), count);
    if (result == WriteResult::kPending) return;
    handler_write_pending_ = false;
    if (result == WriteResult::kFailed) {
      fail(failure_.kind, failure_.message);
      return;
    }
    write_finished();
    handler_.on_stream_write_done();
    return;
  }
  if (!handler_write_pending_) return;
  handler_write_pending_ = false;
  write_finished();
  handler_.on_stream_write_done();
}

}  // namespace vmlocal::outbound
