// libFuzzer target: arbitrary (but memory-safe) Arrow C Data structures through the ABI entry
// points that import foreign data — register_table, spawn, spawn_with_ids, migrate, step_commit —
// asserting that every status is a catalog code (no crash, no leak: ASan + LSan do the rest).
//
// The generated structures are "honest about their memory": every buffer is as long as the
// declared length and offset need, because the C Data Interface cannot describe buffer sizes and
// no consumer can defend against lying pointers. Everything else is up to the fuzzer: formats,
// names, flags, nesting, lengths, null counts, bitmap bits, offsets values, buffer counts.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kiln/capi/arct.h"
#include "kiln/capi/kiln_errors.h"

namespace {

const char* kFormats[] = {"g", "f", "l", "i", "b", "u", "z", "+l", "+s", "n", "c", "tss:", "w:4", "+w:2", "?", ""};
const char* kNames[] = {"position__x", "position__y", "velocity__dx", "velocity__dy", "world_id", "tick",
                        "entity_id", "x", "position__x"};

struct SchemaNode {
  std::string format, name;
  std::vector<ArrowSchema*> children;
  std::vector<std::unique_ptr<ArrowSchema>> owned;
};

struct ArrayNode {
  std::vector<std::vector<std::uint8_t>> storage;
  std::vector<const void*> buffers;
  std::vector<ArrowArray*> children;
  std::vector<std::unique_ptr<ArrowArray>> owned;
};

void ReleaseSchema(ArrowSchema* s) {
  auto* node = static_cast<SchemaNode*>(s->private_data);
  for (auto* c : node->children)
    if (c->release) c->release(c);
  delete node;
  s->release = nullptr;
}

void ReleaseArray(ArrowArray* a) {
  auto* node = static_cast<ArrayNode*>(a->private_data);
  for (auto* c : node->children)
    if (c->release) c->release(c);
  delete node;
  a->release = nullptr;
}

int64_t FixedWidth(const std::string& f) {
  if (f == "g" || f == "l" || f == "tss:") return 8;
  if (f == "f" || f == "i") return 4;
  if (f == "c") return 1;
  if (f == "w:4") return 4;
  return 0;
}

/// Fills `s`/`a` with a generated field of depth `depth`.
void Generate(FuzzedDataProvider& fdp, int depth, ArrowSchema* s, ArrowArray* a, bool top, int64_t min_length) {
  auto* sn = new SchemaNode();
  auto* an = new ArrayNode();
  sn->format = top && fdp.ConsumeProbability<float>() < 0.9f ? "+s" : fdp.PickValueInArray(kFormats);
  sn->name = top ? "" : fdp.PickValueInArray(kNames);
  if (fdp.ConsumeBool()) sn->name += fdp.ConsumeRandomLengthString(4);
  const std::string& f = sn->format;
  // A child must cover what its parent addresses (min_length); its storage matches its length.
  const int64_t length = std::max<int64_t>(min_length, fdp.ConsumeIntegralInRange<int64_t>(0, 16));
  const int64_t offset = fdp.ConsumeIntegralInRange<int64_t>(0, 3);
  const int64_t span = length + offset;
  const int64_t null_count = fdp.ConsumeIntegralInRange<int64_t>(-1, length);
  auto bytes = [&](std::size_t n) {
    std::vector<std::uint8_t> v = fdp.ConsumeBytes<std::uint8_t>(n);
    v.resize(n + 8, 0);  // never shorter than declared, whatever the fuzzer supplies
    return v;
  };
  // Validity bitmap (or none).
  if (fdp.ConsumeBool()) {
    an->storage.push_back(bytes(static_cast<std::size_t>(span / 8 + 1)));
    an->buffers.push_back(an->storage.back().data());
  } else {
    an->buffers.push_back(nullptr);
  }
  int64_t n_children = 0;
  if (f == "+s" || f == "+l" || f == "+w:2") {
    n_children = f == "+s" ? fdp.ConsumeIntegralInRange<int64_t>(0, depth < 2 ? 4 : 0) : (depth < 2 ? 1 : 0);
  }
  int64_t child_length = span;
  if (f == "u" || f == "z" || f == "+l") {
    std::vector<std::uint8_t> offs((static_cast<std::size_t>(span) + 1) * 4 + 8, 0);
    auto* o = reinterpret_cast<std::int32_t*>(offs.data());
    const int32_t limit = 24;
    for (int64_t i = 0; i <= span; ++i) o[i] = fdp.ConsumeIntegralInRange<int32_t>(-2, limit);
    an->storage.push_back(std::move(offs));
    an->buffers.push_back(an->storage.back().data());
    if (f != "+l") {
      an->storage.push_back(bytes(limit + 2));
      an->buffers.push_back(an->storage.back().data());
    }
    child_length = limit + 2;
  } else if (f == "b") {
    an->storage.push_back(bytes(static_cast<std::size_t>(span / 8 + 1)));
    an->buffers.push_back(an->storage.back().data());
  } else if (int64_t w = FixedWidth(f)) {
    an->storage.push_back(bytes(static_cast<std::size_t>(span * w)));
    an->buffers.push_back(an->storage.back().data());
  } else if (f == "+w:2") {
    child_length = span * 2;
  }
  // Occasionally lie about the buffer count (the storage behind it still exists).
  int64_t n_buffers = static_cast<int64_t>(an->buffers.size());
  if (fdp.ConsumeProbability<float>() < 0.05f) {
    an->buffers.push_back(nullptr);
    n_buffers = fdp.ConsumeIntegralInRange<int64_t>(0, n_buffers + 1);
  }
  for (int64_t i = 0; i < n_children; ++i) {
    sn->owned.push_back(std::make_unique<ArrowSchema>());
    an->owned.push_back(std::make_unique<ArrowArray>());
    Generate(fdp, depth + 1, sn->owned.back().get(), an->owned.back().get(), false, child_length);
    sn->children.push_back(sn->owned.back().get());
    an->children.push_back(an->owned.back().get());
  }
  *s = ArrowSchema{};
  s->format = sn->format.c_str();
  s->name = sn->name.c_str();
  s->flags = fdp.ConsumeBool() ? ARROW_FLAG_NULLABLE : 0;
  s->n_children = n_children;
  s->children = sn->children.empty() ? nullptr : sn->children.data();
  s->release = ReleaseSchema;
  s->private_data = sn;
  *a = ArrowArray{};
  a->length = length;
  a->null_count = null_count;
  a->offset = offset;
  a->n_buffers = n_buffers;
  a->buffers = an->buffers.data();
  a->n_children = n_children;
  a->children = an->children.empty() ? nullptr : an->children.data();
  a->release = ReleaseArray;
  a->private_data = an;
}

void CheckCode(int32_t rc) {
  if (rc != 0 && kiln_error_name(rc) == nullptr) {
    std::fprintf(stderr, "status %d is not a catalog code: %s\n", rc, arct_last_error_message());
    std::abort();
  }
}

void ReleaseIfLive(ArrowArray* a, ArrowSchema* s) {
  if (a->release) a->release(a);
  if (s->release) s->release(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  arct_world* w = nullptr;
  if (arct_world_create("fuzz", "run", nullptr, nullptr, nullptr, &w) != ARCT_OK) std::abort();

  ArrowSchema s1;
  ArrowArray a1;
  Generate(fdp, 0, &s1, &a1, true, 0);
  a1.release(&a1);  // only the schema is used for registration
  CheckCode(arct_world_register_table(w, "t", &s1));
  if (s1.release) s1.release(&s1);

  for (int round = 0; round < 3 && fdp.remaining_bytes() > 0; ++round) {
    ArrowSchema s;
    ArrowArray a;
    Generate(fdp, 0, &s, &a, true, 0);
    const int op = fdp.ConsumeIntegralInRange<int>(0, 3);
    int32_t ids[32];
    int64_t n = 0;
    int32_t rc = 0;
    switch (op) {
      case 0:
        rc = arct_world_spawn(w, "t", &a, &s, ids, 32, &n);
        break;
      case 1: {
        int32_t explicit_ids[4] = {1, 2, fdp.ConsumeIntegral<int32_t>(), 7};
        rc = arct_world_spawn_with_ids(w, "t", &a, &s, explicit_ids, fdp.ConsumeIntegralInRange<int64_t>(0, 4));
        break;
      }
      case 2: {
        int32_t mids[2] = {1, 2};
        rc = arct_world_migrate(w, "t", &a, &s, mids, fdp.ConsumeIntegralInRange<int64_t>(0, 2));
        break;
      }
      default: {
        ArrowArray in{};
        ArrowSchema in_schema{};
        if (arct_step_begin(w, "t", &in, &in_schema) == ARCT_OK) {
          ReleaseIfLive(&in, &in_schema);
          rc = arct_step_commit(w, "t", &a, &s);
          if (rc != ARCT_OK) (void)arct_step_abort(w, "t");
        } else {
          rc = arct_step_commit(w, "t", &a, &s);
        }
      }
    }
    CheckCode(rc);
    ReleaseIfLive(&a, &s);  // consumed inputs are already NULL; anything else is still ours
    CheckCode(arct_world_step(w, nullptr));
  }
  ArrowArrayStream stream{};
  if (arct_world_query(w, "t", nullptr, &stream) == ARCT_OK) stream.release(&stream);
  CheckCode(arct_world_free(w, ARCT_FREE_DISCARD_UNFLUSHED));
  return 0;
}
