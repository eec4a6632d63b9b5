/*
 * rootkind.c: names and rules of root kinds (roots.h), shared by the builder and the queries.
 */
#include "dumpscope/roots.h"

/* The kind names the CLI and API show; stable. */
const char *ds_root_kind_name(ds_root_kind kind) {
  switch (kind) {
  case DS_ROOT_HANDLE_STRONG: return "strong handle";
  case DS_ROOT_HANDLE_PINNED: return "pinned handle";
  case DS_ROOT_HANDLE_ASYNC_PINNED: return "async pinned handle";
  case DS_ROOT_HANDLE_REFCOUNTED: return "ref-counted handle";
  case DS_ROOT_HANDLE_SIZEDREF: return "sized-ref handle";
  case DS_ROOT_HANDLE_WEAK_SHORT: return "weak short handle";
  case DS_ROOT_HANDLE_WEAK_LONG: return "weak long handle";
  case DS_ROOT_HANDLE_DEPENDENT: return "dependent handle";
  case DS_ROOT_HANDLE_OTHER: return "other handle";
  case DS_ROOT_STACK: return "stack";
  case DS_ROOT_FINALIZER_READY: return "finalizer queue (ready)";
  case DS_ROOT_THREAD_STATIC: return "thread static";
  case DS_ROOT_STATIC_FIELD: return "static field";
  case DS_ROOT_KIND_COUNT: break;
  }
  return "unknown";
}

/* ClrMD's rule (ClrHeap.EnumerateRoots): weak, dependent and other handles keep nothing alive;
 * a ref-counted handle does while its count is positive. */
bool ds_root_kind_is_root(ds_root_kind kind, uint32_t ref_count) {
  switch (kind) {
  case DS_ROOT_HANDLE_STRONG:
  case DS_ROOT_HANDLE_PINNED:
  case DS_ROOT_HANDLE_ASYNC_PINNED:
  case DS_ROOT_HANDLE_SIZEDREF:
  case DS_ROOT_STACK:
  case DS_ROOT_FINALIZER_READY:
  case DS_ROOT_THREAD_STATIC:
  case DS_ROOT_STATIC_FIELD:
    return true;
  case DS_ROOT_HANDLE_REFCOUNTED:
    return ref_count > 0;
  default:
    return false;
  }
}

