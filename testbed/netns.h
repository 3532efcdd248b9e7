// RAII fixtures for tests that need real network namespaces and veth pairs. Each fixture owns
// what it creates and removes it in its destructor, so a failing REQUIRE (which throws) still
// leaves the machine clean. Names embed the process id and a counter, so test binaries can run
// side by side (ctest -j) without colliding.
//
// Declare fixtures in creation order (namespaces first, then veths, then NetnsEntered): C++
// destroys them in reverse, which is the order cleanup must happen in.
#ifndef ILA_TESTBED_NETNS_H_
#define ILA_TESTBED_NETNS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ila::testbed {

// Runs argv (no shell) and returns its combined stdout and stderr; an error carrying that output
// when it cannot be started or exits non-zero.
absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv);

// A named network namespace ("ilat-<prefix>-<pid>-<n>", made with `ip netns add`) with lo up and
// IPv6 duplicate address detection off (addresses are usable at once). Deleted with
// `ip netns del` on destruction; only the namespace is removed, no process is killed, so
// destruction must not happen while the namespace is still in use by something that matters.
class Netns {
 public:
  static absl::StatusOr<Netns> Create(std::string_view prefix);

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  const std::string& name() const { return name_; }
  // An fd of /run/netns/NAME owned by this object (valid until destruction); for setns() or
  // NETNSA_FD. Do not close it.
  int fd() const { return fd_; }

  // Runs `cmd` with `sh -c` inside the namespace (`ip netns exec`, which also gives it a /sys of
  // the namespace). Error with the command's output when it exits non-zero.
  absl::Status Run(std::string_view cmd) const;
  // Like Run, returning the output.
  absl::StatusOr<std::string> RunOutput(std::string_view cmd) const;

  // net.ipv6.conf.all.forwarding=1 inside the namespace.
  absl::Status EnableForwarding() const;

 private:
  Netns(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  void Destroy();

  std::string name_;
  int fd_ = -1;
};

// Scope guard: moves the calling thread into a namespace (setns) and back when destroyed. Netlink
// and bpf() calls made meanwhile act in that namespace; /sys is not remounted (only
// `ip netns exec` does that), which none of those need.
class NetnsEntered {
 public:
  static absl::StatusOr<NetnsEntered> Enter(const Netns& ns);

  NetnsEntered(NetnsEntered&& other) noexcept;
  NetnsEntered& operator=(NetnsEntered&&) = delete;
  NetnsEntered(const NetnsEntered&) = delete;
  NetnsEntered& operator=(const NetnsEntered&) = delete;
  // Returns the thread to its original namespace; aborts if that is impossible, since every later
  // test would otherwise run in the wrong namespace.
  ~NetnsEntered();

 private:
  explicit NetnsEntered(int original_fd) : original_fd_(original_fd) {}
  int original_fd_ = -1;
};

// A name of at most 15 bytes (IFNAMSIZ - 1) that no other live test process uses:
// the prefix (shortened if need be) + "-" + hex pid + "-" + counter.
std::string UniqueIfName(std::string_view prefix);

// One end of a veth pair.
struct VethEnd {
  const Netns* netns = nullptr;        // required: tests never touch the host's own namespace
  std::string name;                    // e.g. UniqueIfName("h")
  std::string mac;                     // "02:00:00:00:00:01"; empty for a random one
  std::vector<std::string> addresses;  // "fd00::1/64", "10.0.0.1/24"; IPv6 ones get nodad
};

// A veth pair, both ends up, possibly in two namespaces. Deleting either end removes both; the
// destructor deletes end `a` (nothing to do if its namespace is already gone, which takes the
// veth with it).
class VethPair {
 public:
  static absl::StatusOr<VethPair> Create(const VethEnd& a, const VethEnd& b);

  VethPair(VethPair&& other) noexcept;
  VethPair& operator=(VethPair&&) = delete;
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  ~VethPair();

  const std::string& a_name() const { return a_name_; }
  const std::string& b_name() const { return b_name_; }

 private:
  VethPair(std::string a_ns, std::string a_name, std::string b_name)
      : a_ns_(std::move(a_ns)), a_name_(std::move(a_name)), b_name_(std::move(b_name)) {}

  std::string a_ns_;  // empty once moved from
  std::string a_name_;
  std::string b_name_;
};

// Names of namespaces this process created (by their "-<pid>-" tag) that still exist; for
// checking that fixtures cleaned up.
std::vector<std::string> LeftoverNetnsOfThisProcess();

// Why namespace tests cannot run here (probed once: `ip netns add`, a veth pair inside it), or
// nullopt when they can.
std::optional<std::string> NetnsUnavailableReason();

}  // namespace ila::testbed

#endif  // ILA_TESTBED_NETNS_H_
