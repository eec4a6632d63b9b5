/*
 * cli.h: the command line's analysis commands (info, eeheap, heapstat, verify, gcgen, obj, mt).
 */
#ifndef DUMPSCOPE_SERVER_CLI_H
#define DUMPSCOPE_SERVER_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <stdint.h>

#include "dumpscope/error.h"
#include <stddef.h>

/* Everything a command line can say. */
typedef struct ds_cli_args {
  const char *dump;
  const char *dac;
  const char *address;       /* second positional: address, thread, or generation */
  const char *index;         /* --index PATH */
  bool json;
  int gen;                   /* -1 = all */
  const char *type_filter;
  bool type_exact;
  uint64_t min_size, max_size;
  bool no_strings, free_only, clrmd_names, offline;
  size_t limit;
  bool live, dead, list, sort_count, all, stat, duplicates;
  uint64_t after;            /* --after ADDR (paging), --offset N for array elements */
  const char *contains;
  size_t min_length;
} ds_cli_args;

/* Prints err as text (stderr) or as {"error": {"code", "message"}} (stdout); returns the exit
 * code: 1 analysis failed, 2 bad arguments, 3 not found. */
int ds_cli_fail(bool json, const ds_error *err);
/* Parses a hex address with or without 0x. */
bool ds_cli_parse_address(const char *text, uint64_t *out);

/* Index-backed commands (cli_index.c). */
int ds_cli_run_index(const char *command, const ds_cli_args *args);

/* Runs argv[1] as an analysis command; returns the process exit code. */
int ds_cli_run(int argc, char **argv);
bool ds_cli_has_command(const char *name);
void ds_cli_usage(FILE *out);

#endif
