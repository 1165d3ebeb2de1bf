// World handle API through the C header (specs/world.md §7.5–§7.8, items 46–54).
#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>

#include <unistd.h>

#include "capi/abi_test_util.h"

namespace kiln::capi_test {
namespace {

namespace fs = std::filesystem;

class AbiWorld : public ::testing::Test {
 protected:
  void SetUp() override {
    w_ = NewWorld();
    CSchema s(PositionVelocity());
    ASSERT_EQ(arct_world_register_table(w_, "pv", &s.schema), ARCT_OK) << LastError();
    EXPECT_EQ(s.schema.release, nullptr);
    ASSERT_EQ(arct_world_add_movement(w_, 1.0, 0, &movement_), ARCT_OK);
  }
  void TearDown() override {
    if (w_) {
      EXPECT_EQ(arct_world_free(w_, 0), ARCT_OK) << LastError();
    }
  }
  void Spawn(std::vector<double> x) {
    std::vector<double> z(x.size(), 0.0), one(x.size(), 1.0);
    CBatch b(Batch(x, z, one, z));
    std::vector<int32_t> ids(x.size());
    int64_t n = 0;
    ASSERT_EQ(arct_world_spawn(w_, "pv", &b.array, &b.schema, ids.data(), static_cast<int64_t>(ids.size()), &n), ARCT_OK)
        << LastError();
  }
  arct_world* w_ = nullptr;
  int32_t movement_ = 0;
};

TEST_F(AbiWorld, StepQueryAndInfo) {
  Spawn({5.0});
  int32_t done = 0;
  ASSERT_EQ(arct_world_run(w_, 3, &done), ARCT_OK);
  EXPECT_EQ(done, 3);
  auto t = ReadAll(w_, "pv");
  EXPECT_EQ(t->num_rows(), 3);
  arct_world_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(arct_world_get_info(w_, &info), ARCT_OK);
  EXPECT_EQ(info.tick, 3);
  EXPECT_EQ(info.next_entity_id, 2);
  EXPECT_EQ(info.last_committed_tick, 2);
  EXPECT_EQ(info.state, ARCT_STATE_READY);
  EXPECT_EQ(info.live_rows, 1);
  arct_step_profile p{};
  p.struct_size = sizeof p;
  ASSERT_EQ(arct_world_step(w_, &p), ARCT_OK);
  EXPECT_EQ(p.tick, 3);
  EXPECT_EQ(p.rows_written, 1);
  EXPECT_GE(p.tick_sec, p.commit_sec);
  arct_table_profile tp{};
  tp.struct_size = sizeof tp;
  ASSERT_EQ(arct_world_profile_table(w_, 0, &tp), ARCT_OK);
  EXPECT_STREQ(tp.table_name, "pv");
  EXPECT_GE(tp.table_sec, tp.process_sec);
  EXPECT_EQ(arct_world_profile_table(w_, 1, &tp), ARCT_ERR_INVALID_ARGUMENT);
}

TEST_F(AbiWorld, StructSizeTooSmallIs7) {  // item 46
  arct_world_info info{};
  info.struct_size = 4;
  EXPECT_EQ(arct_world_get_info(w_, &info), ARCT_ERR_ABI_VERSION);
  arct_read_filter f{};
  f.struct_size = 4;
  ArrowArrayStream s{};
  EXPECT_EQ(arct_world_query(w_, "pv", &f, &s), ARCT_ERR_ABI_VERSION);
  arct_world_options o{};
  o.struct_size = 4;
  arct_world* other = nullptr;
  EXPECT_EQ(arct_world_create("x", "y", nullptr, nullptr, &o, &other), ARCT_ERR_ABI_VERSION);
  EXPECT_EQ(other, nullptr);
}

TEST_F(AbiWorld, NullPointersAre3AndLeaveInputsUntouched) {  // item 46
  CBatch b(Batch({1}, {0}, {1}, {0}));
  int32_t ids[1];
  int64_t n = 0;
  struct Case {
    const char* name;
    std::function<int32_t()> call;
  };
  ArrowArray oa{};
  ArrowSchema os{};
  ArrowArrayStream st{};
  int32_t i32 = 0;
  size_t len = 0;
  std::vector<Case> cases = {
      {"spawn world", [&] { return arct_world_spawn(nullptr, "pv", &b.array, &b.schema, ids, 1, &n); }},
      {"spawn table", [&] { return arct_world_spawn(w_, nullptr, &b.array, &b.schema, ids, 1, &n); }},
      {"spawn array", [&] { return arct_world_spawn(w_, "pv", nullptr, &b.schema, ids, 1, &n); }},
      {"spawn schema", [&] { return arct_world_spawn(w_, "pv", &b.array, nullptr, ids, 1, &n); }},
      {"spawn out_ids", [&] { return arct_world_spawn(w_, "pv", &b.array, &b.schema, nullptr, 1, &n); }},
      {"spawn out_n", [&] { return arct_world_spawn(w_, "pv", &b.array, &b.schema, ids, 1, nullptr); }},
      {"spawn_with_ids ids", [&] { return arct_world_spawn_with_ids(w_, "pv", &b.array, &b.schema, nullptr, 1); }},
      {"migrate table", [&] { return arct_world_migrate(w_, nullptr, &b.array, &b.schema, ids, 1); }},
      {"migrate array", [&] { return arct_world_migrate(w_, "pv", nullptr, &b.schema, ids, 1); }},
      {"register schema", [&] { return arct_world_register_table(w_, "t", nullptr); }},
      {"register table", [&] { return arct_world_register_table(w_, nullptr, &b.schema); }},
      {"table_schema out", [&] { return arct_world_table_schema(w_, "pv", nullptr); }},
      {"tables out", [&] { return arct_world_tables(w_, 0, nullptr, &os); }},
      {"registry out", [&] { return arct_world_registry(w_, &oa, nullptr); }},
      {"reserve out", [&] { return arct_world_reserve_ids(w_, 1, nullptr); }},
      {"despawn ids", [&] { return arct_world_despawn(w_, nullptr, 1); }},
      {"add_movement out", [&] { return arct_world_add_movement(w_, 1.0, 0, nullptr); }},
      {"run_processor in", [&] { return arct_world_run_processor(w_, movement_, "pv", nullptr, &b.schema, &oa, &os); }},
      {"run out", [&] { return arct_world_run(w_, 1, nullptr); }},
      {"profile_table out", [&] { return arct_world_profile_table(w_, 0, nullptr); }},
      {"query stream", [&] { return arct_world_query(w_, "pv", nullptr, nullptr); }},
      {"query table", [&] { return arct_world_query(w_, nullptr, nullptr, &st); }},
      {"query_batch out", [&] { return arct_world_query_batch(w_, "pv", nullptr, nullptr, &os); }},
      {"begin out", [&] { return arct_step_begin(w_, "pv", nullptr, &os); }},
      {"commit array", [&] { return arct_step_commit(w_, "pv", nullptr, &b.schema); }},
      {"abort table", [&] { return arct_step_abort(w_, nullptr); }},
      {"get_id out_len", [&] { return arct_world_get_id(w_, 0, nullptr, 0, nullptr); }},
      {"get_info out", [&] { return arct_world_get_info(w_, nullptr); }},
      {"tick out", [&] { return arct_world_tick(w_, nullptr); }},
      {"tick world", [&] { return arct_world_tick(nullptr, &i32); }},
      {"flush world", [&] { return arct_world_flush(nullptr); }},
      {"step world", [&] { return arct_world_step(nullptr, nullptr); }},
      {"fault plan", [&] { return arct_testing_set_fault_plan(w_, nullptr); }},
      {"create out", [&] { return arct_world_create("a", "b", nullptr, nullptr, nullptr, nullptr); }},
      {"roundtrip", [&] { return arct_record_batch_roundtrip(&b.array, &b.schema, nullptr, &os); }},
  };
  (void)len;
  for (auto& c : cases) {
    EXPECT_EQ(c.call(), ARCT_ERR_NULL_POINTER) << c.name;
    EXPECT_FALSE(b.moved()) << c.name;
    EXPECT_NE(arct_last_error_message(), nullptr) << c.name;
  }
  arct_world_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(arct_world_get_info(w_, &info), ARCT_OK);
  EXPECT_EQ(info.registered_entities, 0);
  EXPECT_EQ(arct_world_free(nullptr, 0), ARCT_OK);
}

TEST_F(AbiWorld, NonEmptyOutputShellIs4AndInputsStay) {  // item 46
  CBatch full(Batch({1}, {1}, {1}, {1}));
  CBatch in(Batch({1}, {0}, {1}, {0}));
  EXPECT_EQ(arct_world_registry(w_, &full.array, &full.schema), ARCT_ERR_OUTPUT_NOT_EMPTY);
  EXPECT_EQ(arct_world_run_processor(w_, movement_, "pv", &in.array, &in.schema, &full.array, &full.schema),
            ARCT_ERR_OUTPUT_NOT_EMPTY);
  EXPECT_FALSE(in.moved());
  EXPECT_FALSE(full.moved());
  ArrowArrayStream live{};
  live.release = [](ArrowArrayStream* s) { s->release = nullptr; };
  EXPECT_EQ(arct_world_query(w_, "pv", nullptr, &live), ARCT_ERR_OUTPUT_NOT_EMPTY);
  live.release(&live);
}

TEST_F(AbiWorld, InvalidUtf8Is5AndBadNamesAre158) {  // item 46
  CSchema s(PositionVelocity());
  EXPECT_EQ(arct_world_register_table(w_, "bad\xff", &s.schema), ARCT_ERR_INVALID_UTF8);
  EXPECT_NE(s.schema.release, nullptr);
  EXPECT_EQ(arct_world_register_table(w_, "_hidden", &s.schema), ARCT_ERR_INVALID_NAME);
  arct_world* other = nullptr;
  EXPECT_EQ(arct_world_create("w\xc3", "r", nullptr, nullptr, nullptr, &other), ARCT_ERR_INVALID_UTF8);
}

TEST_F(AbiWorld, FreedOrForeignHandleIs6) {  // item 46
  arct_world* other = NewWorld(nullptr, "x", "y");
  ASSERT_EQ(arct_world_free(other, 0), ARCT_OK);
  int32_t tick = 0;
  EXPECT_EQ(arct_world_tick(other, &tick), ARCT_ERR_BAD_HANDLE);
  EXPECT_EQ(arct_world_free(other, 0), ARCT_ERR_BAD_HANDLE);
  int garbage = 0;
  EXPECT_EQ(arct_world_step(reinterpret_cast<arct_world*>(&garbage), nullptr), ARCT_ERR_BAD_HANDLE);
}

TEST_F(AbiWorld, MovedInputsHaveNullReleaseAndFailedOutputsStayEmpty) {  // item 47
  CBatch bad(Batch({1}, {0}, {1}, {0})->RemoveColumn(0).ValueOrDie());
  int32_t ids[1];
  int64_t n = 0;
  EXPECT_EQ(arct_world_spawn(w_, "pv", &bad.array, &bad.schema, ids, 1, &n), ARCT_ERR_MISSING_COLUMN);
  EXPECT_TRUE(bad.moved());
  CBatch in(Batch({1}, {0}, {1}, {0}));
  CBatch out;
  EXPECT_EQ(arct_world_run_processor(w_, 999, "pv", &in.array, &in.schema, &out.array, &out.schema),
            ARCT_ERR_UNKNOWN_PROCESSOR);
  EXPECT_TRUE(in.moved());
  EXPECT_EQ(out.array.release, nullptr);
  EXPECT_EQ(out.schema.release, nullptr);
}

TEST_F(AbiWorld, SplitStepStateErrors) {  // items 48, 50
  Spawn({1.0, 2.0});
  CBatch dummy(Batch({1}, {0}, {1}, {0}));
  EXPECT_EQ(arct_step_commit(w_, "pv", &dummy.array, &dummy.schema), ARCT_ERR_NO_STEP_IN_FLIGHT);
  EXPECT_TRUE(dummy.moved());
  EXPECT_EQ(arct_step_abort(w_, "pv"), ARCT_ERR_NO_STEP_IN_FLIGHT);
  CSchema s(PositionVelocity());
  ASSERT_EQ(arct_world_register_table(w_, "idle", &s.schema), ARCT_OK);
  CBatch out;
  EXPECT_EQ(arct_step_begin(w_, "idle", &out.array, &out.schema), ARCT_ERR_TABLE_NOT_ACTIVE);
  EXPECT_EQ(arct_step_begin(w_, "nope", &out.array, &out.schema), ARCT_ERR_UNKNOWN_TABLE);
  ASSERT_EQ(arct_step_begin(w_, "pv", &out.array, &out.schema), ARCT_OK) << LastError();
  CBatch again;
  EXPECT_EQ(arct_step_begin(w_, "pv", &again.array, &again.schema), ARCT_ERR_STEP_ALREADY_IN_FLIGHT);
  CBatch spawn(Batch({9}, {0}, {1}, {0}));
  int32_t ids[1];
  int64_t n = 0;
  EXPECT_EQ(arct_world_spawn(w_, "pv", &spawn.array, &spawn.schema, ids, 1, &n), ARCT_ERR_MUTATION_DURING_STEP);
  EXPECT_EQ(arct_world_step(w_, nullptr), ARCT_ERR_STEP_ALREADY_IN_FLIGHT);
  int32_t first = 0;
  EXPECT_EQ(arct_world_reserve_ids(w_, 2, &first), ARCT_OK);
  EXPECT_EQ(arct_world_free(w_, 0), ARCT_ERR_WORLD_BUSY);
  CBatch wrong(Batch({1}, {0}, {1}, {0}));
  EXPECT_EQ(arct_step_commit(w_, "idle", &wrong.array, &wrong.schema), ARCT_ERR_STEP_TABLE_MISMATCH);
  ASSERT_EQ(arct_step_abort(w_, "pv"), ARCT_OK);
  int32_t tick = -1;
  ASSERT_EQ(arct_world_tick(w_, &tick), ARCT_OK);
  EXPECT_EQ(tick, 0);
  ASSERT_EQ(arct_world_step(w_, nullptr), ARCT_OK) << LastError();
  EXPECT_EQ(ReadAll(w_, "pv")->num_rows(), 2);
}

TEST_F(AbiWorld, SplitStepWithRunProcessorEqualsStep) {  // item 49
  arct_world* other = NewWorld(nullptr, "w", "r");
  CSchema s(PositionVelocity());
  ASSERT_EQ(arct_world_register_table(other, "pv", &s.schema), ARCT_OK);
  int32_t pid = 0;
  ASSERT_EQ(arct_world_add_movement(other, 1.0, 0, &pid), ARCT_OK);
  for (arct_world* w : {w_, other}) {
    CBatch b(Batch({1, 2}, {0, 0}, {1, 1}, {0.5, 0.5}));
    int32_t ids[2];
    int64_t n = 0;
    ASSERT_EQ(arct_world_spawn(w, "pv", &b.array, &b.schema, ids, 2, &n), ARCT_OK);
  }
  for (int t = 0; t < 3; ++t) {
    ASSERT_EQ(arct_world_step(w_, nullptr), ARCT_OK);
    CBatch input;
    ASSERT_EQ(arct_step_begin(other, "pv", &input.array, &input.schema), ARCT_OK) << LastError();
    CBatch processed;
    bool empty = input.array.length == 0;
    if (!empty) {
      ASSERT_EQ(arct_world_run_processor(other, pid, "pv", &input.array, &input.schema, &processed.array,
                                         &processed.schema),
                ARCT_OK)
          << LastError();
      ASSERT_EQ(arct_step_commit(other, "pv", &processed.array, &processed.schema), ARCT_OK) << LastError();
    } else {
      ASSERT_EQ(arct_step_commit(other, "pv", &input.array, &input.schema), ARCT_OK) << LastError();
    }
  }
  EXPECT_TRUE(ReadAll(w_, "pv")->Equals(*ReadAll(other, "pv")));
  ASSERT_EQ(arct_world_free(other, 0), ARCT_OK);
}

TEST_F(AbiWorld, LastErrorIsPerThreadClearedAndCarriesContext) {  // item 51
  int32_t missing = 42;
  ASSERT_EQ(arct_world_despawn(w_, &missing, 1), ARCT_ERR_UNKNOWN_ENTITY);
  std::string msg = LastError();
  EXPECT_NE(msg.find("world_id=w"), std::string::npos) << msg;
  EXPECT_NE(msg.find("run_id=r"), std::string::npos);
  EXPECT_NE(msg.find("tick=0"), std::string::npos);
  EXPECT_NE(msg.find("entity_id=42"), std::string::npos);
  std::thread other([] { EXPECT_EQ(arct_last_error_message(), nullptr); });
  other.join();
  int32_t tick = 0;
  ASSERT_EQ(arct_world_tick(w_, &tick), ARCT_OK);
  EXPECT_EQ(arct_last_error_message(), nullptr);
  // Invalid UTF-8 reaching a message (here a field name) is replaced by U+FFFD.
  CSchema s(arrow::schema({arrow::field(std::string("bad\xff", 4), arrow::float64())}));
  ASSERT_EQ(arct_world_register_table(w_, "pv", &s.schema), ARCT_ERR_TABLE_SCHEMA_CONFLICT);
  EXPECT_NE(LastError().find("bad\xEF\xBF\xBD"), std::string::npos) << LastError();
  ASSERT_EQ(arct_world_register_table(w_, "pv", nullptr), ARCT_ERR_NULL_POINTER);
}

TEST_F(AbiWorld, FormulaProcessorThroughTheAbi) {  // §7.5 add_formula
  ASSERT_EQ(arct_world_remove_processor(w_, movement_), ARCT_OK);
  const char* targets[] = {"position__x"};
  const char* exprs[] = {"position__x + velocity__dx * step"};
  const char* pnames[] = {"step"};
  double pvalues[] = {2.0};
  int32_t pid = 0;
  ASSERT_EQ(arct_world_add_formula(w_, "advance", targets, exprs, 1, pnames, pvalues, 1, 0, &pid), ARCT_OK)
      << LastError();
  Spawn({1.0});
  int32_t done = 0;
  ASSERT_EQ(arct_world_run(w_, 3, &done), ARCT_OK) << LastError();
  auto t = ReadAll(w_, "pv");
  auto x = std::static_pointer_cast<arrow::DoubleArray>(t->CombineChunksToBatch().ValueOrDie()->GetColumnByName("position__x"));
  EXPECT_EQ(x->Value(2), 5.0);  // 1 raw, then +2 per tick
  const char* bad[] = {"position__x +"};
  EXPECT_EQ(arct_world_add_formula(w_, "bad", targets, bad, 1, nullptr, nullptr, 0, 0, &pid), ARCT_ERR_PROCESSOR_CONFIG);
  EXPECT_EQ(arct_world_add_formula(w_, "none", targets, exprs, 0, nullptr, nullptr, 0, 0, &pid),
            ARCT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(arct_world_add_formula(w_, "null", nullptr, exprs, 1, nullptr, nullptr, 0, 0, &pid), ARCT_ERR_NULL_POINTER);
}

TEST_F(AbiWorld, InternalFaultIs2ThenPoisons105) {  // item 52
  Spawn({1.0});
  ASSERT_EQ(arct_testing_set_fault_plan(w_, "fail:internal"), ARCT_OK);
  EXPECT_EQ(arct_world_step(w_, nullptr), ARCT_ERR_PANIC);
  EXPECT_EQ(LastError().rfind("internal error crossing the arct ABI boundary:", 0), 0u) << LastError();
  EXPECT_EQ(arct_world_step(w_, nullptr), ARCT_ERR_WORLD_POISONED);
  CBatch b(Batch({1}, {0}, {1}, {0}));
  int32_t ids[1];
  int64_t n = 0;
  EXPECT_EQ(arct_world_spawn(w_, "pv", &b.array, &b.schema, ids, 1, &n), ARCT_ERR_WORLD_POISONED);
  arct_world_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(arct_world_get_info(w_, &info), ARCT_OK);
  EXPECT_EQ(info.state, ARCT_STATE_POISONED_INTERNAL);
  EXPECT_EQ(arct_testing_set_fault_plan(w_, "nonsense"), ARCT_ERR_INVALID_ARGUMENT);
}

TEST_F(AbiWorld, QueryStreamOutlivesTheWorld) {  // item 53
  Spawn({1.0, 2.0});
  ASSERT_EQ(arct_world_step(w_, nullptr), ARCT_OK);
  ArrowArrayStream stream{};
  ASSERT_EQ(arct_world_query(w_, "pv", nullptr, &stream), ARCT_OK);
  ASSERT_EQ(arct_world_free(w_, 0), ARCT_OK);
  w_ = nullptr;
  auto table = arrow::ImportRecordBatchReader(&stream).ValueOrDie()->ToTable().ValueOrDie();
  EXPECT_EQ(table->num_rows(), 2);
}

TEST_F(AbiWorld, TooSmallIdBufferIs9AndStagesNothing) {  // item 54
  CBatch b(Batch({1, 2, 3}, {0, 0, 0}, {1, 1, 1}, {0, 0, 0}));
  int32_t ids[2];
  int64_t n = -1;
  EXPECT_EQ(arct_world_spawn(w_, "pv", &b.array, &b.schema, ids, 2, &n), ARCT_ERR_BUFFER_TOO_SMALL);
  arct_world_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(arct_world_get_info(w_, &info), ARCT_OK);
  EXPECT_EQ(info.registered_entities, 0);
  EXPECT_EQ(info.next_entity_id, 1);
}

TEST_F(AbiWorld, GetIdSizeQueryAndSmallBuffer) {
  size_t len = 0;
  ASSERT_EQ(arct_world_get_id(w_, ARCT_ID_RUN, nullptr, 0, &len), ARCT_OK);
  EXPECT_EQ(len, 1u);
  char small[1];
  EXPECT_EQ(arct_world_get_id(w_, ARCT_ID_WORLD, small, sizeof small, &len), ARCT_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(len, 1u);
  char buf[8];
  ASSERT_EQ(arct_world_get_id(w_, ARCT_ID_WORLD, buf, sizeof buf, &len), ARCT_OK);
  EXPECT_STREQ(buf, "w");
  EXPECT_EQ(arct_world_get_id(w_, 7, buf, sizeof buf, &len), ARCT_ERR_INVALID_ARGUMENT);
}

TEST_F(AbiWorld, TwoThreadsOnOneWorldAreSerialized) {  // threading rules §7.7
  Spawn({0.0});
  std::atomic<int> mutation_rejected{0}, spawned{0};
  std::thread stepper([&] {
    for (int i = 0; i < 200; ++i) ASSERT_EQ(arct_world_step(w_, nullptr), ARCT_OK) << LastError();
  });
  std::thread mutator([&] {
    for (int i = 0; i < 200; ++i) {
      CBatch b(Batch({1}, {0}, {1}, {0}));
      int32_t ids[1];
      int64_t n = 0;
      int32_t rc = arct_world_spawn(w_, "pv", &b.array, &b.schema, ids, 1, &n);
      if (rc == ARCT_ERR_MUTATION_DURING_STEP) {
        ++mutation_rejected;
      } else if (rc == ARCT_OK) {
        ++spawned;
      } else {
        ADD_FAILURE() << rc << " " << LastError();
      }
      int32_t first = 0;
      ASSERT_EQ(arct_world_reserve_ids(w_, 1, &first), ARCT_OK);  // waits and succeeds
    }
  });
  stepper.join();
  mutator.join();
  EXPECT_EQ(mutation_rejected + spawned, 200);
  arct_world_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(arct_world_get_info(w_, &info), ARCT_OK);
  EXPECT_EQ(info.tick, 200);
  EXPECT_EQ(info.registered_entities, 1 + spawned.load());
}

TEST(AbiWorlds, DistinctWorldsRunInParallel) {
  auto run = [](const char* id) {
    arct_world* w = NewWorld(nullptr, id, "r");
    CSchema s(PositionVelocity());
    ASSERT_EQ(arct_world_register_table(w, "pv", &s.schema), ARCT_OK);
    int32_t pid;
    ASSERT_EQ(arct_world_add_movement(w, 0.5, 0, &pid), ARCT_OK);
    CBatch b(Batch({0, 1, 2}, {0, 0, 0}, {1, 2, 3}, {1, 1, 1}));
    int32_t ids[3];
    int64_t n;
    ASSERT_EQ(arct_world_spawn(w, "pv", &b.array, &b.schema, ids, 3, &n), ARCT_OK);
    int32_t done;
    ASSERT_EQ(arct_world_run(w, 100, &done), ARCT_OK);
    auto t = ReadAll(w, "pv");
    EXPECT_EQ(t->num_rows(), 300);
    ASSERT_EQ(arct_world_free(w, 0), ARCT_OK);
  };
  std::thread a(run, "a"), b(run, "b");
  a.join();
  b.join();
}

TEST(AbiStore, ResumeLockAndQueryFilters) {
  auto root = fs::temp_directory_path() / ("kiln-abi-" + std::to_string(::getpid()));
  fs::remove_all(root);
  arct_world* w = NewWorld(root.c_str());
  CSchema s(PositionVelocity());
  ASSERT_EQ(arct_world_register_table(w, "pv", &s.schema), ARCT_OK);
  CBatch b(Batch({0, 1}, {0, 0}, {1, 1}, {0, 0}));
  int32_t ids[2];
  int64_t n;
  ASSERT_EQ(arct_world_spawn(w, "pv", &b.array, &b.schema, ids, 2, &n), ARCT_OK);
  int32_t done;
  ASSERT_EQ(arct_world_run(w, 5, &done), ARCT_OK);
  arct_world* second = nullptr;
  EXPECT_EQ(arct_world_create("w", "r", root.c_str(), "ns", nullptr, &second), ARCT_ERR_STORE_LOCKED);
  int32_t tick_list[] = {1, 3};
  arct_read_filter f{};
  f.struct_size = sizeof f;
  f.ticks = tick_list;
  f.n_ticks = 2;
  EXPECT_EQ(ReadAll(w, "pv", &f)->num_rows(), 4);
  f.ticks = nullptr;
  f.n_ticks = 0;
  f.flags = ARCT_FILTER_TICK_RANGE;
  f.tick_min = 2;
  f.tick_max = 4;
  f.entity_ids = ids;
  f.n_entity_ids = 1;
  EXPECT_EQ(ReadAll(w, "pv", &f)->num_rows(), 3);
  int32_t none[1];
  f.entity_ids = none;
  f.n_entity_ids = 0;  // a present empty list matches nothing
  EXPECT_EQ(ReadAll(w, "pv", &f)->num_rows(), 0);
  ASSERT_EQ(arct_world_free(w, 0), ARCT_OK);
  arct_world_options o{};
  o.struct_size = sizeof o;
  o.open_mode = ARCT_OPEN_RESUME;
  arct_world* resumed = nullptr;
  ASSERT_EQ(arct_world_create("w", nullptr, root.c_str(), "ns", &o, &resumed), ARCT_OK) << LastError();
  int32_t tick = 0;
  ASSERT_EQ(arct_world_tick(resumed, &tick), ARCT_OK);
  EXPECT_EQ(tick, 5);
  ASSERT_EQ(arct_world_free(resumed, 0), ARCT_OK);
  fs::remove_all(root);
}

}  // namespace
}  // namespace kiln::capi_test
