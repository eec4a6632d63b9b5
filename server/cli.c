/*
 * cli.c: the `dumpscope` command line: options, usage, and dispatch to the DAC-backed analysis
 * commands (cli_dac.c) or to api/'s resource table (cli_api.c). Exit codes and error output
 * are decided here, once.
 */
#include "cli.h"

#include "api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpscope/findings.h"
#include "dumpscope/heap.h"
typedef ds_cli_args cli_options;


static int exit_code_for(ds_status rc) {
  switch (rc) {
  case DS_OK: return 0;
  case DS_E_ARG: return 2;
  case DS_E_NOT_FOUND: return 3;
  case DS_E_MID_GC: return 5; /* taken during a GC: the heap cannot be walked (README) */
  default: return 1;
  }
}

/* Prints an error as text or as {"error": {...}}; returns the exit code. */
int ds_cli_fail(bool json, const ds_error *err) {
  if (json) {
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", ds_status_name(err->code), "message",
                          err->message);
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(j);
  } else {
    fprintf(stderr, "dumpscope: %s\n", err->message);
  }
  return exit_code_for(err->code);
}

void ds_cli_print_json(json_t *j) {
  json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', stdout);
  json_decref(j);
}


static bool parse_u64(const char *text, uint64_t *out) {
  if (!text || !*text)
    return false;
  char *end = NULL;
  int base = 10;
  const char *p = text;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    base = 16;
    p += 2;
  }
  unsigned long long v = strtoull(p, &end, base);
  if (end == p || *end)
    return false;
  *out = v;
  return true;
}

/* Addresses are hex with or without 0x, the way SOS prints them: at most 16 digits, no sign
 * (the same rule as the API's). */
bool ds_cli_parse_address(const char *text, uint64_t *out) { return ds_api_parse_address(text, out); }
/* ---- argument parsing --------------------------------------------------------------------- */

/* Options that take a value: without one, say so rather than "unknown option". */
static bool option_takes_value(const char *arg) {
  static const char *const with_value[] = {"--index", "--contains", "--after", "--offset", "--min-length", "--dac",
                                           "--type", "--gen", "--min", "--max", "--limit", "--depth",
                                           "--elements", "--kind", "--mt", "--module", "--frame", "--around", "--set",
                                           "--memory-budget", NULL};
  for (size_t i = 0; with_value[i]; i++)
    if (strcmp(arg, with_value[i]) == 0)
      return true;
  return false;
}


