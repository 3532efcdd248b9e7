// ila-agent's etcd client (tools/ila-agent/etcd/client.h) against a real etcd
// (testbed/etcd_cluster.h): reads at a revision, RangePrefix's pages at one snapshot, deletes,
// transactions, leases, watches (order, compaction, cancel, progress), failover when the leader
// dies, authentication with roles, and client-certificate TLS.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "etcd/client.h"
#include "support/skip.h"
#include "testbed/etcd_cluster.h"

using namespace ila::agent::etcd;
using ila::testbed::EtcdCluster;
using ila::testbed::EtcdClusterOptions;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::optional<std::string> SkipReason() {
  for (const char* tool : {"/usr/bin/etcd", "/usr/bin/etcdctl", "/usr/bin/openssl"}) {
    if (access(tool, X_OK) != 0) {
      return std::string(tool) + " is missing (apt-get install etcd-server etcd-client openssl)";
    }
  }
  return std::nullopt;
}

template <typename T>
T Ok(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) FAIL(what << ": " << v.status());
  return *std::move(v);
}
void Ok(const absl::Status& s, const char* what) {
  if (!s.ok()) FAIL(what << ": " << s);
}
// The value of a StatusOr, or the test fails naming the expression and the error.
#define OK(expr) Ok((expr), #expr)

std::unique_ptr<EtcdCluster> StartCluster(const EtcdClusterOptions& options = {}) {
  return OK(EtcdCluster::Start(options));
}

ClientOptions OptionsFor(const EtcdCluster& cluster) {
  ClientOptions o;
  o.endpoints = cluster.client_endpoints();
  return o;
}

std::unique_ptr<Client> ConnectTo(const EtcdCluster& cluster) {
  return OK(Client::Connect(OptionsFor(cluster)));
}

