/*
 * fetch.h: `dumpscope fetch`, the download of one import, run by the daemon's supervisor in its
 * own process (a libcurl or TLS problem kills one download, never the daemon).
 *
 *   dumpscope fetch --url-file PATH --out PATH [--state PATH] [--connections N] [--chunk-bytes N]
 *                   [--max-bytes N] [--stall-seconds N] [--retries N] [--allow-private]
 *
 * The URL is read from a file (0600, in the data folder), never taken from the command line: a
 * process's arguments are world-readable in /proc and a SAS URL is a secret. The fetch never
 * prints the URL; every message it writes goes through the redaction of url.h.
 *
 * HEAD gives the size, the ETag, the stored MD5 and whether ranges are served. With ranges and a
 * strong ETag the file is preallocated and fetched as chunks by parallel ranged GETs, each with
 * If-Match on the ETag (a changed blob answers 412: a clear failure, never a mixed file) and its
 * 206 and Content-Range checked; otherwise by one streaming GET. Retries (408, 429, 500, 502,
 * 503, 504, lost connections, stalls below 1 KiB/s) back off from 1 s doubling to 30 s, or as
 * Retry-After says. The state file records the finished chunks (after the data is synced), so a
 * fetch run again after a restart resumes from them when the blob's size and ETag still match.
 *
 * Reports: "@progress download PERCENT" lines on stdout (bytes in the state file: "size N",
 * "bytes_done N"), exit 0 when the whole file is there (and matches the stored MD5 when the
 * server gave one), else exit 1 with "@error CODE MESSAGE" on stderr; 2 for bad arguments.
 */
#ifndef DUMPSCOPE_SERVER_FETCH_H
#define DUMPSCOPE_SERVER_FETCH_H

int ds_fetch_main(int argc, char **argv);

#endif
