/*
 * dac.h: identify a dump's .NET runtime, find the matching DAC, and call it from C.
 *
 * The DAC (libmscordaccore.so) is the runtime's own data-access library. It must be exactly the
 * build of the dump's libcoreclr.so (same ELF build id). ds_dac_locate finds it: an explicit path,
 * then local runtime folders whose libcoreclr.so has that build id, then symbol servers (download
 * cached on disk and checked before use). ds_dac_open loads it, hands it our data target over
 * the dump and obtains IXCLRDataProcess and the ISOSDacInterface family.
 *
 * Design rule 1: only analysis processes (the CLI's analysis commands, workers) include this
 * header. core/query, api/ and the daemon never do. All calls on one ds_dac must come from one
 * thread; the DAC is never unloaded (dlclose would crash at thread exit).
 */
#ifndef DUMPSCOPE_DAC_H
#define DUMPSCOPE_DAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dumpscope/dump.h"
#include "dumpscope/error.h"

/* ---- runtime identification ------------------------------------------------------------- */

typedef struct ds_runtime_info {
  const ds_module *coreclr;      /* libcoreclr.so in the dump */
  char build_id_hex[2 * DS_MAX_BUILD_ID_BYTES + 1];
  char version[64];              /* file version from "@(#)Version ", e.g. "10.0.1226.12345" */
  char commit[64];               /* the "@Commit: " hash, "" if absent */
  int major;                     /* 10 for .NET 10 */
} ds_runtime_info;

/* Finds libcoreclr.so in the dump and reads its build id and version. DS_E_NOT_DOTNET when the
 * process has no CoreCLR; DS_E_UNSUPPORTED for runtimes without a layout (layout.h: older than
 * .NET 6 or newer than .NET 10), with out->major set. */
ds_status ds_runtime_identify(ds_dump *dump, ds_runtime_info *out, ds_error *err);

/* ---- locating the DAC ------------------------------------------------------------------- */

typedef struct ds_dac_search {
  const char *explicit_path;            /* --dac, DUMPSCOPE_DAC, or config; NULL = none */
  const char *const *runtime_dirs;      /* folders holding shared/Microsoft.NETCore.App/<v>/ or
                                           runtime version folders; NULL = the usual places */
  size_t runtime_dir_count;
  const char *const *symbol_servers;    /* base URLs; NULL = the public Microsoft server */
  size_t symbol_server_count;
  const char *cache_dir;                /* downloaded DACs; NULL = $DUMPSCOPE_CACHE or
                                           $XDG_CACHE_HOME/dumpscope or ~/.cache/dumpscope */
  bool offline;                         /* never use symbol servers */
} ds_dac_search;

/* Fills search from the environment: DUMPSCOPE_DAC, DUMPSCOPE_RUNTIME_DIRS (':'-separated),
 * DUMPSCOPE_SYMBOL_SERVERS (';'-separated, "" = none), DUMPSCOPE_CACHE. Strings point into the
 * environment or into storage owned by the caller-provided buffer. */
void ds_dac_search_from_env(ds_dac_search *search, char *storage, size_t storage_len,
                            const char **dirs, size_t max_dirs, const char **servers,
                            size_t max_servers);

/* Storage behind a search built from the environment: the variables' lists split into items. */
typedef struct ds_dac_search_env {
  char text[DS_MAX_SEARCH_ENV_BYTES];
  const char *runtime_dirs[DS_MAX_RUNTIME_DIRS];
  const char *symbol_servers[DS_MAX_SYMBOL_SERVERS];
} ds_dac_search_env;

/* The DAC search of an analysis process, the one way to build it: explicit_path (--dac, NULL =
 * none) and offline as the caller says, then DUMPSCOPE_DAC, DUMPSCOPE_RUNTIME_DIRS,
 * DUMPSCOPE_SYMBOL_SERVERS and DUMPSCOPE_CACHE for what the caller left open (see
 * ds_dac_search_from_env). *search points into *env and the environment: keep both alive while
 * search is used. */
void ds_dac_search_init_env(ds_dac_search *search, ds_dac_search_env *env, const char *explicit_path,
                            bool offline);

/* Finds the DAC for rt. On success writes its path to out_path. On failure the message names
 * the build id and version looked for and every place that was tried. */
ds_status ds_dac_locate(const ds_runtime_info *rt, const ds_dac_search *search, char *out_path,
                        size_t out_len, ds_error *err);

/* The symbol-server key of the DAC for a libcoreclr build id. */
void ds_dac_symbol_key(const char *build_id_hex, char *out, size_t out_len);

