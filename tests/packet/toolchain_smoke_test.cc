// The tool chain end to end: bpf_object() compiled xdp/baseline.bpf.c with clang, bpftool made its
// skeleton, and the object embedded in the skeleton loads and runs in this kernel.
#include <bpf/bpf.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "baseline.skel.h"
#include "support/skip.h"

namespace {

struct SkeletonDeleter {
  void operator()(baseline* s) const { baseline::destroy(s); }
};

std::vector<uint8_t> Ipv6Frame() {
  std::vector<uint8_t> f(14 + 40, 0);
  f[12] = 0x86;
  f[13] = 0xdd;
  f[14] = 0x60;
  f[14 + 6] = 59;  // no next header
  f[14 + 7] = 64;
  return f;
}

}  // namespace

TEST_CASE("baseline XDP object loads through its skeleton and runs with BPF_PROG_TEST_RUN") {
  ILA_SKIP_IF(ila::testbed::BpfUnavailableReason());
  std::unique_ptr<baseline, SkeletonDeleter> skel(baseline::open_and_load());
  REQUIRE(skel != nullptr);

  std::vector<uint8_t> frame = Ipv6Frame();
  std::vector<uint8_t> out(frame.size());
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()),
              .data_size_out = static_cast<uint32_t>(out.size()), .repeat = 3);
  REQUIRE(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_parse_only), &opts) == 0);
  CHECK(opts.retval == XDP_PASS);
  CHECK(out == frame);

  // The program counted each of the three runs as IPv6; a non-IPv6 frame is not counted.
  std::vector<uint8_t> arp = frame;
  arp[12] = 0x08;
  arp[13] = 0x06;
  LIBBPF_OPTS(bpf_test_run_opts, arp_opts, .data_in = arp.data(),
              .data_size_in = static_cast<uint32_t>(arp.size()));
  REQUIRE(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_parse_only), &arp_opts) == 0);
  CHECK(arp_opts.retval == XDP_PASS);

  int ncpu = libbpf_num_possible_cpus();
  REQUIRE(ncpu > 0);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  uint32_t zero = 0;
  REQUIRE(bpf_map_lookup_elem(bpf_map__fd(skel->maps.baseline_ipv6_frames), &zero,
                              per_cpu.data()) == 0);
  uint64_t total = 0;
  for (uint64_t v : per_cpu) total += v;
  CHECK(total == 3);
}

TEST_CASE("the empty baseline program passes every frame") {
  ILA_SKIP_IF(ila::testbed::BpfUnavailableReason());
  std::unique_ptr<baseline, SkeletonDeleter> skel(baseline::open_and_load());
  REQUIRE(skel != nullptr);
  std::array<uint8_t, 60> junk{};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = junk.data(),
              .data_size_in = static_cast<uint32_t>(junk.size()));
  REQUIRE(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_empty), &opts) == 0);
  CHECK(opts.retval == XDP_PASS);
}
