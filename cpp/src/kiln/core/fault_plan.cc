#include "kiln/core/fault_plan.h"

#include <signal.h>
#include <unistd.h>

#include <charconv>

namespace kiln::core {

const char* FaultPointName(FaultPoint point) {
  switch (point) {
    case FaultPoint::kStage: return "stage";
    case FaultPoint::kRecord: return "record";
    case FaultPoint::kPublish: return "publish";
    case FaultPoint::kDone: return "done";
    case FaultPoint::kRead: return "read";
    case FaultPoint::kInternal: return "internal";
  }
  return "?";
}

Result<FaultPlan> FaultPlan::Parse(std::string_view plan, std::int32_t invalid_code) {
  FaultPlan out;
  auto bad = [&](std::string_view item, const char* why) {
    return Status(invalid_code, "bad fault plan item '" + std::string(item) + "': " + why +
                                    " (expected action:point[:table][@n], action fail|crash, point "
                                    "stage|record|publish|done|read|internal)");
  };
  std::size_t start = 0;
  while (start <= plan.size() && !plan.empty()) {
    std::size_t comma = plan.find(',', start);
    std::string_view item = plan.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    start = comma == std::string_view::npos ? plan.size() + 1 : comma + 1;
    if (item.empty()) return bad(item, "empty item");
    Rule rule{};
    rule.nth = 1;
    std::string_view body = item;
    if (auto at = item.find('@'); at != std::string_view::npos) {
      std::string_view n = item.substr(at + 1);
      body = item.substr(0, at);
      std::int64_t v = 0;
      auto res = std::from_chars(n.data(), n.data() + n.size(), v);
      if (n.empty() || res.ptr != n.data() + n.size() || v < 1) return bad(item, "@n needs an integer >= 1");
      rule.nth = v;
    }
    auto colon = body.find(':');
    if (colon == std::string_view::npos) return bad(item, "missing ':'");
    std::string_view action = body.substr(0, colon);
    std::string_view rest = body.substr(colon + 1);
    std::string_view point = rest;
    if (auto c2 = rest.find(':'); c2 != std::string_view::npos) {
      point = rest.substr(0, c2);
      rule.table = std::string(rest.substr(c2 + 1));
      if (rule.table.empty()) return bad(item, "empty table qualifier");
    }
    if (action == "fail") rule.crash = false;
    else if (action == "crash") rule.crash = true;
    else return bad(item, "unknown action");
    if (point == "stage") rule.point = FaultPoint::kStage;
    else if (point == "record") rule.point = FaultPoint::kRecord;
    else if (point == "publish") rule.point = FaultPoint::kPublish;
    else if (point == "done") rule.point = FaultPoint::kDone;
    else if (point == "read") rule.point = FaultPoint::kRead;
    else if (point == "internal") rule.point = FaultPoint::kInternal;
    else return bad(item, "unknown point");
    if (!rule.table.empty() && rule.point != FaultPoint::kStage && rule.point != FaultPoint::kPublish)
      return bad(item, "a table qualifier applies only to stage and publish");
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

bool FaultPlan::Matches(Rule& rule, bool crash, FaultPoint point, std::string_view table) {
  if (rule.fired || rule.crash != crash || rule.point != point) return false;
  if (!rule.table.empty() && rule.table != table) return false;
  if (++rule.seen < rule.nth) return false;
  rule.fired = true;
  return true;
}

bool FaultPlan::ShouldFail(FaultPoint point, std::string_view table) {
  bool hit = false;
  for (auto& rule : rules_) hit = Matches(rule, false, point, table) || hit;
  return hit;
}

void FaultPlan::AfterSuccess(FaultPoint point, std::string_view table) {
  for (auto& rule : rules_) {
    if (Matches(rule, true, point, table)) ::kill(::getpid(), SIGKILL);
  }
}

}  // namespace kiln::core
