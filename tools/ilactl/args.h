// Command-line words for ilactl: keyword matching with unique prefixes (as `ip` accepts
// `ip a s`), and a cursor over the words of one command that phrases every error as one line
// naming the offending word and what was expected.
#ifndef ILA_TOOLS_ARGS_H_
#define ILA_TOOLS_ARGS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/types.h"

namespace ilactl {

// Abseil 20220623 has its own string_view: convert explicitly at the boundary.
inline std::string_view Sv(absl::string_view s) { return {s.data(), s.size()}; }
inline absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// Concatenation of text and integers (std::string_view and absl::string_view alike).
namespace detail {
inline void AppendPart(std::string& out, std::string_view s) { out.append(s); }
inline void AppendPart(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void AppendPart(std::string& out, const char* s) { out.append(s); }
inline void AppendPart(std::string& out, const std::string& s) { out.append(s); }
inline void AppendPart(std::string& out, ila::InterfaceIndex i) { out += i.ToString(); }
template <typename T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool> &&
         !std::is_same_v<T, char>) void AppendPart(std::string& out, T v) {
  out += std::to_string(v);
}
}  // namespace detail
template <typename... T>
std::string Cat(const T&... parts) {
  std::string out;
  (detail::AppendPart(out, parts), ...);
  return out;
}
template <typename... T>
void Append(std::string* out, const T&... parts) {
  (detail::AppendPart(*out, parts), ...);
}

// One keyword; several names may share an id (aliases such as "del" and "delete").
struct Keyword {
  std::string_view name;
  int id;
};

// The id of the keyword `token` names: an exact match, else the only keyword (id) that `token` is
// a prefix of. Errors name `what` ("command", "option", ...) and the candidates, e.g.
//   unknown command "frob"; expected one of: add, del, show
//   ambiguous command "st": it could be status or stats
absl::StatusOr<int> MatchKeyword(std::string_view token, std::initializer_list<Keyword> keywords,
                                 std::string_view what);

// "a, b or c" / "a or b" / "a".
std::string JoinAlternatives(const std::vector<std::string_view>& names);

// The words of one command after its object and verb, with the command's name ("map add") and
// usage line for error messages.
class Args {
 public:
  Args(std::vector<std::string> words, std::string command, std::string usage)
      : words_(std::move(words)), command_(std::move(command)), usage_(std::move(usage)) {}

  bool done() const { return pos_ >= words_.size(); }
  const std::string& peek() const { return words_[pos_]; }
  std::string take() { return words_[pos_++]; }
  const std::string& command() const { return command_; }
  const std::string& usage() const { return usage_; }
  void set_command(std::string command, std::string usage) {
    command_ = std::move(command);
    usage_ = std::move(usage);
  }

  // The next word, or an error saying `what` is missing (after the previous word).
  absl::StatusOr<std::string> Need(std::string_view what);
  // The next word as one of `keywords`.
  absl::StatusOr<int> NeedKeyword(std::initializer_list<Keyword> keywords, std::string_view what);

  // "<command>: <message> (usage: <usage>)": every parse error goes through here.
  absl::Status Error(std::string_view message) const;
  // A value that a parser refused: `parse_error` already names the word and why.
  absl::Status Invalid(const absl::Status& parse_error) const {
    return Error(Sv(parse_error.message()));
  }
  // "unexpected \"word\"; expected <expected>".
  absl::Status Unexpected(std::string_view word, std::string_view expected) const;
  absl::Status Duplicate(std::string_view keyword) const;
  // Fails unless every word was consumed.
  absl::Status ExpectEnd() const;

 private:
  std::vector<std::string> words_;
  size_t pos_ = 0;
  std::string command_;
  std::string usage_;
};

// Strict decimal parsing: digits only, in range.
std::optional<uint64_t> ParseUnsigned(std::string_view text, uint64_t max);

}  // namespace ilactl

#endif  // ILA_TOOLS_ARGS_H_
