// What the soak driver and its origin say to each other inside a tunnel (the "duplex" service;
// the "echo" service just echoes). Every transfer is a job with lengths both ends know up
// front, so a cut stream can never pass for a whole one:
//
//   driver -> origin  header   "SOAK" | flags | job | up_total | down_total | down_offset
//   origin -> driver  answer   status | value   (kOk: value = resume_at; kCorrupt: value =
//                                                the first uplink offset that did not match)
//   both ways at once          uplink bytes resume_at..up_total of stream up_seed(job);
//                              downlink bytes down_offset..down_total of stream down_seed(job)
//   origin -> driver  trailer  up_received | SHA-256(uplink as received) |
//                              SHA-256(downlink as generated)
//
// A resumable job (bulk) survives its tunnel being cut by a server kill: the next tunnel names
// the same job, the origin answers how much uplink it has already verified (resume_at), the
// driver says how much downlink it has (down_offset), and both continue where the stream was
// cut; each end's SHA-256 runs over the whole job's stream, across tunnels. All integers are
// big-endian.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "harness/sha256.hpp"

namespace vmlocal::soak::wire {

inline constexpr std::size_t kHeaderSize = 4 + 1 + 4 * 8;
inline constexpr std::size_t kAnswerSize = 1 + 8;
inline constexpr std::size_t kTrailerSize = 8 + 32 + 32;
inline constexpr std::uint8_t kFlagResumable = 0x01;

struct Header {
  std::uint8_t flags = 0;
  std::uint64_t job = 0;
  std::uint64_t up_total = 0;
  std::uint64_t down_total = 0;
  std::uint64_t down_offset = 0;

  bool resumable() const { return (flags & kFlagResumable) != 0; }
};

enum class Status : std::uint8_t { kOk = 0, kCorrupt = 1, kBadHeader = 2 };

struct Answer {
  Status status = Status::kOk;
  std::uint64_t value = 0;
};

struct Trailer {
  std::uint64_t up_received = 0;
  itest::Digest up_sha{};
  itest::Digest down_sha{};
};

std::array<std::uint8_t, kHeaderSize> encode(const Header& h);
std::optional<Header> decode_header(std::span<const std::uint8_t, kHeaderSize> bytes);
std::array<std::uint8_t, kAnswerSize> encode(const Answer& a);
Answer decode_answer(std::span<const std::uint8_t, kAnswerSize> bytes);
std::array<std::uint8_t, kTrailerSize> encode(const Trailer& t);
Trailer decode_trailer(std::span<const std::uint8_t, kTrailerSize> bytes);

// The stream seeds of a job's two directions.
std::uint64_t up_seed(std::uint64_t job);
std::uint64_t down_seed(std::uint64_t job);

}  // namespace vmlocal::soak::wire