void ds_cli_usage(FILE *out) {
  fprintf(out, "Analysis commands (dumpscope COMMAND DUMP [ADDR] [options]; these load the DAC):\n");
  for (size_t i = 0; i < ds_cli_dac_command_count; i++)
    fprintf(out, "  %-10s %s%s\n", ds_cli_dac_commands[i].name, ds_cli_dac_commands[i].needs_address ? "ADDR  " : "", ds_cli_dac_commands[i].help);
  fprintf(out,
          "Options:\n"
          "  --json            JSON output\n"
          "  --dac PATH        use this libmscordaccore.so (else DUMPSCOPE_DAC, local runtimes, symbol servers)\n"
          "  --offline         never download a DAC from a symbol server\n"
          "  --clrmd-names     spell types like ClrMD/dotnet-dump (List<System.String>) instead of SOS\n"
          "  --index PATH      the heap index to use or build (default DUMP.dsindex)\n"
          "  --memory-budget BYTES  build the index within about this much memory (K, M, G suffixes;\n"
          "                    else DUMPSCOPE_MEMORY_BUDGET): spills sorted runs to disk beside it\n"
          "  --set NAME=VALUE  a threshold of the findings for this analysis (repeatable; dumpscope settings\n"
          "                    lists them); an index built with other thresholds is rebuilt\n"
          "heapstat options:\n"
          "  --gen N           0, 1, 2, loh, poh, frozen\n"
          "  --type TEXT       types whose name contains TEXT (--exact: equals TEXT)\n"
          "  --min BYTES --max BYTES   object size bounds\n"
          "  --nostrings       leave out System.String\n"
          "  --free            only free space\n"
          "  --live / --dead   only objects reachable from a root / unreachable (uses the index)\n"
          "gen options: --list (instances, paged with --after ADDR --limit N), --by-count\n"
          "roots options: --all (one shortest path per distinct root), --limit N; with no index yet,\n"
          "                 `roots DUMP ADDR` answers by a root search (only the objects nearer a root\n"
          "                 than ADDR) and keeps no index\n"
          "finq/frq options: --stat\n"
          "strings options: --contains TEXT, --min-length N, --duplicates, --limit N\n"
          "mdt options: --depth N (-r N) reference levels to follow, --elements N per array\n"
          "mx options: --kind types|fields|methods, --limit N\n"
          "frames (mdv, mframe) options: --frame N (one frame, by depth)\n"
          "mu ADDR options: --around N instructions each side (muf METHOD|ADDR: the whole method)\n"
          "mfrag options: --mt MT (-mt:MT) gap holders of one type; finq/frq: --gen N\n"
          "dlk/mlocks/mwaits (deadlocks/locks/waits) options: --details (-d) stacks of every thread involved\n"
          "strings options: --module NAME (strings of one module's types' statics and objects)\n"
          "dominators options: [ADDR] the objects ADDR dominates (default: the top of the tree), --types\n"
          "                  (types by retained size), --limit N\n"
          "obj options:\n"
          "  --limit N --offset N   array elements to show (default 20)\n"
          "Environment: DUMPSCOPE_DAC, DUMPSCOPE_RUNTIME_DIRS (a:b), DUMPSCOPE_SYMBOL_SERVERS (u1;u2),\n"
          "             DUMPSCOPE_CACHE (downloaded DACs), DUMPSCOPE_MEMORY_BUDGET (index builds),\n"
          "             DUMPSCOPE_BUILD_PHASES=1 (time and memory of each phase of an index build, then\n"
          "             the inversion's passes and the dominator search's steps, which run beside them)\n");
  ds_cli_resource_usage(out);
}

int ds_cli_settings_main(int argc, char **argv) {
  bool json = argc > 2 && strcmp(argv[2], "--json") == 0;
  if (argc > 2 && !json) {
    ds_error err;
    ds_error_set(&err, DS_E_ARG, "usage: dumpscope settings [--json]");
    return ds_cli_fail(false, &err);
  }
  json_t *list = json_array();
  for (size_t i = 0; i < ds_setting_count(); i++) {
    const ds_setting_info *s = ds_setting_at(i);
    if (json)
      json_array_append_new(list, json_pack("{s:s,s:f,s:f,s:f,s:s,s:s}", "name", s->name, "default", s->def, "min",
                                            s->min, "max", s->max, "unit", s->unit, "meaning", s->meaning));
    else
      printf("%-26s %12.0f %-8s %s\n", s->name, s->def, s->unit, s->meaning);
  }
  if (json)
    ds_cli_print_json(json_pack("{s:o}", "settings", list));
  else
    json_decref(list);
  return 0;
}

bool ds_cli_has_command(const char *name) {
  for (size_t i = 0; i < ds_cli_dac_command_count; i++)
    if (strcmp(ds_cli_dac_commands[i].name, name) == 0)
      return true;
  return ds_cli_is_resource_command(name);
}

/* SOS and SOSEX options are spelled with one dash ("-stat", "-type X", "-mt:0x7f..."): each
 * becomes our spelling ("--stat", "--type X", "--mt 0x7f...") before parsing. A few have their
 * own long names. Arguments that are not of that shape pass through unchanged. */
#define CLI_MAX_ARGS 256
#define CLI_OPTION_BYTES 64

typedef struct cli_argv {
  char *items[CLI_MAX_ARGS];
  char storage[CLI_MAX_ARGS][CLI_OPTION_BYTES];
  int count;
} cli_argv;

static const char *long_spelling(const char *word) {
  static const struct { const char *sos, *ours; } renamed[] = {
      {"d", "details"}, {"r", "depth"}, {"short", "list"}, {NULL, NULL}};
  for (size_t i = 0; renamed[i].sos; i++)
    if (strcmp(word, renamed[i].sos) == 0)
      return renamed[i].ours;
  return word;
}

