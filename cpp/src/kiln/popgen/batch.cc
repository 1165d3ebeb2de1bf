#include "kiln/popgen/batch.h"

#include <map>
#include <memory>
#include <thread>

namespace kiln::popgen {

core::Result<std::vector<RunResult>> SimulateMany(const std::vector<RunSpec>& specs, const RunOptions& opts,
                                                  const ParallelOptions& par, std::stop_token stop,
                                                  std::atomic<std::int64_t>* done) {
  for (const auto& s : specs) {
    RunOptions o = opts;
    o.horizon = s.horizon;
    KILN_RETURN_NOT_OK(ValidateRun(s.params, o));
  }
  std::vector<RunResult> out(specs.size());
  std::vector<core::Status> errs(specs.size());
  std::map<std::int64_t, std::unique_ptr<std::atomic<bool>>> groups;
  if (par.stop_group_on_extinction)
    for (const auto& s : specs)
      if (s.group >= 0 && !groups.count(s.group)) groups[s.group] = std::make_unique<std::atomic<bool>>(false);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= specs.size()) return;
      const RunSpec& s = specs[i];
      RunOptions o = opts;
      o.horizon = s.horizon;
      std::atomic<bool>* flag = nullptr;
      if (auto it = groups.find(s.group); it != groups.end()) flag = it->second.get();
      auto r = RunReplicate(s.params, s.seed, s.replicate, o, stop, flag);
      if (!r.ok()) {
        errs[i] = r.status();
      } else {
        out[i] = std::move(*r);
        if (flag && out[i].outcome == "extinct") flag->store(true);
      }
      if (done) done->fetch_add(1);
    }
  };
  const int workers = std::max(1, std::min<int>(par.workers, static_cast<int>(specs.size())));
  if (workers == 1) {
    work();
  } else {
    std::vector<std::jthread> pool;
    for (int w = 0; w < workers; ++w) pool.emplace_back(work);
  }
  for (auto& e : errs) KILN_RETURN_NOT_OK(e);
  return out;
}

}  // namespace kiln::popgen
