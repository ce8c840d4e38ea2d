// Plain-text tables for people; shipctl prints JSON instead with -o json.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace shipd::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& out, bool with_header = true) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "2026-11-26 09:30:12" (UTC) from milliseconds since the epoch.
std::string FormatTime(int64_t ms);

}  // namespace shipd::cli
