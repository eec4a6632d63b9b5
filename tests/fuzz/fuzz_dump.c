/*
 * fuzz_dump.c: libFuzzer target for the ELF core reader (ds_dump_open and the reads and lookups
 * a caller makes next). Built with the `fuzz` preset (clang); the corpus in tests/fuzz/corpus/dump
 * is also replayed by the ordinary test suite (replay_dump.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "dumpscope/dac.h"
#include "dumpscope/dump.h"
#include "dumpscope/unwind.h"

int ds_fuzz_dump_one(const uint8_t *data, size_t size);

int ds_fuzz_dump_one(const uint8_t *data, size_t size) {
  char path[64];
  int fd = ds_fuzz_memfd(data, size, path, sizeof path);
  if (fd < 0)
    return 0;
  ds_error err;
  ds_dump *dump = NULL;
  ds_status rc = ds_dump_open(path, &dump, &err);
  ds_fuzz_note("open=%s", ds_status_name(rc));
  if (rc == DS_OK) {
    uint8_t buf[64];
    for (size_t i = 0; i < ds_dump_module_count(dump); i++) {
      const ds_module *m = ds_dump_module(dump, i);
      ds_dump_read(dump, m->base, buf, sizeof buf);
    }
    ds_native_frame frames[16];
    for (size_t i = 0; i < ds_dump_thread_count(dump) && i < 8; i++) { /* mk's native unwinding */
      size_t count;
      ds_unwind_end end;
      ds_unwind_native(dump, ds_dump_thread_at(dump, i)->tid, NULL, NULL, frames, 16, &count, &end, &err);
    }
    ds_runtime_info rt;
    ds_fuzz_note("modules=%zu threads=%zu runtime=%s", ds_dump_module_count(dump), ds_dump_thread_count(dump),
                 ds_status_name(ds_runtime_identify(dump, &rt, &err)));
    ds_dump_close(dump);
  }
  close(fd);
  return 0;
}

#ifdef DS_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ds_fuzz_dump_one(data, size); }
#endif
