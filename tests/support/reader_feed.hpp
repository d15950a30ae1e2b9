// Drives a push-style reader (BodyReader, ResponseReader) the way the downlink pump does: bytes
// arrive in pieces, unconsumed bytes are kept at the front of a buffer and new ones appended, and
// the reader is asked again until it needs more. Also checks the reader's side of the contract.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/body_reader.hpp"

namespace vmlocal::test {

using vmess::ReadStatus;
using vmess::ReadStep;

enum class Split { kWhole, kByteByByte, kRandom };

inline const char* split_name(Split split) {
  switch (split) {
    case Split::kWhole:
      return "whole";
    case Split::kByteByByte:
      return "byte by byte";
    case Split::kRandom:
      return "random pieces";
  }
  return "?";
}

inline constexpr Split kAllSplits[] = {Split::kWhole, Split::kByteByByte, Split::kRandom};

struct FeedResult {
  std::vector<Bytes> data;  // every kData, in order
  bool ended = false;       // kEnd seen
  bool failed = false;      // kError seen
  std::string error;
  size_t unconsumed = 0;  // bytes left in the buffer when the feed stopped or ran out
  Bytes joined() const {
    Bytes all;
    for (const Bytes& d : data)
      all.insert(all.end(), d.begin(), d.end());
    return all;
  }
};

template <class Reader>
FeedResult feed(Reader& reader, ByteView wire, Split split, uint32_t seed = 7) {
  FeedResult result;
  Bytes buffer;
  std::mt19937 rng(seed);
  size_t at = 0;
  auto piece_size = [&]() -> size_t {
    switch (split) {
      case Split::kWhole:
        return wire.size();
      case Split::kByteByByte:
        return 1;
      case Split::kRandom:
        // Mostly small pieces, now and then one that spans several chunks.
        return rng() % 4 == 0 ? 1 + rng() % 5000 : 1 + rng() % 40;
    }
    return 1;
  };
  // An empty presentation must be harmless.
  ReadStep first = reader.next({});
  REQUIRE(first.status == ReadStatus::kNeedMore);
  REQUIRE(first.consumed == 0);

  while (at < wire.size()) {
    const size_t n = std::min(piece_size(), wire.size() - at);
    buffer.insert(buffer.end(), wire.begin() + static_cast<std::ptrdiff_t>(at),
                  wire.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
    for (;;) {
      const ReadStep step = reader.next(buffer);
      REQUIRE(step.consumed <= buffer.size());
      if (step.status == ReadStatus::kError) {
        result.failed = true;
        result.error = std::string(reader.error());
        result.unconsumed = buffer.size() + (wire.size() - at);
        return result;
      }
      if (step.status == ReadStatus::kData) {
        REQUIRE(!step.data.empty());
        REQUIRE(step.data.data() >= buffer.data());
        REQUIRE(step.data.data() + step.data.size() <= buffer.data() + step.consumed);
        result.data.emplace_back(step.data.begin(), step.data.end());
      } else {
        REQUIRE(step.data.empty());
      }
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(step.consumed));
      if (step.status == ReadStatus::kEnd) {
        result.ended = true;
        result.unconsumed = buffer.size() + (wire.size() - at);
        return result;
      }
      if (step.status == ReadStatus::kNeedMore) break;
    }
  }
  result.unconsumed = buffer.size();
  return result;
}

}  // namespace vmlocal::test
