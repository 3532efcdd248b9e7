// Connecting to etcd: the endpoints as one gRPC channel target, TLS credentials, the channel's
// keep-alive and reconnect settings, waiting for the channel, and the auth token (Authenticate,
// renewal). Also the small helpers both halves of the client share (client_internal.h).
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "etcd/client_internal.h"

namespace ila::agent::etcd::internal {

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  std::string message = status.error_message();
  if (message.empty()) message = absl::StrCat("gRPC status ", status.error_code());
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("etcd ", what, ": ", message));
}

std::string Quote(absl::string_view key) { return absl::StrCat("'", absl::CHexEscape(key), "'"); }

std::string PrefixRangeEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

KeyValue FromProto(const mvccpb::KeyValue& kv) {
  return KeyValue{kv.key(),          kv.value(),   kv.create_revision(),
                  kv.mod_revision(), kv.version(), kv.lease()};
}

namespace {

using Clock = std::chrono::system_clock;

// One endpoint, split.
struct HostPort {
  std::string host;  // without IPv6 brackets
  std::string port;
  int family = AF_UNSPEC;  // AF_INET/AF_INET6 for an address literal, AF_UNSPEC for a name
};

// What the endpoints say: the channel's target and whether it speaks TLS.
struct Target {
  std::string uri;
  std::string tls_name;  // the first endpoint's host: the name the server certificate must hold
  bool https = false;
};

absl::StatusOr<HostPort> SplitEndpoint(absl::string_view endpoint, bool* https) {
  absl::string_view rest = endpoint;
  *https = false;
  if (absl::ConsumePrefix(&rest, "https://")) {
    *https = true;
  } else if (!absl::ConsumePrefix(&rest, "http://") && absl::StrContains(rest, "://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint '", endpoint, "': only http:// and https:// are supported"));
  }
  while (absl::ConsumeSuffix(&rest, "/")) {
  }
  HostPort hp;
  absl::string_view port;
  if (absl::ConsumePrefix(&rest, "[")) {
    size_t close = rest.find(']');
    if (close == absl::string_view::npos || rest.substr(close + 1, 1) != ":") {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd endpoint '", endpoint, "': an IPv6 endpoint is written [address]:port"));
    }
    hp.host = std::string(rest.substr(0, close));
    port = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd endpoint '", endpoint, "' has no port (host:port)"));
    }
    hp.host = std::string(rest.substr(0, colon));
    port = rest.substr(colon + 1);
  }
  int port_number = 0;
  if (hp.host.empty() || !absl::SimpleAtoi(port, &port_number) || port_number < 1 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint '", endpoint, "' is not host:port with a port in 1..65535"));
  }
  hp.port = std::string(port);
  unsigned char buf[16];
  if (inet_pton(AF_INET, hp.host.c_str(), buf) == 1) {
    hp.family = AF_INET;
  } else if (inet_pton(AF_INET6, hp.host.c_str(), buf) == 1) {
    hp.family = AF_INET6;
  }
  return hp;
}

// A host name as one address (IPv4 preferred), for a target of several endpoints.
absl::Status Resolve(HostPort* hp) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int err = getaddrinfo(hp->host.c_str(), nullptr, &hints, &found);
  if (err != 0) {
    return absl::UnavailableError(
        absl::StrCat("etcd endpoint host '", hp->host, "' does not resolve: ", gai_strerror(err)));
  }
  const addrinfo* pick = nullptr;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
    if (a->ai_family == AF_INET6 && pick == nullptr) pick = a;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (pick != nullptr) {
    const void* addr =
        pick->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(pick->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(pick->ai_addr)->sin6_addr);
    inet_ntop(pick->ai_family, addr, text, sizeof(text));
    hp->family = pick->ai_family;
    hp->host = text;
  }
  freeaddrinfo(found);
  if (pick == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("etcd endpoint host '", hp->host, "' has no IPv4 or IPv6 address"));
  }
  return absl::OkStatus();
}

