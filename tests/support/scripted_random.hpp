// A Random that hands out pre-recorded bytes in order (e.g. the padding bytes from a vector), so
// encoders reproduce reference output byte for byte. Running out is a test failure (throws).
#pragma once

#include <algorithm>
#include <cstddef>
#include <stdexcept>

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/util/bytes.hpp"

namespace vmlocal::test {

class ScriptedRandom final : public crypto::Random {
 public:
  ScriptedRandom() = default;
  explicit ScriptedRandom(Bytes script) : script_(std::move(script)) {}

  void append(ByteView more) { script_.insert(script_.end(), more.begin(), more.end()); }
  size_t remaining() const { return script_.size() - position_; }

  void fill(MutableByteView out) override {
    if (out.size() > remaining()) throw std::runtime_error("ScriptedRandom: script exhausted");
    std::copy_n(script_.begin() + static_cast<std::ptrdiff_t>(position_), out.size(), out.begin());
    position_ += out.size();
  }

 private:
  Bytes script_;
  size_t position_ = 0;
};

}  // namespace vmlocal::test