/* Reads the GNU build id of an ELF file on disk as hex; false if absent. */
bool ds_elf_file_build_id(const char *path, char *hex, size_t hex_len);

/* ---- DAC structures (x64 layouts of dacprivate.h / sospriv.idl) ------------------------ */

typedef uint64_t ds_addr;

typedef struct ds_dacp_gc_heap_data {
  int32_t server_mode, gc_structures_valid;
  uint32_t heap_count, max_generation;
} ds_dacp_gc_heap_data;

typedef struct ds_dacp_generation {
  ds_addr start_segment, allocation_start, alloc_context_ptr, alloc_context_limit;
} ds_dacp_generation;

typedef struct ds_dacp_heap_details {
  ds_addr heap_addr, alloc_allocated, mark_array, current_c_gc_state, next_sweep_obj;
  ds_addr saved_sweep_ephemeral_seg, saved_sweep_ephemeral_start;
  ds_addr background_saved_lowest_address, background_saved_highest_address;
  ds_dacp_generation generation_table[4];
  ds_addr ephemeral_heap_segment;
  ds_addr finalization_fill_pointers[7];
  ds_addr lowest_address, highest_address, card_table;
} ds_dacp_heap_details;

typedef struct ds_dacp_segment {
  ds_addr segment_addr, allocated, committed, reserved, used, mem, next, gc_heap, high_alloc_mark;
  uint64_t flags;
  ds_addr background_allocated;
} ds_dacp_segment;

typedef struct ds_dacp_method_table {
  int32_t is_free;
  ds_addr module, klass, parent_method_table;
  uint16_t num_interfaces, num_methods, num_vtable_slots, num_virtuals;
  uint32_t base_size, component_size;
  uint32_t token, attr_class;
  int32_t is_shared, is_dynamic, contains_pointers;
} ds_dacp_method_table;

typedef struct ds_dacp_useful_globals {
  ds_addr array_mt, string_mt, object_mt, exception_mt, free_mt;
} ds_dacp_useful_globals;

typedef struct ds_dacp_thread_store {
  int32_t thread_count, unstarted_count, background_count, pending_count, dead_count;
  ds_addr first_thread, finalizer_thread, gc_thread;
  uint32_t host_config;
} ds_dacp_thread_store;

typedef struct ds_dacp_thread {
  uint32_t cor_thread_id, os_thread_id;
  int32_t state;
  uint32_t preemptive_gc_disabled;
  ds_addr alloc_context_ptr, alloc_context_limit, context, domain, frame;
  uint32_t lock_count;
  ds_addr first_nested_exception, teb, fiber_data, last_thrown_object_handle, next_thread;
} ds_dacp_thread;

typedef struct ds_dacp_field_table {
  uint16_t num_instance_fields, num_static_fields, num_thread_static_fields;
  ds_addr first_field;
  uint16_t context_static_offset, context_statics_size;
} ds_dacp_field_table;

typedef struct ds_dacp_field {
  uint32_t type, sig_type;
  ds_addr mt_of_type, module_of_type;
  uint32_t token_of_type, field_token;
  ds_addr mt_of_enclosing_class;
  uint32_t offset;
  int32_t is_thread_local, is_context_local, is_static;
  ds_addr next_field;
} ds_dacp_field;

typedef struct ds_dacp_handle {
  ds_addr app_domain, handle, secondary;
  uint32_t type;
  int32_t strong_reference;
  uint32_t ref_count, jupiter_ref_count;
  int32_t is_pegged;
} ds_dacp_handle;

_Static_assert(sizeof(ds_dacp_heap_details) == 288, "DacpGcHeapDetails layout");
_Static_assert(sizeof(ds_dacp_segment) == 88, "DacpHeapSegmentData layout");
_Static_assert(sizeof(ds_dacp_method_table) == 72, "DacpMethodTableData layout");
_Static_assert(sizeof(ds_dacp_thread) == 104, "DacpThreadData layout");
_Static_assert(sizeof(ds_dacp_thread_store) == 56, "DacpThreadStoreData layout");
_Static_assert(sizeof(ds_dacp_field_table) == 24, "DacpMethodTableFieldData layout");
_Static_assert(sizeof(ds_dacp_field) == 64, "DacpFieldDescData layout");
_Static_assert(sizeof(ds_dacp_handle) == 48, "SOSHandleData layout");

/* ---- the bridge --------------------------------------------------------------------------- */

typedef struct ds_dac ds_dac;