// What callers do with UNAVAILABLE/DEADLINE_EXCEEDED (the cluster is moving): try again.
absl::StatusOr<int64_t> PutRetrying(Client& client, const std::string& key,
                                    const std::string& value, milliseconds budget) {
  auto deadline = Clock::now() + budget;
  while (true) {
    auto r = client.Put(key, value);
    if (r.ok() || Clock::now() > deadline) return r;
    std::cout << "  put " << key << ": " << r.status() << "; again" << std::endl;
    if (r.status().code() != absl::StatusCode::kUnavailable &&
        r.status().code() != absl::StatusCode::kDeadlineExceeded) {
      return r;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

// Reads batches until `count` events arrived (or an error).
absl::StatusOr<std::vector<Event>> ReadEvents(Watch& watch, size_t count) {
  std::vector<Event> events;
  while (events.size() < count) {
    auto batch = watch.Read();
    if (!batch.ok()) return batch.status();
    events.insert(events.end(), batch->events.begin(), batch->events.end());
  }
  return events;
}

// Operations and compares, spelled out (the structs' fields in order).
Operation PutOp(const std::string& key, const std::string& value) {
  Operation op;
  op.key = key;
  op.value = value;
  return op;
}
Operation GetOp(const std::string& key, bool prefix = false) {
  Operation op;
  op.kind = Operation::Kind::kGet;
  op.key = key;
  op.prefix = prefix;
  return op;
}
Operation DeleteOp(const std::string& key, bool prefix = false) {
  Operation op = GetOp(key, prefix);
  op.kind = Operation::Kind::kDelete;
  return op;
}
Compare RevisionIs(const std::string& key, Compare::Target target, int64_t number) {
  Compare c;
  c.key = key;
  c.target = target;
  c.number = number;
  return c;
}
Compare ValueIs(const std::string& key, const std::string& value) {
  Compare c;
  c.key = key;
  c.target = Compare::Target::kValue;
  c.value = value;
  return c;
}

EtcdClusterOptions Members(int n) {
  EtcdClusterOptions o;
  o.members = n;
  return o;
}

}  // namespace

TEST_CASE("put, get, delete and a read at an old revision") {
  ILA_SKIP_IF(SkipReason());
  auto cluster = StartCluster();
  auto client = ConnectTo(*cluster);

  int64_t r1 = OK(client->Put("/kv/a", "one"));
  int64_t r2 = OK(client->Put("/kv/a", "two"));
  CHECK(r2 == r1 + 1);
  RangeResult now = OK(client->Get("/kv/a"));
  REQUIRE(now.kvs.size() == 1);
  CHECK(now.kvs[0].value == "two");
  CHECK(now.kvs[0].create_revision == r1);
  CHECK(now.kvs[0].mod_revision == r2);
  CHECK(now.kvs[0].version == 2);
  CHECK(now.revision == r2);

  RangeResult then = OK(client->RangePrefix("/kv/", r1));
  REQUIRE(then.kvs.size() == 1);
  CHECK(then.kvs[0].value == "one");
  CHECK(then.revision == r1);

  CHECK(OK(client->Get("/kv/none")).kvs.empty());
  OK(client->Put("/kv/b", "x"));
  OK(client->Put("/kvother", "x"));
  CHECK(OK(client->Delete("/kv/", /*prefix=*/true)) == 2);
  CHECK(OK(client->Delete("/kv/a")) == 0);
  CHECK(OK(client->RangePrefix("/kv")).kvs.size() == 1);

  // A host name as the one endpoint: gRPC's dns resolver.
  ClientOptions by_name = OptionsFor(*cluster);
  by_name.endpoints = {"http://localhost:" +
                       by_name.endpoints[0].substr(by_name.endpoints[0].rfind(':') + 1)};
  auto named = OK(Client::Connect(by_name));
  CHECK(OK(named->Get("/kvother")).kvs.size() == 1);
}

TEST_CASE("RangePrefix reads every page at the first page's revision") {
  ILA_SKIP_IF(SkipReason());
  auto cluster = StartCluster();
  ClientOptions options = OptionsFor(*cluster);
  options.range_page_size = 100;
  auto client = OK(Client::Connect(options));

  // 450 keys, 90 puts a transaction (etcd allows 128 operations in one).
  for (int t = 0; t < 5; ++t) {
    std::vector<Operation> puts;
    for (int i = t * 90; i < (t + 1) * 90; ++i) {
      puts.push_back(PutOp(absl::StrFormat("/p/k%04d", i), "old"));
    }
    OK(client->Txn({}, puts, {}));
  }
  int64_t snapshot = OK(client->Get("/p/k0000")).revision;
  CHECK(OK(client->Delete("/p/k00", /*prefix=*/true)) == 100);
  OK(client->Put("/p/k0100", "new"));

  RangeResult old = OK(client->RangePrefix("/p/", snapshot));
  REQUIRE(old.kvs.size() == 450);
  CHECK(old.revision == snapshot);
  for (size_t i = 0; i < old.kvs.size(); ++i) {
    INFO(i);
    CHECK(old.kvs[i].key == absl::StrFormat("/p/k%04d", i));
    CHECK(old.kvs[i].value == "old");
  }
  RangeResult now = OK(client->RangePrefix("/p/"));
  REQUIRE(now.kvs.size() == 350);
  CHECK(now.revision == snapshot + 2);
  CHECK(now.kvs[0].key == "/p/k0100");
  CHECK(now.kvs[0].value == "new");

  // A prefix ending in 0xff: its range ends at the previous byte incremented ("x\xff" -> "y").
  OK(client->Put(std::string("x\xff"), "1"));
  OK(client->Put(std::string("x\xff\x01"), "2"));
  OK(client->Put("y", "3"));
  CHECK(OK(client->RangePrefix(std::string("x\xff"))).kvs.size() == 2);
  // The empty prefix: every key.
  CHECK(OK(client->RangePrefix("")).kvs.size() == 353);
}

TEST_CASE("transactions: compares on mod and create revisions pick the branch") {
  ILA_SKIP_IF(SkipReason());
  auto cluster = StartCluster();
  auto client = ConnectTo(*cluster);

  // Create-if-absent.
  Compare absent = RevisionIs("/t/owner", Compare::Target::kCreateRevision, 0);
  std::vector<Operation> claim = {PutOp("/t/owner", "host1")};
  std::vector<Operation> read_owner = {GetOp("/t/owner")};
  TxnResult first = OK(client->Txn({absent}, claim, read_owner));
  CHECK(first.succeeded);
  CHECK(first.gets.empty());
  TxnResult second = OK(client->Txn({absent}, {PutOp("/t/owner", "host2")}, read_owner));
  CHECK_FALSE(second.succeeded);
  REQUIRE(second.gets.size() == 1);
  REQUIRE(second.gets[0].size() == 1);
  CHECK(second.gets[0][0].value == "host1");

  // A move guarded by the mod revision read before it: a stale revision changes nothing.
  int64_t seen = OK(client->Get("/t/owner")).kvs.at(0).mod_revision;
  int64_t later = OK(client->Put("/t/owner", "host3"));
  Compare unchanged = RevisionIs("/t/owner", Compare::Target::kModRevision, seen);
  std::vector<Operation> move = {PutOp("/t/owner", "host4"), PutOp("/t/moved", "yes")};
  TxnResult stale = OK(client->Txn({unchanged}, move, {}));
  CHECK_FALSE(stale.succeeded);
  CHECK(stale.revision == later);
  CHECK(OK(client->Get("/t/owner")).kvs.at(0).value == "host3");
  CHECK(OK(client->Get("/t/moved")).kvs.empty());

  unchanged.number = later;
  move.push_back(GetOp("/t/", /*prefix=*/true));
  TxnResult done = OK(client->Txn({unchanged}, move, {}));
  CHECK(done.succeeded);
  CHECK(done.revision == later + 1);
  REQUIRE(done.gets.size() == 1);
  CHECK(done.gets[0].size() == 2);
  CHECK(OK(client->Get("/t/owner")).kvs.at(0).value == "host4");

  CHECK(OK(client->Txn({ValueIs("/t/moved", "yes")}, {DeleteOp("/t/", /*prefix=*/true)}, {}))
            .succeeded);
  CHECK(OK(client->RangePrefix("/t/")).kvs.empty());
}

TEST_CASE("leases: keep-alives hold a key, and it goes when they stop") {
  ILA_SKIP_IF(SkipReason());
  auto cluster = StartCluster();
  auto client = ConnectTo(*cluster);

  int64_t lease = OK(client->LeaseGrant(2));
  OK(client->Put("/l/key", "v", lease));
  // Three seconds of keep-alives: longer than the TTL.
  auto until = Clock::now() + milliseconds(3000);
  while (Clock::now() < until) {
    CHECK(OK(client->LeaseKeepAlive(lease)) == 2);
    std::this_thread::sleep_for(milliseconds(500));
  }
  CHECK(OK(client->Get("/l/key")).kvs.size() == 1);
  CHECK(OK(client->LeaseTimeToLive(lease)) >= 1);

  auto stopped = Clock::now();
  while (!OK(client->Get("/l/key")).kvs.empty()) {
    REQUIRE(Clock::now() - stopped < milliseconds(6000));
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(Clock::now() - stopped > milliseconds(1000));
  CHECK(client->LeaseKeepAlive(lease).status().code() == absl::StatusCode::kNotFound);
  CHECK(client->LeaseTimeToLive(lease).status().code() == absl::StatusCode::kNotFound);
  CHECK(client->LeaseRevoke(lease).code() == absl::StatusCode::kNotFound);

  // A revoke deletes the lease's keys at once; a chosen id is kept.
  int64_t chosen = OK(client->LeaseGrant(60, 4242));
  CHECK(chosen == 4242);
  OK(client->Put("/l/other", "v", chosen));
  OK(client->LeaseRevoke(chosen));
  CHECK(OK(client->Get("/l/other")).kvs.empty());
}

TEST_CASE("watch: events in order with revisions, progress, cancel") {
  ILA_SKIP_IF(SkipReason());
  auto cluster = StartCluster();
  auto client = ConnectTo(*cluster);

  int64_t start = OK(client->Put("/other", "x")) + 1;
  auto watch = OK(client->WatchPrefix("/w/", start));
  int64_t ra = OK(client->Put("/w/a", "1"));
  OK(client->Put("/elsewhere", "x"));
  int64_t rb = OK(client->Put("/w/b", "2"));
  REQUIRE(OK(client->Delete("/w/a")) == 1);
  int64_t rd = OK(client->Get("/w/b")).revision;
  std::vector<Event> events = OK(ReadEvents(*watch, 3));
  REQUIRE(events.size() == 3);
  CHECK(events[0].type == Event::Type::kPut);
  CHECK(events[0].kv.key == "/w/a");
  CHECK(events[0].kv.value == "1");
  CHECK(events[0].kv.mod_revision == ra);
  CHECK(events[1].type == Event::Type::kPut);
  CHECK(events[1].kv.key == "/w/b");
  CHECK(events[1].kv.mod_revision == rb);
  CHECK(events[2].type == Event::Type::kDelete);
  CHECK(events[2].kv.key == "/w/a");
  CHECK(events[2].kv.mod_revision == rd);

  // Progress: a batch without events at the store's revision.
  OK(client->Put("/elsewhere", "y"));
  watch->RequestProgress();
  Watch::Batch progress = OK(watch->Read());
  CHECK(progress.events.empty());
  CHECK(progress.revision == rd + 1);

  // A watch from the past replays history.
  auto replay = OK(client->WatchPrefix("/w/", ra));
  CHECK(OK(ReadEvents(*replay, 3)).back().kv.mod_revision == rd);

  // Cancel() from another thread ends a blocked Read().
  auto reader = std::async(std::launch::async, [&] { return watch->Read().status(); });
  CHECK(reader.wait_for(milliseconds(300)) == std::future_status::timeout);
  auto cancelled_at = Clock::now();
  watch->Cancel();
  REQUIRE(reader.wait_for(milliseconds(2000)) == std::future_status::ready);
  CHECK(Clock::now() - cancelled_at < milliseconds(1000));
  CHECK(reader.get().code() == absl::StatusCode::kCancelled);
  CHECK(watch->Read().status().code() == absl::StatusCode::kCancelled);
  watch->RequestProgress();  // harmless after the end
}

TEST_CASE("watch and range from a compacted revision: OUT_OF_RANGE") {
  ILA_SKIP_IF(SkipReason());
  auto cluster = StartCluster();
  auto client = ConnectTo(*cluster);

  int64_t r1 = OK(client->Put("/c/k", "1"));
  OK(client->Put("/c/k", "2"));
  int64_t r3 = OK(client->Put("/c/k", "3"));
  OK(client->Compact(r3));

  CHECK(client->RangePrefix("/c/", r1).status().code() == absl::StatusCode::kOutOfRange);
  auto watch = OK(client->WatchPrefix("/c/", r1));
  auto read = watch->Read();
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().code() == absl::StatusCode::kOutOfRange);
  CHECK(watch->compact_revision() == r3);
  // From the compact revision on, history is there.
  auto resync = OK(client->WatchPrefix("/c/", r3));
  CHECK(OK(ReadEvents(*resync, 1)).at(0).kv.value == "3");
}

TEST_CASE("failover: the leader dies, the client moves to another member") {
  ILA_SKIP_IF(SkipReason());
  auto cluster = StartCluster(Members(3));
  int leader = OK(cluster->LeaderIndex());
  // The dead member is the one the client is connected to (pick_first takes the first).
  ClientOptions options = OptionsFor(*cluster);
  std::swap(options.endpoints[0], options.endpoints[static_cast<size_t>(leader)]);
  options.request_timeout = milliseconds(2000);
  auto client = OK(Client::Connect(options));
  OK(client->Put("/f/before", "1"));
  CHECK(OK(client->MemberList()).size() == 3);
  uint64_t leader_id = OK(client->Leader());
  auto watch = OK(client->WatchPrefix("/f/", OK(client->Get("/f/before")).revision + 1));

  OK(cluster->StopMember(leader));
  auto killed = Clock::now();
  for (int i = 0; i < 5; ++i)
    OK(PutRetrying(*client, "/f/k", std::to_string(i), milliseconds(5000)));
  std::cout << "failover: puts went through again "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - killed).count()
            << " ms after the leader was killed" << std::endl;
  CHECK(OK(client->Get("/f/k")).kvs.at(0).value == "4");
  CHECK(OK(client->Leader()) != leader_id);
  CHECK(OK(cluster->LeaderIndex()) != leader);
  // The watch was on the dead member's connection: it ends, retryable.
  auto read = watch->Read();
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().code() == absl::StatusCode::kUnavailable);

  OK(cluster->StartMember(leader));
  CHECK(OK(cluster->EtcdctlMember(leader, {"get", "/f/k", "--print-value-only"})) == "4\n");
}

