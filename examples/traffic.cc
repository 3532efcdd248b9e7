#include "traffic.h"

#include <netinet/in.h>
#include <linux/tcp.h>  // tcp_info with tcpi_dsack_dups (glibc's is older)
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ila/owned_fd.h"

namespace ila::demo {
namespace {

using Clock = std::chrono::steady_clock;

std::string Errno(int err) { return std::strerror(err); }

// A socket of the namespace `ns` (a socket belongs to the namespace of the thread creating it).
absl::StatusOr<OwnedFd> SocketIn(const Netns& ns, int type) {
  auto scope = NetnsEntered::Enter(ns);
  if (!scope.ok()) return scope.status();
  int fd = socket(AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket in " + ns.name() + ": " + Errno(errno));
  return OwnedFd(fd);
}

sockaddr_in6 SockAddr(const Ipv6Address& a, uint16_t port) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  std::memcpy(&sa.sin6_addr, a.bytes().data(), 16);
  return sa;
}

absl::Status BindAny(int fd, uint16_t port) {
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in6 sa = SockAddr(Ipv6Address(), port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return absl::InternalError(absl::StrCat("bind to port ", port, ": ", Errno(errno)));
  }
  return absl::OkStatus();
}

// Waits for `events` on fd until `deadline`; error on timeout, stop or `abort`.
absl::Status WaitFor(int fd, short events, Clock::time_point deadline, const char* what,
                     const std::atomic<bool>* abort = nullptr) {
  while (true) {
    if (StopRequested()) return absl::CancelledError("stopped by a signal");
    if (abort && abort->load()) return absl::AbortedError(std::string("gave up ") + what);
    if (Clock::now() > deadline)
      return absl::DeadlineExceededError(std::string("timed out ") + what);
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, 100);
    if (r > 0) return absl::OkStatus();
    if (r < 0 && errno != EINTR) return absl::InternalError(std::string("poll: ") + Errno(errno));
  }
}

struct ReceiveOutcome {
  absl::Status status;
  uint64_t bytes = 0;
  bool content_ok = true;
  uint64_t first_mismatch = 0;
};

void ReceiveTcp(int listener, const TcpTransferOptions& o, Clock::time_point deadline,
                const std::atomic<bool>& abort, ReceiveOutcome& out) {
  if (out.status = WaitFor(listener, POLLIN, deadline, "waiting for the connection", &abort);
      !out.status.ok()) {
    return;
  }
  OwnedFd conn(accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (conn.get() < 0) {
    out.status = absl::InternalError("accept: " + Errno(errno));
    return;
  }
  PatternStream expected(o.seed);
  std::vector<uint8_t> buf(1 << 18), want(1 << 18);
  while (true) {
    ssize_t n = read(conn.get(), buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        out.status = absl::InternalError("receiving: " + Errno(errno));
        return;
      }
      if (out.status = WaitFor(conn.get(), POLLIN, deadline, "receiving", &abort);
          !out.status.ok()) {
        return;
      }
      continue;
    }
    const size_t len = static_cast<size_t>(n);
    expected.Next(want.data(), len);
    if (out.content_ok && std::memcmp(buf.data(), want.data(), len) != 0) {
      out.content_ok = false;
      size_t i = 0;
      while (buf[i] == want[i]) ++i;
      out.first_mismatch = out.bytes + i;
    }
    out.bytes += len;
    if (o.progress) o.progress->store(out.bytes);
  }
}

}  // namespace

void PatternStream::Refill() {
  for (size_t i = 0; i < sizeof(block_); i += 8) {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    uint64_t v = state_ * 0x2545f4914f6cdd1dull;
    std::memcpy(block_ + i, &v, 8);
  }
  pos_ = 0;
}

void PatternStream::Next(uint8_t* out, size_t n) {
  while (n > 0) {
    if (pos_ == sizeof(block_)) Refill();
    size_t take = std::min(n, sizeof(block_) - pos_);
    std::memcpy(out, block_ + pos_, take);
    pos_ += take;
    out += take;
    n -= take;
  }
}

