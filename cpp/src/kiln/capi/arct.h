/* arct.h — the C ABI of the kiln.world tick kernel (specs/world.md §7), ABI version 2.
 *
 * A stable C99 interface over the C++ kernel: create a world, register tables, spawn, despawn and
 * migrate entities from Arrow C Data batches, step natively or run your own processing between
 * arct_step_begin and arct_step_commit, and read the history as an ArrowArrayStream.
 *
 * Conventions (§7.1–§7.3):
 *  - Every function except the four diagnostic ones returns an int32_t status (arct_status below,
 *    generated from Kiln's error catalog); ARCT_OK is 0. arct_last_error_message() describes the
 *    last failure of the calling thread.
 *  - No C++ exception and no abort crosses this boundary.
 *  - Structs passed in or out begin with uint32_t struct_size (set it to sizeof); fields beyond
 *    the smaller of the two sizes are ignored; a size below the ABI-2 size is ARCT_ERR_ABI_VERSION.
 *  - Input Arrow structures are MOVED once the pointer, handle, name and output-shell checks have
 *    passed: their release callback is set to NULL even if the call then fails. Release only what
 *    is still non-NULL. Output structures are caller-allocated shells with release == NULL; they
 *    stay empty on failure and are owned by the caller on success.
 *  - Calls on one world are serialized; a mutation while another thread steps returns
 *    ARCT_ERR_MUTATION_DURING_STEP at once; distinct worlds are independent.
 */
#ifndef KILN_CAPI_ARCT_H_
#define KILN_CAPI_ARCT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln/capi/arct_status.h"

#define ARCT_ABI_VERSION 2u

#if defined(_WIN32)
#define ARCT_API
#else
#define ARCT_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Arrow C Data Interface and C Stream Interface (verbatim from the Arrow specification) ---- */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);
  void (*release)(struct ArrowArrayStream*);
  void* private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* ---- Version 1 functions (kept, same signatures) ---- */

/* Returns ARCT_ABI_VERSION; never touches the last error. */
ARCT_API uint32_t arct_ffi_version(void);
/* Thread-local, UTF-8 (invalid bytes replaced by U+FFFD, embedded NULs shown as the two characters
 * "\0"); NULL when the last call succeeded. Borrowed: valid until the next arct_ call on this thread. */
ARCT_API const char* arct_last_error_message(void);
ARCT_API void arct_clear_last_error(void);
/* True when both pointers are non-NULL and both still hold data (release set). */
ARCT_API bool arct_arrow_c_data_is_present(const struct ArrowSchema* schema, const struct ArrowArray* array);
/* Imports a record batch (a top-level struct array) and exports it unchanged. */
ARCT_API int32_t arct_record_batch_roundtrip(struct ArrowArray* in_array, struct ArrowSchema* in_schema,
                                             struct ArrowArray* out_array, struct ArrowSchema* out_schema);
/* Runs the Movement processor (§6.1) on one batch; schema problems are ARCT_ERR_ARROW as in ABI 1. */
ARCT_API int32_t arct_movement_process(struct ArrowArray* in_array, struct ArrowSchema* in_schema,
                                       struct ArrowArray* out_array, struct ArrowSchema* out_schema, double dt,
                                       int32_t tick);

/* ---- World handles ---- */

typedef struct arct_world arct_world; /* opaque */

enum { ARCT_OPEN_CREATE = 0, ARCT_OPEN_RESUME = 1, ARCT_OPEN_CREATE_OR_RESUME = 2 };
enum { ARCT_DURABILITY_PROCESS = 0, ARCT_DURABILITY_FSYNC = 1 };
enum { ARCT_COMPRESSION_ZSTD = 0, ARCT_COMPRESSION_SNAPPY = 1, ARCT_COMPRESSION_LZ4 = 2, ARCT_COMPRESSION_NONE = 3 };
enum { ARCT_FREE_DISCARD_UNFLUSHED = 1u };
enum { ARCT_ID_WORLD = 0, ARCT_ID_RUN = 1 };
enum { ARCT_TABLES_REGISTERED = 0, ARCT_TABLES_ACTIVE = 1 };
enum { ARCT_SOURCE_LEDGER = 0, ARCT_SOURCE_LIVE = 1, ARCT_SOURCE_STAGED = 2 };
enum { ARCT_FILTER_TICK_RANGE = 1u };
enum {
  ARCT_STATE_READY = 0,
  ARCT_STATE_EPOCH_OPEN = 1,
  ARCT_STATE_POISONED_PARTIAL_TICK = 2,
  ARCT_STATE_POISONED_INTERNAL = 3
};