TEST_CASE("authentication: passwords, roles, token renewal") {
  ILA_SKIP_IF(SkipReason());
  // Tokens expire after a second without use, so that the test sees a renewal.
  EtcdClusterOptions short_tokens;
  short_tokens.extra_args = {"--auth-token-ttl=1"};
  auto cluster = StartCluster(short_tokens);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"user", "add", "root", "--new-user-password=rootpw"},
           {"user", "grant-role", "root", "root"},
           {"role", "add", "only-a"},
           {"role", "grant-permission", "only-a", "--prefix=true", "readwrite", "/a/"},
           {"user", "add", "alice", "--new-user-password=alicepw"},
           {"user", "grant-role", "alice", "only-a"},
           {"auth", "enable"}}) {
    OK(cluster->Etcdctl(args));
  }

  ClientOptions wrong = OptionsFor(*cluster);
  wrong.user = "alice";
  wrong.password = "nope";
  auto refused = Client::Connect(wrong);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("authentication failed"));
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("alice"));

  ClientOptions alice_options = wrong;
  alice_options.password = "alicepw";
  auto alice = OK(Client::Connect(alice_options));
  OK(alice->Put("/a/x", "1"));
  auto denied = alice->Put("/b/x", "1");
  CHECK(denied.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(alice->WatchPrefix("/b/", 0).status().code() == absl::StatusCode::kPermissionDenied);

  // After the token expired: the client renews it and the call goes through.
  std::this_thread::sleep_for(milliseconds(2500));
  OK(alice->Put("/a/y", "2"));
  std::this_thread::sleep_for(milliseconds(2500));
  auto watch = OK(alice->WatchPrefix("/a/", 1));
  CHECK(OK(ReadEvents(*watch, 2)).size() == 2);

  ClientOptions root_options = wrong;
  root_options.user = "root";
  root_options.password = "rootpw";
  auto root = OK(Client::Connect(root_options));
  OK(root->Put("/b/x", "1"));
  // Without a user, etcd refuses what needs one.
  auto anonymous = ConnectTo(*cluster);
  CHECK_FALSE(anonymous->Get("/a/x").ok());
}

