// A tc filter that only counts what reaches it and lets it go on (TC_ACT_UNSPEC): put after the
// data plane's filter on one hook, it shows what the data plane left to the rest of the chain.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} seen SEC(".maps");

SEC("tc")
int count_filter(struct __sk_buff *skb) {
  (void)skb;
  __u32 zero = 0;
  __u64 *n = bpf_map_lookup_elem(&seen, &zero);
  if (n) __sync_fetch_and_add(n, 1);
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
