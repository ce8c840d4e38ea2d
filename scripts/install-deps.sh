#!/usr/bin/env bash
# Installs the Debian packages shipd builds with, only those that are missing.
set -euo pipefail

packages=(build-essential cmake pkg-config git
  libboost-dev libcpp-httplib-dev libsqlitecpp-dev libsqlite3-dev libgit2-dev libyaml-cpp-dev
  libspdlog-dev nlohmann-json3-dev libcli11-dev libssl-dev libgtest-dev libgmock-dev tzdata
  nginx)  # the nginx driver's integration test runs its own nginx (the binary only)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  # Keep package scripts from starting system services (nginx would take port 80): invoke-rc.d
  # asks policy-rc.d, and 101 means "not allowed". An existing policy is left as it is.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    trap '"${sudo_cmd[@]}" rm -f "$policy"' EXIT
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
  fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
