/*
 * locate.c: which runtime made this dump, and where its DAC is.
 *
 * The runtime is libcoreclr.so among the dump's mapped files; its identity is the GNU build id
 * and the "@(#)Version " string compiled into it. The DAC must be the same build, so every
 * candidate is checked: a local libmscordaccore.so is taken only when the libcoreclr.so beside it
 * has the dump's build id; a downloaded one only when it is an x86-64 ELF shared object whose
 * version string equals the runtime's.
 */
#include "dumpscope/dac.h"
#include "dumpscope/layout.h"

#include <curl/curl.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define VERSION_TAG "@(#)Version "
#define DEFAULT_SYMBOL_SERVER "https://msdl.microsoft.com/download/symbols"

/* Parses "@(#)Version 10.0.1226.12345 @Commit: abc..." starting after the tag. */
static void parse_version_text(const char *text, size_t len, char *version, size_t version_len,
                               char *commit, size_t commit_len) {
  size_t i = 0, v = 0;
  while (i < len && text[i] != ' ' && text[i] && v + 1 < version_len)
    version[v++] = text[i++];
  version[v] = 0;
  if (commit) {
    commit[0] = 0;
    const char *c = memmem(text, len, "@Commit: ", 9);
    if (c) {
      c += 9;
      size_t n = 0;
      while (c + n < text + len && c[n] && c[n] != ' ' && n + 1 < commit_len) {
        commit[n] = c[n];
        n++;
      }
      commit[n] = 0;
    }
  }
}

ds_status ds_runtime_identify(ds_dump *dump, ds_runtime_info *out, ds_error *err) {
  memset(out, 0, sizeof *out);
  const ds_module *coreclr = ds_dump_find_module(dump, "libcoreclr.so");
  if (!coreclr) {
    if (ds_dump_find_module(dump, "libmono-native.so") || ds_dump_find_module(dump, "libmonosgen-2.0.so"))
      return ds_error_set(err, DS_E_UNSUPPORTED,
                          "the process ran the Mono runtime; dumpscope analyses CoreCLR (.NET 6-10) processes");
    return ds_error_set(err, DS_E_NOT_DOTNET,
                        "not a .NET process: libcoreclr.so is not among the %zu files mapped in the dump",
                        ds_dump_module_count(dump));
  }
  out->coreclr = coreclr;
  if (coreclr->build_id_len == 0)
    return ds_error_set(err, DS_E_READ,
                        "the build id of %s is not in the dump (its first page is missing), so the "
                        "matching DAC cannot be identified", coreclr->path);
  ds_build_id_hex(coreclr->build_id, coreclr->build_id_len, out->build_id_hex);

  uint64_t at = ds_dump_search(dump, coreclr->base, coreclr->end, VERSION_TAG, strlen(VERSION_TAG));
  if (at) {
    char text[256];
    size_t got = ds_dump_read(dump, at + strlen(VERSION_TAG), text, sizeof text - 1);
    text[got] = 0;
    parse_version_text(text, got, out->version, sizeof out->version, out->commit, sizeof out->commit);
  }
  if (!out->version[0])
    return ds_error_set(err, DS_E_READ,
                        "the version string of %s (build id %s) is not in the dump", coreclr->path,
                        out->build_id_hex);
  char *end = NULL;
  long major = strtol(out->version, &end, 10);
  if (end == out->version || major <= 0)
    return ds_error_set(err, DS_E_CORRUPT, "unreadable runtime version \"%s\"", out->version);
  out->major = major > INT32_MAX ? INT32_MAX : (int)major;
  /* the layout module knows which runtimes it can read: older and newer ones are refused here,
   * before anything is read with another version's assumptions */
  const ds_layout *layout;
  return ds_layout_for_runtime(out->major, out->version, &layout, err);
}

/* Maps a whole file read-only; NULL on failure. */
static const uint8_t *map_file(const char *path, uint64_t *size) {
  int fd = ds_open_regular(path);
  if (fd < 0)
    return NULL;
  struct stat st;
  void *data = MAP_FAILED;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
    data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (data == MAP_FAILED)
    return NULL;
  *size = (uint64_t)st.st_size;
  return data;
}

bool ds_elf_file_build_id(const char *path, char *hex, size_t hex_len) {
  uint64_t size;
  const uint8_t *data = map_file(path, &size);
  if (!data)
    return false;
  uint8_t id[DS_MAX_BUILD_ID_BYTES];
  size_t len = ds_elf_image_build_id(data, size, id);
  bool ok = len > 0 && hex_len >= 2 * len + 1;
  if (ok)
    ds_build_id_hex(id, len, hex);
  munmap((void *)data, size);
  return ok;
}