static bool normalize_argv(int argc, char **argv, cli_argv *out, ds_error *err) {
  out->count = 0;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    bool sos = i >= 2 && arg[0] == '-' && ((arg[1] >= 'a' && arg[1] <= 'z') || (arg[1] >= 'A' && arg[1] <= 'Z'));
    if (out->count + 2 > CLI_MAX_ARGS) {
      ds_error_set(err, DS_E_ARG, "too many arguments (at most %d)", CLI_MAX_ARGS - 2);
      return false;
    }
    if (!sos) {
      out->items[out->count++] = argv[i];
      continue;
    }
    const char *colon = strchr(arg, ':');
    char word[CLI_OPTION_BYTES];
    size_t len = colon ? (size_t)(colon - arg - 1) : strlen(arg + 1);
    if (len >= sizeof word - 3) {
      ds_error_set(err, DS_E_ARG, "unknown option %.60s", arg);
      return false;
    }
    memcpy(word, arg + 1, len);
    word[len] = '\0';
    char *slot = out->storage[out->count];
    snprintf(slot, CLI_OPTION_BYTES, "--%s", long_spelling(word));
    out->items[out->count++] = slot;
    if (colon)
      out->items[out->count++] = (char *)(colon + 1); /* "-mt:VALUE": the value is the next argument */
  }
  return true;
}

