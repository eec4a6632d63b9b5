/*
 * guard.c: file mappings that survive their file shrinking. Reading a page of a mapping whose file
 * was truncated raises SIGBUS; for the mappings registered here the handler maps a zero page in its
 * place and marks the mapping instead, so the analysis finishes (on zeros), notices, and says "the
 * dump changed or was truncated while being read" rather than dying with signal 7. A SIGBUS
 * anywhere else keeps its default action.
 */
#include "dumpscope/dump.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_SLOTS 64

static struct guard_slot {
  _Atomic uintptr_t base;
  _Atomic size_t size;
  _Atomic int tripped;
} slots[GUARD_SLOTS];

static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
  (void)context;
  uintptr_t addr = (uintptr_t)info->si_addr;
  for (size_t i = 0; i < GUARD_SLOTS; i++) {
    uintptr_t base = atomic_load(&slots[i].base);
    size_t size = atomic_load(&slots[i].size);
    if (base && addr >= base && addr - base < size) {
      uintptr_t page = addr & ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
      if (mmap((void *)page, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
               0) != MAP_FAILED) {
        atomic_store(&slots[i].tripped, 1);
        return;
      }
    }
  }
  /* not ours: the default action happens when the faulting instruction runs again */
  signal(sig, SIG_DFL);
}

static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, NULL);
}

int ds_map_guard_add(const void *base, size_t size) {
  pthread_once(&install_once, install);
  for (int i = 0; i < GUARD_SLOTS; i++) {
    uintptr_t expected = 0;
    if (atomic_compare_exchange_strong(&slots[i].base, &expected, (uintptr_t)1)) {
      atomic_store(&slots[i].tripped, 0);
      atomic_store(&slots[i].size, size);
      atomic_store(&slots[i].base, (uintptr_t)base);
      return i;
    }
  }
  return -1; /* all slots taken: the mapping is simply not guarded */
}

void ds_map_guard_remove(int slot) {
  if (slot < 0 || slot >= GUARD_SLOTS)
    return;
  atomic_store(&slots[slot].size, 0);
  atomic_store(&slots[slot].base, 0);
}

bool ds_map_guard_tripped(int slot) {
  return slot >= 0 && slot < GUARD_SLOTS && atomic_load(&slots[slot].tripped) != 0;
}
