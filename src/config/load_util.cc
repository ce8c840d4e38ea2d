#include "load_util.h"

#include <fstream>
#include <sstream>

namespace shipd {

Error At(const std::filesystem::path& file, const YAML::Mark& mark, const std::string& message) {
  return Error(ErrorCode::kInvalid, file.string() + ":" + std::to_string(mark.line + 1) + ":" +
                                        std::to_string(mark.column + 1) + ": " + message);
}

std::string ReadSecretFile(const std::filesystem::path& path, bool* ok) {
  std::ifstream in(path);
  *ok = static_cast<bool>(in);
  std::stringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

}  // namespace shipd