typedef struct arct_world_options {
  uint32_t struct_size;
  int32_t open_mode;           /* default ARCT_OPEN_CREATE */
  int32_t flush_every_ticks;   /* 0 or 1: one part per table per tick */
  int32_t durability;          /* default ARCT_DURABILITY_PROCESS */
  int32_t compression;         /* default ARCT_COMPRESSION_ZSTD */
  int32_t compression_level;   /* 0: codec default (zstd 1) */
  int64_t memory_retain_ticks; /* memory store: 0 all (default), N>0 last N, -1 none */
} arct_world_options;

/* world_id / run_id NULL: a new UUIDv7 (resume with run_id NULL: the only run of world_id);
 * store_root NULL: memory store; ns NULL: "default"; options NULL: defaults. */
ARCT_API int32_t arct_world_create(const char* world_id, const char* run_id, const char* store_root, const char* ns,
                                   const arct_world_options* options, arct_world** out_world);
/* NULL is a no-op. Flushes unflushed ticks first; ARCT_FREE_DISCARD_UNFLUSHED drops them instead. */
ARCT_API int32_t arct_world_free(arct_world* world, uint32_t flags);
ARCT_API int32_t arct_world_flush(arct_world* world);
/* buf == NULL && buf_size == 0: size query. Too small: ARCT_ERR_BUFFER_TOO_SMALL, *out_len set. */
ARCT_API int32_t arct_world_get_id(arct_world* world, int32_t which, char* buf, size_t buf_size, size_t* out_len);

typedef struct arct_world_info {
  uint32_t struct_size;
  int32_t tick;                /* next tick to execute */
  int32_t next_entity_id;
  int32_t last_committed_tick; /* -1 if none */
  int32_t state;               /* ARCT_STATE_* */
  int64_t registered_entities; /* incl. staged */
  int64_t live_rows;           /* rows in live snapshots */
  int32_t n_tables;            /* registered */
  int32_t n_processors;
} arct_world_info;
ARCT_API int32_t arct_world_get_info(arct_world* world, arct_world_info* out_info);
ARCT_API int32_t arct_world_tick(arct_world* world, int32_t* out_tick);

/* A full table schema (the five base fields first) or a component schema (base fields prepended). */
ARCT_API int32_t arct_world_register_table(arct_world* world, const char* table, struct ArrowSchema* schema);
ARCT_API int32_t arct_world_table_schema(arct_world* world, const char* table, struct ArrowSchema* out_schema);
/* One Utf8 column table_name, ascending. */
ARCT_API int32_t arct_world_tables(arct_world* world, int32_t which, struct ArrowArray* out_array,
                                   struct ArrowSchema* out_schema);
/* Columns entity_id (Int32), table (Utf8), staged (Boolean), sorted by entity_id. */
ARCT_API int32_t arct_world_registry(arct_world* world, struct ArrowArray* out_array, struct ArrowSchema* out_schema);

ARCT_API int32_t arct_world_spawn(arct_world* world, const char* table, struct ArrowArray* array,
                                  struct ArrowSchema* schema, int32_t* out_ids, int64_t out_ids_capacity,
                                  int64_t* out_n_ids);
ARCT_API int32_t arct_world_spawn_with_ids(arct_world* world, const char* table, struct ArrowArray* array,
                                           struct ArrowSchema* schema, const int32_t* ids, int64_t n_ids);
