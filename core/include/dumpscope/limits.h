/*
 * limits.h: every cap dumpscope applies to untrusted input, in one place.
 *
 * A dump, an index file or a request that would need more than these is refused with
 * DS_E_LIMIT and a message naming the cap, instead of exhausting memory or looping forever.
 */
#ifndef DUMPSCOPE_LIMITS_H
#define DUMPSCOPE_LIMITS_H

#define DS_MAX_PROGRAM_HEADERS     (1u << 20)  /* PT_LOAD + PT_NOTE entries in a core */
#define DS_MAX_NOTE_BYTES          (256u << 20) /* total PT_NOTE payload */
#define DS_MAX_THREADS             65536u      /* NT_PRSTATUS notes, managed threads */
#define DS_MAX_MAPPED_FILES        (1u << 20)  /* NT_FILE entries */
#define DS_MAX_PATH_BYTES          4096u       /* one path inside NT_FILE */
#define DS_MAX_BUILD_ID_BYTES      64u
#define DS_MAX_GC_HEAPS            1024u       /* server GC heaps */
#define DS_MAX_SEGMENTS            (1u << 22)  /* segments or regions across all heaps */
#define DS_MAX_TYPE_NAME_CHARS     4096u       /* characters of one type name read from the DAC */
#define DS_MAX_TYPES               (1u << 22)  /* distinct MethodTables */
#define DS_MAX_FIELDS_PER_TYPE     65536u
#define DS_MAX_STRING_READ_CHARS   (1u << 20)  /* characters of one string value we decode */
#define DS_MAX_ALLOC_CONTEXTS      (1u << 20)
#define DS_MAX_OBJECT_SIZE         ((unsigned long long)1 << 40) /* larger means a corrupt MT or length */
#define DS_MAX_HEAP_ERRORS         10000u      /* verify: errors recorded before giving up */
#define DS_MAX_DAC_BYTES           (512u << 20) /* a downloaded DAC larger than this is refused */

#endif