TEST_CASE("TLS with client certificates") {
  ILA_SKIP_IF(SkipReason());
  EtcdClusterOptions tls;
  tls.tls = true;
  auto cluster = StartCluster(tls);
  ClientOptions options = OptionsFor(*cluster);
  REQUIRE(absl::StartsWith(options.endpoints[0], "https://"));
  options.cacert = cluster->ca_file();
  options.cert = cluster->client_cert_file();
  options.key = cluster->client_key_file();
  auto client = OK(Client::Connect(options));
  OK(client->Put("/tls/k", "v"));
  CHECK(OK(client->Get("/tls/k")).kvs.at(0).value == "v");
  CHECK(OK(cluster->Etcdctl({"get", "/tls/k", "--print-value-only"})) == "v\n");

  ClientOptions no_cert = options;
  no_cert.cert.clear();
  no_cert.key.clear();
  no_cert.dial_timeout = milliseconds(1000);
  auto refused = Client::Connect(no_cert);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == absl::StatusCode::kUnavailable);

  ClientOptions missing = options;
  missing.key = cluster->data_dir() + "/no-such.key";
  auto unreadable = Client::Connect(missing);
  REQUIRE_FALSE(unreadable.ok());
  CHECK_THAT(std::string(unreadable.status().message()), Catch::Contains("no-such.key"));
}

