/*
 * limits.h: every cap dumpscope applies to untrusted input, in one place.
 *
 * A dump, an index file or a request that would need more than these is refused with
 * DS_E_LIMIT and a message naming the cap (or, where noted, cut at the cap and said so), instead
 * of exhausting memory or looping forever. Every buffer whose size the input decides grows at
 * most to its cap here.
 */
#ifndef DUMPSCOPE_LIMITS_H
#define DUMPSCOPE_LIMITS_H

/* ---- the dump file (core/dump) ---------------------------------------------------------------- */
#define DS_MAX_PROGRAM_HEADERS     (1u << 20)  /* PT_LOAD + PT_NOTE entries in a core */
#define DS_MAX_NOTE_BYTES          (256u << 20) /* total PT_NOTE payload */
#define DS_MAX_THREADS             65536u      /* NT_PRSTATUS notes, managed threads */
#define DS_MAX_MAPPED_FILES        (1u << 20)  /* NT_FILE entries */
#define DS_MAX_PATH_BYTES          4096u       /* one path inside NT_FILE */
#define DS_MAX_BUILD_ID_BYTES      64u
#define DS_MAX_MODULE_PROGRAM_HEADERS 256u     /* program headers of a mapped module read from memory */
#define DS_MAX_MODULE_NOTE_BYTES   65536u      /* one PT_NOTE of a mapped module (larger: skipped) */

/* ---- assemblies and portable PDBs on disk (core/symbols) -------------------------------------- */
#define DS_MAX_SYMBOL_FILE_BYTES   (256u << 20) /* an assembly or PDB larger than this is not read */
#define DS_MAX_SIGNATURE_DEPTH     16u         /* nesting of one type in a signature */
#define DS_MAX_SEQUENCE_POINTS     (1u << 16)  /* sequence points decoded of one method */
#define DS_MAX_SYMBOL_MODULES      256u        /* assemblies the analysis opens for frame symbols */

/* ---- the runtime and its DAC (core/dac) --------------------------------------------------------- */
#define DS_MAX_DAC_BYTES           (512u << 20) /* a downloaded DAC larger than this is refused */
#define DS_MAX_SEARCH_ENV_BYTES    8192u       /* DUMPSCOPE_RUNTIME_DIRS + DUMPSCOPE_SYMBOL_SERVERS text */
#define DS_MAX_RUNTIME_DIRS        32u         /* folders in DUMPSCOPE_RUNTIME_DIRS (more: ignored) */
#define DS_MAX_SYMBOL_SERVERS      16u         /* servers in DUMPSCOPE_SYMBOL_SERVERS (more: ignored) */
#define DS_MAX_TYPE_NAME_CHARS     4096u       /* characters of one type name read from the DAC */
#define DS_MAX_FRAME_NAME_CHARS    2048u       /* characters of one method or Frame name */
#define DS_MAX_TYPE_DEPTH          64u         /* base types followed up from one type */
#define DS_MAX_HANDLE_BATCH        (1u << 24)  /* GC handles asked of the DAC at once */
#define DS_MAX_STACK_FRAMES        4096u       /* frames reported per thread; deeper stacks are cut */
#define DS_MAX_STACK_REFS          (1u << 20)  /* GC references reported on one thread's stack */
#define DS_MAX_STACK_REF_ERRORS    65536u      /* failed stack ranges counted per thread */
#define DS_MAX_FINALIZER_SLOTS     (1u << 26)  /* finalization-queue slots of one GC heap */
#define DS_MAX_SYNC_BLOCKS         (1u << 24)  /* entries of the sync block table */

