// MissEventReader over the ila_miss_events ring buffer.
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "abi.h"
#include "absl/strings/str_cat.h"
#include "dataplane/dataplane_state.h"
#include "ila/dataplane.h"

namespace ila {
namespace {

class RingBufferMissEvents : public MissEventReader {
 public:
  static absl::StatusOr<std::unique_ptr<MissEventReader>> Open(int map_fd) {
    auto reader = std::unique_ptr<RingBufferMissEvents>(new RingBufferMissEvents());
    reader->ring_ =
        ring_buffer__new(map_fd, &RingBufferMissEvents::OnSample, reader.get(), nullptr);
    if (!reader->ring_) {
      return absl::InternalError(
          absl::StrCat("opening the miss event ring buffer: ", std::strerror(errno)));
    }
    return std::unique_ptr<MissEventReader>(std::move(reader));
  }
  ~RingBufferMissEvents() override { ring_buffer__free(ring_); }

  int fd() const override { return ring_buffer__epoll_fd(ring_); }

  absl::StatusOr<size_t> Poll(std::chrono::milliseconds timeout,
                              const std::function<void(const MissEvent&)>& on_event) override {
    callback_ = &on_event;
    delivered_ = 0;
    int rc = ring_buffer__poll(ring_, static_cast<int>(timeout.count()));
    callback_ = nullptr;
    if (rc < 0 && rc != -EINTR) {
      return absl::InternalError(absl::StrCat("polling miss events: ", std::strerror(-rc)));
    }
    return delivered_;
  }

 private:
  RingBufferMissEvents() = default;

  static int OnSample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<RingBufferMissEvents*>(ctx);
    if (size < sizeof(abi::ila_miss_event) || !self->callback_) return 0;
    abi::ila_miss_event ev;
    std::memcpy(&ev, data, sizeof(ev));
    MissEvent out;
    out.destination = SirAddress::From(internal::FromAbi(ev.destination));
    out.ifindex = InterfaceIndex(static_cast<int>(ev.ifindex));
    out.suppressed = ev.suppressed;
    (*self->callback_)(out);
    ++self->delivered_;
    return 0;
  }

  ring_buffer* ring_ = nullptr;
  const std::function<void(const MissEvent&)>* callback_ = nullptr;
  size_t delivered_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MissEventReader>> Dataplane::OpenMissEvents() {
  return RingBufferMissEvents::Open(state_->map_fd("ila_miss_events"));
}

}  // namespace ila
