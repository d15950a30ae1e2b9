#include "fetch.hpp"

#include <curl/curl.h>
#include <dlfcn.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "env_proxy.hpp"
#include "vmlocal/log/log.hpp"

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

// libcurl is opened on the first fetch rather than linked: linked, it and what it pulls in
// (GnuTLS, Kerberos, LDAP, RTMP, SSH, ...) are mapped and relocated at every start, about 3.5 MiB
// of a running proxy's RSS for a fetch that happens at start and then every few hours at most.
struct CurlApi {
  decltype(&::curl_global_init) global_init = nullptr;
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_perform) easy_perform = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
};

template <typename F>
bool find(void* library, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(library, name));
  return out != nullptr;
}

// The API, or null with `why` set. Loaded once; the library stays loaded.
const CurlApi* curl_api(std::string& why) {
  static std::once_flag once;
  static CurlApi api;
  static std::string error;
  std::call_once(once, [] {
    // libcurl4 (OpenSSL) first, the headers' flavour; the GnuTLS build has the same ABI.
    void* library = nullptr;
    for (const char* name : {"libcurl.so.4", "libcurl-gnutls.so.4"}) {
      if ((library = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
    }
    if (library == nullptr) {
      error =
          "libcurl is not installed (Debian: apt-get install libcurl4), so no URL can be "
          "fetched";
      return;
    }
    CurlApi loaded;
    if (!find(library, "curl_global_init", loaded.global_init) ||
        !find(library, "curl_easy_init", loaded.easy_init) ||
        !find(library, "curl_easy_cleanup", loaded.easy_cleanup) ||
        !find(library, "curl_easy_setopt", loaded.easy_setopt) ||
        !find(library, "curl_easy_perform", loaded.easy_perform) ||
        !find(library, "curl_easy_getinfo", loaded.easy_getinfo) ||
        !find(library, "curl_easy_strerror", loaded.easy_strerror)) {
      error = "the installed libcurl lacks a function vmess-local needs";
      return;
    }
    // Once, before any thread fetches: curl_global_init is not thread-safe in older libcurl.
    if (loaded.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      error = "libcurl could not start";
      return;
    }
    api = loaded;
  });
  if (api.easy_init == nullptr) {
    why = error;
    return nullptr;
  }
  return &api;
}

}  // namespace

void cancel_fetches() {
  cancelled.store(true, std::memory_order_relaxed);
}

std::variant<std::string, std::string> fetch_url(const std::string& url,
                                                 const FetchOptions& options) {
  using Result = std::variant<std::string, std::string>;
  std::string why;
  const CurlApi* api = curl_api(why);
  if (api == nullptr) return Result(std::in_place_index<1>, why);
  std::unique_ptr<CURL, decltype(&::curl_easy_cleanup)> curl(api->easy_init(), api->easy_cleanup);
  if (!curl) return Result(std::in_place_index<1>, "libcurl could not start");
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  CURL* handle = curl.get();
  api->easy_setopt(handle, CURLOPT_URL, url.c_str());
  api->easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  api->easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  api->easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
  api->easy_setopt(handle, CURLOPT_MAXREDIRS, 5L);
  api->easy_setopt(handle, CURLOPT_TIMEOUT, 30L);
  // A provider that accepts and then says nothing is given up after 10 s, not 30: the proxy's
  // start (and a reload) waits for this.
  api->easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, 10L);
  api->easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  api->easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, 10L);
  api->easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  api->easy_setopt(handle, CURLOPT_USERAGENT, "vmess-local");
  api->easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  api->easy_setopt(handle, CURLOPT_WRITEFUNCTION, append);
  api->easy_setopt(handle, CURLOPT_WRITEDATA, &body);
  api->easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  api->easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, keep_going);
  if (cancelled.load(std::memory_order_relaxed)) {
    return Result(std::in_place_index<1>, "the fetch was cancelled: vmess-local is stopping");
  }
  std::optional<EnvProxy> proxy = env_proxy_for(url);
  if (proxy && names_own_listener(*proxy, options.not_serving)) {
    log::info(proxy->variable, " names this proxy itself (", proxy->to_string(),
              "), which does not serve yet: fetching directly");
    api->easy_setopt(handle, CURLOPT_PROXY, "");  // "" turns the environment's proxy off
    proxy.reset();
  }
  // A failure through a proxy may be the proxy's: say which one.
  const auto failed = [&proxy](std::string why) {
    if (proxy) why += " (through the proxy in " + proxy->variable + ", " + proxy->to_string() + ")";
    return Result(std::in_place_index<1>, std::move(why));
  };
  const CURLcode rc = api->easy_perform(handle);
  if (rc == CURLE_WRITE_ERROR && body.size() + CURL_MAX_WRITE_SIZE > kMaxBody) {
    return Result(std::in_place_index<1>, "the answer is larger than 8 MiB");
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    return Result(std::in_place_index<1>, "the fetch was cancelled: vmess-local is stopping");
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return failed("no answer: nothing came for 10 s, or the whole fetch took over 30 s");
  }
  if (rc != CURLE_OK) return failed(error[0] != '\0' ? error : api->easy_strerror(rc));
  long status = 0;
  api->easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    return failed("the server answered HTTP " + std::to_string(status));
  }
  return Result(std::in_place_index<0>, std::move(body));
}

}  // namespace vmlocal::cli
