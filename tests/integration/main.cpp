// The integration test runner: doctest's main plus two guards that keep the suite honest.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>

#include "harness/temp_dir.hpp"

namespace {

// Integration tests never skip: meson runs one doctest test-suite per test(), and a suite name
// that matches nothing (a typo, a file missing from meson.build) must fail, not pass with zero
// tests. The listener also names each test's TempDir after the test.
class RunGuard : public doctest::IReporter {
 public:
  static inline unsigned ran = 0;
  static inline bool query = false;

  explicit RunGuard(const doctest::ContextOptions&) {}

  void report_query(const doctest::QueryData&) override { query = true; }
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    ran = stats.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData& data) override {
    vmlocal::itest::set_current_test_name(data.m_name);
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("run_guard", 1, RunGuard);

}  // namespace

int main(int argc, char** argv) {
  // A peer that resets must surface as an error from send(), not kill the runner. The harness
  // uses MSG_NOSIGNAL; this covers everything else (OpenSSL, future helpers).
  std::signal(SIGPIPE, SIG_IGN);

  doctest::Context context(argc, argv);
  int rc = context.run();
  if (context.shouldExit() || RunGuard::query) return rc;
  if (rc == 0 && RunGuard::ran == 0) {
    std::fprintf(stderr,
                 "integration_tests: no test case matched the filters; that is a failure "
                 "(integration tests never skip)\n");
    return 1;
  }
  return rc;
}