void ds_dac_symbol_key(const char *build_id_hex, char *out, size_t out_len) {
  snprintf(out, out_len, "libmscordaccore.so/elf-buildid-coreclr-%s/libmscordaccore.so", build_id_hex);
}

void ds_dac_search_from_env(ds_dac_search *search, char *storage, size_t storage_len,
                            const char **dirs, size_t max_dirs, const char **servers,
                            size_t max_servers) {
  const char *v;
  size_t used = 0;
  if (!search->explicit_path && (v = getenv("DUMPSCOPE_DAC")) && *v)
    search->explicit_path = v;
  if (!search->cache_dir && (v = getenv("DUMPSCOPE_CACHE")) && *v)
    search->cache_dir = v;
  /* split a list into storage; returns the count */
  struct { const char *env; char sep; const char **items; size_t max; size_t *count;
           const char *const **target; } lists[2] = {
      {"DUMPSCOPE_RUNTIME_DIRS", ':', dirs, max_dirs, &search->runtime_dir_count,
       &search->runtime_dirs},
      {"DUMPSCOPE_SYMBOL_SERVERS", ';', servers, max_servers, &search->symbol_server_count,
       &search->symbol_servers},
  };
  for (int l = 0; l < 2; l++) {
    if (*lists[l].target || !(v = getenv(lists[l].env)))
      continue;
    size_t count = 0, len = strlen(v);
    if (used + len + 1 > storage_len)
      continue;
    char *copy = storage + used;
    memcpy(copy, v, len + 1);
    used += len + 1;
    char *p = copy;
    while (p && *p && count < lists[l].max) {
      char *sep = strchr(p, lists[l].sep);
      if (sep)
        *sep = 0;
      if (*p)
        lists[l].items[count++] = p;
      p = sep ? sep + 1 : NULL;
    }
    *lists[l].count = count;
    *lists[l].target = lists[l].items; /* an empty list means: none */
  }
}

void ds_dac_search_init_env(ds_dac_search *search, ds_dac_search_env *env, const char *explicit_path,
                            bool offline) {
  memset(search, 0, sizeof *search);
  memset(env, 0, sizeof *env);
  search->explicit_path = explicit_path;
  search->offline = offline;
  ds_dac_search_from_env(search, env->text, sizeof env->text, env->runtime_dirs,
                         sizeof env->runtime_dirs / sizeof *env->runtime_dirs, env->symbol_servers,
                         sizeof env->symbol_servers / sizeof *env->symbol_servers);
}

/* Appends "text" to the trail of places tried (for the error message). */
static void trail_add(char *trail, size_t trail_len, const char *text) {
  size_t used = strlen(trail);
  if (used + 3 < trail_len)
    snprintf(trail + used, trail_len - used, "%s%s", used ? "; " : "", text);
}

/* Looks for <dir>/libcoreclr.so with the wanted build id and a DAC beside it. */
static bool try_runtime_folder(const char *dir, const ds_runtime_info *rt, char *out, size_t out_len) {
  char path[4096], hex[2 * DS_MAX_BUILD_ID_BYTES + 1];
  snprintf(path, sizeof path, "%s/libcoreclr.so", dir);
  if (!ds_elf_file_build_id(path, hex, sizeof hex) || strcmp(hex, rt->build_id_hex) != 0)
    return false;
  snprintf(path, sizeof path, "%s/libmscordaccore.so", dir);
  if (access(path, R_OK) != 0)
    return false;
  snprintf(out, out_len, "%s", path);
  return true;
}

