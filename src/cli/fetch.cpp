#include "fetch.hpp"

#include <curl/curl.h>

#include <atomic>
#include <memory>

namespace vmlocal::cli {
namespace {

constexpr size_t kMaxBody = 8 * 1024 * 1024;

std::atomic<bool> cancelled{false};

// libcurl calls this at least once a second while a transfer waits, so a stalled provider
// cannot hold a stopping process for the whole timeout.
int keep_going(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return cancelled.load(std::memory_order_relaxed) ? 1 : 0;
}

size_t append(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t bytes = size * count;
  if (body->size() + bytes > kMaxBody) return 0;  // makes curl stop with CURLE_WRITE_ERROR
  body->append(data, bytes);
  return bytes;
}

}  // namespace

void cancel_fetches() {
  cancelled.store(true, std::memory_order_relaxed);
}

std::variant<std::string, std::string> fetch_url(const std::string& url) {
  using Result = std::variant<std::string, std::string>;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Result(std::in_place_index<1>, "libcurl could not start");
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "vmess-local");
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, keep_going);
  if (cancelled.load(std::memory_order_relaxed)) {
    return Result(std::in_place_index<1>, "the fetch was cancelled: vmess-local is stopping");
  }
  const CURLcode rc = curl_easy_perform(handle);
  if (rc == CURLE_WRITE_ERROR && body.size() + CURL_MAX_WRITE_SIZE > kMaxBody) {
    return Result(std::in_place_index<1>, "the answer is larger than 8 MiB");
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    return Result(std::in_place_index<1>, "the fetch was cancelled: vmess-local is stopping");
  }
  if (rc != CURLE_OK) {
    return Result(std::in_place_index<1>, error[0] != '\0' ? error : curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    return Result(std::in_place_index<1>, "the server answered HTTP " + std::to_string(status));
  }
  return Result(std::in_place_index<0>, std::move(body));
}

}  // namespace vmlocal::cli
