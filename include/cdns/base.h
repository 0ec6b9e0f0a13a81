/* SPDX-License-Identifier: MIT */
/* base — error codes, logging, the injectable clock and the bump arena.
 *
 * Everything here is usable from any thread. Logging writes one line to stderr with a single
 * write(2) so lines from different threads never interleave. The arena is owned by whoever
 * calls cdns_arena_init() and is never shared between threads.
 */
#ifndef CDNS_BASE_H
#define CDNS_BASE_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fallible functions return CDNS_OK or one of these (negative errno values). */
#define CDNS_OK 0
#define CDNS_ENOMEM (-ENOMEM)
#define CDNS_EINVAL (-EINVAL)
#define CDNS_ENOENT (-ENOENT)
#define CDNS_EEXIST (-EEXIST)
#define CDNS_ERANGE (-ERANGE)
#define CDNS_ENOSPC (-ENOSPC)      /* output buffer too small */
#define CDNS_EMALFORMED (-EBADMSG) /* input that does not parse */
#define CDNS_EIO (-EIO)

/* Human text for a CDNS_E* (or any negative errno). */
const char *cdns_strerror(int err);

#define CDNS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CDNS_UNUSED(x) ((void)(x))

/* ------------------------------------------------------------------ logging */
typedef enum { CDNS_LOG_DEBUG = 0, CDNS_LOG_INFO, CDNS_LOG_WARN, CDNS_LOG_ERROR } cdns_log_level_t;

/* Lines below this level are dropped (default INFO; CDNS_LOG_LEVEL=debug in the environment lowers it). */
void cdns_log_set_level(cdns_log_level_t level);
bool cdns_log_enabled(cdns_log_level_t level);
/* Writes "[LEVEL] " + message + "\n" to stderr, as CoreDNS does ("[INFO] plugin/reload: ..."). */
void cdns_log(cdns_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cdns_logv(cdns_log_level_t level, const char *fmt, va_list ap);
#define cdns_debug(...) cdns_log(CDNS_LOG_DEBUG, __VA_ARGS__)
#define cdns_info(...) cdns_log(CDNS_LOG_INFO, __VA_ARGS__)
#define cdns_warn(...) cdns_log(CDNS_LOG_WARN, __VA_ARGS__)
#define cdns_error(...) cdns_log(CDNS_LOG_ERROR, __VA_ARGS__)

/* -------------------------------------------------------------- diagnostics */
/* A configuration error: "FILE:LINE: message". Setup code fills one and returns CDNS_EINVAL. */
typedef struct cdns_diag {
    char msg[512];
} cdns_diag_t;

/* Formats "file:line: message" into d (file may be NULL: then just the message). Returns CDNS_EINVAL. */
int cdns_diag_set(cdns_diag_t *d, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* -------------------------------------------------------------------- clock */
/* Monotonic and wall clocks. Tests replace them with cdns_clock_set(). */
typedef uint64_t (*cdns_clock_fn)(void);
uint64_t cdns_clock_mono_ms(void);
uint64_t cdns_clock_mono_ns(void);
uint64_t cdns_clock_real_s(void);
/* Replace the clocks (NULL restores the system clock). Not thread-safe: call before starting workers. */
void cdns_clock_set(cdns_clock_fn mono_ns, cdns_clock_fn real_s);

/* -------------------------------------------------------------------- arena */
/* A bump allocator over malloc'd blocks. Memory lives until cdns_arena_reset()/_deinit(). */
typedef struct cdns_arena_block cdns_arena_block_t;
typedef struct cdns_arena {
    cdns_arena_block_t *head; /* current block, blocks chained to older ones */
    size_t block_size;        /* default size of new blocks */
} cdns_arena_t;

void cdns_arena_init(cdns_arena_t *a, size_t block_size);
void cdns_arena_deinit(cdns_arena_t *a);
/* Frees every block but the first, so a steady-state request reuses memory without malloc. */
void cdns_arena_reset(cdns_arena_t *a);
/* 8-byte aligned memory or NULL when out of memory. */
void *cdns_arena_alloc(cdns_arena_t *a, size_t size);
void *cdns_arena_memdup(cdns_arena_t *a, const void *p, size_t size);
char *cdns_arena_strdup(cdns_arena_t *a, const char *s);

/* --------------------------------------------------------------- strbuf */
/* A growable NUL-terminated string (rendering metrics, fingerprints). After an allocation failure
 * oom is set and further appends do nothing; the caller checks once at the end. Off the hot path. */
typedef struct cdns_strbuf {
    char *p;
    size_t len, cap;
    bool oom;
} cdns_strbuf_t;

void cdns_strbuf_put(cdns_strbuf_t *b, const char *s, size_t n);
void cdns_strbuf_puts(cdns_strbuf_t *b, const char *s);

/* ------------------------------------------------------------------ helpers */
/* Reads a whole file into a malloc'd NUL-terminated buffer (caller frees). */
int cdns_file_read(const char *path, char **out, size_t *len);
/* The same for what is left to read of an open descriptor (which stays open). */
int cdns_fd_read(int fd, char **out, size_t *len);

/* ---------------------------------------------------------- loaded libraries */
/* A function of a library loaded at first use: its name, and the address of the function
 * pointer (of the function's own type) that receives it. */
typedef struct cdns_dynsym {
    const char *name;
    void *fnp;
} cdns_dynsym_t;
/* A library loaded at first use and the functions taken from it. */
typedef struct cdns_dynlib {
    const char *soname;
    const cdns_dynsym_t *syms;
    size_t nsyms;
    bool loaded; /* set by cdns_dynlib_load */
} cdns_dynlib_t;
/* Loads lib->soname (dlopen; never unloaded) and resolves each of its syms into its pointer,
 * once: later calls return CDNS_OK at once. On failure `err` names the library or the symbol
 * and says why, CDNS_EIO, and no pointer is written. Main thread: for the libraries a
 * configuration may not need (libcurl for an API server, ldns for zone files), so that a
 * server without them maps neither they nor what they pull in. */
int cdns_dynlib_load(cdns_dynlib_t *lib, char *err, size_t errlen);

/* -------------------------------------------------------------- privileges */
/* Started as root, becomes `user` (a name from the password database or a numeric uid; its
 * primary group, no supplementary groups) keeping only CAP_NET_BIND_SERVICE on the calling
 * thread, so a reload can still bind ports below 1024; every other thread loses every
 * capability. Sets no_new_privs. "root" or uid 0 keeps root; not started as root: nothing to
 * drop, CDNS_OK. Main thread, after the sockets are bound. On error `err` says why and the
 * caller must exit: the process may be half-dropped. */
int cdns_priv_drop(const char *user, char *err, size_t errlen);

#endif
