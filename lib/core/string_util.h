// Debian 12's Abseil (20220623) is built with its own absl::string_view, distinct from
// std::string_view, which libila's API uses; this is the one place that bridges them.
#ifndef ILA_LIB_STRING_UTIL_H_
#define ILA_LIB_STRING_UTIL_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace ila::internal {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace ila::internal

#endif  // ILA_LIB_STRING_UTIL_H_
