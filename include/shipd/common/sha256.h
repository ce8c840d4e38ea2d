// SHA-256 and HMAC-SHA256 helpers over OpenSSL, and a constant-time comparison. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace shipd {

std::string Sha256Hex(std::string_view data);
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// Compares without an early exit, so timing does not reveal the matching prefix.
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// A random token of `bytes` bytes from the OS CSPRNG, hex encoded.
std::string RandomHex(size_t bytes);

}  // namespace shipd