// gRPC's "ipv4:"/"ipv6:" targets list addresses of one family: pick_first tries them in order and
// moves to the next when a connection fails. One host name is left to gRPC's "dns:" resolver.
absl::StatusOr<Target> MakeTarget(const std::vector<std::string>& endpoints) {
  if (endpoints.empty()) return absl::InvalidArgumentError("no etcd endpoint given");
  Target target;
  std::vector<HostPort> parts;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    bool https = false;
    auto hp = SplitEndpoint(endpoints[i], &https);
    if (!hp.ok()) return hp.status();
    if (i > 0 && https != target.https) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd endpoints mix http and https: ", absl::StrJoin(endpoints, ", ")));
    }
    target.https = https;
    parts.push_back(*std::move(hp));
  }
  target.tls_name = parts.front().host;
  if (parts.size() == 1 && parts.front().family == AF_UNSPEC) {
    target.uri = absl::StrCat("dns:///", parts.front().host, ":", parts.front().port);
    return target;
  }
  for (HostPort& hp : parts) {
    if (hp.family == AF_UNSPEC) {
      if (absl::Status st = Resolve(&hp); !st.ok()) return st;
    }
    if (hp.family != parts.front().family) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd endpoints mix IPv4 and IPv6 (one gRPC channel takes one family): ",
                       absl::StrJoin(endpoints, ", ")));
    }
  }
  bool v6 = parts.front().family == AF_INET6;
  target.uri = absl::StrCat(
      v6 ? "ipv6:" : "ipv4:", absl::StrJoin(parts, ",", [v6](std::string* out, const HostPort& hp) {
        absl::StrAppend(out, v6 ? "[" : "", hp.host, v6 ? "]" : "", ":", hp.port);
      }));
  return target;
}

absl::StatusOr<std::string> ReadPem(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd TLS ", what, " file '", path, "' cannot be read: ", strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd TLS ", what, " file '", path, "' holds no PEM block"));
  }
  return text.str();
}

int Millis(std::chrono::milliseconds d) {
  return static_cast<int>(std::clamp<int64_t>(d.count(), 1, 1 << 30));
}

}  // namespace

