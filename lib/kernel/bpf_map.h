// TypedMap: with MappingSlots and LocatorSlots (tables written through their memory mappings),
// the only code in libila that calls bpf_map_*. Keys and values are the abi.h structs; every
// failure becomes an absl::Status naming the map, the operation and errno.
//
// Thread safety: the kernel makes each element operation atomic; callers serialise compound
// updates themselves (the tables hold a mutex).
#ifndef ILA_LIB_BPF_MAP_H_
#define ILA_LIB_BPF_MAP_H_

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
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

// The kernel's ENOTSUPP (524): what a map without a batch operation answers. Not in user headers.
inline constexpr int kKernelEnotsupp = 524;

absl::Status MapError(const std::string& map, const char* op, int err);

template <typename K, typename V>
class TypedMap {
  static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>);

 public:
  using Key = K;
  using Value = V;
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

  // The entries of a map read with bpf_map_lookup_batch (thousands per syscall).
  struct Entries {
    std::vector<K> keys;
    std::vector<V> values;
    bool complete = true;  // false: stopped after `limit` entries, the map holds more
  };

  // Every entry (or the first ones, when the map holds more than `limit`), read `chunk` at a time
  // with bpf_map_lookup_batch. Like get_next_key iteration, it tolerates concurrent updates: an
  // entry added or removed meanwhile may or may not appear, and none appears twice. Unimplemented
  // when the map type has no batch lookup (callers fall back to DumpByKey).
  //
  // The kernel's conventions (libbpf 1.1 passes them through): `count` is in/out, the number of
  // entries copied by this call, also when the call fails; the end of the map is ENOENT, possibly
  // with a last few entries in the same call; a hash map copies whole buckets and answers ENOSPC
  // (with nothing copied) when one bucket holds more than `count` entries, so the buffer grows
  // and the call is repeated from the same place.
  absl::StatusOr<Entries> DumpBatch(size_t limit = SIZE_MAX, uint32_t chunk = 8192) const {
    Entries out;
    if (chunk == 0) chunk = 1;
    // The batch cursor is opaque: a bucket index for hash maps, a key for arrays.
    alignas(8) unsigned char cursor[2][sizeof(K) > 8 ? sizeof(K) : 8];
    void* in = nullptr;
    void* next = cursor[0];
    for (;;) {
      size_t base = out.keys.size();
      out.keys.resize(base + chunk);
      out.values.resize(base + chunk);
      uint32_t count = chunk;
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      int rc = bpf_map_lookup_batch(fd_, in, next, out.keys.data() + base, out.values.data() + base,
                                    &count, &opts);
      int err = rc != 0 ? errno : 0;
      if (err != 0 && err != ENOENT) count = 0;
      if (count > chunk) count = chunk;  // never trust a count beyond the buffer
      out.keys.resize(base + count);
      out.values.resize(base + count);
      if (err == ENOENT) break;  // the end (entries of this last call already kept)
      if (err == ENOSPC && chunk < (1u << 24)) {
        chunk *= 2;  // one bucket is bigger than the buffer: retry the same bucket
        continue;
      }
      if (err == EINVAL || err == EOPNOTSUPP || err == kKernelEnotsupp) {
        return absl::UnimplementedError(absl::StrCat(
            "bpf map ", name_, ": batch lookup not supported (", std::strerror(err), ")"));
      }
      if (err != 0) return MapError(name_, "lookup batch", err);
      if (out.keys.size() >= limit) {
        out.complete = false;
        break;
      }
      in = next;
      next = next == cursor[0] ? cursor[1] : cursor[0];
    }
    out.keys.shrink_to_fit();
    out.values.shrink_to_fit();
    return out;
  }

  // Every entry: DumpBatch, or get_next_key + lookup per entry for maps without batch lookup.
  absl::StatusOr<std::vector<std::pair<K, V>>> Dump() const {
    auto batch = DumpBatch();
    if (absl::IsUnimplemented(batch.status())) return DumpByKey();
    if (!batch.ok()) return batch.status();
    std::vector<std::pair<K, V>> out;
    out.reserve(batch->keys.size());
    for (size_t i = 0; i < batch->keys.size(); ++i)
      out.emplace_back(batch->keys[i], batch->values[i]);
    return out;
  }

  // Every entry, iterating with get_next_key (two syscalls per entry), which tolerates concurrent
  // updates (an entry added or removed meanwhile may or may not appear).
  absl::StatusOr<std::vector<std::pair<K, V>>> DumpByKey() const {
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

  // bpf_map_update_batch, at most `chunk` entries per syscall. On failure the kernel has applied
  // a prefix of the batch; `applied` says how many (callers roll back). `count` is in/out in the
  // kernel: the entries processed, the failing one excluded.
  absl::Status UpdateBatch(std::span<const K> keys, std::span<const V> values, uint32_t* applied,
                           uint64_t elem_flags = BPF_ANY, size_t chunk = 1u << 20) const {
    *applied = 0;
    if (keys.size() != values.size()) {
      return absl::InternalError(absl::StrCat("bpf map ", name_, ": update batch of ", keys.size(),
                                              " keys and ", values.size(), " values"));
    }
    if (chunk == 0) chunk = 1;
    size_t done = 0;
    while (done < keys.size()) {
      size_t n = std::min(chunk, keys.size() - done);
      uint32_t count = static_cast<uint32_t>(n);
      LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = elem_flags);
      int rc = bpf_map_update_batch(fd_, keys.data() + done, values.data() + done, &count, &opts);
      int err = rc != 0 ? errno : 0;
      done += std::min<size_t>(count, n);
      *applied = static_cast<uint32_t>(done);
      if (rc != 0) return MapError(name_, "update batch", err);
      if (count < n) return MapError(name_, "update batch", EIO);  // short without an error
    }
    return absl::OkStatus();
  }

  // bpf_map_delete_batch: stops at the first key that fails (ENOENT for an absent key); `applied`
  // says how many were deleted before it.
  absl::Status DeleteBatch(std::span<const K> keys, uint32_t* applied) const {
    uint32_t count = static_cast<uint32_t>(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc = bpf_map_delete_batch(fd_, keys.data(), &count, &opts);
    int err = rc != 0 ? errno : 0;
    *applied = std::min<uint32_t>(count, static_cast<uint32_t>(keys.size()));
    if (rc != 0) return MapError(name_, "delete batch", err);
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
