#include "shipd/store/audit_chain.h"

#include "shipd/common/sha256.h"

namespace shipd {
namespace {

void AppendNetstring(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
  out += ',';
}

}  // namespace

std::string ChainHash(std::string_view previous_hash, const Event& event) {
  std::string encoded;
  encoded.reserve(previous_hash.size() + event.actor.size() + event.kind.size() +
                  event.subject.size() + event.data.size() + 64);
  AppendNetstring(encoded, previous_hash);
  AppendNetstring(encoded, std::to_string(event.id));
  AppendNetstring(encoded, std::to_string(event.time));
  AppendNetstring(encoded, event.actor);
  AppendNetstring(encoded, event.kind);
  AppendNetstring(encoded, event.subject);
  AppendNetstring(encoded, event.data);
  return Sha256Hex(encoded);
}

}  // namespace shipd
