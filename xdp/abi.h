// The one definition of every map key and value that the XDP programs and the C++ library share.
// Included by BPF C (xdp/*.bpf.c) and by C++ (lib/); layout is asserted at the bottom and checked
// again by the library against the BTF of the loaded object.
//
// Byte order: every field whose name ends in _be is in network byte order, exactly as the bytes
// appear in a packet (addresses, checksum deltas); everything else is host order. The library
// converts once, when it writes an entry.
#ifndef ILA_XDP_ABI_H_
#define ILA_XDP_ABI_H_

#include <linux/types.h>

#ifdef __cplusplus
#define ILA_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
namespace ila::abi {
#else
#define ILA_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

// Bumped whenever any layout below changes; pinned maps record it so that a newer library never
// misreads an older instance's maps.
#define ILA_ABI_VERSION 15

// enum ChecksumMode in include/ila/types.h, as stored in maps.
enum ila_csum_mode {
  ILA_CSUM_ADJUST_TRANSPORT = 0,
  ILA_CSUM_NEUTRAL_MAP = 1,
  ILA_CSUM_NO_ACTION = 2,
  ILA_CSUM_NEUTRAL_MAP_AUTO = 3,
  ILA_CSUM_ADJUST_TRANSPORT_LINUX_COMPAT = 100,
};

// A 128-bit IPv6 address as it appears on the wire.
struct ila_addr {
  __u8 bytes[16];
};

// ila_mappings (a forwarding cache's LRU hash; a full data plane keeps its mappings in
// ila_slots below): SIR destination -> the ILA destination to write, precomputed by the
// control plane
// (neutral adjustment included), so translation per packet is one 16-byte copy plus, for
// adj-transport, one checksum fold.
struct ila_mapping_key {
  struct ila_addr sir;
};
struct ila_mapping_value {
  struct ila_addr ila;
  // One's-complement (new - old) of the address's 16-bit sum, for adj-transport; the Linux-compat
  // mode stores (old - new). Zero for the other modes.
  __u16 transport_delta_be;
  __u8 csum_mode;  // enum ila_csum_mode
  __u8 pad[5];
};

// ila_reverse: ILA destination -> SIR destination, for translating the quoted packet of an ICMPv6
// error back to what the sender sent. Maintained with ila_mappings.
struct ila_reverse_value {
  struct ila_addr sir;
  __u16 address_delta_be;  // one's-complement sum(SIR) - sum(ILA); zero for the neutral modes
  __u8 csum_mode;
  __u8 pad[5];
};

// ila_locators: locators this host owns (key: upper 64 bits of the destination, wire order) ->
// how to restore the SIR destination. ila_cluster_locators holds the same for the other hosts'
// locators: enough to translate any quoted ILA destination back (an ICMPv6 error about a packet
// the ILA router translated) and to know an ILA address when a container writes one.
struct ila_locator_key {
  __u8 locator_be[8];
};
struct ila_locator_value {
  __u8 sir_prefix_be[8];
  // Added (one's complement) to the identifier's low 16 bits by neutral-map (only when the C-bit
  // is set, then cleared) and neutral-map-auto: (locator - SIR prefix), plus 0x1000 for neutral-map.
  __u16 identifier_delta_be;
  // adj-transport: one's complement (SIR prefix - locator); Linux-compat: (locator - SIR prefix).
  __u16 transport_delta_be;
  __u8 csum_mode;
  __u8 flags;  // ILA_LOCATOR_F_*
  __u8 pad[2];
};
// A re-forward locator: the destination of packets a host re-forwarded (their container had moved
// away from it). What arrives on one is delivered to a container here or dropped, never forwarded
// again, so two hosts whose mappings disagree cannot bounce a packet between them.
#define ILA_LOCATOR_F_REFORWARD 1

// ila_reforward_locators: a locator (this host's, or another host's in ila_cluster_locators) ->
// the re-forward locator of the same host that stands for it in re-forwarded packets. The two
// have the same one's-complement sum, so the mapping's checksum deltas hold for either (the
// library refuses a pair that does not).

// ila_endpoints: SIR address of a container on this host -> how to deliver to it.
struct ila_endpoint_key {
  struct ila_addr sir;
};
struct ila_endpoint_value {
  __u32 ifindex;     // host-side interface of the container's veth pair
  __u8 mac[6];       // the container's MAC (destination of delivered frames)
  __u8 host_mac[6];  // the host-side interface's MAC (their source)
  __u8 flags;        // ILA_ENDPOINT_F_*
  __u8 pad[3];
};

// The interface is one end of a veth pair whose other end is the container's: the tc programs
// deliver with bpf_redirect_peer(), straight into the container's namespace (the skb keeps its
// GSO and checksum state, and no XDP program is needed on the way). Without it they redirect to
// the interface's egress.
#define ILA_ENDPOINT_F_PEER 0x1

// ila_slots: the SIR addresses this data plane knows, by open addressing in one array of 2^bits
// slots (lib/kernel/object.h, MappingSlotBits: at least twice the mappings and endpoints it may hold).
// A slot holds, for one SIR address, its mapping (a full data plane's mapping table; a
// forwarding cache keeps mappings in the LRU hash ila_mappings) and whether the container is on
// this host, with its endpoint at the same index of ila_slot_endpoints: one lookup answers "here,
// or where?" and checks a container's source.
// A key lives in the first free slot at or after its home slot (ila_slot_home), at most
// ILA_SLOT_PROBES slots on. A slot is 32 bytes, half a cache line: a lookup that hits its home
// slot reads one line where a kernel hash reads its bucket and then the element (two dependent
// cache misses once the table outgrows the caches), and the table a large deployment's lookups
// spread over is half the size, which matters once those lookups miss the TLB too
// (docs/performance.md, "Layout").
// The mapping is kept in the form the translation needs: the ILA address is the SIR address with
// the locator in the upper half, the identifier's last 16 bits replaced (neutral-map) and the
// C-bit set when ILA_SLOT_F_C_BIT says so (neutral-map); everything else of the identifier is the
// SIR address's own. lib/tables/mapping_slots.cc converts to and from ila_mapping_value, and refuses a
// mapping that does not have that form.
// The control plane writes slots through the map's memory mapping; `seq` makes each write appear
// whole, the endpoint at the same index included: odd while a slot changes. A reader that sees its
// address's slot odd takes the write's result from the journal in ila_slot_state (the writer
// records it there first), and one that sees the slot changed while it read reads again.
struct ila_mapping_slot {
  struct ila_mapping_key key;  // all zero when removed or free
  __u8 locator_be[8];          // when flags & ILA_SLOT_F_MAPPING: the ILA address's upper half
  __u16 identifier_low_be;     // the ILA address's last 16 bits
  __u16 transport_delta_be;    // as ila_mapping_value
  __u8 csum_mode;              // as ila_mapping_value
  __u8 flags;                  // ILA_SLOT_F_*; 0 with seq != 0: removed (lookups probe on past it)
  // Odd while being written. Only ever counts up (a reader that read the same value twice read
  // one version, however many writes fell in between would have to wrap 2^16 first).
  __u16 seq;
};

#define ILA_C_BIT 0x10  // the C-bit in the identifier's first byte (address byte 8)

#define ILA_SLOT_F_MAPPING 0x1
#define ILA_SLOT_F_ENDPOINT 0x2  // ila_slot_endpoints holds the endpoint at this slot's index
#define ILA_SLOT_F_C_BIT 0x4     // the mapping sets the C-bit (neutral-map)
// The control plane's record of the mapping's identifier type (ila_mapping_value.pad[0] in
// ila_mappings), 0-5 as enum IdentifierType and 7 for use-format; the programs ignore it.
#define ILA_SLOT_F_IDENT_TYPE_SHIFT 3
#define ILA_SLOT_F_IDENT_TYPE_MASK 0x38
// Free again (lookups stop here, as at a slot never used, seq 0): a removed slot that nothing
// probes past any more.
#define ILA_SLOT_F_FREE 0x80

#define ILA_SLOT_PROBES 64

// ila_slot_endpoints: the local endpoint of the address in ila_slots at the same index (when that
// slot says ILA_SLOT_F_ENDPOINT), written under that slot's seqcount. Apart from the slots so that
// a lookup of a remote destination, the common case, reads 32 bytes.
struct ila_slot_endpoint {
  struct ila_endpoint_value endpoint;
  // To 32 bytes: a multiple of 8 (the array's element stride, so the memory mapping is an array of
  // these) that never straddles a cache line.
  __u8 pad[12];
};

// ila_slot_state: the writers' bookkeeping for ila_slots, in one mmapable array entry. The data
// plane reads the journal only when it finds its address's slot in the middle of a write (odd):
// the journal holds that write's result, which a writer preempted (or dead) in the middle of it
// would otherwise keep from readers for as long as it is away.
struct ila_mapping_slot_state {
  __u64 count;        // live mappings in slots
  __u32 writing;      // 1 + the index of the slot a writer is changing; 0: none. Non-zero when the
                      // writer lock is free means a writer died mid-write: the next one finishes it
                      // from the journal below.
  __u32 journal_seq;  // odd while the journal is written (a seqcount, as a slot's)
  // The write in progress, recorded before the slot is touched: its whole new contents (with the
  // endpoint at its index) and the count after it.
  struct ila_mapping_slot journal;
  struct ila_slot_endpoint journal_endpoint;
  __u64 journal_count;
};

// The home slot of a SIR address (its two 64-bit halves as loaded from the wire bytes on this
// machine) in a table of 2^bits slots, 1 <= bits <= 31: multiply-xor mixing and the top bits, so
// that identifiers differing anywhere spread over the whole table.
static inline __u32 ila_slot_home(__u64 k0, __u64 k1, __u32 bits) {
  __u64 x = (k0 ^ (k1 * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
  return (__u32)(x >> (64 - bits));
}

// ila_sources: host-side container interface -> one of the SIR addresses registered on it (an
// interface may serve several; each is checked in its own slot). The programs read it only to
// tell an interface without an endpoint from a spoofed source.
struct ila_source_key {
  __u32 ifindex;
};
struct ila_source_value {
  struct ila_addr sir;
};

// ila_sir_prefixes: SIR prefixes (wire order) this data plane translates; destinations outside
// them are ordinary traffic.
struct ila_sir_prefix_key {
  __u8 prefix_be[8];
};
struct ila_sir_prefix_value {
  __u32 flags;  // reserved
};

// ila_prefix_rules: pairs of SIR prefixes (tenants) whose containers may reach each other. Traffic
// stays within its SIR prefix unless a rule links the two; a rule is stored in both orders, so
// that one lookup by (source prefix, destination prefix) answers it, and replies pass.
struct ila_prefix_rule_key {
  __u8 from_be[8];
  __u8 to_be[8];
};
struct ila_prefix_rule_value {
  __u32 flags;  // reserved
};

// ila_nexthop_cache: what bpf_fib_lookup answered for a translated destination, by its locator,
// so that the next packet to that locator skips the FIB walk (most of a remote packet's cost).
// A direct-mapped array of 2^bits entries (at least twice DataplaneConfig::max_nexthops),
// indexed by ila_nexthop_index of the locator and holding the locator it answers for: a lookup is
// an array access the verifier inlines, where a hash map costs a helper call and a hash. Two
// locators that share an entry take it in turns (each change costs one FIB walk).
// Learned by the programs, only from answers through a gateway (one neighbour serves the whole
// locator); trusted only while `epoch` equals ila_nexthop_epoch, which the control plane changes
// on every route, rule, neighbour, link, address or forwarding change (and sets to 0 to switch
// the cache off). `max_len` is the longest packet the FIB accepted for it (MTU).
// Written only by the programs, on any CPU: a writer takes the entry by moving `seq` from even to
// odd with a compare-and-swap (and leaves it to the other CPU when that fails), and makes it even
// again when done; a reader uses a copy only when `seq` was even and unchanged around it.
struct ila_nexthop_entry {
  __u8 locator_be[8];
  __u64 epoch;
  __u8 macs[12];  // destination MAC, then source MAC: the Ethernet header's first 12 bytes
  __u32 ifindex;  // egress
  __u16 max_len;  // IPv6 total length known to fit the path
  __u16 pad;
  __u32 seq;
};

// ila_nexthop_epoch: entry 0 is what the programs read: the epoch ila_nexthop_cache entries must
// carry (0: cache off), and the lease: until when (CLOCK_MONOTONIC_COARSE, ns; what
// bpf_ktime_get_coarse_ns reads) the cache may be used at all. Keepers (lib/nexthop) renew the
// lease every fraction of a second, so a keeper killed without a word (SIGKILL) leaves a cache
// that goes off by itself when the lease runs out. Entries 1..ILA_NEXTHOP_KEEPERS are the keepers'
// own leases (holder_pid, until_ns; epoch unused): entry 0's lease is the longest of them, so a
// keeper that stops takes back only its own, and the cache goes off when the last one stops.
// Written by the keepers only, under the map's writers' lock (lib/kernel/map_writer_lock.h).
#define ILA_NEXTHOP_KEEPERS 16
struct ila_nexthop_lease {
  __u64 epoch;
  __u64 until_ns;
  __u32 holder_pid;  // keepers' entries: the process that holds it (for diagnostics)
  __u32 pad;
  // Entry 0, written by the programs: the jiffy in which one found the lease running (the clock
  // is read once a jiffy, not once a packet; a keeper's write sets it 0).
  __u64 checked_jiffies;
};

// The entry of a locator (its 8 bytes as loaded from the wire on this machine) in a cache of
// 2^bits entries, 1 <= bits <= 31.
static inline __u32 ila_nexthop_index(__u64 locator, __u32 bits) {
  return (__u32)((locator * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

// ila_locator_table: this host's locators (ila_locators, which stays the control plane's record)
// in the form the programs look them up: open addressing in one mmapable array of 2^bits entries
// (at least four times DataplaneConfig::max_locators), so that from_uplink finds its locator with
// inlined array accesses instead of a hash-map helper call (≈ 20 ns here). A locator lives in the
// first usable entry at or after ila_locator_home, at most ILA_LOCATOR_PROBES entries on; an empty
// entry (never used, or emptied again) ends every probe run. `seq` only ever counts up, so a
// reader whose two reads of it agree read one entry, not two that followed each other there.
// Written only by the control plane (lib/tables/locator_slots.cc), through the memory mapping, and never
// in place where there is room: a changed locator is written whole into another entry of its run
// and only then is the old entry marked removed. A reader skips every entry being written (seq
// odd, or changed while it was read), so what it finds is whole; and since a reader passing the
// new entry before it is written may reach the old one after it is removed, the table has one
// entry more, the last (index 2^bits), whose `seq` is the table's generation: odd while a writer
// changes the table. A reader that found nothing while the generation moved looks again.
struct ila_locator_entry {
  __u8 locator_be[8];
  struct ila_locator_value value;
  __u32 seq;   // odd: being written
  __u8 state;  // ILA_LOCATOR_ENTRY_*
  __u8 pad[3];
};
#define ILA_LOCATOR_ENTRY_EMPTY 0
#define ILA_LOCATOR_ENTRY_LIVE 1
#define ILA_LOCATOR_ENTRY_REMOVED 2
#define ILA_LOCATOR_PROBES 8

// ila_locator_filter: one bit per hash of every locator of this host and of the cluster table
// (ila_locator_filter_bit), so that a container's packet to a destination outside the overlay, which
// is no locator, is told so with one load instead of a probe of ila_locator_table and a hash
// lookup in ila_cluster_locators. A set bit only means "look". Written by the control plane: a
// locator's bit is set before the locator is added; the filter is rebuilt after one is removed.
#define ILA_LOCATOR_FILTER_WORDS 64
struct ila_locator_filter {
  __u64 words[ILA_LOCATOR_FILTER_WORDS];
};
static inline __u32 ila_locator_filter_bit(__u64 locator) {
  return (__u32)((locator * 0xC2B2AE3D27D4EB4FULL) >> 52);  // 12 bits: 64 words of 64
}

// The home entry of a locator (its 8 bytes as loaded from the wire on this machine) in a table of
// 2^bits entries, 1 <= bits <= 31.
static inline __u32 ila_locator_home(__u64 locator, __u32 bits) {
  return (__u32)(((locator ^ 0x5bd1e9955bd1e995ULL) * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

// Every outcome a program can reach, counted per CPU in ila_stats (packets and bytes). Names in
// lib/stats/stats.cc; keep both in step (checked by a test over ILA_STAT__COUNT).
enum ila_stat {
  // forwarded by XDP
  ILA_STAT_TX_REMOTE = 0,     // SIR->ILA, redirected to the uplink
  ILA_STAT_TX_LOCAL,          // container to container on this host, no translation
  ILA_STAT_RX_DELIVERED,      // ILA->SIR, redirected into a container
  ILA_STAT_RX_REFORWARDED,    // ILA->SIR for a container that moved, re-translated, forwarded
  ILA_STAT_ROUTER_FORWARDED,  // router role: SIR->ILA and forwarded
  // handed to the kernel
  ILA_STAT_PASS_NOT_IPV6,
  ILA_STAT_PASS_LINK_LOCAL,         // link-local or multicast destination or source (ND, DAD, MLD)
  ILA_STAT_PASS_NOT_SIR,            // destination outside every SIR prefix
  ILA_STAT_PASS_NOT_LOCAL_LOCATOR,  // uplink: destination locator is not this host's
  ILA_STAT_PASS_HOP_LIMIT,          // hop limit <= 1: the kernel answers with Time Exceeded
  ILA_STAT_PASS_MISS,               // no mapping, miss policy pass: untranslated toward a router
  ILA_STAT_PASS_NO_NEIGHBOUR,       // translated; the kernel resolves the neighbour and forwards
  ILA_STAT_PASS_FIB,                // translated; the FIB says the kernel must handle it
  ILA_STAT_PASS_EGRESS_NOT_REDIRECTABLE,  // egress device is not in the devmap
  // dropped
  ILA_STAT_DROP_SPOOFED_SOURCE,
  ILA_STAT_DROP_UNREGISTERED_INTERFACE,  // container interface without a registered endpoint
  ILA_STAT_DROP_MISS,                    // no mapping, miss policy drop
  ILA_STAT_DROP_ROUTER_MISS,             // router role: SIR destination without a mapping
  ILA_STAT_DROP_ENDPOINT_GONE,           // uplink: no local endpoint, moved policy drop
  ILA_STAT_DROP_TRUNCATED,               // shorter than its Ethernet/IPv6 header
  ILA_STAT_DROP_BAD_VERSION,             // EtherType IPv6 but version != 6
  ILA_STAT_DROP_BAD_LENGTH,              // payload length runs past the end of the frame
  // observations (counted besides one of the outcomes above)
  ILA_STAT_TRANSPORT_NOT_ADJUSTED,  // adj-transport with no transport header right after
                                    // the IPv6 header: address translated, checksum left
  ILA_STAT_ICMP_INNER_TRANSLATED,   // ICMPv6 error: quoted destination translated to SIR
  ILA_STAT_ICMP_INNER_UNKNOWN,      // ICMPv6 error quoting an ILA address we cannot map
  ILA_STAT_MISS_EVENT,              // a miss event was sent to the control plane
  ILA_STAT_MISS_EVENT_LOST,         // a miss event was due but the ring buffer was full
  ILA_STAT_STEERED,                 // uplink: handed to another CPU through the cpumap
  ILA_STAT_NEXTHOP_LEARNED,         // a FIB answer was stored in ila_nexthop_cache
  ILA_STAT_NEXTHOP_HIT,             // forwarded with a stored FIB answer (no FIB walk)
  // New counters go here, at the end: each takes a spare entry of ila_stats (ILA_STAT_CAPACITY).
  ILA_STAT_DROP_VLAN_TAGGED,        // a container's frame with an 802.1Q/802.1ad tag
  ILA_STAT_PASS_NOT_FOR_THIS_HOST,  // uplink/router: to another host's MAC (the kernel drops it)
  ILA_STAT_MISS_EVENT_LIMITED,      // a miss event was due but its interface's budget was spent
  ILA_STAT_DROP_LOOP,  // uplink: a container gone, its mapping says this host: would loop back
  ILA_STAT_DROP_CROSS_PREFIX,          // a container's packet to another SIR prefix, no rule
  ILA_STAT_DROP_CROSS_PREFIX_ARRIVAL,  // uplink: from another SIR prefix than the container's
  ILA_STAT_DROP_ILA_DESTINATION,       // a container addressed an ILA address (a locator) directly
  ILA_STAT_PASS_TOO_BIG,  // host: too big for the route to its locator: to the kernel untranslated
  ILA_STAT_DROP_REFORWARD_LOOP,  // uplink: re-forwarded here once, and the container is not here
  ILA_STAT__COUNT
};

// ila_stats has room for this many counters, so that a counter added later takes a spare entry
// instead of changing the map's layout: an older build reading a newer instance ignores it, a newer
// build reading an older instance reads 0 (docs/abi.md).
#define ILA_STAT_CAPACITY 64
ILA_STATIC_ASSERT(ILA_STAT__COUNT <= ILA_STAT_CAPACITY, "ila_stats is full: raise its capacity");

// What the programs know of an interface they run on: its MAC, so that XDP, which runs before the
// kernel looks at the destination MAC, translates only frames sent to this host (the kernel's
// PACKET_HOST). Written before the program is attached, for uplinks and routers. ila_interfaces is
// an array indexed by ila_interface_slot(ifindex), which the verifier turns into a few
// instructions (a hash lookup cost the uplink path ~45 ns); `ifindex` says whose entry it is, and
// two interfaces of one data plane whose slots meet are refused at attach.
#define ILA_INTERFACE_SLOTS 1024
struct ila_interface_value {
  __u32 ifindex;  // 0: free
  __u8 mac[6];
  __u8 pad[2];
};
ILA_STATIC_ASSERT(sizeof(struct ila_interface_value) == 12, "ila_interface_value");

static inline __u32 ila_interface_slot(__u32 ifindex) {
  return ifindex & (ILA_INTERFACE_SLOTS - 1);
}

struct ila_stat_value {
  __u64 packets;
  __u64 bytes;
};

// ila_miss_events (ring buffer): a from_container miss, at most one per destination per
// configured interval; `suppressed` counts the misses to that destination since the last event.
struct ila_miss_event {
  struct ila_addr destination;
  __u32 ifindex;  // container interface the packet came from
  __u32 pad;
  __u64 suppressed;
};
// ila_miss_state (LRU): the per-destination rate limiter behind those events.
struct ila_miss_state {
  __u64 last_event_ns;
  __u64 suppressed;
};

// ila_steer: the CPUs the uplink's steering program spreads flows over (cpumap steering).
#define ILA_MAX_STEER_CPUS 64
struct ila_steer_config {
  __u32 count;  // 0: steering off
  __u32 cpus[ILA_MAX_STEER_CPUS];
};

// ila_meta (control plane only): what a pinned instance was created with, so that Open() and
// Upgrade() adopt it with the same options and refuse a different layout.
struct ila_meta {
  __u32 abi_version;
  __u8 miss_policy;
  __u8 moved_policy;
  __u8 forwarding_cache;  // ila_mappings/ila_reverse are LRU (a bounded cache filled on misses)
  __u8 nexthop_cache;     // a library process keeps ila_nexthop_epoch (see DataplaneConfig)
  __u64 miss_interval_ns;
  __u32 max_mappings;
  __u32 max_endpoints;
  __u32 max_locators;
  __u32 max_sir_prefixes;
  __u32 max_nexthops;
  __u32 nexthop_refresh_ms;
  __u32 miss_event_rate;   // events a second per container interface (0: no limit)
  __u32 miss_event_burst;  // events an interface may raise at once
  __u32 max_prefix_rules;
  __u32 max_cluster_locators;
};

// ila_miss_budgets, by container interface (ifindex): the miss events it may still raise, as the
// theoretical arrival time of its next event (the generic cell rate algorithm): an event is allowed
// while tat_ns - now <= burst intervals, and moves tat_ns one interval on.
struct ila_miss_budget {
  __u64 tat_ns;
};

// ila_attachments (control plane only): which interface runs which program, so a process that
// Open()s an instance can detach and upgrade what another process attached.
enum ila_role { ILA_ROLE_CONTAINER = 0, ILA_ROLE_UPLINK = 1, ILA_ROLE_ROUTER = 2 };
struct ila_attachment {
  __u8 role;           // enum ila_role
  __u8 native;         // 1 native (driver) mode, 0 generic
  __u8 multiprog;      // libxdp dispatcher in use
  __u8 steered;        // uplink with cpumap steering
  __u32 prog_id;       // the program attached
  __u32 peer_ifindex;  // veth peer given a pass-through program, 0 if none
  __s32 peer_netnsid;  // its namespace id as seen from here, -1 when it is this namespace
  __u32 peer_prog_id;
  __u8 mode_reason;  // enum ila_mode_reason: why the mode in use was chosen
  __u8 pad[3];
};
// Why an attachment runs in its mode (Attachment::mode_reason is written from this on Open).
enum ila_mode_reason {
  ILA_MODE_ASKED = 0,              // the caller named the mode
  ILA_MODE_AUTO_NATIVE = 1,        // auto: the driver has native XDP
  ILA_MODE_AUTO_GENERIC = 2,       // auto (router, steering): native attach failed
  ILA_MODE_AUTO_TC_VETH = 3,       // auto: tc, because the device is a veth
  ILA_MODE_AUTO_TC_NO_NATIVE = 4,  // auto: tc, because the driver has no native XDP
  ILA_MODE_PEER_TAKEOVER = 5,      // took over a neighbour's pass-through program
};

// Load-time options (const volatile rodata in the programs).
enum ila_miss_policy {
  ILA_MISS_PASS = 0,  // hand the untranslated packet to the kernel, which routes it to a router
  ILA_MISS_DROP = 1,
};
enum ila_moved_policy {
  ILA_MOVED_FORWARD = 0,  // re-translate with ila_mappings and forward to the new locator
  ILA_MOVED_DROP = 1,
};

ILA_STATIC_ASSERT(sizeof(struct ila_addr) == 16, "ila_addr");
ILA_STATIC_ASSERT(sizeof(struct ila_mapping_key) == 16, "ila_mapping_key");
ILA_STATIC_ASSERT(sizeof(struct ila_mapping_value) == 24, "ila_mapping_value");
ILA_STATIC_ASSERT(sizeof(struct ila_reverse_value) == 24, "ila_reverse_value");
ILA_STATIC_ASSERT(sizeof(struct ila_locator_key) == 8, "ila_locator_key");
ILA_STATIC_ASSERT(sizeof(struct ila_locator_value) == 16, "ila_locator_value");
ILA_STATIC_ASSERT(sizeof(struct ila_endpoint_key) == 16, "ila_endpoint_key");
ILA_STATIC_ASSERT(sizeof(struct ila_endpoint_value) == 20, "ila_endpoint_value");
ILA_STATIC_ASSERT(sizeof(struct ila_source_key) == 4, "ila_source_key");
ILA_STATIC_ASSERT(sizeof(struct ila_source_value) == 16, "ila_source_value");
ILA_STATIC_ASSERT(sizeof(struct ila_sir_prefix_key) == 8, "ila_sir_prefix_key");
ILA_STATIC_ASSERT(sizeof(struct ila_sir_prefix_value) == 4, "ila_sir_prefix_value");
ILA_STATIC_ASSERT(sizeof(struct ila_stat_value) == 16, "ila_stat_value");
ILA_STATIC_ASSERT(sizeof(struct ila_miss_event) == 32, "ila_miss_event");
ILA_STATIC_ASSERT(sizeof(struct ila_miss_state) == 16, "ila_miss_state");
ILA_STATIC_ASSERT(sizeof(struct ila_steer_config) == 260, "ila_steer_config");
ILA_STATIC_ASSERT(sizeof(struct ila_meta) == 56, "ila_meta");
ILA_STATIC_ASSERT(sizeof(struct ila_prefix_rule_key) == 16, "ila_prefix_rule_key");
ILA_STATIC_ASSERT(sizeof(struct ila_prefix_rule_value) == 4, "ila_prefix_rule_value");
ILA_STATIC_ASSERT(sizeof(struct ila_mapping_slot) == 32, "ila_mapping_slot");
ILA_STATIC_ASSERT(sizeof(struct ila_slot_endpoint) == 32, "ila_slot_endpoint");
ILA_STATIC_ASSERT(sizeof(struct ila_mapping_slot_state) == 88, "ila_slot_state");
ILA_STATIC_ASSERT(sizeof(struct ila_nexthop_entry) == 40, "ila_nexthop_entry");
ILA_STATIC_ASSERT(sizeof(struct ila_nexthop_lease) == 32, "ila_nexthop_lease");
ILA_STATIC_ASSERT(sizeof(struct ila_locator_filter) == 512, "ila_locator_filter");
ILA_STATIC_ASSERT(sizeof(struct ila_locator_entry) == 32, "ila_locator_entry");
ILA_STATIC_ASSERT(__builtin_offsetof(struct ila_locator_entry, value) == 8, "locator value offset");
// The programs copy these as 64-bit words (xdp/mappings.h, xdp/nexthop.h).
ILA_STATIC_ASSERT(__builtin_offsetof(struct ila_mapping_slot, locator_be) == 16,
                  "slot mapping offset");
ILA_STATIC_ASSERT(__builtin_offsetof(struct ila_nexthop_entry, macs) == 16, "nexthop macs offset");
ILA_STATIC_ASSERT(sizeof(struct ila_attachment) == 24, "ila_attachment");
ILA_STATIC_ASSERT(sizeof(struct ila_miss_budget) == 8, "ila_miss_budget");

#ifdef __cplusplus
}  // namespace ila::abi
#endif

#endif  // ILA_XDP_ABI_H_
