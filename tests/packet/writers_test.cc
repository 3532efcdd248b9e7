// Writers in several processes (lib/kernel/map_writer_lock.h, StateWriterLock in
// lib/dataplane/dataplane_state.h): a table-wide write of one process is never interleaved with
// another's, whether each process opened the pinned instance itself or inherited the handle
// through fork, and a forked child never shares its parent's lock.
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ila/dataplane.h"
#include "support/bpf_maps.h"
#include "support/skip.h"
#include "kernel/map_writer_lock.h"
#include "testbed/host_fixture.h"

using namespace ila;
using ila::testing::ReverseMap;
using namespace ila::testbed;

namespace {

// A pipe that children block on until the parent writes one byte per child.
struct StartGate {
  int fds[2] = {-1, -1};
  StartGate() { REQUIRE(pipe(fds) == 0); }
  ~StartGate() {
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
  }
  void Wait() const {
    char c;
    while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
    }
  }
  void Open(int children) const {
    for (int i = 0; i < children; ++i) (void)!write(fds[1], "g", 1);
  }
};

// The exit code of child `pid` (-1: killed).
int Reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

SirPrefix Prefix() { return *SirPrefix::Parse("2001:db8:0:1::/64"); }
SirAddress Sir(uint64_t id) { return {Prefix(), Identifier(id)}; }

constexpr uint64_t kKeys = 256;
constexpr int kRounds = 40;
constexpr size_t kBatch = 32;

// What writer `w` does in round `r` to key `k`: map it (to a locator of its own and the round's),
// or, one key in five in odd rounds, remove it.
std::optional<Mapping> Op(int w, int r, uint64_t k) {
  if (r % 2 == 1 && (k + static_cast<uint64_t>(w)) % 5 == 0) return std::nullopt;
  return Mapping{Sir(k), Locator(0x20010db800000000ull | (uint64_t(w + 1) << 16) | uint64_t(r + 1)),
                 ChecksumMode::kNoAction};
}

// Writer `w`'s rounds through `dp`; false if a write failed.
bool Write(Dataplane& dp, int w) {
  for (int r = 0; r < kRounds; ++r) {
    std::vector<Mapping> upserts;
    std::vector<SirAddress> removals;
    auto flush = [&] {
      bool ok = dp.mappings().UpsertBatch(upserts).ok();
      for (const SirAddress& s : removals) {
        absl::Status st = dp.mappings().Remove(s);
        ok = ok && (st.ok() || absl::IsNotFound(st));
      }
      upserts.clear();
      removals.clear();
      return ok;
    };
    for (uint64_t k = 1; k <= kKeys; ++k) {
      if (auto m = Op(w, r, k)) {
        upserts.push_back(*m);
      } else {
        removals.push_back(Sir(k));
      }
      if (upserts.size() + removals.size() == kBatch && !flush()) return false;
    }
    if (!flush()) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a forked child takes the writers' lock through its own file description") {
  ILA_SKIP_IF(BpfUnavailableReason());
  int map_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lock_test", 4, 4, 1, nullptr);
  REQUIRE(map_fd >= 0);
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{map_fd};
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  REQUIRE(bpf_obj_get_info_by_fd(map_fd, &info, &len) == 0);
  ila::internal::MapLock lock(map_fd, info.id, "lock_test");

  // The child is forked with the lock free (as a process forks a helper), then the parent takes
  // it: the child must find it taken.
  StartGate gate;
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    gate.Wait();
    ila::internal::MapWriterLock attempt(lock, /*wait=*/false);
    _exit(absl::IsUnavailable(attempt.status()) ? 0 : 1);
  }
  {
    ila::internal::MapWriterLock held(lock);
    REQUIRE(held.status().ok());
    gate.Open(1);
    CHECK(Reap(child) == 0);
  }
  // Free again: a child gets it.
  pid_t second = fork();
  REQUIRE(second >= 0);
  if (second == 0) {
    ila::internal::MapWriterLock attempt(lock, /*wait=*/false);
    _exit(attempt.status().ok() ? 0 : 1);
  }
  CHECK(Reap(second) == 0);
}

// Two writers move and remove the same 256 mappings at once, in batches. Each SIR address must end
// as one writer's last write left it, and the reverse map must hold exactly the final mappings'
// destinations: a write interleaved with another's leaves the reverse entry of a destination
// neither mapping has (both read the old mapping, both write, both remove the old entry).
TEST_CASE("two processes writing the same mappings at once leave the table as some order of them") {
  ILA_SKIP_IF(BpfUnavailableReason());
  auto dir = MountPrivateBpffs();
  REQUIRE(dir.ok());
  struct Unmount {
    std::string d;
    ~Unmount() { UnmountPrivateBpffs(d); }
  } unmount{*dir};
  for (bool inherited : {false, true}) {
    CAPTURE(inherited);
    DataplaneConfig config;
    config.pinning = PinLocation{*dir, inherited ? "inherited" : "opened"};
    auto created = Dataplane::Create(config);
    INFO(created.status().ToString());
    REQUIRE(created.ok());
    Dataplane& dp = **created;
    REQUIRE(dp.sir_prefixes().Add(Prefix()).ok());

    StartGate gate;
    std::vector<pid_t> children;
    for (int w = 0; w < 2; ++w) {
      pid_t pid = fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        // A writer of its own handle (Open), or of the parent's (fork shares its descriptions).
        std::unique_ptr<Dataplane> own;
        Dataplane* handle = &dp;
        if (!inherited) {
          auto opened = Dataplane::Open(*config.pinning);
          if (!opened.ok()) _exit(2);
          own = std::move(*opened);
          handle = own.get();
        }
        gate.Wait();
        _exit(Write(*handle, w) ? 0 : 1);
      }
      children.push_back(pid);
    }
    gate.Open(2);
    for (pid_t pid : children) CHECK(Reap(pid) == 0);

    auto listed = dp.mappings().List();
    REQUIRE(listed.ok());
    std::map<SirAddress, Mapping> table;
    for (const Mapping& m : *listed) table[m.sir] = m;
    for (uint64_t k = 1; k <= kKeys; ++k) {
      CAPTURE(k);
      auto it = table.find(Sir(k));
      std::optional<Mapping> now;
      if (it != table.end()) now = it->second;
      CHECK((now == Op(0, kRounds - 1, k) || now == Op(1, kRounds - 1, k)));
    }
    std::map<Ipv6Address, Ipv6Address> want;
    for (const Mapping& m : *listed) want[m.IlaDestination()->address()] = m.sir.address();
    CHECK(ReverseMap() == want);
    CHECK(dp.Destroy().ok());
  }
}
