#include "bench_support.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/if_link.h>
#include <sched.h>
#include <sys/mman.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <unordered_set>
#include <sstream>

#include "abi.h"
#include "absl/strings/str_cat.h"
#include "baseline.skel.h"
#include "bench_xdp.skel.h"
#include "ila/translation.h"
#include "testbed/process.h"

namespace ila::bench {
namespace {

bool quick_mode = false;

absl::Status Errno(std::string_view what) {
  return absl::InternalError(absl::StrCat(std::string(what), ": ", std::strerror(errno)));
}

}  // namespace

bool Quick() { return quick_mode; }
void SetQuick(bool quick) { quick_mode = quick; }

// ------------------------------------------------------------------------------------------------

absl::StatusOr<RunResult> RunOnce(int prog_fd, std::span<const uint8_t> frame,
                                  InterfaceIndex ingress_ifindex, Bytes* out) {
  xdp_md ctx{};
  ctx.ingress_ifindex = static_cast<uint32_t>(ingress_ifindex.value());
  ctx.data_end = static_cast<uint32_t>(frame.size());
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx));
  if (out) {
    out->assign(frame.size() + 256, 0);
    opts.data_out = out->data();
    opts.data_size_out = static_cast<uint32_t>(out->size());
  }
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) return Errno("BPF_PROG_TEST_RUN");
  if (out) out->resize(opts.data_size_out);
  return RunResult{static_cast<int>(opts.retval), opts.duration};
}

absl::StatusOr<RunResult> RunRepeat(int prog_fd, std::span<const uint8_t> frame,
                                    InterfaceIndex ingress_ifindex, uint32_t repeat) {
  xdp_md ctx{};
  ctx.ingress_ifindex = static_cast<uint32_t>(ingress_ifindex.value());
  ctx.data_end = static_cast<uint32_t>(frame.size());
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx), .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) return Errno("BPF_PROG_TEST_RUN (repeat)");
  return RunResult{static_cast<int>(opts.retval), opts.duration};
}

absl::StatusOr<double> RunLive(int prog_fd, std::span<const uint8_t> frame,
                               InterfaceIndex ingress_ifindex, uint32_t repeat) {
  xdp_md ctx{};
  ctx.ingress_ifindex = static_cast<uint32_t>(ingress_ifindex.value());
  ctx.data_end = static_cast<uint32_t>(frame.size());
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx), .repeat = static_cast<int>(repeat));
  opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
  auto start = std::chrono::steady_clock::now();
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) return Errno("BPF_PROG_RUN (live frames)");
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ------------------------------------------------------------------------------------------------

void BenchSkelDeleter::operator()(bench_xdp* s) const { bench_xdp::destroy(s); }
void BaselineDeleter::operator()(baseline* s) const { baseline::destroy(s); }

absl::StatusOr<BenchSkel> LoadBenchSkel(uint32_t dests, uint32_t plain_entries, int slot_table_fd) {
  BenchSkel s(bench_xdp::open());
  if (!s) return Errno("opening the bench BPF object");
  bpf_map__set_max_entries(s->maps.bench_dests, std::max<uint32_t>(dests, 1));
  bpf_map__set_max_entries(s->maps.bench_plain, std::max<uint32_t>(plain_entries, 1));
  if (slot_table_fd >= 0) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(slot_table_fd, &info, &len) != 0) return Errno("the slot table");
    uint32_t bits = 1;
    while (bits < 31 && (1u << bits) < info.max_entries) ++bits;
    if ((1u << bits) != info.max_entries || info.value_size != sizeof(abi::ila_mapping_slot)) {
      return absl::FailedPreconditionError(absl::StrCat("the slot table has ", info.max_entries,
                                                        " entries of ", info.value_size, " bytes"));
    }
    s->rodata->bench_slot_bits = bits;
    if (bpf_map__reuse_fd(s->maps.bench_slots, slot_table_fd) != 0) {
      return Errno("reusing the slot table");
    }
  }
  if (int err = bench_xdp::load(s.get()); err != 0) {
    return absl::InternalError(absl::StrCat("loading the bench BPF object: ", std::strerror(-err)));
  }
  return s;
}

