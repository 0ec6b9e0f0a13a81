/* SPDX-License-Identifier: MIT */
/* ldns_api.h — ldns, loaded when the first zone file is read (cdns_file__ldns_load).
 *
 * Include this instead of <ldns/ldns.h>: the ldns_* calls of the including file then go
 * through a table of function pointers filled by cdns_dynlib_load, so a server without a file
 * plugin does not map ldns and libcrypto. Nothing here may be called before
 * cdns_file__ldns_load succeeded. Main thread only, like zone loading.
 */
#ifndef CDNS_FILE_LDNS_API_H
#define CDNS_FILE_LDNS_API_H

#include <ldns/ldns.h>
#include <stddef.h>

#define CDNS_FILE_LDNS_FUNCS(X)                                                                                        \
    X(ldns_dname_compare)                                                                                              \
    X(ldns_dname_new_frm_str)                                                                                          \
    X(ldns_get_errorstr_by_id)                                                                                         \
    X(ldns_rdf2native_int32)                                                                                           \
    X(ldns_rdf_clone)                                                                                                  \
    X(ldns_rdf_data)                                                                                                   \
    X(ldns_rdf_deep_free)                                                                                              \
    X(ldns_rdf_get_type)                                                                                               \
    X(ldns_rdf_size)                                                                                                   \
    X(ldns_rr_free)                                                                                                    \
    X(ldns_rr_get_class)                                                                                               \
    X(ldns_rr_get_type)                                                                                                \
    X(ldns_rr_list_deep_free)                                                                                          \
    X(ldns_rr_list_new)                                                                                                \
    X(ldns_rr_list_push_rr)                                                                                            \
    X(ldns_rr_list_rr)                                                                                                 \
    X(ldns_rr_list_rr_count)                                                                                           \
    X(ldns_rr_new_frm_fp_l)                                                                                            \
    X(ldns_rr_owner)                                                                                                   \
    X(ldns_rr_rd_count)                                                                                                \
    X(ldns_rr_rdf)                                                                                                     \
    X(ldns_rr_ttl)

typedef struct cdns_file__ldns_api {
#define CDNS_FILE_LDNS_MEMBER(f) __typeof__(&f) f;
    CDNS_FILE_LDNS_FUNCS(CDNS_FILE_LDNS_MEMBER)
#undef CDNS_FILE_LDNS_MEMBER
} cdns_file__ldns_api_t;

extern cdns_file__ldns_api_t cdns_file__ldns;

/* Loads libldns.so.3 once; CDNS_EIO with err set ("cannot load libldns.so.3: ...") if it
 * cannot. */
int cdns_file__ldns_load(char *err, size_t errlen);

#ifndef CDNS_FILE_LDNS_API_IMPL /* ldns_api.c names the functions themselves */
#define ldns_dname_compare (cdns_file__ldns.ldns_dname_compare)
#define ldns_dname_new_frm_str (cdns_file__ldns.ldns_dname_new_frm_str)
#define ldns_get_errorstr_by_id (cdns_file__ldns.ldns_get_errorstr_by_id)
#define ldns_rdf2native_int32 (cdns_file__ldns.ldns_rdf2native_int32)
#define ldns_rdf_clone (cdns_file__ldns.ldns_rdf_clone)
#define ldns_rdf_data (cdns_file__ldns.ldns_rdf_data)
#define ldns_rdf_deep_free (cdns_file__ldns.ldns_rdf_deep_free)
#define ldns_rdf_get_type (cdns_file__ldns.ldns_rdf_get_type)
#define ldns_rdf_size (cdns_file__ldns.ldns_rdf_size)
#define ldns_rr_free (cdns_file__ldns.ldns_rr_free)
#define ldns_rr_get_class (cdns_file__ldns.ldns_rr_get_class)
#define ldns_rr_get_type (cdns_file__ldns.ldns_rr_get_type)
#define ldns_rr_list_deep_free (cdns_file__ldns.ldns_rr_list_deep_free)
#define ldns_rr_list_new (cdns_file__ldns.ldns_rr_list_new)
#define ldns_rr_list_push_rr (cdns_file__ldns.ldns_rr_list_push_rr)
#define ldns_rr_list_rr (cdns_file__ldns.ldns_rr_list_rr)
#define ldns_rr_list_rr_count (cdns_file__ldns.ldns_rr_list_rr_count)
#define ldns_rr_new_frm_fp_l (cdns_file__ldns.ldns_rr_new_frm_fp_l)
#define ldns_rr_owner (cdns_file__ldns.ldns_rr_owner)
#define ldns_rr_rd_count (cdns_file__ldns.ldns_rr_rd_count)
#define ldns_rr_rdf (cdns_file__ldns.ldns_rr_rdf)
#define ldns_rr_ttl (cdns_file__ldns.ldns_rr_ttl)
#endif

#endif
