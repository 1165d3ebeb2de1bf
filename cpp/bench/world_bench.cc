// kiln-world-bench: the native-only movement_compare and mid_run_spawn benchmarks
// (specs/world.md §11.1–§11.2) through the C++ kernel, one kiln.bench/1 record per run on stdout
// with subject impl "kiln-native-cpp". The Python driver (python -m kiln.bench world) measures
// the reference and the peers; this binary shows the kernel without any Python on top.
//
//   kiln-world-bench movement_compare [--entities N] [--ticks T] [--store memory|parquet] [--root DIR]
//   kiln-world-bench mid_run_spawn [--initial-entities N] [--late-entities L] [--spawn-at-tick S] [--ticks T] ...
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/compute/initialize.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "kiln/core/json.h"
#include "kiln/world/world.h"

namespace {

using kiln::core::Json;
using kiln::world::World;

struct Options {
  std::string bench = "movement_compare";
  int64_t entities = 1000;
  int64_t late = 200;
  int32_t spawn_at = 2;
  int32_t ticks = -1;
  std::string store = "parquet";
  std::string root;
  int trials = 5;
};

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::shared_ptr<arrow::RecordBatch> Movers(int64_t start, int64_t n) {
  arrow::DoubleBuilder x, y, dx, dy;
  for (int64_t i = 0; i < n; ++i) {
    (void)x.Append(static_cast<double>(start + i));
    (void)y.Append(0.0);
    (void)dx.Append(1.0);
    (void)dy.Append(-0.5);
  }
  auto schema = arrow::schema({arrow::field("position__x", arrow::float64(), false),
                               arrow::field("position__y", arrow::float64(), false),
                               arrow::field("velocity__dx", arrow::float64(), false),
                               arrow::field("velocity__dy", arrow::float64(), false)});
  return arrow::RecordBatch::Make(schema, n, {*x.Finish(), *y.Finish(), *dx.Finish(), *dy.Finish()});
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "kiln-world-bench: " << what << "\n";
  std::exit(2);
}

void Check(const kiln::core::Status& st) {
  if (!st.ok()) Die(st.message());
}

struct Trial {
  std::vector<double> tick_secs;
  double setup = 0, run = 0, query = 0;
  int64_t rows = 0;
  double sx = 0, sy = 0;
};

Trial RunTrial(const Options& o, bool mid_run) {
  namespace fs = std::filesystem;
  std::string root = o.root.empty() ? (fs::temp_directory_path() / ("kiln-world-bench-" + std::to_string(::getpid()))).string() : o.root;
  fs::remove_all(root);
  kiln::world::WorldOptions wo;
  wo.world_id = mid_run ? "mid-run-world" : "movement-world";
  wo.run_id = mid_run ? "mid-run-run" : "movement-run";
  wo.ns = mid_run ? "mid_run_spawn_bench" : "movement_bench";
  if (o.store == "parquet") wo.store_root = root;
  Trial t;
  double t0 = Now();
  auto w = World::Open(wo);
  if (!w.ok()) Die(w.status().message());
  auto& world = **w;
  Check(world.RegisterTable("position_velocity", Movers(0, 0)->schema()));
  Check(world.AddMovement(1.0, 0).status());
  Check(world.Spawn("position_velocity", Movers(0, o.entities)).status());
  double t1 = Now();
  for (int32_t tick = 0; tick < o.ticks; ++tick) {
    if (mid_run && tick == o.spawn_at) Check(world.Spawn("position_velocity", Movers(o.entities, o.late)).status());
    double s = Now();
    auto p = world.Step();
    if (!p.ok()) Die(p.status().message());
    t.tick_secs.push_back(Now() - s);
  }
  double t2 = Now();
  kiln::world::ReadFilter f;
  f.ticks = std::vector<int32_t>{o.ticks - 1};
  f.active_only = true;
  std::shared_ptr<arrow::Schema> schema;
  auto batches = world.Query("position_velocity", kiln::world::Source::kLedger, f, &schema);
  if (!batches.ok()) Die(batches.status().message());
  for (const auto& b : *batches) {
    t.rows += b->num_rows();
    auto x = std::static_pointer_cast<arrow::DoubleArray>(b->GetColumnByName("position__x"));
    auto y = std::static_pointer_cast<arrow::DoubleArray>(b->GetColumnByName("position__y"));
    for (int64_t i = 0; i < b->num_rows(); ++i) {
      t.sx += x->Value(i);
      t.sy += y->Value(i);
    }
  }
  double t3 = Now();
  Check(world.Close(false));
  t.setup = t1 - t0;
  t.run = t2 - t1;
  t.query = t3 - t2;
  if (o.root.empty()) fs::remove_all(root);
  return t;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

std::string Timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  if (!arrow::compute::Initialize().ok()) Die("Arrow compute failed to initialize");
  Options o;
  int i = 1;
  if (argc > 1 && argv[1][0] != '-') o.bench = argv[i++];
  auto value = [&](const char* flag) -> std::string {
    if (i + 1 >= argc) Die(std::string("missing value for ") + flag);
    return argv[++i];
  };
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--entities" || a == "--initial-entities") o.entities = std::stoll(value(a.c_str()));
    else if (a == "--late-entities") o.late = std::stoll(value(a.c_str()));
    else if (a == "--spawn-at-tick") o.spawn_at = std::stoi(value(a.c_str()));
    else if (a == "--ticks") o.ticks = std::stoi(value(a.c_str()));
    else if (a == "--store") o.store = value(a.c_str());
    else if (a == "--root") o.root = value(a.c_str());
    else if (a == "--trials") o.trials = std::stoi(value(a.c_str()));
    else if (a == "--quick") o.trials = 3;
    else Die("unknown option " + a);
  }
  const bool mid = o.bench == "mid_run_spawn";
  if (!mid && o.bench != "movement_compare") Die("unknown benchmark " + o.bench + " (movement_compare, mid_run_spawn)");
  if (o.store != "memory" && o.store != "parquet") Die("--store must be memory or parquet");
  if (o.ticks < 0) o.ticks = mid ? 5 : 3;
  if (mid && !(o.spawn_at < o.ticks)) Die("--spawn-at-tick must be < --ticks (error K0008)");
  const double n = static_cast<double>(o.entities), l = mid ? static_cast<double>(o.late) : 0, T = o.ticks;
  const double S = o.spawn_at;
  const int64_t rows = o.entities + (mid ? o.late : 0);
  const double ex = mid ? n * (n - 1) / 2 + n * (T - 1) + l * (2 * n + l - 1) / 2 + l * (T - 1 - S)
                        : n * (n - 1) / 2 + n * (T - 1);
  const double ey = mid ? -0.5 * (n * (T - 1) + l * (T - 1 - S)) : -0.5 * n * (T - 1);