namespace {

// Connects the non-blocking socket `sock` to [to]:port, waiting until `deadline`.
absl::Status Connect(int sock, const Ipv6Address& to, uint16_t port, Clock::time_point deadline) {
  sockaddr_in6 sa = SockAddr(to, port);
  if (connect(sock, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 && errno != EINPROGRESS) {
    return absl::InternalError("connect to [" + to.ToString() + "]: " + Errno(errno));
  }
  if (absl::Status st = WaitFor(sock, POLLOUT, deadline, "connecting"); !st.ok()) return st;
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return absl::InternalError("connect to [" + to.ToString() + "]: " + Errno(err));
  return absl::OkStatus();
}

// Sends o.bytes bytes of PatternStream(o.seed) on the connected `sock` (*sent counts them), then
// closes the sending side and waits for the receiver to close once it has read everything.
absl::Status SendPattern(int sock, const TcpTransferOptions& o, Clock::time_point deadline,
                         uint64_t* sent) {
  PatternStream stream(o.seed);
  std::vector<uint8_t> chunk(1 << 18);
  size_t have = 0, off = 0;
  while (*sent < o.bytes) {
    if (off == have) {
      have = static_cast<size_t>(std::min<uint64_t>(chunk.size(), o.bytes - *sent));
      stream.Next(chunk.data(), have);
      off = 0;
    }
    ssize_t n = send(sock, chunk.data() + off, have - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return absl::InternalError("sending: " + Errno(errno));
      if (absl::Status st = WaitFor(sock, POLLOUT, deadline, "sending"); !st.ok()) return st;
      continue;
    }
    off += static_cast<size_t>(n);
    *sent += static_cast<uint64_t>(n);
  }
  shutdown(sock, SHUT_WR);
  char c;
  while (true) {
    ssize_t n = read(sock, &c, 1);
    if (n == 0) break;
    if (n < 0 && errno != EAGAIN && errno != EINTR) break;
    if (absl::Status st = WaitFor(sock, POLLIN, deadline, "waiting for the receiver"); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

// What the sender's TCP_INFO says about the transfer, into `result`.
void ReadSenderInfo(int sock, TcpTransferResult& result) {
  tcp_info info{};
  socklen_t info_len = sizeof(info);
  if (getsockopt(sock, IPPROTO_TCP, TCP_INFO, &info, &info_len) != 0) return;
  result.sender_retransmits = info.tcpi_total_retrans;
  result.sender_pmtu = info.tcpi_pmtu;
  result.sender_mss = info.tcpi_snd_mss;
  if (info_len >= offsetof(tcp_info, tcpi_reord_seen) + sizeof(info.tcpi_reord_seen)) {
    result.sender_bytes_retransmitted = info.tcpi_bytes_retrans;
    result.sender_dsack_dups = info.tcpi_dsack_dups;
    result.sender_reordering_seen = info.tcpi_reord_seen;
  }
}

}  // namespace

absl::StatusOr<TcpTransferResult> TcpTransfer(const TcpTransferOptions& o) {
  if (o.sender == nullptr || o.receiver == nullptr) {
    return absl::InvalidArgumentError("TcpTransfer needs a sender and a receiver namespace");
  }
  const auto start = Clock::now();
  const auto deadline = start + o.timeout;
  auto listener = SocketIn(*o.receiver, SOCK_STREAM);
  if (!listener.ok()) return listener.status();
  if (absl::Status st = BindAny(listener->get(), o.port); !st.ok()) return st;
  if (listen(listener->get(), 1) != 0) return absl::InternalError("listen: " + Errno(errno));
  auto sock = SocketIn(*o.sender, SOCK_STREAM);
  if (!sock.ok()) return sock.status();

  ReceiveOutcome received;
  std::atomic<bool> abort{false};  // the sender failed: the receiver stops waiting
  std::thread receiver([&] { ReceiveTcp(listener->get(), o, deadline, abort, received); });
  struct Joiner {
    std::thread& t;
    ~Joiner() {
      if (t.joinable()) t.join();
    }
  } joiner{receiver};

  TcpTransferResult result;
  absl::Status sent = Connect(sock->get(), o.to, o.port, deadline);
  if (sent.ok()) sent = SendPattern(sock->get(), o, deadline, &result.bytes_sent);
  ReadSenderInfo(sock->get(), result);
  if (!sent.ok()) {
    abort.store(true);
    sock->Reset();
    receiver.join();
    return absl::Status(sent.code(), absl::StrCat(sent.message(), " after ", result.bytes_sent,
                                                  " bytes sent, ", received.bytes, " received"));
  }
  receiver.join();
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!received.status.ok()) return received.status;
  result.bytes_received = received.bytes;
  result.content_ok = received.content_ok && received.bytes == o.bytes;
  result.first_mismatch = received.content_ok ? received.bytes : received.first_mismatch;
  return result;
}

absl::StatusOr<UdpStreamResult> UdpStream(const UdpStreamOptions& o) {
  if (o.sender == nullptr || o.receiver == nullptr || o.payload < 16 || o.rate_pps == 0) {
    return absl::InvalidArgumentError("UdpStream: sender, receiver, payload >= 16, rate > 0");
  }
  auto rx = SocketIn(*o.receiver, SOCK_DGRAM);
  if (!rx.ok()) return rx.status();
  if (absl::Status st = BindAny(rx->get(), o.port); !st.ok()) return st;
  auto tx = SocketIn(*o.sender, SOCK_DGRAM);
  if (!tx.ok()) return tx.status();
  sockaddr_in6 sa = SockAddr(o.to, o.port);
  if (connect(tx->get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return absl::InternalError("connect (UDP) to [" + o.to.ToString() + "]: " + Errno(errno));
  }

  UdpStreamResult result;
  std::vector<uint8_t> seen(o.packets, 0);
  std::atomic<bool> done_sending{false};
  std::atomic<int64_t> done_at_ms{0};
  const auto t0 = Clock::now();
  std::thread receiver([&] {
    std::vector<uint8_t> buf(65536);
    while (!StopRequested()) {
      if (done_sending.load()) {
        auto elapsed = std::chrono::duration_cast<Duration>(Clock::now() - t0).count();
        if (elapsed - done_at_ms.load() > o.drain.count()) break;
      }
      pollfd p{rx->get(), POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      ssize_t n;
      while ((n = recv(rx->get(), buf.data(), buf.size(), 0)) > 0) {
        uint32_t seq;
        std::memcpy(&seq, buf.data(), 4);
        bool ok = static_cast<uint32_t>(n) == o.payload && seq < o.packets;
        for (uint32_t i = 4; ok && i < o.payload; ++i) {
          ok = buf[i] == static_cast<uint8_t>(seq * 31 + i);
        }
        if (!ok) {
          ++result.corrupt;
        } else if (seen[seq]) {
          ++result.duplicates;
        } else {
          seen[seq] = 1;
          ++result.received;
        }
      }
    }
  });

  std::vector<uint8_t> pkt(o.payload);
  const auto start = Clock::now();
  for (uint32_t seq = 0; seq < o.packets && !StopRequested(); ++seq) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(1000000ull * seq / o.rate_pps));
    std::memcpy(pkt.data(), &seq, 4);
    for (uint32_t i = 4; i < o.payload; ++i) pkt[i] = static_cast<uint8_t>(seq * 31 + i);
    (void)send(tx->get(), pkt.data(), pkt.size(), MSG_NOSIGNAL);  // a failed send is a loss
    ++result.sent;
    if (o.sent_progress) o.sent_progress->store(result.sent);
  }
  done_at_ms.store(std::chrono::duration_cast<Duration>(Clock::now() - t0).count());
  done_sending.store(true);
  receiver.join();
  if (StopRequested()) return absl::CancelledError("stopped by a signal");

  result.lost = result.sent - result.received;
  uint32_t run = 0;
  for (uint32_t i = 0; i < result.sent; ++i) {
    run = seen[i] ? 0 : run + 1;
    result.longest_gap = std::max(result.longest_gap, run);
  }
  return result;
}

}  // namespace ila::demo
