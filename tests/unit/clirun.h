/*
 * clirun.h: helpers of the tests that drive the dumpscope binary on a real dump (test_sosex.c,
 * test_mdt.c, test_cli.c, test_cli_env.c, ...). The binary is $DUMPSCOPE_CLI (ctest sets it).
 */
#ifndef DS_TEST_CLIRUN_H
#define DS_TEST_CLIRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "fixture.h"

/* Runs a shell command line (the CLI, its arguments, its environment, --json among them);
 * returns its stdout parsed as JSON (NULL when it is not) and sets *exit_code. */
json_t *run_cli_command(const char *command, int *exit_code);
/* Runs the CLI with args (--json added); returns its parsed stdout and sets *exit_code. */
json_t *run_cli(const char *args, int *exit_code);
/* Runs the CLI with argv (argv[0] its name, NULL-terminated; no shell: any argument may hold
 * spaces or quotes); its stdout in *out (malloc'd), its stderr passed through. Returns the exit
 * code (-1 when it did not exit). */
int run_cli_argv(const char *const *argv, char **out);
/* Runs the CLI without --json; returns its stdout (malloc'd) and sets *exit_code. */
char *run_cli_text(const char *args, int *exit_code);
/* A truth marker's address, a truth thread's OS id (NULL / -1 when absent). */
const char *marker_address(json_t *truth, const char *name);
long long thread_os_id(json_t *truth, const char *name);
/* The main-wks-full fixture, and an index of it built once in the test's scratch folder. */
ds_fixture *main_fixture(const char **index);
/* `COMMAND DUMP REST --index INDEX --json`, which must exit 0 with a document. */
json_t *cli_json(ds_fixture *f, const char *index, const char *command, const char *rest);
/* mln ADDR on the main fixture's index. */
json_t *mln(ds_fixture *f, const char *index, uint64_t addr);
/* The string at a dotted path ("a.b.c") of a document, "" when absent. */
const char *sget(json_t *o, const char *path);
/* An integer member; a "0x..." address as a number (0 when not one). */
long long ival(json_t *o, const char *key);
uint64_t hex_of(const char *text);
/* The element of an array of objects whose "name" is name, NULL when none. */
json_t *named(json_t *list, const char *name);

#endif