absl::StatusOr<BaselineSkel> LoadBaselineSkel() {
  BaselineSkel s(baseline::open_and_load());
  if (!s) return Errno("loading the baseline BPF object");
  return s;
}

int RefreshFd(const BenchSkel& s) { return bpf_program__fd(s->progs.bench_refresh); }
int EmptyFd(const BenchSkel& s) { return bpf_program__fd(s->progs.bench_empty); }
int PassFd(const BenchSkel& s) { return bpf_program__fd(s->progs.bench_pass); }
int RedirectFd(const BenchSkel& s) { return bpf_program__fd(s->progs.bench_redirect); }
int SinkFd(const BenchSkel& s) { return bpf_program__fd(s->progs.bench_sink); }
int PlainHashFd(const BenchSkel& s) { return bpf_program__fd(s->progs.bench_plain_hash); }
int SlotsFd(const BenchSkel& s) { return bpf_program__fd(s->progs.bench_slots_lookup); }
int FibOnlyFd(const BenchSkel& s) { return bpf_program__fd(s->progs.bench_fib_only); }
int BaselineEmptyFd(const BaselineSkel& s) { return bpf_program__fd(s->progs.xdp_empty); }
int BaselineParseFd(const BaselineSkel& s) { return bpf_program__fd(s->progs.xdp_parse_only); }

absl::Status SetRefresh(const BenchSkel& s, std::span<const uint8_t> frame, int next_prog_fd,
                        uint32_t ndests) {
  if (frame.size() < BENCH_HEADER_LEN + 8) {
    return absl::InvalidArgumentError("a refresh template needs Ethernet + IPv6 + transport");
  }
  bench_template t{};
  std::memcpy(t.header, frame.data(), BENCH_HEADER_LEN);
  bool ipv6 = frame[12] == 0x86 && frame[13] == 0xdd;
  int offset = ipv6 ? TransportChecksumOffset(frame[14 + 6]) : -1;
  if (offset >= 0) {
    size_t at = BENCH_HEADER_LEN + static_cast<size_t>(offset);
    if (at + 2 <= frame.size()) {
      t.csum_offset = static_cast<uint16_t>(at);
      std::memcpy(&t.csum, frame.data() + at, 2);
    }
  }
  t.ndests = ndests;
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(s->maps.bench_template), &zero, &t, BPF_ANY) != 0) {
    return Errno("writing the refresh template");
  }
  if (bpf_map_update_elem(bpf_map__fd(s->maps.bench_next), &zero, &next_prog_fd, BPF_ANY) != 0) {
    return Errno("setting the refresh program's tail call");
  }
  // A fresh sequence, so that every run walks the destinations from the start.
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> seq(static_cast<size_t>(ncpu > 0 ? ncpu : 1), 0);
  if (bpf_map_update_elem(bpf_map__fd(s->maps.bench_seq), &zero, seq.data(), BPF_ANY) != 0) {
    return Errno("resetting the refresh sequence");
  }
  return absl::OkStatus();
}

absl::Status SetDests(const BenchSkel& s, std::span<const Ipv6Address> dests) {
  std::vector<uint32_t> keys(dests.size());
  std::vector<abi::ila_addr> values(dests.size());
  for (size_t i = 0; i < dests.size(); ++i) {
    keys[i] = static_cast<uint32_t>(i);
    std::memcpy(values[i].bytes, dests[i].bytes().data(), 16);
  }
  uint32_t count = static_cast<uint32_t>(dests.size());
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_update_batch(bpf_map__fd(s->maps.bench_dests), keys.data(), values.data(), &count,
                           &opts) != 0) {
    return Errno("loading the refresh destinations");
  }
  return absl::OkStatus();
}

absl::Status SetRedirectTarget(const BenchSkel& s, InterfaceIndex ifindex) {
  uint32_t zero = 0;
  uint32_t target = static_cast<uint32_t>(ifindex.value());
  if (bpf_map_update_elem(bpf_map__fd(s->maps.bench_tx), &zero, &target, BPF_ANY) != 0) {
    return Errno("setting the bare redirect's target");
  }
  return absl::OkStatus();
}

