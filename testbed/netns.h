// Network namespaces and veth pairs, for the tests, the benchmarks and the demo. Each type owns
// what it creates and removes it in its destructor, so a failing test (a REQUIRE throws) or an
// interrupted run still leaves the machine clean.
//
// Declare them in creation order (namespaces first, then veths, then NetnsEntered): C++ destroys
// them in reverse, which is the order cleanup must happen in.
#ifndef ILA_TESTBED_NETNS_H_
#define ILA_TESTBED_NETNS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ila/owned_fd.h"
#include "testbed/process.h"

namespace ila::testbed {

// A named network namespace (`ip netns add`) with lo up and IPv6 duplicate address detection off
// (addresses are usable at once). Deleted with `ip netns del` on destruction: only the namespace
// is removed, no process in it is killed, so that must not happen while something that matters
// still uses it.
class Netns {
 public:
  // A namespace of a name no other live process uses, "ilat-<prefix>-<pid>-<n>", so that test
  // and benchmark processes can run side by side (LeftoverNetnsOfThisProcess finds them).
  static absl::StatusOr<Netns> Create(std::string_view prefix);
  // A namespace called exactly `name`; AlreadyExists when there is one.
  static absl::StatusOr<Netns> CreateNamed(const std::string& name);

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();  // Delete(); a failure is reported on stderr

  const std::string& name() const { return name_; }
  // A descriptor of the namespace owned by this object (valid until destruction), for setns() or
  // NETNSA_FD. Do not close it.
  int fd() const { return fd_.get(); }

  // `ip -n <name> <args...>`; error with ip's message on failure.
  absl::Status Ip(const std::vector<std::string>& args) const;
  // Several ip commands in one `ip -6 -n <name> -batch -` (one command per element).
  absl::Status IpBatch(const std::vector<std::string>& commands) const;
  // argv inside the namespace (`ip netns exec`, which also gives it a /sys of the namespace),
  // whatever its exit status.
  absl::StatusOr<CommandResult> Exec(const std::vector<std::string>& argv,
                                     Duration timeout = Duration(30000)) const;
  // argv inside the namespace; a non-zero exit is an error carrying the output.
  absl::StatusOr<std::string> ExecChecked(const std::vector<std::string>& argv,
                                          Duration timeout = Duration(30000)) const;
  // `sh -c cmd` inside the namespace (ExecChecked): its output, or an error carrying it.
  absl::StatusOr<std::string> RunOutput(std::string_view cmd) const;
  absl::Status Run(std::string_view cmd) const { return RunOutput(cmd).status(); }
  // Writes a sysctl of this namespace ("net/ipv6/conf/all/forwarding", "1").
  absl::Status Sysctl(const std::string& key, const std::string& value) const;
  // net.ipv6.conf.all.forwarding=1 inside the namespace.
  absl::Status EnableForwarding() const;
  // Waits until every IPv6 address of the namespace is usable: none tentative, and every link
  // that is up has its link-local address. A veth's carrier reaches IPv6 through the kernel's
  // linkwatch, which batches events up to a second: until then addresses stay tentative and
  // neighbour solicitations for them go unanswered.
  absl::Status WaitForAddresses(Duration timeout = Duration(5000)) const;
  // Deletes the namespace now (idempotent, and done even after a stop was requested); the
  // destructor does the same.
  absl::Status Delete();

 private:
  Netns(std::string name, OwnedFd fd) : name_(std::move(name)), fd_(std::move(fd)) {}

  std::string name_;  // empty once deleted or moved from
  OwnedFd fd_;
};

// Scope guard: moves the calling thread into a namespace (setns) and back when destroyed.
// Netlink and bpf() calls, interface names given to the library and sockets created meanwhile act
// in that namespace; /sys is not remounted (only `ip netns exec` does that), which none of those
// need.
class NetnsEntered {
 public:
  static absl::StatusOr<NetnsEntered> Enter(const Netns& ns);

  NetnsEntered(NetnsEntered&& other) noexcept = default;
  NetnsEntered& operator=(NetnsEntered&&) = delete;
  NetnsEntered(const NetnsEntered&) = delete;
  NetnsEntered& operator=(const NetnsEntered&) = delete;
  // Returns the thread to its original namespace; aborts if that is impossible, since everything
  // after would run in the wrong namespace.
  ~NetnsEntered();

 private:
  explicit NetnsEntered(OwnedFd original) : original_(std::move(original)) {}
  OwnedFd original_;
};

// A name of at most 15 bytes (IFNAMSIZ - 1) that no other live process uses: the prefix
// (shortened if need be) + "-" + hex pid + "-" + counter.
std::string UniqueIfName(std::string_view prefix);

// One end of a veth pair.
struct VethEnd {
  const Netns* netns = nullptr;        // required: the host's own namespace is never touched
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

// Namespaces in /run/netns whose name starts with `prefix`.
std::vector<std::string> NamespacesWithPrefix(const std::string& prefix);

// Deletes the namespaces "<tag>-<pid>-..." of processes that no longer exist (left behind by a
// process that was killed outright), after killing what still runs inside them (a capture, a
// ping); returns their names. Live processes' namespaces are kept.
std::vector<std::string> RemoveStaleNamespaces(const std::string& tag);
// The same for the namespaces of Netns::Create ("ilat-<prefix>-<pid>-<n>"), which Create calls
// once per process.
std::vector<std::string> RemoveStaleUniqueNamespaces();

// Names of namespaces this process made with Netns::Create (by their "-<pid>-" tag) that still
// exist; for checking that everything was cleaned up.
std::vector<std::string> LeftoverNetnsOfThisProcess();

// Why namespaces cannot be used here (probed once: `ip netns add`, a veth pair inside it), or
// nullopt when they can.
std::optional<std::string> NetnsUnavailableReason();

}  // namespace ila::testbed

#endif  // ILA_TESTBED_NETNS_H_