/* Searches a root: itself, root/<version>, and root/shared/Microsoft.NETCore.App/<version>. */
static bool try_runtime_root(const char *root, const ds_runtime_info *rt, char *out, size_t out_len) {
  if (try_runtime_folder(root, rt, out, out_len))
    return true;
  const char *subs[] = {"", "/shared/Microsoft.NETCore.App"};
  for (size_t s = 0; s < 2; s++) {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s%s", root, subs[s]);
    DIR *d = opendir(parent);
    if (!d)
      continue;
    struct dirent *e;
    bool found = false;
    while (!found && (e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.')
        continue;
      char dir[4096];
      snprintf(dir, sizeof dir, "%s/%s", parent, e->d_name);
      found = try_runtime_folder(dir, rt, out, out_len);
    }
    closedir(d);
    if (found)
      return true;
  }
  return false;
}

/* Checks a candidate DAC file: x86-64 ELF shared object with the runtime's version string. */
static bool dac_file_matches(const char *path, const ds_runtime_info *rt, char *why, size_t why_len) {
  uint64_t size;
  const uint8_t *data = map_file(path, &size);
  if (!data) {
    snprintf(why, why_len, "cannot read %s", path);
    return false;
  }
  bool ok = false;
  Elf64_Ehdr eh;
  if (size < sizeof eh || memcmp(data, ELFMAG, SELFMAG) != 0 || data[EI_CLASS] != ELFCLASS64) {
    snprintf(why, why_len, "%s is not a 64-bit ELF file", path);
    goto out;
  }
  memcpy(&eh, data, sizeof eh);
  if (eh.e_type != ET_DYN || eh.e_machine != EM_X86_64) {
    snprintf(why, why_len, "%s is not an x86-64 shared object", path);
    goto out;
  }
  const uint8_t *hit = memmem(data, size, VERSION_TAG, strlen(VERSION_TAG));
  char version[64] = "";
  if (hit) {
    size_t off = (size_t)(hit - data) + strlen(VERSION_TAG);
    parse_version_text((const char *)data + off, size - off < 200 ? size - off : 200, version,
                       sizeof version, NULL, 0);
  }
  if (strcmp(version, rt->version) != 0) {
    snprintf(why, why_len, "%s has version \"%s\", the runtime is \"%s\"", path, version, rt->version);
    goto out;
  }
  ok = true;
out:
  munmap((void *)data, size);
  return ok;
}

typedef struct download {
  FILE *file;
  uint64_t bytes;
} download;

static size_t write_download(char *data, size_t size, size_t nmemb, void *user) {
  download *d = user;
  size_t n = size * nmemb;
  if (d->bytes + n > DS_MAX_DAC_BYTES)
    return 0; /* aborts the transfer */
  d->bytes += n;
  return fwrite(data, 1, n, d->file);
}

/* mkdir -p for the cache folder. */
static bool make_dirs(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return false;
      *p = '/';
    }
  }
  return mkdir(tmp, 0755) == 0 || errno == EEXIST;
}

static void default_cache_dir(char *out, size_t out_len) {
  const char *v;
  if ((v = getenv("XDG_CACHE_HOME")) && *v)
    snprintf(out, out_len, "%s/dumpscope", v);
  else if ((v = getenv("HOME")) && *v)
    snprintf(out, out_len, "%s/.cache/dumpscope", v);
  else
    snprintf(out, out_len, "/tmp/dumpscope-cache");
}

/* Removes "libmscordaccore.so.<pid>.tmp" files of downloads whose process is gone (killed mid-way). */
static void remove_stale_downloads(const char *dir) {
  DIR *dh = opendir(dir);
  if (!dh)
    return;
  struct dirent *e;
  while ((e = readdir(dh))) {
    const char *prefix = "libmscordaccore.so.";
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
      continue;
    char *end = NULL;
    long pid = strtol(e->d_name + strlen(prefix), &end, 10);
    if (pid <= 0 || !end || strcmp(end, ".tmp") != 0 || pid == (long)getpid())
      continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(dh);
}

/* Seconds a whole DAC download may take (DUMPSCOPE_SYMBOL_TIMEOUT, default 300): a server that
 * trickles just above the low-speed limit must not keep an analysis waiting forever. */
static long download_timeout(void) {
  const char *v = getenv("DUMPSCOPE_SYMBOL_TIMEOUT");
  char *end = NULL;
  long seconds = v && *v ? strtol(v, &end, 10) : 300;
  return seconds > 0 && (!end || !*end) ? seconds : 300;
}

/* Downloads the DAC from one server into the cache; true with out set when it checks out. */
static bool try_symbol_server(const char *server, const char *cache, const ds_runtime_info *rt,
                              char *out, size_t out_len, char *why, size_t why_len) {
  char key[256], url[4096], dir[4096], final_path[4096], tmp_path[4200];
  ds_dac_symbol_key(rt->build_id_hex, key, sizeof key);
  size_t slen = strlen(server);
  snprintf(url, sizeof url, "%s%s%s", server, slen && server[slen - 1] == '/' ? "" : "/", key);
  snprintf(dir, sizeof dir, "%s/dac/%s", cache, rt->build_id_hex);
  snprintf(final_path, sizeof final_path, "%s/libmscordaccore.so", dir);
  if (!make_dirs(dir)) {
    snprintf(why, why_len, "cannot create cache folder %s: %s", dir, strerror(errno));
    return false;
  }
  remove_stale_downloads(dir);
  snprintf(tmp_path, sizeof tmp_path, "%s.%d.tmp", final_path, (int)getpid());
  download d = {fopen(tmp_path, "wb"), 0};
  if (!d.file) {
    snprintf(why, why_len, "cannot write %s: %s", tmp_path, strerror(errno));
    return false;
  }
  bool ok = false;
  CURL *curl = curl_easy_init();
  if (!curl) {
    snprintf(why, why_len, "cannot initialise libcurl");
    fclose(d.file);
    unlink(tmp_path);
    return false;
  }
  char curl_err[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 15L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, download_timeout());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_download);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &d);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "dumpscope/0.1");
  CURLcode cc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (fclose(d.file) != 0 && cc == CURLE_OK)
    cc = CURLE_WRITE_ERROR;
  if (cc != CURLE_OK) {
    snprintf(why, why_len, "%s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(cc));
    goto out;
  }
  if (!dac_file_matches(tmp_path, rt, why, why_len))
    goto out;
  if (rename(tmp_path, final_path) != 0) {
    snprintf(why, why_len, "cannot rename into %s: %s", final_path, strerror(errno));
    goto out;
  }
  snprintf(out, out_len, "%s", final_path);
  ok = true;
out:
  if (!ok)
    unlink(tmp_path);
  return ok;
}

