/* SPDX-License-Identifier: MIT */
/* curl_api.h — libcurl, loaded when the first API client is made (cdns_k8s__curl_load).
 *
 * Include this instead of <curl/curl.h>: the curl_* calls of the including file then go
 * through a table of function pointers filled by cdns_dynlib_load, so a server that never
 * talks to an API server (objects files) does not map libcurl and its dependencies. Nothing
 * here may be called before cdns_k8s__curl_load succeeded. Main thread only, like the client.
 */
#ifndef CDNS_K8S_CURL_API_H
#define CDNS_K8S_CURL_API_H

#include <stddef.h>

/* Plain prototypes: curl's type-checking wrappers are macros named like the functions. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#define CDNS_K8S_CURL_FUNCS(X)                                                                                         \
    X(curl_global_init)                                                                                                \
    X(curl_easy_init)                                                                                                  \
    X(curl_easy_setopt)                                                                                                \
    X(curl_easy_getinfo)                                                                                               \
    X(curl_easy_cleanup)                                                                                               \
    X(curl_easy_strerror)                                                                                              \
    X(curl_slist_append)                                                                                               \
    X(curl_slist_free_all)                                                                                             \
    X(curl_multi_init)                                                                                                 \
    X(curl_multi_setopt)                                                                                               \
    X(curl_multi_add_handle)                                                                                           \
    X(curl_multi_remove_handle)                                                                                        \
    X(curl_multi_socket_action)                                                                                        \
    X(curl_multi_assign)                                                                                               \
    X(curl_multi_info_read)                                                                                            \
    X(curl_multi_cleanup)

typedef struct cdns_k8s__curl_api {
#define CDNS_K8S_CURL_MEMBER(f) __typeof__(&f) f;
    CDNS_K8S_CURL_FUNCS(CDNS_K8S_CURL_MEMBER)
#undef CDNS_K8S_CURL_MEMBER
} cdns_k8s__curl_api_t;

extern cdns_k8s__curl_api_t cdns_k8s__curl;

/* Loads libcurl.so.4 once; CDNS_EIO with err set ("cannot load libcurl.so.4: ...") if it
 * cannot. */
int cdns_k8s__curl_load(char *err, size_t errlen);

#ifndef CDNS_K8S_CURL_API_IMPL /* curl_api.c names the functions themselves */
/* Without the type checks curl.h still wraps these three in argument-count macros. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init (cdns_k8s__curl.curl_global_init)
#define curl_easy_init (cdns_k8s__curl.curl_easy_init)
#define curl_easy_setopt (cdns_k8s__curl.curl_easy_setopt)
#define curl_easy_getinfo (cdns_k8s__curl.curl_easy_getinfo)
#define curl_easy_cleanup (cdns_k8s__curl.curl_easy_cleanup)
#define curl_easy_strerror (cdns_k8s__curl.curl_easy_strerror)
#define curl_slist_append (cdns_k8s__curl.curl_slist_append)
#define curl_slist_free_all (cdns_k8s__curl.curl_slist_free_all)
#define curl_multi_init (cdns_k8s__curl.curl_multi_init)
#define curl_multi_setopt (cdns_k8s__curl.curl_multi_setopt)
#define curl_multi_add_handle (cdns_k8s__curl.curl_multi_add_handle)
#define curl_multi_remove_handle (cdns_k8s__curl.curl_multi_remove_handle)
#define curl_multi_socket_action (cdns_k8s__curl.curl_multi_socket_action)
#define curl_multi_assign (cdns_k8s__curl.curl_multi_assign)
#define curl_multi_info_read (cdns_k8s__curl.curl_multi_info_read)
#define curl_multi_cleanup (cdns_k8s__curl.curl_multi_cleanup)
#endif

#endif