int ds_cli_run(int argc, char **argv) {
  static cli_argv normalized; /* one command line per process */
  ds_error nerr = {0};
  if (!normalize_argv(argc, argv, &normalized, &nerr)) {
    bool json = false;
    for (int i = 2; i < argc; i++)
      json = json || strcmp(argv[i], "--json") == 0;
    return ds_cli_fail(json, &nerr);
  }
  argc = normalized.count;
  argv = normalized.items;
  cli_options o = {.gen = -1, .max_size = UINT64_MAX};
  const char *command = argv[1];
  size_t ci;
  for (ci = 0; ci < ds_cli_dac_command_count; ci++)
    if (strcmp(ds_cli_dac_commands[ci].name, command) == 0)
      break;
  ds_error err = {0};
  const char *positional[2] = {NULL, NULL};
  size_t npos = 0;
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i];
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(arg, "--json") == 0) o.json = true;
    else if (strcmp(arg, "--offline") == 0) o.offline = true;
    else if (strcmp(arg, "--clrmd-names") == 0) o.clrmd_names = true;
    else if (strcmp(arg, "--nostrings") == 0) o.no_strings = true;
    else if (strcmp(arg, "--free") == 0) o.free_only = true;
    else if (strcmp(arg, "--exact") == 0) o.type_exact = true;
    else if (strcmp(arg, "--live") == 0) o.live = true;
    else if (strcmp(arg, "--dead") == 0) o.dead = true;
    else if (strcmp(arg, "--list") == 0) o.list = true;
    else if (strcmp(arg, "--by-count") == 0) o.sort_count = true;
    else if (strcmp(arg, "--all") == 0) o.all = true;
    else if (strcmp(arg, "--stat") == 0) o.stat = true;
    else if (strcmp(arg, "--duplicates") == 0) o.duplicates = true;
    else if (strcmp(arg, "--details") == 0) o.details = true;
    else if (strcmp(arg, "--depth") == 0 && next) { o.depth = next; i++; }
    else if (strcmp(arg, "--elements") == 0 && next) { o.elements = next; i++; }
    else if (strcmp(arg, "--kind") == 0 && next) { o.kind = next; i++; }
    else if (strcmp(arg, "--mt") == 0 && next) { o.mt = next; i++; }
    else if (strcmp(arg, "--module") == 0 && next) { o.module = next; i++; }
    else if (strcmp(arg, "--frame") == 0 && next) { o.frame = next; i++; }
    else if (strcmp(arg, "--around") == 0 && next) { o.around = next; i++; }
    else if (strcmp(arg, "--index") == 0 && next) { o.index = next; i++; }
    else if (strcmp(arg, "--memory-budget") == 0 && next) { o.memory_budget = next; i++; }
    else if (strcmp(arg, "--contains") == 0 && next) { o.contains = next; i++; }
    else if ((strcmp(arg, "--after") == 0 || strcmp(arg, "--offset") == 0) && next) {
      uint64_t v;
      bool ok = arg[2] == 'a' ? (next[0] == '0' && next[1] == 'x' ? parse_u64(next, &v) : ds_cli_parse_address(next, &v))
                              : parse_u64(next, &v);
      if (!ok) {
        ds_error_set(&err, DS_E_ARG, "%s needs a number or address, got \"%s\"", arg, next);
        return ds_cli_fail(o.json, &err);
      }
      o.after = v;
      o.after_given = true;
      i++;
    } else if (strcmp(arg, "--min-length") == 0 && next) {
      uint64_t v;
      if (!parse_u64(next, &v)) {
        ds_error_set(&err, DS_E_ARG, "--min-length needs a number, got \"%s\"", next);
        return ds_cli_fail(o.json, &err);
      }
      o.min_length = (size_t)v;
      i++;
    }
    else if (strcmp(arg, "--dac") == 0 && next) { o.dac = next; i++; }
    else if (strcmp(arg, "--set") == 0 && next) {
      ds_finding_settings check;
      ds_finding_settings_init(&check);
      if (o.set_count == DS_CLI_MAX_SET)
        ds_error_set(&err, DS_E_ARG, "at most %d --set options", DS_CLI_MAX_SET);
      if (o.set_count == DS_CLI_MAX_SET || ds_finding_settings_apply(&check, next, &err) != DS_OK)
        return ds_cli_fail(o.json, &err);
      o.set[o.set_count++] = next;
      i++;
    }
    else if (strcmp(arg, "--type") == 0 && next) { o.type_filter = next; i++; }
    else if (strcmp(arg, "--gen") == 0 && next) {
      o.gen = ds_gen_parse(next);
      if (o.gen < 0) {
        ds_error_set(&err, DS_E_ARG, "unknown generation \"%s\" (use 0, 1, 2, loh, poh or frozen)", next);
        return ds_cli_fail(o.json, &err);
      }
      i++;
    } else if ((strcmp(arg, "--min") == 0 || strcmp(arg, "--max") == 0 || strcmp(arg, "--limit") == 0) && next) {
      uint64_t v;
      if (!parse_u64(next, &v)) {
        ds_error_set(&err, DS_E_ARG, "%s needs a number, got \"%s\"", arg, next);
        return ds_cli_fail(o.json, &err);
      }
      if (arg[2] == 'm' && arg[3] == 'i') o.min_size = v;
      else if (arg[2] == 'm') o.max_size = v;
      else o.limit = (size_t)v;
      i++;
    } else if (arg[0] == '-' && arg[1] == '-') {
      if (!next && option_takes_value(arg))
        ds_error_set(&err, DS_E_ARG, "%s needs a value (see dumpscope help)", arg);
      else
        ds_error_set(&err, DS_E_ARG, "unknown option %s for %s (see dumpscope help)", arg, command);
      return ds_cli_fail(o.json, &err);
    } else if (npos < 2) {
      positional[npos++] = arg;
    } else {
      ds_error_set(&err, DS_E_ARG, "unexpected argument \"%s\"", arg);
      return ds_cli_fail(o.json, &err);
    }
  }
  o.dump = positional[0];
  o.address = positional[1];
  bool analysis = ci < ds_cli_dac_command_count &&
                  !(strcmp(command, "heapstat") == 0 && (o.live || o.dead || o.list));
  if (!o.dump || (analysis && ds_cli_dac_commands[ci].needs_address && !o.address)) {
    ds_error_set(&err, DS_E_ARG, "usage: dumpscope %s DUMP%s [options]", command,
                 analysis && ds_cli_dac_commands[ci].needs_address ? " ADDR" : " ...");
    return ds_cli_fail(o.json, &err);
  }
  if (o.live && o.dead) {
    ds_error_set(&err, DS_E_ARG, "--live and --dead exclude each other");
    return ds_cli_fail(o.json, &err);
  }
  if (strcmp(command, "gen") == 0 && o.address && ds_gen_parse(o.address) < 0) {
    ds_error_set(&err, DS_E_ARG, "unknown generation \"%s\" (use 0, 1, 2, loh, poh or frozen)", o.address);
    return ds_cli_fail(o.json, &err);
  }
  if (!analysis)
    return ds_cli_run_resource(command, &o);
  return ds_cli_dac_commands[ci].run(&o);
}
