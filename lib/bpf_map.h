// TypedMap: the only code in libila that calls bpf_map_*. Keys and values are the abi.h structs;
// every failure becomes an absl::Status naming the map, the operation and errno.
//
// Thread safety: the kernel makes each element operation atomic; callers serialise compound
// updates themselves (the tables hold a mutex).
#ifndef ILA_LIB_BPF_MAP_H_
#define ILA_LIB_BPF_MAP_H_

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace ila::internal {

absl::Status MapError(const std::string& map, const char* op, int err);

template <typename K, typename V>
class TypedMap {
  static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>);

 public:
  TypedMap() = default;
  TypedMap(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

  absl::Status Update(const K& key, const V& value, uint64_t flags = BPF_ANY) const {
    if (bpf_map_update_elem(fd_, &key, &value, flags) != 0) return MapError(name_, "update", errno);
    return absl::OkStatus();
  }

  // nullopt when the key is absent.
  absl::StatusOr<std::optional<V>> Lookup(const K& key) const {
    V value;
    if (bpf_map_lookup_elem(fd_, &key, &value) != 0) {
      if (errno == ENOENT) return std::optional<V>();
      return MapError(name_, "lookup", errno);
    }
    return std::optional<V>(value);
  }

  // NotFound when the key is absent.
  absl::Status Delete(const K& key) const {
    if (bpf_map_delete_elem(fd_, &key) != 0) {
      if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(name_, ": no such entry"));
      return MapError(name_, "delete", errno);
    }
    return absl::OkStatus();
  }

  // Every entry. Iterates with get_next_key, which tolerates concurrent updates (an entry added
  // or removed meanwhile may or may not appear).
  absl::StatusOr<std::vector<std::pair<K, V>>> Dump() const {
    std::vector<std::pair<K, V>> out;
    K key;
    K next;
    const K* prev = nullptr;
    while (bpf_map_get_next_key(fd_, prev, &next) == 0) {
      V value;
      if (bpf_map_lookup_elem(fd_, &next, &value) == 0) {
        out.emplace_back(next, value);
      } else if (errno != ENOENT) {
        return MapError(name_, "lookup", errno);
      }
      key = next;
      prev = &key;
    }
    if (errno != ENOENT) return MapError(name_, "iterate", errno);
    return out;
  }

  // bpf_map_update_batch: one syscall for many entries. On failure the kernel may have applied a
  // prefix of the batch; `applied` says how many (callers roll back).
  absl::Status UpdateBatch(std::span<const K> keys, std::span<const V> values, uint32_t* applied,
                           uint64_t elem_flags = BPF_ANY) const {
    uint32_t count = static_cast<uint32_t>(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = elem_flags);
    int rc = bpf_map_update_batch(fd_, keys.data(), values.data(), &count, &opts);
    *applied = count;
    if (rc != 0) return MapError(name_, "update batch", errno);
    return absl::OkStatus();
  }

  absl::Status DeleteBatch(std::span<const K> keys, uint32_t* applied) const {
    uint32_t count = static_cast<uint32_t>(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc = bpf_map_delete_batch(fd_, keys.data(), &count, &opts);
    *applied = count;
    if (rc != 0) return MapError(name_, "delete batch", errno);
    return absl::OkStatus();
  }

 private:
  int fd_ = -1;
  std::string name_;
};

// A per-CPU array map: one V per possible CPU per key.
template <typename V>
class PerCpuArray {
 public:
  PerCpuArray() = default;
  PerCpuArray(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  absl::StatusOr<std::vector<V>> Lookup(uint32_t index) const {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return MapError(name_, "count possible CPUs", -ncpu);
    std::vector<V> values(static_cast<size_t>(ncpu));
    if (bpf_map_lookup_elem(fd_, &index, values.data()) != 0) {
      return MapError(name_, "lookup", errno);
    }
    return values;
  }

 private:
  int fd_ = -1;
  std::string name_;
};

}  // namespace ila::internal

#endif  // ILA_LIB_BPF_MAP_H_
