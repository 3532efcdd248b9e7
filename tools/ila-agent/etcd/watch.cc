// The etcd client's Watch: one bidirectional Watch stream (gRPC's synchronous API) per watched
// prefix. Read() runs in one thread; RequestProgress() and Cancel() may come from any other, so
// writes and the stream's end (Finish) share a mutex, and Cancel() only cancels the context.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etcd/client_internal.h"

namespace ila::agent::etcd::internal {
namespace {

// Why etcd canceled a watch (its cancel_reason), as a status.
absl::Status CancelStatus(absl::string_view what, const std::string& reason) {
  absl::StatusCode code = absl::StatusCode::kUnavailable;  // the stream's end: watch again
  if (absl::StrContains(reason, "permission denied")) {
    code = absl::StatusCode::kPermissionDenied;
  } else if (absl::StrContains(reason, "auth token") || absl::StrContains(reason, "auth store") ||
             absl::StrContains(reason, "user name is empty")) {
    code = absl::StatusCode::kUnauthenticated;
  }
  return absl::Status(code, absl::StrCat("etcd ", what, " canceled by etcd: ",
                                         reason.empty() ? "no reason given" : reason));
}

class WatchImpl : public Watch {
 public:
  WatchImpl(std::shared_ptr<Connection> connection, const std::string& prefix)
      : c_(std::move(connection)),
        prefix_(prefix),
        what_(absl::StrCat("Watch prefix ", Quote(prefix))) {}

  ~WatchImpl() override { EndStream(/*cancel=*/true); }

  // Opens the stream and waits for etcd's "created". *token_refused: etcd refused the token the
  // stream carried (expired): the caller renews it and tries again.
  absl::Status Open(int64_t start_revision, bool* token_refused) {
    *token_refused = false;
    token_ = c_->Prepare(&context_, std::nullopt);  // a deadline would end the stream
    // "hasleader": etcd refuses the stream, or ends it later, when its member has lost the
    // cluster's leader, instead of leaving it silent while the rest of the cluster moves on.
    context_.AddMetadata("hasleader", "true");

    // Opening and the first reply block without a deadline of their own: a watchdog cancels the
    // stream when etcd does not confirm it within request_timeout.
    std::mutex mu;
    std::condition_variable cv;
    bool settled = false;
    bool timed_out = false;
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, c_->options().request_timeout, [&] { return settled; })) {
        timed_out = true;
        context_.TryCancel();
      }
    });

    stream_ = c_->watch().Watch(&context_);
    etcdserverpb::WatchRequest request;
    auto* create = request.mutable_create_request();
    std::string key, end;
    if (prefix_.empty()) {
      key = end = std::string(1, '\0');
    } else {
      key = prefix_;
      end = PrefixRangeEnd(prefix_);
    }
    create->set_key(key);
    create->set_range_end(end);
    create->set_start_revision(start_revision);
    create->set_progress_notify(true);
    etcdserverpb::WatchResponse response;
    bool ok = stream_->Write(request) && stream_->Read(&response);
    {
      std::lock_guard<std::mutex> lock(mu);
      settled = true;
    }
    cv.notify_one();
    watchdog.join();

    if (!ok) {
      grpc::Status status = EndStream(/*cancel=*/false);
      if (timed_out) {
        return absl::DeadlineExceededError(absl::StrCat(
            "etcd ", what_, ": not created within ", c_->options().request_timeout.count(), " ms"));
      }
      *token_refused = c_->TokenRefused(status);
      return StreamError(status);
    }
    if (!response.created()) {
      EndStream(/*cancel=*/true);
      return absl::InternalError(
          absl::StrCat("etcd ", what_, ": the first reply does not confirm the watch"));
    }
    if (response.canceled()) {
      EndStream(/*cancel=*/true);
      *token_refused =
          c_->TokenRefused(grpc::Status(grpc::StatusCode::UNKNOWN, response.cancel_reason()));
      return CancelStatus(what_, response.cancel_reason());
    }
    return absl::OkStatus();
  }

  const std::string& token() const { return token_; }

  absl::StatusOr<Batch> Read() override {
    if (!end_.ok()) return end_;
    etcdserverpb::WatchResponse response;
    while (true) {
      if (!stream_->Read(&response)) return End(StreamError(EndStream(/*cancel=*/false)));
      if (response.canceled()) {
        if (response.compact_revision() > 0) {
          compact_revision_.store(response.compact_revision());
          return End(absl::OutOfRangeError(
              absl::StrCat("etcd ", what_, ": revisions up to ", response.compact_revision(),
                           " are compacted; resync from a fresh range")));
        }
        return End(CancelStatus(what_, response.cancel_reason()));
      }
      if (response.created()) continue;
      Batch batch;
      batch.revision = response.header().revision();
      batch.events.reserve(static_cast<size_t>(response.events_size()));
      for (const mvccpb::Event& e : response.events()) {
        batch.events.push_back(
            Event{e.type() == mvccpb::Event::DELETE ? Event::Type::kDelete : Event::Type::kPut,
                  FromProto(e.kv())});
      }
      return batch;
    }
  }

  int64_t compact_revision() const override { return compact_revision_.load(); }

  void RequestProgress() override {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (finished_) return;
    etcdserverpb::WatchRequest request;
    request.mutable_progress_request();
    // A failed write means the stream has ended; Read() reports why.
    (void)stream_->Write(request);
  }

  void Cancel() override {
    cancelled_.store(true);
    context_.TryCancel();
  }

 private:
  absl::Status End(absl::Status status) {
    EndStream(/*cancel=*/true);
    end_ = status;
    return status;
  }

  // Ends the stream once (Finish after the reads are drained); returns how it ended.
  grpc::Status EndStream(bool cancel) {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (!finished_ && stream_ != nullptr) {
      if (cancel) context_.TryCancel();
      etcdserverpb::WatchResponse drained;
      while (stream_->Read(&drained)) {
      }
      finish_status_ = stream_->Finish();
    }
    finished_ = true;
    return finish_status_;
  }

  absl::Status StreamError(const grpc::Status& status) const {
    if (cancelled_.load()) {
      return absl::CancelledError(absl::StrCat("etcd ", what_, ": cancelled by the client"));
    }
    if (status.ok()) {
      return absl::UnavailableError(absl::StrCat("etcd ", what_, ": the stream ended"));
    }
    return FromGrpc(status, what_);
  }

  const std::shared_ptr<Connection> c_;
  const std::string prefix_;
  const std::string what_;
  std::string token_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
      stream_;
  std::mutex write_mu_;  // guards writes to stream_, its Finish, and the two below
  bool finished_ = false;
  grpc::Status finish_status_;
  absl::Status end_;  // Read()'s thread only: once set, every Read() returns it
  std::atomic<int64_t> compact_revision_{0};
  std::atomic<bool> cancelled_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Watch>> StartWatch(const std::shared_ptr<Connection>& connection,
                                                  const std::string& prefix,
                                                  int64_t start_revision) {
  for (int attempt = 0;; ++attempt) {
    auto watch = std::make_unique<WatchImpl>(connection, prefix);
    bool token_refused = false;
    absl::Status st = watch->Open(start_revision, &token_refused);
    if (st.ok()) return watch;
    if (attempt > 0 || !token_refused) return st;
    if (absl::Status renewed = connection->Reauthenticate(watch->token()); !renewed.ok()) {
      return renewed;
    }
  }
}

}  // namespace ila::agent::etcd::internal
