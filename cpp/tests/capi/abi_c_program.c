/* A plain C99 program using the arct ABI (specs/world.md §12 item 52): built as C, so it has no
 * exception support at all — if any C++ exception escaped the library, the process would
 * terminate. It registers a table, spawns through a hand-built Arrow C Data batch, arms the
 * `internal` fault (code 2, then 105), and checks statuses and messages. Exit 0 = pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/capi/arct.h"

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      const char* m = arct_last_error_message();                                      \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, m ? m : "(none)");                                               \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)

/* ---- a one-column struct batch {position__x: float64}, built by hand ---- */

static void release_schema(struct ArrowSchema* s) {
  for (int64_t i = 0; i < s->n_children; ++i) {
    if (s->children[i]->release) s->children[i]->release(s->children[i]);
    free(s->children[i]);
  }
  free(s->children);
  s->release = NULL;
}

static void release_array(struct ArrowArray* a) {
  for (int64_t i = 0; i < a->n_children; ++i) {
    struct ArrowArray* c = a->children[i];
    free((void*)c->buffers[1]);
    free((void*)c->buffers);
    free(c);
  }
  free(a->children);
  free((void*)a->buffers);
  a->release = NULL;
}

/* Children are freed by their parent's release; their own callbacks only mark them released,
 * as the C Data Interface requires every live structure to have a non-NULL release. */
static void noop_child_schema(struct ArrowSchema* s) { s->release = NULL; }
static void noop_child_array(struct ArrowArray* a) { a->release = NULL; }

static void make_batch(struct ArrowSchema* schema, struct ArrowArray* array, const double* x, int64_t n) {
  struct ArrowSchema* child = calloc(1, sizeof *child);
  child->format = "g";
  child->name = "position__x";
  child->flags = 0; /* non-nullable */
  child->release = noop_child_schema;
  memset(schema, 0, sizeof *schema);
  schema->format = "+s";
  schema->name = "";
  schema->n_children = 1;
  schema->children = malloc(sizeof(struct ArrowSchema*));
  schema->children[0] = child;
  schema->release = release_schema;

  struct ArrowArray* col = calloc(1, sizeof *col);
  double* values = malloc(sizeof(double) * (size_t)(n ? n : 1));
  memcpy(values, x, sizeof(double) * (size_t)n);
  const void** col_buffers = malloc(2 * sizeof(void*));
  col_buffers[0] = NULL;
  col_buffers[1] = values;
  col->length = n;
  col->n_buffers = 2;
  col->buffers = col_buffers;
  col->release = noop_child_array;
  memset(array, 0, sizeof *array);
  array->length = n;
  array->n_buffers = 1;
  const void** buffers = malloc(sizeof(void*));
  buffers[0] = NULL;
  array->buffers = buffers;
  array->n_children = 1;
  array->children = malloc(sizeof(struct ArrowArray*));
  array->children[0] = col;
  array->release = release_array;
}

int main(void) {
  CHECK(arct_ffi_version() == ARCT_ABI_VERSION);
  arct_world* w = NULL;
  CHECK(arct_world_create("c-world", "c-run", NULL, NULL, NULL, &w) == ARCT_OK);

  struct ArrowSchema table_schema;
  struct ArrowArray unused;
  double none[1] = {0};
  make_batch(&table_schema, &unused, none, 0);
  unused.release(&unused);
  CHECK(arct_world_register_table(w, "p", &table_schema) == ARCT_OK);
  CHECK(table_schema.release == NULL); /* moved */

  struct ArrowSchema s;
  struct ArrowArray a;
  double x[3] = {1.0, 2.0, 3.0};
  make_batch(&s, &a, x, 3);
  int32_t ids[3];
  int64_t n = 0;
  CHECK(arct_world_spawn(w, "p", &a, &s, ids, 3, &n) == ARCT_OK);
  CHECK(n == 3 && ids[0] == 1 && ids[2] == 3);
  CHECK(a.release == NULL && s.release == NULL);

  int32_t done = 0;
  CHECK(arct_world_run(w, 2, &done) == ARCT_OK && done == 2);

  CHECK(arct_testing_set_fault_plan(w, "fail:internal") == ARCT_OK);
  CHECK(arct_world_step(w, NULL) == ARCT_ERR_PANIC);
  CHECK(strncmp(arct_last_error_message(), "internal error crossing the arct ABI boundary:", 46) == 0);
  CHECK(arct_world_step(w, NULL) == ARCT_ERR_WORLD_POISONED);
  int32_t missing = 99;
  CHECK(arct_world_despawn(w, &missing, 1) == ARCT_ERR_WORLD_POISONED);

  struct ArrowArrayStream stream;
  memset(&stream, 0, sizeof stream);
  CHECK(arct_world_query(w, "p", NULL, &stream) == ARCT_OK); /* reads still work */
  CHECK(arct_world_free(w, 0) == ARCT_OK);
  struct ArrowSchema out_schema;
  memset(&out_schema, 0, sizeof out_schema);
  CHECK(stream.get_schema(&stream, &out_schema) == 0);
  CHECK(out_schema.n_children == 6);
  out_schema.release(&out_schema);
  int64_t rows = 0;
  for (;;) {
    struct ArrowArray batch;
    memset(&batch, 0, sizeof batch);
    CHECK(stream.get_next(&stream, &batch) == 0);
    if (batch.release == NULL) break;
    rows += batch.length;
    batch.release(&batch);
  }
  stream.release(&stream);
  CHECK(rows == 6);
  printf("arct C program: 1 passed, 0 failed\n");
  return 0;
}
