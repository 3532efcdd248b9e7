// XDP programs the benchmark suite drives libila's data plane with, and the references it is
// measured against. Nothing here is part of the data plane.
//
//   bench_refresh   restores the frame from a template (and optionally draws its destination from a
//                   table), then tail-calls the program under test (bench_next[0]). The data plane
//                   rewrites frames in place and neither BPF_PROG_RUN mode restores the bytes
//                   between repetitions (see docs/performance.md), so this is what makes every
//                   repetition see a fresh frame: the traffic generator of the live runs and the
//                   "repeat with refresh" method of the per-packet runs.
//   bench_empty     XDP_PASS, the same as xdp/baseline.bpf.c's xdp_empty but callable from
//                   bench_refresh (a tail call needs a program of the same object's prog array).
//   bench_pass      XDP_PASS: with live frames the frame enters the kernel's stack (kernel
//                   forwarding, no XDP work).
//   bench_redirect  bare devmap redirect, no parsing, no rewriting: the ceiling.
//   bench_sink      counts what arrives on an interface (and of which kind: plain UDP, VXLAN, SRv6
//                   with an SRH, IPv6-in-IPv6) and drops it.
//   bench_plain_hash a plain BPF hash keyed by the 128-bit destination (abi.h's mapping key and
//                   value, as the forwarding cache's ila_mappings), the ILA address copied into the
//                   destination: the lookup cost a translator cannot avoid, for reference.
//   bench_slots_lookup the same lookup and rewrite, bare, in libila's own slot table: the data
//                   plane's ila_slots itself (the loader reuses its map, abi.h's layout, filled by
//                   the library), read with the reader side of its seqcount and nothing else (no
//                   endpoint, no journal, no bpf_loop).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "abi.h"
#include "bench_abi.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct bench_template);
} bench_template SEC(".maps");

// Destinations the refresh program cycles through (bench_template.ndests of them).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);  // sized by the loader
  __type(key, __u32);
  __type(value, struct ila_addr);
} bench_dests SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} bench_seq SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} bench_next SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct bench_count);
} bench_sink_count SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} bench_tx SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);  // sized by the loader
  __type(key, struct ila_mapping_key);
  __type(value, struct ila_mapping_value);
} bench_plain SEC(".maps");

SEC("xdp")
int bench_refresh(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  __u32 zero = 0;
  struct bench_template *t = bpf_map_lookup_elem(&bench_template, &zero);
  if (!t) return XDP_ABORTED;
  if (data + BENCH_HEADER_LEN > data_end) return XDP_ABORTED;
  // Word copies. A byte-array memcpy is 54 byte stores (clang does not know the alignment), about
  // 20 ns that the empty baseline waits for but a longer program under test partly hides behind
  // its own work: its cost over empty came out ~10 ns low (docs/performance.md).
  const __u64 *from = (const __u64 *)t->header;
  __u64 *to = data;
  to[0] = from[0];
  to[1] = from[1];
  to[2] = from[2];
  to[3] = from[3];
  to[4] = from[4];
  to[5] = from[5];
  *(__u32 *)(data + 48) = *(const __u32 *)(t->header + 48);
  *(__u16 *)(data + 52) = *(const __u16 *)(t->header + 52);
  if (t->csum_offset) {
    __u32 off = t->csum_offset & 0xff;
    __u16 *field = data + off;
    if ((void *)(field + 1) > data_end) return XDP_ABORTED;
    *field = t->csum;
  }
  if (t->ndests) {
    __u64 *seq = bpf_map_lookup_elem(&bench_seq, &zero);
    if (!seq) return XDP_ABORTED;
    __u32 i = (__u32)(*seq % t->ndests);
    *seq += 1;
    struct ila_addr *d = bpf_map_lookup_elem(&bench_dests, &i);
    if (!d) return XDP_ABORTED;
    // The destination address sits at 14 + 24 (checked above: inside BENCH_HEADER_LEN).
    __u64 *dst = data + 14 + 24;  // words, as above
    dst[0] = ((const __u64 *)d->bytes)[0];
    dst[1] = ((const __u64 *)d->bytes)[1];
  }
  bpf_tail_call(ctx, &bench_next, 0);
  return XDP_ABORTED;
}

SEC("xdp")
int bench_empty(struct xdp_md *ctx) {
  (void)ctx;
  return XDP_PASS;
}

SEC("xdp")
int bench_pass(struct xdp_md *ctx) {
  (void)ctx;
  return XDP_PASS;
}

SEC("xdp")
int bench_redirect(struct xdp_md *ctx) {
  (void)ctx;
  return bpf_redirect_map(&bench_tx, 0, 0);
}

static __always_inline __u32 bench_kind_of(void *data, void *data_end) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return BENCH_KIND_OTHER;
  if (eth->h_proto != bpf_htons(ETH_P_IPV6)) return BENCH_KIND_OTHER;
  struct ipv6hdr *ip6 = (void *)(eth + 1);
  if ((void *)(ip6 + 1) > data_end) return BENCH_KIND_OTHER;
  if (ip6->nexthdr == 43) return BENCH_KIND_SRH;
  if (ip6->nexthdr == 41) return BENCH_KIND_IP6IP6;
  if (ip6->nexthdr != 17) return BENCH_KIND_OTHER;
  __be16 *ports = (void *)(ip6 + 1);
  if ((void *)(ports + 2) > data_end) return BENCH_KIND_OTHER;
  return ports[1] == bpf_htons(4789) ? BENCH_KIND_VXLAN : BENCH_KIND_UDP;
}

