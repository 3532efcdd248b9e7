// inventory.json: {"v":1,"containers":[{"interface":...,"sir":...,"mac":...,"workload":...,
//                  "attachment":...}],
//                  "blocks":[{"base":...,"bits":16}],"held":[{"sir":...,"until":...,"pending":...}]}
#include "inventory.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ila::agent {

using nlohmann::json;

absl::StatusOr<Inventory> Inventory::Load(std::string path) {
  Inventory inv;
  inv.path_ = std::move(path);
  std::ifstream in(inv.path_);
  if (!in) {
    if (errno == ENOENT) return inv;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the inventory ", inv.path_, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat("inventory ", inv.path_, ": ", why));
  };
  if (j.is_discarded() || !j.is_object() || !j.contains("containers") ||
      !j["containers"].is_array()) {
    return bad("not {\"containers\":[...]}");
  }
  for (const json& c : j["containers"]) {
    if (!c.is_object() || !c.value("interface", json()).is_string() ||
        !c.value("sir", json()).is_string() || !c.value("mac", json()).is_string()) {
      return bad("a container without interface, sir and mac strings");
    }
    auto sir = SirAddress::Parse(c["sir"].get<std::string>());
    if (!sir.ok()) return bad(std::string(sir.status().message()));
    auto mac = MacAddress::Parse(c["mac"].get<std::string>());
    if (!mac.ok()) return bad(std::string(mac.status().message()));
    const json workload = c.value("workload", json(""));
    const json attachment = c.value("attachment", json(""));
    if (!workload.is_string() || !attachment.is_string()) {
      return bad("a container's workload or attachment is not a string");
    }
    inv.containers_.push_back({c["interface"].get<std::string>(), *sir, *mac,
                               workload.get<std::string>(), attachment.get<std::string>()});
  }
  for (const json& b : j.value("blocks", json::array())) {
    auto base = SirAddress::Parse(b.value("base", ""));
    if (!base.ok() || !b.value("bits", json()).is_number_integer()) {
      return bad("a block without a base address and bits");
    }
    inv.blocks_.push_back({*base, b["bits"].get<int>()});
  }
  for (const json& h : j.value("held", json::array())) {
    auto sir = SirAddress::Parse(h.value("sir", ""));
    if (!sir.ok()) return bad("a held address that does not parse");
    inv.held_.push_back({*sir, h.value("until", int64_t{0}), h.value("pending", false)});
  }
  return inv;
}

absl::Status Inventory::Save() const {
  json containers = json::array();
  for (const LocalContainer& c : containers_) {
    containers.push_back({{"interface", c.interface},
                          {"sir", c.sir.ToString()},
                          {"mac", c.mac.ToString()},
                          {"workload", c.workload},
                          {"attachment", c.attachment}});
  }
  json blocks = json::array();
  for (const OwnedBlock& b : blocks_)
    blocks.push_back({{"base", b.base.ToString()}, {"bits", b.bits}});
  json held = json::array();
  for (const HeldAddress& h : held_) {
    held.push_back({{"sir", h.sir.ToString()}, {"until", h.until}, {"pending", h.pending}});
  }
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json{{"v", 1}, {"containers", containers}, {"blocks", blocks}, {"held", held}}.dump(1)
        << "\n";
    out.flush();
    if (!out) {
      return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
    }
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

const LocalContainer* Inventory::Find(const SirAddress& sir) const {
  for (const LocalContainer& c : containers_) {
    if (c.sir == sir) return &c;
  }
  return nullptr;
}

const LocalContainer* Inventory::FindInterface(const std::string& interface) const {
  for (const LocalContainer& c : containers_) {
    if (c.interface == interface) return &c;
  }
  return nullptr;
}

void Inventory::Upsert(const LocalContainer& c) {
  for (LocalContainer& existing : containers_) {
    if (existing.sir == c.sir) {
      existing = c;
      return;
    }
  }
  containers_.push_back(c);
}

void Inventory::Remove(const SirAddress& sir) {
  std::erase_if(containers_, [&](const LocalContainer& c) { return c.sir == sir; });
}

}  // namespace ila::agent