  RunTrial(o, mid);  // warm-up
  std::vector<Trial> trials;
  for (int k = 0; k < o.trials; ++k) trials.push_back(RunTrial(o, mid));
  std::vector<double> samples;
  bool correct = true;
  for (const auto& t : trials) {
    samples.insert(samples.end(), t.tick_secs.begin(), t.tick_secs.end());
    correct = correct && t.rows == rows && std::abs(t.sx - ex) < 1e-9 && std::abs(t.sy - ey) < 1e-9;
  }
  const Trial& last = trials.back();
  Json::Array sample_json;
  for (double s : samples) sample_json.emplace_back(s);
  std::string case_id = mid ? "mid_run_spawn/" + std::to_string(o.entities) + "+" + std::to_string(o.late) + "@" +
                                  std::to_string(o.spawn_at) + "x" + std::to_string(o.ticks) + "/" + o.store
                            : "movement_compare/" + std::to_string(o.entities) + "x" + std::to_string(o.ticks) + "/" + o.store;
  Json::Object correctness{{"method", "closed-form sums (exact in float64)"},
                           {"expected_rows", rows},
                           {"rows_match", last.rows == rows},
                           {"sum_position_x", last.sx},
                           {"sum_position_y", last.sy},
                           {"expected_sum_position_x", ex},
                           {"expected_sum_position_y", ey},
                           {"sum_position_x_abs_error", std::abs(last.sx - ex)},
                           {"sum_position_y_abs_error", std::abs(last.sy - ey)},
                           {"position_sums_match", std::abs(last.sx - ex) < 1e-9 && std::abs(last.sy - ey) < 1e-9},
                           {"correct", correct}};
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  Json::Object summary{{"n", static_cast<int64_t>(samples.size())},
                       {"min", sorted.front()},
                       {"max", sorted.back()},
                       {"median", Median(samples)}};
  Json::Object params{{"store", o.store}, {"ticks", o.ticks}};
  if (mid) {
    params.emplace_back("initial_entities", o.entities);
    params.emplace_back("late_entities", o.late);
    params.emplace_back("spawn_at_tick", o.spawn_at);
  } else {
    params.emplace_back("entities", o.entities);
  }
  Json::Object record{
      {"schema", "kiln.bench/1"},
      {"bench", "world"},
      {"case", case_id},
      {"name", "world/" + case_id},
      {"params", Json(params)},
      {"seed", int64_t{0}},
      {"quick", o.trials < 5},
      {"unit", "s"},
      {"per", "tick"},
      {"work", Json(Json::Object{{"unit", "entities"}, {"count", rows}})},
      {"kiln", Json(Json::Object{{"impl", "kiln-native-cpp"},
                                 {"version", "0.1.0"},
                                 {"value", Median(samples)},
                                 {"unit", "s"},
                                 {"better", "lower"},
                                 {"samples", Json(sample_json)},
                                 {"summary", Json(summary)},
                                 {"correct", correct},
                                 {"note", nullptr}})},
      {"peers", Json(Json::Object{})},
      {"ratio", Json(Json::Object{})},
      {"ratio_ci", Json(Json::Object{})},
      {"target", Json(Json::Array{})},
      {"pass", nullptr},
      {"correctness", Json(correctness)},
      {"correct", correct},
      {"extra", Json(Json::Object{{"setup_sec", last.setup}, {"run_sec", last.run}, {"query_sec", last.query}})},
      {"env", Json(Json::Object{{"kiln_version", "0.1.0"}, {"compiler", "g++"}, {"cxx_flags", "-O3 -ffp-contract=off"}})},
      {"run_id", std::to_string(::getpid()) + "-" + std::to_string(std::time(nullptr))},
      {"timestamp", Timestamp()}};
  std::cout << Json(record).Dump() << std::endl;
  return correct ? 0 : 1;
}