ARCT_API int32_t arct_world_reserve_ids(arct_world* world, int32_t n, int32_t* out_first_id);
ARCT_API int32_t arct_world_despawn(arct_world* world, const int32_t* ids, int64_t n_ids);
ARCT_API int32_t arct_world_migrate(arct_world* world, const char* new_table, struct ArrowArray* array,
                                    struct ArrowSchema* schema, const int32_t* ids, int64_t n_ids);

ARCT_API int32_t arct_world_add_movement(arct_world* world, double dt, int32_t priority, int32_t* out_processor_id);
/* A formula processor (specs/world.md §6.2): n_assignments pairs target = expression, evaluated
 * simultaneously in IEEE mode; params may be NULL when n_params is 0. Compile errors are
 * ARCT_ERR_PROCESSOR_CONFIG with the formula's message and position. */
ARCT_API int32_t arct_world_add_formula(arct_world* world, const char* name, const char* const* targets,
                                        const char* const* expressions, int32_t n_assignments,
                                        const char* const* param_names, const double* param_values, int32_t n_params,
                                        int32_t priority, int32_t* out_processor_id);
ARCT_API int32_t arct_world_remove_processor(arct_world* world, int32_t processor_id);
ARCT_API int32_t arct_world_run_processor(arct_world* world, int32_t processor_id, const char* table,
                                          struct ArrowArray* in_array, struct ArrowSchema* in_schema,
                                          struct ArrowArray* out_array, struct ArrowSchema* out_schema);

typedef struct arct_step_profile {
  uint32_t struct_size;
  int32_t tick; /* tick executed */
  int32_t n_tables;
  int64_t rows_written;
  int64_t store_reads;
  double read_prior_sec, materialize_sec, process_sec, append_sec, live_snapshot_sec, commit_sec, tick_sec;
} arct_step_profile;

typedef struct arct_table_profile {
  uint32_t struct_size;
  char table_name[256]; /* NUL-terminated */
  int64_t rows_in, rows_out;
  double read_prior_sec, materialize_sec, process_sec, append_sec, live_snapshot_sec, table_sec;
} arct_table_profile;

ARCT_API int32_t arct_world_step(arct_world* world, arct_step_profile* out_profile /* may be NULL */);
ARCT_API int32_t arct_world_run(arct_world* world, int32_t n_ticks, int32_t* out_ticks_done);
ARCT_API int32_t arct_world_profile_table(arct_world* world, int32_t index, arct_table_profile* out);

typedef struct arct_read_filter {
  uint32_t struct_size;
  int32_t source;          /* ARCT_SOURCE_* */
  const char* world_id;    /* NULL: this world's */
  const char* run_id;      /* NULL: this world's */
  const int32_t* ticks;    /* NULL: no tick list predicate */
  int64_t n_ticks;
  const int32_t* entity_ids; /* NULL: no entity predicate */
  int64_t n_entity_ids;
  uint32_t flags;          /* ARCT_FILTER_TICK_RANGE */
  int32_t tick_min, tick_max; /* inclusive; used with the flag */
  bool active_only;
} arct_read_filter;

ARCT_API int32_t arct_world_query(arct_world* world, const char* table, const arct_read_filter* filter,
                                  struct ArrowArrayStream* out_stream);
ARCT_API int32_t arct_world_query_batch(arct_world* world, const char* table, const arct_read_filter* filter,
                                        struct ArrowArray* out_array, struct ArrowSchema* out_schema);

/* ---- Split-step (§7.6) ---- */
ARCT_API int32_t arct_step_begin(arct_world* world, const char* table, struct ArrowArray* out_array,
                                 struct ArrowSchema* out_schema);
ARCT_API int32_t arct_step_commit(arct_world* world, const char* table, struct ArrowArray* processed_array,
                                  struct ArrowSchema* processed_schema);
ARCT_API int32_t arct_step_abort(arct_world* world, const char* table);

/* ---- Testing hook (§7.8; not covered by the ABI stability promise) ---- */
ARCT_API int32_t arct_testing_set_fault_plan(arct_world* world, const char* plan);

#ifdef __cplusplus
}
#endif

#endif /* KILN_CAPI_ARCT_H_ */
