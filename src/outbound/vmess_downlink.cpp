// VmessStream, downlink: the response header and chunks opened in place and handed to the
// handler as views (§10).
#include <cstring>

#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::outbound {

void VmessStream::read_start() {
  reading_wanted_ = true;
  if (connected_ && !closing_ && !views_held_ && !ended_ && !redial_due_ && !redialing_) {
    inner_->read_start();
  }
}

void VmessStream::read_stop() {
  reading_wanted_ = false;
  inner_->read_stop();
}

MutableByteView VmessStream::on_stream_buffer() {
  if (open_ == nullptr) {
    open_ = context_.open_pool.acquire();
    open_len_ = open_consumed_ = 0;
  }
  return MutableByteView(open_->data.data() + open_len_, kOpenBufferSize - open_len_);
}

void VmessStream::on_stream_read(size_t n) {
  if (closing_) return;
  if (n > 0 && replay_possible_) response_started();
  open_len_ += n;
  open_chunks();
}

// Opens every complete chunk in the block and hands the plaintext over, up to
// kMaxDownlinkViews pieces at a time, until the data runs out, END, or the handler keeps views.
void VmessStream::open_chunks() {
  if (open_ == nullptr || views_held_ || ended_) return;
  vmess::ResponseReader& reader = request_.downlink;
  uint8_t* data = open_->data.data();
  for (;;) {
    size_t count = 0;
    need_more_ = false;
    while (count < kMaxDownlinkViews) {
      vmess::ReadStep step =
          reader.next(MutableByteView(data + open_consumed_, open_len_ - open_consumed_));
      open_consumed_ += step.consumed;
      if (reader.header_done()) report_outcome(true);
      if (step.status == vmess::ReadStatus::kData) {
        open_->views[count++] = uv::make_buf(step.data.data(), step.data.size());
        bytes_down_ += step.data.size();
        continue;
      }
      if (step.status == vmess::ReadStatus::kNeedMore) {
        need_more_ = true;
      } else if (step.status == vmess::ReadStatus::kEnd) {
        ended_ = true;
      } else {
        fail(ErrorKind::kProtocol, "server sent a bad response: " + std::string(reader.error()));
        return;
      }
      break;
    }
    if (count > 0 && !handler_.on_stream_views(open_->views.data(), count)) {
      if (closing_) return;
      views_held_ = true;
      inner_->read_stop();
      return;
    }
    if (closing_) return;
    views_consumed();
    if (ended_ || closing_) return;
    if (need_more_) break;
  }
  if (open_len_ == 0) release_open_block();
}

void VmessStream::release_views() {
  if (!views_held_ || closing_) return;
  views_held_ = false;
  views_consumed();
  if (ended_ || closing_) return;
  if (!need_more_) open_chunks();  // the last pass stopped at the view limit: go on
  if (closing_ || views_held_ || ended_) return;
  if (open_ != nullptr && open_len_ == 0) release_open_block();
  if (reading_wanted_) inner_->read_start();
}

// Everything opened so far has been consumed: drop it, keep the partial chunk at the front.
void VmessStream::views_consumed() {
  uint8_t* data = open_->data.data();
  const size_t rest = open_len_ - open_consumed_;
  if (rest > 0 && open_consumed_ > 0) std::memmove(data, data + open_consumed_, rest);
  open_len_ = rest;
  open_consumed_ = 0;
  if (ended_) downlink_ended();
}

void VmessStream::downlink_ended() {
  inner_->read_stop();
  release_open_block();
  handler_.on_stream_eof();
}

void VmessStream::release_open_block() {
  if (open_ == nullptr || open_len_ > 0 || views_held_) return;
  context_.open_pool.release(open_);
  open_ = nullptr;
}

}  // namespace vmlocal::outbound
