// Traffic between namespaces with content you can check: a TCP transfer of a deterministic
// pseudo-random stream that the receiver verifies byte for byte, and a sequenced UDP stream that
// counts losses and the longest run of them. Sockets are created by threads that have entered the
// sender's / receiver's namespace (setns), so nothing has to be exec'd.
#ifndef ILA_EXAMPLES_TRAFFIC_H_
#define ILA_EXAMPLES_TRAFFIC_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "ila/types.h"
#include "topology.h"

namespace ila::demo {

// The byte stream both ends generate: xorshift64* from `seed`, 8 bytes per step.
class PatternStream {
 public:
  explicit PatternStream(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ull | 1) {}
  // The next n bytes of the stream.
  void Next(uint8_t* out, size_t n);

 private:
  void Refill();
  uint64_t state_;
  uint8_t block_[65536];
  size_t pos_ = sizeof(block_);
};

struct TcpTransferOptions {
  const Netns* sender = nullptr;
  const Netns* receiver = nullptr;
  Ipv6Address to;  // the receiver's address
  uint16_t port = 5201;
  uint64_t bytes = 100ull << 20;
  uint64_t seed = 1;
  Duration timeout = Duration(60000);
  // Bytes verified by the receiver so far, updated as they arrive (to act mid-transfer).
  std::atomic<uint64_t>* progress = nullptr;
};

struct TcpTransferResult {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  bool content_ok = false;      // every byte received, in order, equal to what was sent
  uint64_t first_mismatch = 0;  // offset of the first wrong byte when !content_ok
  double seconds = 0;
  uint32_t sender_retransmits = 0;          // TCP_INFO tcpi_total_retrans of the sender
  uint64_t sender_bytes_retransmitted = 0;  // tcpi_bytes_retrans
  uint32_t sender_pmtu = 0;                 // TCP_INFO tcpi_pmtu at the end
  uint32_t sender_mss = 0;                  // TCP_INFO tcpi_snd_mss at the end
  // Retransmissions the receiver reported as duplicates (D-SACK): spurious ones, sent because
  // later segments overtook earlier ones, not because anything was lost.
  uint32_t sender_dsack_dups = 0;
  uint32_t sender_reordering_seen = 0;  // tcpi_reord_seen: reordering events the sender detected
  double MegabytesPerSecond() const {
    return seconds > 0 ? static_cast<double>(bytes_received) / seconds / 1e6 : 0;
  }
};

// Sends `bytes` bytes of PatternStream(seed) from the sender namespace to [to]:port, where the
// receiver namespace listens and checks every byte. Error when a socket call fails, the timeout
// passes or a stop is requested; the result says whether the content arrived intact.
absl::StatusOr<TcpTransferResult> TcpTransfer(const TcpTransferOptions& options);

struct UdpStreamOptions {
  const Netns* sender = nullptr;
  const Netns* receiver = nullptr;
  Ipv6Address to;
  uint16_t port = 5301;
  uint32_t packets = 1000;
  uint32_t rate_pps = 1000;
  uint32_t payload = 256;          // bytes, at least 16
  Duration drain = Duration(500);  // how long the receiver waits after the last packet
  std::atomic<uint32_t>* sent_progress = nullptr;  // packets sent so far
};

struct UdpStreamResult {
  uint32_t sent = 0;
  uint32_t received = 0;  // distinct sequence numbers with intact content
  uint32_t lost = 0;      // sent - received
  uint32_t duplicates = 0;
  uint32_t corrupt = 0;      // wrong length or content
  uint32_t longest_gap = 0;  // the longest run of consecutive lost sequence numbers
};

// Sends `packets` sequenced datagrams at `rate_pps` and reports what arrived.
absl::StatusOr<UdpStreamResult> UdpStream(const UdpStreamOptions& options);

}  // namespace ila::demo

#endif  // ILA_EXAMPLES_TRAFFIC_H_