Connection::Connection(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      options_(std::move(options)),
      kv_(etcdserverpb::KV::NewStub(channel_)),
      watch_(etcdserverpb::Watch::NewStub(channel_)),
      lease_(etcdserverpb::Lease::NewStub(channel_)),
      cluster_(etcdserverpb::Cluster::NewStub(channel_)),
      maintenance_(etcdserverpb::Maintenance::NewStub(channel_)),
      auth_(etcdserverpb::Auth::NewStub(channel_)) {}

std::string Connection::Prepare(grpc::ClientContext* context,
                                std::optional<std::chrono::milliseconds> timeout) const {
  if (timeout) context->set_deadline(Clock::now() + *timeout);
  std::string token;
  {
    std::lock_guard<std::mutex> lock(token_mu_);
    token = token_;
  }
  if (!token.empty()) context->AddMetadata("token", token);
  return token;
}

bool Connection::TokenRefused(const grpc::Status& status) const {
  if (!authenticating()) return false;
  const std::string& m = status.error_message();
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         absl::StrContains(m, "invalid auth token") ||
         absl::StrContains(m, "revision of auth store is old");
}

absl::Status Connection::Reauthenticate(const std::string& stale, bool force) {
  std::lock_guard<std::mutex> renew(renew_mu_);
  {
    std::lock_guard<std::mutex> lock(token_mu_);
    if (!force && token_ != stale) return absl::OkStatus();
  }
  etcdserverpb::AuthenticateRequest request;
  request.set_name(options_.user);
  request.set_password(options_.password);
  etcdserverpb::AuthenticateResponse response;
  grpc::ClientContext context;
  context.set_deadline(Clock::now() + options_.request_timeout);
  grpc::Status status = auth_->Authenticate(&context, request, &response);
  if (!status.ok()) {
    return FromGrpc(status, absl::StrCat("Auth.Authenticate as user '", options_.user, "'"));
  }
  std::lock_guard<std::mutex> lock(token_mu_);
  token_ = response.token();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Connection>> Open(const ClientOptions& options) {
  // A channel's connection attempts make progress only while some thread polls it. Fail-fast
  // calls do not wait on a reconnecting channel, so after an outage only gRPC's backup poller
  // drives the attempt, every 5 s by default: each TCP connect and each SETTINGS frame then waits
  // for its tick, and the attempt's deadline passes first, again and again (seen with etcd
  // restarted under a running agent: the channel never recovered). Polled every 100 ms it
  // reconnects at once. Read when gRPC initialises, which the first channel below does; a value
  // the user set wins.
  setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", /*overwrite=*/0);
  if (options.request_timeout.count() <= 0 || options.dial_timeout.count() <= 0 ||
      options.keepalive_time.count() <= 0 || options.keepalive_timeout.count() <= 0 ||
      options.range_page_size <= 0) {
    return absl::InvalidArgumentError(
        "etcd client: timeouts, keep-alive times and range_page_size must be positive");
  }
  if (options.cert.empty() != options.key.empty()) {
    return absl::InvalidArgumentError(
        "etcd client: a client certificate needs both cert and key (PEM files)");
  }
  auto target = MakeTarget(options.endpoints);
  if (!target.ok()) return target.status();

  grpc::ChannelArguments args;
  // pick_first over the addresses: one connection, moved to the next endpoint when it breaks.
  args.SetLoadBalancingPolicyName("pick_first");
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(options.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(options.keepalive_timeout));
  // Pings only while calls are open: etcd (grpc-go) counts a ping on a connection without
  // streams as abuse unless it is hours apart, and closes the connection after a few.
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // A quiet watch sends no data for minutes; without this gRPC stops pinging after two pings.
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // A connection attempt to an endpoint that does not answer gives up after dial_timeout (default
  // 20 s), so that pick_first goes on to the next one; reconnects back off to at most 2 s.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, Millis(options.dial_timeout));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Each client its own connection, as each etcd clientv3 has: gRPC would otherwise share one
  // subchannel among the channels of a process that have the same target and arguments.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // etcd answers a large range in one message (clientv3 allows 2 GiB too).
  args.SetMaxReceiveMessageSize(-1);

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (target->https || !options.cacert.empty() || !options.cert.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!options.cacert.empty()) {
      auto ca = ReadPem("CA certificate (cacert)", options.cacert);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
    }
    if (!options.cert.empty()) {
      auto cert = ReadPem("client certificate (cert)", options.cert);
      if (!cert.ok()) return cert.status();
      auto key = ReadPem("client key (key)", options.key);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
    // An "ipv4:a,b" target has no single host for the certificate check: the first endpoint's.
    args.SetSslTargetNameOverride(target->tls_name);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  auto channel = grpc::CreateCustomChannel(target->uri, credentials, args);
  auto connection = std::make_shared<Connection>(channel, options);

  if (!channel->WaitForConnected(Clock::now() + options.dial_timeout)) {
    // The channel's last error (refused, TLS handshake, ...) comes with a fail-fast call.
    grpc::ClientContext context;
    context.set_deadline(Clock::now() + std::chrono::milliseconds(500));
    etcdserverpb::StatusResponse response;
    grpc::Status why =
        connection->maintenance().Status(&context, etcdserverpb::StatusRequest(), &response);
    if (!why.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "no etcd endpoint of ", absl::StrJoin(options.endpoints, ", "), " answered within ",
          options.dial_timeout.count(), " ms: ", why.error_message()));
    }
  }
  if (connection->authenticating()) {
    if (absl::Status st = connection->Reauthenticate("", /*force=*/true); !st.ok()) return st;
  }
  return connection;
}

}  // namespace ila::agent::etcd::internal