TEST_CASE("endpoints that cannot work are named") {
  ILA_SKIP_IF(SkipReason());
  ClientOptions o;
  for (const char* bad : {"127.0.0.1", "unix:///x", "127.0.0.1:0", "[::1:2379", ":2379"}) {
    o.endpoints = {bad};
    auto r = Client::Connect(o);
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(r.status().message()), Catch::Contains(bad));
  }
  o.endpoints = {"http://127.0.0.1:1", "https://127.0.0.1:2"};
  CHECK(Client::Connect(o).status().code() == absl::StatusCode::kInvalidArgument);
  // Nothing listens on port 1: UNAVAILABLE after dial_timeout.
  o.endpoints = {"127.0.0.1:1"};
  o.dial_timeout = milliseconds(500);
  auto start = Clock::now();
  auto none = Client::Connect(o);
  CHECK(none.status().code() == absl::StatusCode::kUnavailable);
  CHECK(Clock::now() - start < milliseconds(2000));
}

TEST_CASE("EtcdCluster: a member that cannot start is named, with its output") {
  ILA_SKIP_IF(SkipReason());
  EtcdClusterOptions bad;
  bad.extra_args = {"--no-such-flag"};
  auto cluster = EtcdCluster::Start(bad);
  REQUIRE_FALSE(cluster.ok());
  CHECK_THAT(std::string(cluster.status().message()), Catch::Contains("member0"));
  CHECK_THAT(std::string(cluster.status().message()), Catch::Contains("no-such-flag"));
}
