// The reference model of the data plane's decisions, for differential fuzzing: from a frame, the
// program it meets, the interface it arrives on and the configuration (world.h), it predicts the
// verdict, the one outcome counter, the translation observations and the exact frame that leaves.
//
// Written from the documents (DESIGN.md §3 and §4, docs/architecture.md, docs/security.md,
// docs/translation.md), not from the BPF code: it includes no xdp/ header, and does its own
// parsing, lookups and one's-complement arithmetic (including the SIR<->ILA identifier
// adjustment), so that a mistake shared by the programs and the library's translation reference
// would still show.
//
// Model variants with a deliberate bug each (ModelVariant) show that the fuzzer's fixed seed
// notices such bugs: run against the real programs, each must disagree (fuzz_test.cc).
#ifndef ILA_TESTS_FUZZ_MODEL_H_
#define ILA_TESTS_FUZZ_MODEL_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "fuzz/world.h"

namespace ila::fuzz {

enum class ModelVariant {
  kCorrect,
  // Deliberate bugs, each one the data plane could plausibly have:
  kAdjSignFlipped,    // adj-transport applies (old - new), as Linux does
  kNoCBitRestore,     // neutral-map arrivals: the C-bit and the adjustment are left in place
  kUdpZeroRewritten,  // a UDP checksum of 0 (none) is adjusted like any other
  kZeroFoldKept,      // a neutral restore that folds to 0xffff keeps it (Linux's way)
  kQuoteUntouched,    // ICMPv6 errors' quoted packets are left alone (Linux's way)
};
inline constexpr ModelVariant kMutants[] = {
    ModelVariant::kAdjSignFlipped, ModelVariant::kNoCBitRestore, ModelVariant::kUdpZeroRewritten,
    ModelVariant::kZeroFoldKept, ModelVariant::kQuoteUntouched};
std::string_view ToString(ModelVariant v);

struct Prediction {
  // BPF_PROG_TEST_RUN refuses the frame (shorter than an Ethernet header): no verdict, no counter.
  bool refused = false;
  int verdict = -1;          // XDP_PASS, XDP_DROP or XDP_REDIRECT
  std::string_view outcome;  // the one outcome counter (ila::kCounterNames)
  // The translation observations, with how often each moved.
  int transport_not_adjusted = 0;
  int icmp_inner_translated = 0;
  int icmp_inner_unknown = 0;
  Bytes frame;  // the frame after the program
  // How the destination was translated on the way: ILA->SIR with a locator of this mode, SIR->ILA
  // with a mapping of this mode and identifier type (coverage, and the checksum check's rules).
  std::optional<ChecksumMode> restored_with;
  std::optional<ChecksumMode> mapped_with;
  std::optional<IdentifierType> ident_type;
};

// What `program` does with `frame` arriving on `ingress`.
Prediction Predict(const World& world, Program program, Iface ingress, const Bytes& frame,
                   ModelVariant variant = ModelVariant::kCorrect);

// Whether BPF_PROG_TEST_RUN refuses `frame` as an skb (tc programs): shorter than an Ethernet
// header, or than an IPv6 (IPv4) header when its EtherType says IPv6 (IPv4).
bool TcRefuses(const Bytes& frame);

// The model's SIR<->ILA address arithmetic (docs/translation.md), exposed for its unit checks.
Ipv6Address ModelSirToIla(const SirAddress& sir, Locator locator, ChecksumMode mode);
Ipv6Address ModelIlaToSir(const Ipv6Address& ila, SirPrefix prefix, ChecksumMode mode,
                          ModelVariant variant = ModelVariant::kCorrect);

}  // namespace ila::fuzz

#endif  // ILA_TESTS_FUZZ_MODEL_H_
