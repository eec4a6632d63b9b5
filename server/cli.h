/*
 * cli.h: the command line's analysis commands (info, eeheap, heapstat, verify, gcgen, obj, mt).
 */
#ifndef DUMPSCOPE_SERVER_CLI_H
#define DUMPSCOPE_SERVER_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* Runs argv[1] as an analysis command; returns the process exit code. */
int ds_cli_run(int argc, char **argv);
bool ds_cli_has_command(const char *name);
void ds_cli_usage(FILE *out);

#endif