static const char *const default_roots[] = {
    "/usr/share/dotnet", "/usr/lib/dotnet", "/usr/local/share/dotnet", "/opt/dotnet",
    "/usr/lib64/dotnet",
};

ds_status ds_dac_locate(const ds_runtime_info *rt, const ds_dac_search *search, char *out_path,
                        size_t out_len, ds_error *err) {
  char trail[DS_ERROR_MESSAGE_MAX] = "", why[1024];
  /* 1. explicit path: trusted as given, but still checked for the right version */
  if (search && search->explicit_path) {
    if (!dac_file_matches(search->explicit_path, rt, why, sizeof why))
      return ds_error_set(err, DS_E_NO_DAC, "the DAC given explicitly does not match runtime %s "
                          "(build id %s): %s", rt->version, rt->build_id_hex, why);
    snprintf(out_path, out_len, "%s", search->explicit_path);
    return DS_OK;
  }
  /* 2. local runtime folders: the configured list, or the folder the dump's runtime was loaded
   *    from (if this machine has that very build) and the usual install locations */
  if (search && search->runtime_dirs) {
    for (size_t i = 0; i < search->runtime_dir_count; i++)
      if (try_runtime_root(search->runtime_dirs[i], rt, out_path, out_len))
        return DS_OK;
    trail_add(trail, sizeof trail, "the configured runtime folders");
  } else {
    char dir[4096], home_root[4096];
    snprintf(dir, sizeof dir, "%s", rt->coreclr->path);
    char *slash = strrchr(dir, '/');
    if (slash) {
      *slash = 0;
      if (try_runtime_folder(dir, rt, out_path, out_len))
        return DS_OK;
    }
    const char *v;
    if ((v = getenv("DOTNET_ROOT")) && *v && try_runtime_root(v, rt, out_path, out_len))
      return DS_OK;
    if ((v = getenv("HOME")) && *v) {
      snprintf(home_root, sizeof home_root, "%s/.dotnet", v);
      if (try_runtime_root(home_root, rt, out_path, out_len))
        return DS_OK;
    }
    for (size_t i = 0; i < sizeof default_roots / sizeof *default_roots; i++)
      if (try_runtime_root(default_roots[i], rt, out_path, out_len))
        return DS_OK;
    trail_add(trail, sizeof trail, "local runtimes under $DOTNET_ROOT, ~/.dotnet, /usr/share/dotnet, "
                                   "/usr/lib/dotnet, /usr/local/share/dotnet, /opt/dotnet");
  }
  /* 3. the download cache and symbol servers */
  char cache[4096];
  if (search && search->cache_dir)
    snprintf(cache, sizeof cache, "%s", search->cache_dir);
  else
    default_cache_dir(cache, sizeof cache);
  char cached[4200];
  snprintf(cached, sizeof cached, "%s/dac/%s/libmscordaccore.so", cache, rt->build_id_hex);
  if (access(cached, R_OK) == 0 && dac_file_matches(cached, rt, why, sizeof why)) {
    snprintf(out_path, out_len, "%s", cached);
    return DS_OK;
  }
  if (!search || !search->offline) {
    static const char *const default_servers[] = {DEFAULT_SYMBOL_SERVER};
    const char *const *servers = search && search->symbol_servers ? search->symbol_servers : default_servers;
    size_t count = search && search->symbol_servers ? search->symbol_server_count : 1;
    for (size_t i = 0; i < count; i++) {
      if (try_symbol_server(servers[i], cache, rt, out_path, out_len, why, sizeof why))
        return DS_OK;
      trail_add(trail, sizeof trail, why);
    }
    if (count == 0)
      trail_add(trail, sizeof trail, "no symbol servers configured");
  } else {
    trail_add(trail, sizeof trail, "symbol servers not asked (offline)");
  }
  return ds_error_set(err, DS_E_NO_DAC,
                      "no DAC found for .NET runtime %s (libcoreclr.so build id %s); looked in: %s. "
                      "Pass --dac PATH or set DUMPSCOPE_DAC to the matching libmscordaccore.so",
                      rt->version, rt->build_id_hex, trail);
}