/* Loads the DAC at dac_path and creates the process interfaces over dump. */
ds_status ds_dac_open(ds_dump *dump, const ds_runtime_info *rt, const char *dac_path, ds_dac **out,
                      ds_error *err);
/* Releases every interface. The library itself stays loaded (never dlclose). */
void ds_dac_close(ds_dac *dac);

/* The runtime the DAC was opened for (as given to ds_dac_open). */
const ds_runtime_info *ds_dac_runtime(const ds_dac *dac);

/* The DAC revision (CLRDATA_REQUEST_REVISION), 0 if unknown. */
uint32_t ds_dac_revision(ds_dac *dac);
/* Which ISOSDacInterfaceN (2..17) the DAC offers. */
bool ds_dac_has_sos(ds_dac *dac, int n);

ds_status ds_dac_gc_heap_data(ds_dac *dac, ds_dacp_gc_heap_data *out, ds_error *err);
/* Server GC: fills heaps[0..count) with heap addresses; count must equal heap_count. */
ds_status ds_dac_gc_heap_list(ds_dac *dac, uint32_t count, ds_addr *heaps, ds_error *err);
/* heap = 0 for workstation GC. */
ds_status ds_dac_gc_heap_details(ds_dac *dac, ds_addr heap, ds_dacp_heap_details *out, ds_error *err);
/* Generation table (gen0, gen1, gen2, LOH, POH) via ISOSDacInterface8; *count in/out. */
ds_status ds_dac_generation_table(ds_dac *dac, ds_addr heap, ds_dacp_generation *gens, uint32_t *count,
                                  ds_error *err);
ds_status ds_dac_finalization_fill_pointers(ds_dac *dac, ds_addr heap, ds_addr *fill, uint32_t *count,
                                            ds_error *err);
ds_status ds_dac_segment(ds_dac *dac, ds_addr segment, ds_dacp_segment *out, ds_error *err);
ds_status ds_dac_useful_globals(ds_dac *dac, ds_dacp_useful_globals *out, ds_error *err);
ds_status ds_dac_method_table(ds_dac *dac, ds_addr mt, ds_dacp_method_table *out, ds_error *err);
/* The MethodTable of the type named `name` (namespace.name, a top-level type) that `module`
 * defines, found through its metadata (FindTypeDefByName) and its TypeDef to MethodTable map;
 * *mt = 0 when the module defines no such type or has not loaded it. */
ds_status ds_dac_module_type(ds_dac *dac, ds_addr module, const char *name, ds_addr *mt, ds_error *err);
/* The type name as the DAC spells it (SOS style), UTF-8. */
ds_status ds_dac_method_table_name(ds_dac *dac, ds_addr mt, char *out, size_t out_len, ds_error *err);
ds_status ds_dac_method_table_fields(ds_dac *dac, ds_addr mt, ds_dacp_field_table *out, ds_error *err);
ds_status ds_dac_field(ds_dac *dac, ds_addr field_desc, ds_dacp_field *out, ds_error *err);
/* The field's name from the module's metadata (IMetaDataImport::GetFieldProps). */
ds_status ds_dac_field_name(ds_dac *dac, ds_addr module, uint32_t field_token, char *out, size_t out_len,
                            ds_error *err);
ds_status ds_dac_thread_store(ds_dac *dac, ds_dacp_thread_store *out, ds_error *err);
ds_status ds_dac_thread(ds_dac *dac, ds_addr thread, ds_dacp_thread *out, ds_error *err);
/* ISOSDacInterface12; both 0 when not offered. */
ds_status ds_dac_global_alloc_context(ds_dac *dac, ds_addr *ptr, ds_addr *limit, ds_error *err);
/* Element type handle (MT) of an array object's elements, via GetObjectData. */
ds_status ds_dac_array_element(ds_dac *dac, ds_addr obj, ds_addr *element_mt, uint32_t *element_type,
                               ds_error *err);
/* Loader-allocator handle of a collectible MT (ISOSDacInterface6); 0 when not collectible. */
ds_status ds_dac_collectible_handle(ds_dac *dac, ds_addr mt, ds_addr *handle, ds_error *err);

/* Calls fn for every GC handle; stops and returns DS_E_DAC on enumeration failure. */
typedef void (*ds_dac_handle_fn)(void *ctx, const ds_dacp_handle *handle);
ds_status ds_dac_enum_handles(ds_dac *dac, ds_dac_handle_fn fn, void *ctx, ds_error *err);

/* A readable name for an HRESULT. */
const char *ds_hresult_name(int32_t hr);

#endif
