// Memory ordering in the programs, in the kernel's words (tools/memory-model; the BPF selftests'
// bpf_atomic.h does the same): READ_ONCE/WRITE_ONCE for a load or store the compiler must do
// exactly once and where it stands, barrier() for the compiler alone, smp_rmb()/smp_wmb() for the
// CPU too. The userspace writers are in C++'s model (std::atomic_ref, lib/kernel/shared_memory.h).
//
// BPF has no fence instruction (load-acquire and store-release came with kernel 6.15 and need
// clang 20), so on a CPU that may reorder loads or stores smp_rmb()/smp_wmb() are a fetching
// atomic add on a stack word, which every JIT makes fully ordered. Where the CPU keeps loads in
// order and stores in order (x86: TSO) the JIT's plain loads and stores already are, and a
// compiler barrier is all it takes: the loader says which (cfg_loads_ordered, from the CPU it runs
// on, which is the one the programs run on), so x86 pays nothing.
#ifndef ILA_XDP_BARRIER_H_
#define ILA_XDP_BARRIER_H_

#include <linux/types.h>

// Load-time: the CPU keeps loads in order with loads and stores with stores (set by the loader).
const volatile __u8 cfg_loads_ordered = 0;

#define barrier() asm volatile("" ::: "memory")
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

static __always_inline void ila_full_barrier(void) {
  __u64 word = 0;
  __u64 old = __sync_fetch_and_add(&word, 0);
  asm volatile("" ::"r"(old) : "memory");  // the result used: the fetching (ordered) form
}

// Loads after it are not done before loads before it (the reader of a seqcount).
#define smp_rmb()          \
  do {                     \
    if (cfg_loads_ordered) \
      barrier();           \
    else                   \
      ila_full_barrier();  \
  } while (0)

// Stores after it are not seen before stores before it (the writer of a seqcount).
#define smp_wmb() smp_rmb()

#endif  // ILA_XDP_BARRIER_H_
