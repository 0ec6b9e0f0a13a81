/* SPDX-License-Identifier: MIT */
/* alloc_count.h — counts malloc/calloc/realloc/free and pthread_mutex_lock calls made by the
 * calling thread while `counting` is set: the evidence that a hot path allocates nothing and takes
 * no lock. Include it in exactly one test file of a runner (it defines the allocator).
 *
 * glibc 2.36 (Debian 12) has no malloc hooks, so the allocator entry points are defined here and
 * forwarded to glibc's __libc_*; symbols in the executable take precedence for every caller,
 * libraries included. Under AddressSanitizer, which owns malloc, the sanitizer's hook interface
 * counts instead. The flag is per thread (background threads — log writer, RCU, HTTP — may
 * allocate at the same moment) and volatile (GCC knows malloc reads no globals and would drop the
 * store that sets it). */
#ifndef CDNS_ALLOC_COUNT_H
#define CDNS_ALLOC_COUNT_H

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

static _Thread_local volatile int counting;
static volatile unsigned long allocs, frees, locks;

#if defined(__SANITIZE_ADDRESS__)
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    if (counting)
        allocs++;
}

static void on_free(const volatile void *p)
{
    if (counting && p)
        frees++;
}

static void install_hooks(void)
{
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t nmemb, size_t n);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

void *malloc(size_t n)
{
    if (counting)
        allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t nmemb, size_t n)
{
    if (counting)
        allocs++;
    return __libc_calloc(nmemb, n);
}

void *realloc(void *p, size_t n)
{
    if (counting)
        allocs++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (counting && p)
        frees++;
    __libc_free(p);
}

static void install_hooks(void)
{
}
#endif

int pthread_mutex_lock(pthread_mutex_t *m)
{
    static int (*real)(pthread_mutex_t *);
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "pthread_mutex_lock");
    if (counting)
        locks++;
    return real(m);
}

#endif
