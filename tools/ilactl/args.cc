#include "args.h"

namespace ilactl {

std::string JoinAlternatives(const std::vector<std::string_view>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

absl::StatusOr<int> MatchKeyword(std::string_view token, std::initializer_list<Keyword> keywords,
                                 std::string_view what) {
  for (const Keyword& k : keywords) {
    if (k.name == token) return k.id;
  }
  std::vector<std::string_view> candidates;
  std::vector<int> ids;
  if (!token.empty()) {
    for (const Keyword& k : keywords) {
      if (k.name.substr(0, token.size()) != token) continue;
      bool seen = false;
      for (int id : ids) seen = seen || id == k.id;
      if (seen) continue;  // an alias of a candidate already listed
      ids.push_back(k.id);
      candidates.push_back(k.name);
    }
  }
  if (candidates.size() == 1) return ids[0];
  std::string quoted = Cat("\"", std::string(token), "\"");
  if (candidates.size() > 1) {
    return absl::InvalidArgumentError(Cat("ambiguous ", std::string(what), " ", quoted,
                                          ": it could be ", JoinAlternatives(candidates)));
  }
  std::vector<std::string_view> all;
  std::vector<int> listed;
  for (const Keyword& k : keywords) {
    bool seen = false;
    for (int id : listed) seen = seen || id == k.id;
    if (seen) continue;
    listed.push_back(k.id);
    all.push_back(k.name);
  }
  return absl::InvalidArgumentError(
      Cat("unknown ", std::string(what), " ", quoted, "; expected ", JoinAlternatives(all)));
}

absl::Status Args::Error(std::string_view message) const {
  return absl::InvalidArgumentError(
      Cat(command_, ": ", std::string(message), " (usage: ilactl ", usage_, ")"));
}

absl::Status Args::Unexpected(std::string_view word, std::string_view expected) const {
  return Error(Cat("unexpected \"", std::string(word), "\"; expected ", std::string(expected)));
}

absl::Status Args::Duplicate(std::string_view keyword) const {
  return Error(Cat("\"", std::string(keyword), "\" is given twice"));
}

absl::StatusOr<std::string> Args::Need(std::string_view what) {
  if (done()) {
    std::string after = pos_ == 0 ? std::string() : Cat(" after \"", words_[pos_ - 1], "\"");
    return Error(Cat("missing ", std::string(what), after));
  }
  return take();
}

absl::StatusOr<int> Args::NeedKeyword(std::initializer_list<Keyword> keywords,
                                      std::string_view what) {
  auto word = Need(what);
  if (!word.ok()) return word.status();
  auto id = MatchKeyword(*word, keywords, what);
  if (!id.ok()) return Invalid(id.status());
  return *id;
}

absl::Status Args::ExpectEnd() const {
  if (done()) return absl::OkStatus();
  return Error(Cat("unexpected \"", words_[pos_], "\" at the end of the command"));
}

std::optional<uint64_t> ParseUnsigned(std::string_view text, uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace ilactl