/* ---- the heap (core/heap) ---------------------------------------------------------------------- */
#define DS_MAX_GC_HEAPS            1024u       /* server GC heaps */
#define DS_MAX_SEGMENTS            (1u << 22)  /* segments or regions across all heaps */
#define DS_MAX_TYPES               (1u << 22)  /* distinct MethodTables */
#define DS_MAX_FIELDS_PER_TYPE     65536u
#define DS_MAX_STRING_READ_CHARS   (1u << 20)  /* characters of one string value we decode */
#define DS_MAX_COMMAND_LINE_ARGS   1024u       /* arguments of the process's command line read */
#define DS_MAX_COMMAND_LINE_CHARS  32768u      /* characters of the command line shown (longer: cut) */
#define DS_MAX_ALLOC_CONTEXTS      (1u << 20)
#define DS_MAX_OBJECT_SIZE         ((unsigned long long)1 << 40) /* larger means a corrupt MT or length */
#define DS_MAX_HEAP_ERRORS         10000u      /* verify: errors recorded before giving up */
#define DS_MAX_GC_DESC_SERIES      4096        /* a GC descriptor claiming more is taken as damaged */
#define DS_MAX_GC_DESC_PASSES      (1u << 26)  /* repetitions of a value-type series over one array */

/* ---- roots and the index build (core/analyze) ------------------------------------------------ */
#define DS_MAX_ROOTS               (1u << 25)  /* roots of all kinds in one dump */
#define DS_MAX_TOTAL_FRAMES        (1u << 22)  /* stack frames over all threads */
#define DS_MAX_FRAME_VARS          (1u << 22)  /* arguments and locals over all frames */
#define DS_MAX_THREAD_STATIC_TYPES (1u << 20)  /* MethodTables examined for thread statics */
#define DS_MAX_THREAD_STATIC_FIELDS 256u       /* reference thread-static fields read per type */
#define DS_MAX_DYNAMIC_STATICS (1u << 16)      /* .NET 8: a module's types with dynamic statics */
#define DS_MAX_OBJECTS             4294967293u /* objects indexed: indices are u32, UINT32_MAX = none */
#define DS_MAX_REFERENCES          4294967294u /* references indexed (CSR offsets are u32) */
#define DS_MAX_INDEX_FIELDS        (1u << 26)  /* instance fields over all types of one index */
#define DS_MAX_MEMORY_RANGES       (1u << 20)  /* code heap, loader heap and handle table blocks recorded */
#define DS_MAX_DISASM_BYTES        (256u << 10) /* native code read of one method for mu/muf */
#define DS_MAX_CODE_MAP_ENTRIES    (1u << 22)  /* IL-to-native map entries over all JIT-compiled methods */
#define DS_MAX_INDEX_METHODS       (1u << 22)  /* methods recorded over all types of one index */
#define DS_MAX_METHODS_PER_TYPE    65536u      /* methods asked of the DAC for one type */

/* ---- the index file (core/index) ---------------------------------------------------------------- */
#define DS_MAX_INDEX_SECTIONS      64u         /* sections in one index file */

/* ---- queries (core/query): what one request may ask for ----------------------------------------- */
#define DS_MAX_PAGE_OBJECTS        10000u      /* objects listed per page */
#define DS_MAX_PAGE_REFERENCES     100000u     /* references listed each way for one object */
#define DS_MAX_ROOT_PATHS          1000u       /* root paths for one object */
#define DS_MAX_ARRAY_ELEMENTS      1000u       /* elements shown of one array */
#define DS_MAX_MDT_DEPTH           8u          /* reference levels mdt follows from an object */
#define DS_MAX_MDT_ELEMENTS        100u        /* elements mdt shows of one array */
#define DS_MAX_MDT_NESTING         8u          /* value types inside value types mdt expands */
#define DS_MAX_MDT_VALUES          5000u       /* fields and elements in one mdt answer */
#define DS_MAX_MDT_METHODS         1000u       /* methods listed with one type */
#define DS_MAX_MDT_FIELDS          1024u       /* instance fields mdt lists of one type */
#define DS_MAX_MODULE_STRINGS      (1u << 22)  /* literals read from one module's #US heap */
#define DS_MAX_OBJECT_STRING_CHARS (1u << 16)  /* characters of a string shown as one object */

#endif