SEC("xdp")
int bench_sink(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  __u32 zero = 0;
  struct bench_count *c = bpf_map_lookup_elem(&bench_sink_count, &zero);
  if (c) {
    c->packets += 1;
    c->bytes += data_end - data;
    __u32 kind = bench_kind_of(data, data_end);
    if (kind < BENCH_KINDS) c->kind[kind] += 1;
  }
  return XDP_DROP;
}

// The IPv6 header of an Ethernet frame, or NULL with the verdict for a frame that has none
// (dropped when cut short, passed when of another EtherType).
static __always_inline struct ipv6hdr *bench_ipv6(struct xdp_md *ctx, int *verdict) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  *verdict = XDP_DROP;
  if ((void *)(eth + 1) > data_end) return NULL;
  *verdict = XDP_PASS;
  if (eth->h_proto != bpf_htons(ETH_P_IPV6)) return NULL;
  struct ipv6hdr *ip6 = (void *)(eth + 1);
  *verdict = XDP_DROP;
  if ((void *)(ip6 + 1) > data_end) return NULL;
  return ip6;
}

SEC("xdp")
int bench_plain_hash(struct xdp_md *ctx) {
  int verdict;
  struct ipv6hdr *ip6 = bench_ipv6(ctx, &verdict);
  if (!ip6) return verdict;
  struct ila_mapping_value *v = bpf_map_lookup_elem(&bench_plain, &ip6->daddr);
  if (!v) return XDP_PASS;
  __builtin_memcpy(&ip6->daddr, &v->ila, sizeof(v->ila));
  return XDP_DROP;
}

// libila's slot table (abi.h, ila_slots): 2^bench_slot_bits slots. The loader makes this map the
// data plane's own ila_slots (bpf_map__reuse_fd) and sets the bits from its size.
const volatile __u32 bench_slot_bits = 1;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);  // the data plane's table, or a placeholder
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ila_mapping_slot);
} bench_slots SEC(".maps");

// The destination's slot, probed from its home slot (ila_slot_home) as abi.h says: a slot never
// used, or free again, ends the run; a slot being written (odd seqcount) holding the key is a miss
// here, where the data plane would read the write's journal. A mapping found rewrites the
// destination as the data plane does: the locator, then the SIR identifier with its last 16 bits
// replaced and maybe the C-bit set.
SEC("xdp")
int bench_slots_lookup(struct xdp_md *ctx) {
  int verdict;
  struct ipv6hdr *ip6 = bench_ipv6(ctx, &verdict);
  if (!ip6) return verdict;
  __u64 k0, k1;
  __builtin_memcpy(&k0, &ip6->daddr, 8);
  __builtin_memcpy(&k1, (__u8 *)&ip6->daddr + 8, 8);
  const __u32 bits = bench_slot_bits;
  const __u32 mask = bits >= 31 ? 0x7fffffffu : (1u << bits) - 1;
  __u32 idx = ila_slot_home(k0, k1, bits);
  for (int i = 0; i < ILA_SLOT_PROBES; ++i) {
    const struct ila_mapping_slot *slot = bpf_map_lookup_elem(&bench_slots, &idx);
    if (!slot) return XDP_PASS;
    const __u16 seq = *(volatile __u16 *)&slot->seq;
    // Nothing of the slot may be loaded before its seqcount.
    asm volatile("" ::: "memory");
    if (seq == 0) return XDP_PASS;             // never used: the key is not in the table
    const __u64 *words = (const __u64 *)slot;  // key (2 words), locator, the rest
    if (words[0] == k0 && words[1] == k1) {
      const __u64 locator = words[2];
      const __u64 rest = words[3];  // identifier_low_be, transport_delta_be, csum_mode, flags, seq
      // x86 keeps loads in order; the compiler must too. A changed or odd seqcount means the
      // writer was in the slot: the copy may be torn, so it is not used.
      asm volatile("" ::: "memory");
      if ((seq & 1) || *(volatile __u16 *)&slot->seq != seq) return XDP_PASS;
      const __u8 flags = rest >> 40;
      if (!(flags & ILA_SLOT_F_MAPPING)) return XDP_PASS;
      __u64 *daddr = (__u64 *)&ip6->daddr;
      daddr[0] = locator;
      daddr[1] = (k1 & 0x0000ffffffffffffULL) | (rest & 0xffff) << 48 |
                 ((flags & ILA_SLOT_F_C_BIT) ? ILA_C_BIT : 0);
      return XDP_DROP;
    }
    if (!(seq & 1) && (slot->flags & ILA_SLOT_F_FREE)) return XDP_PASS;
    idx = (idx + 1) & mask;
  }
  return XDP_PASS;
}

// bpf_fib_lookup of the frame's destination and nothing else (what forwarding a translated
// packet costs on top of the translation): a component of the data plane's remote path.
SEC("xdp")
int bench_fib_only(struct xdp_md *ctx) {
  int verdict;
  struct ipv6hdr *ip6 = bench_ipv6(ctx, &verdict);
  if (!ip6) return verdict;
  struct bpf_fib_lookup fib = {};
  fib.family = 10;  // AF_INET6
  fib.l4_protocol = ip6->nexthdr;
  fib.tot_len = bpf_ntohs(ip6->payload_len) + sizeof(struct ipv6hdr);
  fib.ifindex = ctx->ingress_ifindex;
  __builtin_memcpy(fib.ipv6_src, &ip6->saddr, 16);
  __builtin_memcpy(fib.ipv6_dst, &ip6->daddr, 16);
  long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
  return rc == BPF_FIB_LKUP_RET_SUCCESS ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
