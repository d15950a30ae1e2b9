// Replays every seed in tests/fuzz/corpus/<target>/ and every saved crash in
// tests/fuzz/regressions/<target>/ through the fuzz targets' own bodies (tests/fuzz/targets.cpp),
// in every build, with or without libFuzzer: a fixed crash stays fixed, and the seeds keep
// reaching past the first checks as the parsers change.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "../fuzz/fuzz_support.hpp"
#include "../fuzz/targets.hpp"
#include "vmlocal/util/bytes.hpp"

using namespace vmlocal;
namespace fs = std::filesystem;

namespace {

// tests/vectors -> tests/fuzz
const fs::path kFuzzDir = fs::path(VMLOCAL_VECTORS_DIR).parent_path() / "fuzz";

struct Tally {
  size_t inputs = 0;
  size_t accepted = 0;
  size_t rejected = 0;
  size_t exact = 0;  // compared byte for byte with the reader model
};

Bytes read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Runs every file of `dir` through the target. An invariant violation fails the test with the
// file's name; a crash or sanitizer report ends the test binary, as it would the proxy.
Tally replay(const fuzz::TargetInfo& target, const fs::path& dir) {
  Tally tally;
  for (const fs::path& path : files_in(dir)) {
    const Bytes input = read_all(path);
    ++tally.inputs;
    try {
      const fuzz::Result result = target.run(input);
      tally.accepted += result.outcome == fuzz::Outcome::kAccepted;
      tally.rejected += result.outcome == fuzz::Outcome::kRejected;
      tally.exact += result.exact;
    } catch (const fuzz::InvariantError& e) {
      FAIL_CHECK(path.string() << ": " << e.what());
    }
  }
  return tally;
}

// What each target's seeds must reach: the happy path, a clean refusal, and (structured targets)
// an exact comparison with the model.
struct SeedGoal {
  std::string_view target;
  bool rejects;
  bool exact;
};
constexpr SeedGoal kSeedGoals[] = {
    {"socks5_handshake", true, false},   {"profile", true, false},
    {"response_reader", false, false},   {"body_reader", false, false},
    {"body_reader_sealed", true, true},  {"response_reader_sealed", true, true},
    {"ws_frames", true, false},          {"mux_frames", true, true},
    {"grpc_hunks", true, false},         {"socks4_handshake", true, false},
    {"http_proxy_request", true, false}, {"sniff", true, false},
    {"http_heads", true, false},         {"http_answer", true, false},
    {"share_import", true, false},       {"socks5_udp_header", true, false},
};

}  // namespace

TEST_CASE("fuzz seeds hold every target's invariants and reach past the first checks") {
  REQUIRE(fs::is_directory(kFuzzDir / "corpus"));
  REQUIRE(fuzz::all_targets().size() == std::size(kSeedGoals));
  for (const SeedGoal& goal : kSeedGoals) {
    CAPTURE(goal.target);
    const auto target =
        std::find_if(fuzz::all_targets().begin(), fuzz::all_targets().end(),
                     [&](const fuzz::TargetInfo& t) { return t.name == goal.target; });
    REQUIRE(target != fuzz::all_targets().end());
    const Tally tally = replay(*target, kFuzzDir / "corpus" / std::string(goal.target));
    MESSAGE(goal.target << ": " << tally.inputs << " seeds, " << tally.accepted << " accepted, "
                        << tally.rejected << " rejected, " << tally.exact << " checked exactly");
    CHECK(tally.inputs >= 5);
    CHECK(tally.accepted > 0);
    if (goal.rejects) CHECK(tally.rejected > 0);
    if (goal.exact) CHECK(tally.exact > 0);
  }
}

TEST_CASE("every saved fuzz crash stays fixed") {
  size_t total = 0;
  for (const fuzz::TargetInfo& target : fuzz::all_targets()) {
    CAPTURE(target.name);
    total += replay(target, kFuzzDir / "regressions" / std::string(target.name)).inputs;
  }
  MESSAGE("replayed " << total << " saved crash inputs");
  // Every regression folder belongs to a target: a misnamed one would silently never run.
  const fs::path regressions = kFuzzDir / "regressions";
  if (fs::is_directory(regressions)) {
    for (const fs::directory_entry& entry : fs::directory_iterator(regressions)) {
      const std::string name = entry.path().filename().string();
      const bool known = std::any_of(fuzz::all_targets().begin(), fuzz::all_targets().end(),
                                     [&](const fuzz::TargetInfo& t) { return t.name == name; });
      CHECK_MESSAGE(known, "tests/fuzz/regressions/" << name << " names no fuzz target");
    }
  }
}

TEST_CASE("fuzz targets take empty and tiny inputs") {
  for (const fuzz::TargetInfo& target : fuzz::all_targets()) {
    CAPTURE(target.name);
    for (size_t n = 0; n < 40; ++n) {
      const Bytes input(n, static_cast<uint8_t>(n * 37));
      CHECK_NOTHROW(target.run(input));
    }
  }
}
