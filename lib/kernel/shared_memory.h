// Loads and stores of fields that the BPF programs and other processes read in memory-mapped maps
// (the slot tables' seqcounts, the journal's markers, the counts), in C++'s memory model:
// std::atomic_ref on the plain fields of the abi.h structs. What lies between an odd and an even
// seqcount is copied plainly and ordered by std::atomic_thread_fence around it (the seqlock
// pattern of Boehm, "Can seqlocks get along with programming language memory models?": a reader
// throws away a copy whose seqcount changed). The programs' side is xdp/barrier.h.
#ifndef ILA_LIB_KERNEL_SHARED_MEMORY_H_
#define ILA_LIB_KERNEL_SHARED_MEMORY_H_

#include <atomic>
#include <type_traits>

namespace ila::internal {

// The fields are never const in memory (the maps are mapped writable); a reader holds them const.
template <typename T>
T LoadAcquire(const T& field) {
  return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_acquire);
}
template <typename T>
T LoadRelaxed(const T& field) {
  return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_relaxed);
}
template <typename T>
void StoreRelease(T& field, std::type_identity_t<T> value) {
  std::atomic_ref<T>(field).store(value, std::memory_order_release);
}
template <typename T>
void StoreRelaxed(T& field, std::type_identity_t<T> value) {
  std::atomic_ref<T>(field).store(value, std::memory_order_relaxed);
}

}  // namespace ila::internal

#endif  // ILA_LIB_KERNEL_SHARED_MEMORY_H_
