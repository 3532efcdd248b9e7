// Frames for the differential fuzzer, from a seed (std::mt19937_64): valid SIR and ILA packets of
// every kind the world (world.h) has a path for, built the way a correct sender and its ILA host
// build them (the C++ translation reference), then mutated with some probability. Deterministic:
// the same world and seed give the same frames, in the same order.
//
//   from_container  TCP, UDP (checksum 0 too), ICMPv6 echo and errors, other protocols, behind
//                   hop-by-hop/routing/destination-options/fragment headers or not; to remote
//                   mappings, local endpoints, SIR misses, non-SIR, ILA and link-scoped addresses;
//                   from the container's own, another container's, link-local and foreign sources;
//                   on an interface with no endpoint
//   from_uplink     arrivals under each of this host's locators for local endpoints, moved
//                   containers and unknown identifiers (senders right and wrong), neutral-map
//                   without the C-bit, ICMPv6 errors quoting a packet this host translated (whole,
//                   cut short, quoting unknown ILA addresses), other locators, other hosts' MACs
//   router          mapped and unmapped SIR destinations, non-SIR and link-scoped ones, from
//                   SIR, foreign, link-scoped and loopback sources
//   mutations       (mutate.cc, a third of the frames) truncation at every layer, version, payload length too long or short, VLAN
//                   tags (802.1Q, 802.1ad, stacked), other EtherTypes, hop limits 0/1/2/255, bit
//                   flips, UDP checksum 0, padding, Ethernet destination, the C-bit, identifiers
//                   ending 0x0000/0xffff, a corrupt checksum (or 0x0000/0xffff), another next header
#ifndef ILA_TESTS_FUZZ_GENERATOR_H_
#define ILA_TESTS_FUZZ_GENERATOR_H_

#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "fuzz/world.h"

namespace ila::fuzz {

// The generator's randomness: one std::mt19937_64 and the draws made from it (the same seed gives
// the same draws on every machine: no std::uniform_*_distribution, whose results may differ).
class Dice {
 public:
  explicit Dice(uint64_t seed) : rng_(seed) {}
  uint64_t operator()() { return rng_(); }
  uint64_t Below(uint64_t n) { return n ? rng_() % n : 0; }
  bool Chance(double p) { return static_cast<double>(rng_() >> 11) * 0x1.0p-53 < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }
  template <typename T>
  T OneOf(std::initializer_list<T> list) {
    return *(list.begin() + static_cast<long>(Below(list.size())));
  }
  Bytes Filler(size_t max);  // up to `max` random bytes

 private:
  std::mt19937_64 rng_;
};

struct Case {
  Program program = Program::kContainer;
  Iface ingress = Iface::kC1h;
  Bytes frame;
  std::string what;  // the scenario and the mutations, for reports
  // The packet as its sender meant it (the SIR packet, before any ILA host touched it) carries a
  // valid transport checksum, and every ILA host on its way so far did its part right: what leaves
  // the data plane must be valid too (where its checksum mode says so).
  bool sender_valid = false;
};

// One to four mutations of `c` (mutate.cc), each noted in c.what.
void Mutate(Case& c, Dice& dice, const World& world);

class Generator {
 public:
  Generator(const World& world, uint64_t seed);
  Case Next();

 private:
  uint64_t Below(uint64_t n) { return dice_.Below(n); }
  bool Chance(double p) { return dice_.Chance(p); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return dice_.Pick(v);
  }
  Bytes Payload(size_t max) { return dice_.Filler(max); }
  Ipv6Address RandomIn(uint64_t high);
  Ipv6Address Foreign();
  Ipv6Address LinkScoped();
  uint8_t HopLimit();

  // A transport segment (or extension headers and one) from src to dst, valid for them; *proto
  // is the first next header. `checkable` is cleared when the checksum cannot be verified (a
  // non-first fragment, a protocol without one).
  Bytes Transport(const Ipv6Address& src, const Ipv6Address& dst, uint8_t* proto, bool* checkable);
  Bytes Segment(const Ipv6Address& src, const Ipv6Address& dst, uint8_t* proto, bool* checkable);
  Bytes Extensions(uint8_t* proto, Bytes inner, bool* checkable);
  Bytes IcmpErrorFromUnderlay(const Ipv6Address& src, const Ipv6Address& to, bool* checkable);

  Case FromContainer();
  Ipv6Address ContainerDestination(std::string* what);
  Case FromUplink();
  Bytes ArrivalPacket(const SirAddress& sir, bool* checkable);
  Case UplinkCase(const Bytes& ip, std::string what, bool sender_valid);
  Case UplinkArrival(const SirAddress& sir, const LocatorEntry& loc, std::string what);
  Case UplinkError();
  Case UplinkElsewhere();
  Case ToRouter();
  MacAddress UplinkEthDst();

  const World& w_;
  Dice dice_;
  std::vector<const Mapping*> remote_;  // mappings of SIR addresses with no endpoint here
  std::vector<SirAddress> local_sirs_;
};

}  // namespace ila::fuzz

#endif  // ILA_TESTS_FUZZ_GENERATOR_H_