absl::Status LoadPlainHash(const BenchSkel& s, std::span<const Ipv6Address> keys,
                           std::span<const Ipv6Address> values) {
  std::vector<abi::ila_mapping_key> k(keys.size());
  std::vector<abi::ila_mapping_value> v(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    std::memcpy(k[i].sir.bytes, keys[i].bytes().data(), 16);
    std::memcpy(v[i].ila.bytes, values[i].bytes().data(), 16);
  }
  uint32_t count = static_cast<uint32_t>(k.size());
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_update_batch(bpf_map__fd(s->maps.bench_plain), k.data(), v.data(), &count, &opts) !=
      0) {
    return Errno("loading the reference hash");
  }
  return absl::OkStatus();
}

absl::StatusOr<OwnedFd> SlotTableOf(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return Errno("the program's maps");
  std::vector<uint32_t> ids(info.nr_map_ids);
  info = bpf_prog_info{};
  info.nr_map_ids = static_cast<uint32_t>(ids.size());
  info.map_ids = reinterpret_cast<uint64_t>(ids.data());
  len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return Errno("the program's maps");
  for (uint32_t id : ids) {
    OwnedFd fd(bpf_map_get_fd_by_id(id));
    if (!fd.valid()) continue;
    bpf_map_info map{};
    uint32_t map_len = sizeof(map);
    if (bpf_obj_get_info_by_fd(fd.get(), &map, &map_len) == 0 &&
        std::strcmp(map.name, "ila_slots") == 0) {
      return fd;
    }
  }
  return absl::NotFoundError("the program uses no map called ila_slots");
}

absl::StatusOr<SlotTableShape> ShapeOfSlotTable(int slot_table_fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(slot_table_fd, &info, &len) != 0) return Errno("the slot table");
  SlotTableShape shape;
  shape.slots = info.max_entries;
  uint32_t bits = 1;
  while (bits < 31 && (size_t{1} << bits) < shape.slots) ++bits;
  shape.bytes = shape.slots * sizeof(abi::ila_mapping_slot);
  void* mem = mmap(nullptr, shape.bytes, PROT_READ, MAP_SHARED, slot_table_fd, 0);
  if (mem == MAP_FAILED) return Errno("mapping the slot table");
  const auto* table = static_cast<const abi::ila_mapping_slot*>(mem);
  for (size_t i = 0; i < shape.slots; ++i) {
    if (!(table[i].flags & ILA_SLOT_F_MAPPING)) continue;
    uint64_t k[2];
    std::memcpy(k, table[i].key.sir.bytes, sizeof(k));
    const uint32_t home = abi::ila_slot_home(k[0], k[1], bits);
    const uint32_t probes = static_cast<uint32_t>((i - home) & (shape.slots - 1)) + 1;
    shape.mappings += 1;
    shape.total_probes += probes;
    shape.max_probes = std::max(shape.max_probes, probes);
  }
  munmap(mem, shape.bytes);
  return shape;
}

SinkCount ReadSink(const BenchSkel& s) {
  int ncpu = libbpf_num_possible_cpus();
  std::vector<bench_count> per_cpu(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
  uint32_t zero = 0;
  SinkCount total;
  if (bpf_map_lookup_elem(bpf_map__fd(s->maps.bench_sink_count), &zero, per_cpu.data()) != 0) {
    return total;
  }
  for (const bench_count& c : per_cpu) {
    total.packets += c.packets;
    for (size_t k = 0; k < BENCH_KINDS; ++k) total.kind[k] += c.kind[k];
  }
  return total;
}

uint64_t SinkPackets(const BenchSkel& s) { return ReadSink(s).packets; }

// ------------------------------------------------------------------------------------------------

std::vector<MapMemory> ProcessMaps() {
  std::vector<MapMemory> out;
  std::set<uint32_t> seen;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return out;
  std::vector<int> fds;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    fds.push_back(std::atoi(e->d_name));
  }
  closedir(dir);
  for (int fd : fds) {
    // Only maps have a map_type line in their fdinfo (programs, links and the rest do not).
    std::ifstream fdinfo("/proc/self/fdinfo/" + std::to_string(fd));
    std::string line;
    bool is_map = false;
    uint64_t memlock = 0;
    while (std::getline(fdinfo, line)) {
      if (line.rfind("map_type:", 0) == 0) is_map = true;
      if (line.rfind("memlock:", 0) == 0) memlock = std::stoull(line.substr(8));
    }
    if (!is_map) continue;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    if (!seen.insert(info.id).second) continue;
    MapMemory m;
    m.id = info.id;
    m.name = info.name;
    m.max_entries = info.max_entries;
    m.memlock = memlock;
    out.push_back(std::move(m));
  }
  return out;
}

