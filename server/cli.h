/*
 * cli.h: the command line: DAC-backed analysis commands (cli.c) and the index commands that
 * dispatch from api/'s resource table (cli_api.c).
 */
#ifndef DUMPSCOPE_SERVER_CLI_H
#define DUMPSCOPE_SERVER_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include <stdint.h>

#include "dumpscope/error.h"
#include <stddef.h>

#define DS_CLI_MAX_SET 32     /* --set options on one command line */

/* Everything a command line can say. */
typedef struct ds_cli_args {
  const char *dump;
  const char *dac;
  const char *address;       /* second positional: address, thread, or generation */
  const char *index;         /* --index PATH */
  const char *memory_budget; /* --memory-budget BYTES (index builds; else DUMPSCOPE_MEMORY_BUDGET) */
  bool json;
  int gen;                   /* -1 = all */
  const char *type_filter;
  bool type_exact;
  uint64_t min_size, max_size;
  bool no_strings, free_only, clrmd_names, offline;
  size_t limit;
  bool live, dead, list, sort_count, all, stat, duplicates, by_type;
  uint64_t after;            /* --after ADDR (paging), --offset N for array elements */
  bool after_given;
  const char *contains;
  size_t min_length;
  /* mdt, mx, and the SOSEX options of mfrag, dlk/mlocks/mwaits and strings: passed on as the
   * resource's parameters, checked there */
  const char *depth;         /* --depth N (-r N) */
  const char *elements;      /* --elements N */
  const char *kind;          /* --kind types|fields|methods */
  const char *mt;            /* --mt MT (-mt:MT) */
  bool details;              /* --details (-d) */
  const char *module;        /* --module NAME */
  const char *frame;         /* --frame N (mdv, mframe) */
  const char *around;        /* --around N (mu) */
  const char *set[DS_CLI_MAX_SET]; /* --set NAME=VALUE[,...]: thresholds of the findings */
  size_t set_count;
} ds_cli_args;

/* Prints err as text (stderr) or as {"error": {"code", "message"}} (stdout); returns the exit
 * code: 1 analysis failed, 2 bad arguments, 3 not found. */
int ds_cli_fail(bool json, const ds_error *err);
/* Parses a hex address with or without 0x. */
bool ds_cli_parse_address(const char *text, uint64_t *out);

/* A DAC-backed analysis command (cli_dac.c). */
typedef struct ds_cli_command {
  const char *name;
  int (*run)(const ds_cli_args *args);
  bool needs_address;
  const char *help;
} ds_cli_command;
extern const ds_cli_command ds_cli_dac_commands[];
extern const size_t ds_cli_dac_command_count;

/* Prints a JSON document on stdout (indented, keys in order) and releases it. */
void ds_cli_print_json(json_t *doc);

/* Index commands (cli_api.c): `index` and every row of api/'s resource table, by name or by its
 * SOSEX spelling (gch, finq, frq, mdso, mfrag, obj, gen --list, heapstat --live) or SOS spelling
 * (dumpheap, gcroot, clrthreads, clrstack, syncblk, gcwhere, gchandles, finalizequeue,
 * dumpstackobjects). */
bool ds_cli_is_resource_command(const char *command);
int ds_cli_run_resource(const char *command, const ds_cli_args *args);
void ds_cli_resource_usage(FILE *out);

/* `dumpscope settings [--json]`: the thresholds of the findings, their defaults and meanings. */
int ds_cli_settings_main(int argc, char **argv);

/* Runs argv[1] as an analysis command; returns the process exit code. */
int ds_cli_run(int argc, char **argv);
bool ds_cli_has_command(const char *name);
void ds_cli_usage(FILE *out);

#endif
