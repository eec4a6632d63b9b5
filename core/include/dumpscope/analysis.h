/*
 * analysis.h: one analysis session over a dump, in an analysis process (CLI or worker).
 *
 * Opens the dump, identifies the runtime, finds and loads the matching DAC and describes the GC
 * heap. Also the DAC-backed details the walk does not need: instance field layouts (names,
 * offsets, element types) and array element types. Timings of each phase are recorded so the
 * CLI and benchmarks can report "dump open -> DAC ready" separately from the walk.
 */
#ifndef DUMPSCOPE_ANALYSIS_H
#define DUMPSCOPE_ANALYSIS_H

#include "dumpscope/dac.h"
#include "dumpscope/dump.h"
#include "dumpscope/heap.h"

typedef struct ds_analysis {
  ds_dump *dump;
  ds_runtime_info runtime;
  char dac_path[4096];
  ds_dac *dac;
  ds_heap *heap;
  double open_ms;      /* mmap + ELF parse */
  double dac_ms;       /* identify runtime, locate + load DAC, create interfaces */
  double heap_ms;      /* describe heaps and segments */
} ds_analysis;

ds_status ds_analysis_open(const char *dump_path, const ds_dac_search *search, ds_analysis **out,
                           ds_error *err);
void ds_analysis_close(ds_analysis *analysis);

/* The object layout of the dump's runtime (the heap's, once it is described). */
const ds_layout *ds_analysis_layout(const ds_analysis *analysis);

/* CorElementType values we name. */
enum {
  DS_ELEMENT_BOOLEAN = 0x2, DS_ELEMENT_CHAR = 0x3, DS_ELEMENT_I1 = 0x4, DS_ELEMENT_U1 = 0x5,
  DS_ELEMENT_I2 = 0x6, DS_ELEMENT_U2 = 0x7, DS_ELEMENT_I4 = 0x8, DS_ELEMENT_U4 = 0x9,
  DS_ELEMENT_I8 = 0xa, DS_ELEMENT_U8 = 0xb, DS_ELEMENT_R4 = 0xc, DS_ELEMENT_R8 = 0xd,
  DS_ELEMENT_STRING = 0xe, DS_ELEMENT_PTR = 0xf, DS_ELEMENT_VALUETYPE = 0x11,
  DS_ELEMENT_CLASS = 0x12, DS_ELEMENT_ARRAY = 0x14, DS_ELEMENT_I = 0x18, DS_ELEMENT_U = 0x19,
  DS_ELEMENT_FNPTR = 0x1b, DS_ELEMENT_OBJECT = 0x1c, DS_ELEMENT_SZARRAY = 0x1d,
};

/* "System.Int32"-style name of a primitive element type, or NULL. */
const char *ds_element_type_name(uint32_t element_type);
/* Size in bytes of a primitive element type, 0 when not primitive. */
uint32_t ds_element_type_size(uint32_t element_type);
/* true for element types that hold an object reference. */
bool ds_element_type_is_reference(uint32_t element_type);

typedef struct ds_field {
  char name[128];
  uint32_t offset;        /* from the object start (MT pointer at 0) */
  uint32_t element_type;  /* CorElementType */
  uint64_t type_mt;       /* declared type's MethodTable, 0 if not loaded */
  char type_name[256];
  bool is_static;
  bool is_thread_static;
  uint64_t declaring_mt;
} ds_field;

/* All instance fields of mt (inherited ones first), and its statics when with_statics. */
ds_status ds_analysis_type_fields(ds_analysis *analysis, uint64_t mt, bool with_statics,
                                  ds_field **fields, size_t *count, ds_error *err);

/* Element MethodTable and CorElementType of an array object. */
ds_status ds_analysis_array_element(ds_analysis *analysis, uint64_t array, uint64_t *element_mt,
                                    uint32_t *element_type, ds_error *err);

#endif