// ------------------------------------------------------------------------------------------------

Bytes UdpFromC1(const testbed::HostFixture& host, const Ipv6Address& dst) {
  Ipv6Address src = testbed::HostFixture::C1().address();
  return host.FromC1(dst, kProtoUdp, testbed::Udp(src, dst, 40000, 5201, Bytes(10, 0x5a)));
}

Bytes UdpFromFabric(const testbed::HostFixture& host, const Ipv6Address& src,
                    const Ipv6Address& dst) {
  return host.FromFabric(src, dst, kProtoUdp, testbed::Udp(src, dst, 40000, 5201, Bytes(10, 0x5a)));
}

void SetFrameDst(Bytes& frame, const Ipv6Address& dst) {
  std::memcpy(frame.data() + 14 + 24, dst.bytes().data(), 16);
}

std::vector<SirAddress> MakeSirs(SirPrefix prefix, size_t n, uint64_t first_identifier) {
  std::vector<SirAddress> out;
  out.reserve(n);
  for (uint64_t id = first_identifier; out.size() < n; ++id) {
    // Low 16 bits 0xffff cannot be neutral-mapped (ila/translation.h); skip them for every mode.
    if ((id & 0xffff) == 0xffff) continue;
    out.push_back({prefix, Identifier(id)});
  }
  return out;
}

std::vector<SirAddress> MakeRandomSirs(SirPrefix prefix, size_t n, uint64_t seed) {
  std::vector<SirAddress> out;
  out.reserve(n);
  std::mt19937_64 rng(seed);
  std::unordered_set<uint64_t> seen;
  seen.reserve(n);
  while (out.size() < n) {
    uint64_t id = rng() & 0x0000ffffffffffffull;
    if ((id & 0xffff) == 0xffff || !seen.insert(id).second) continue;
    out.push_back({prefix, Identifier(id)});
  }
  return out;
}

// ------------------------------------------------------------------------------------------------

void Fail(benchmark::State& state, const absl::Status& status) {
  std::string msg = status.ToString();
  state.SkipWithError(msg.c_str());
}

void Skip(benchmark::State& state, const std::string& reason) {
  state.SkipWithError((kNotMeasured + reason).c_str());
}

std::string NotMeasuredLabel(const std::vector<std::string>& skipped) {
  std::string label = kNotMeasured;
  for (size_t i = 0; i < skipped.size(); ++i) label += (i ? "; " : "") + skipped[i];
  return label;
}

void InstallInterruptHandler() {
  testbed::InstallStopSignalHandlers();
  signal(SIGPIPE, SIG_IGN);  // run.sh's tee/awk going first must not kill us before cleanup
}

bool StopNow(benchmark::State& state) {
  if (!testbed::StopRequested()) return false;
  state.SkipWithError("interrupted");
  return true;
}

void Progress(const std::string& name, const std::string& figure) {
  std::cerr << "ila_bench: done " << name << (figure.empty() ? "" : "  ") << figure << std::endl;
}

AllCpus::AllCpus() {
  sched_getaffinity(0, sizeof(saved_), &saved_);
  cpu_set_t all;
  CPU_ZERO(&all);
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  for (long c = 0; c < n; ++c) CPU_SET(static_cast<int>(c), &all);
  if (sched_setaffinity(0, sizeof(all), &all) == 0) count_ = static_cast<int>(n);
}

AllCpus::~AllCpus() { sched_setaffinity(0, sizeof(saved_), &saved_); }

void PinToLastCpu() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n <= 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<int>(n - 1), &set);
  sched_setaffinity(0, sizeof(set), &set);
}

std::string ChecksumModeName(ChecksumMode mode) { return std::string(ToString(mode)); }

}  // namespace ila::bench
