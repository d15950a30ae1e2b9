# Shared by the scripts in scripts/: package installation and the build.
# shellcheck shell=bash

# Debian packages by purpose. The scripts install whatever is missing.
BUILD_PACKAGES=(g++ meson ninja-build pkg-config libuv1-dev libssl-dev libsodium-dev
  libtomlplusplus-dev libcli11-dev libnghttp2-dev nlohmann-json3-dev libcurl4-openssl-dev scdoc)
# dnsmasq-base: the binary alone (no service, never the system resolver); python3-socks: PySocks,
# the SOCKS5 UDP client of the udp suite.
TEST_PACKAGES=(doctest-dev nlohmann-json3-dev v2ray curl python3 iproute2 openssl chromium git
  faketime systemd man-db dnsmasq-base python3-socks)
SANITIZE_PACKAGES=(clang-14 libclang-rt-14-dev llvm-14)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages PKG...: installs the ones dpkg does not list as installed.
ensure_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo ">> installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# configure_build DIR [meson options...]: sets the build dir up once, reconfigures after.
configure_build() {
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}
