/* SPDX-License-Identifier: MIT */
/* k8s — Kubernetes objects as DNS sees them: decoding, the mutable index, and the records.
 *
 * decode: one API object (or a whole List) in JSON → slim structs holding only what DNS needs
 * (Service, EndpointSlice, core/v1 Endpoints, Pod, Namespace), plus label selectors.
 * index: per-kind maps keyed by namespace/name with upsert/delete, so a watch can feed single
 * events. records: index + options → a store snapshot (the only code that knows the Kubernetes
 * DNS specification), and the query-time answer routine that reproduces CoreDNS's answers.
 *
 * Decoding, the index and building run on the main thread only; an index is not shared. The
 * snapshot a build returns is owned by the caller (publish it, free it after a grace period).
 * cdns_k8s_answer() is reentrant, allocates nothing and may run on any worker thread.
 */
#ifndef CDNS_K8S_H
#define CDNS_K8S_H

#include "cdns/base.h"
#include "cdns/dns.h"
#include "cdns/store.h"

struct cJSON;

/* ------------------------------------------------------------------ objects */
/* Every string below is malloc'd and owned by the object that holds it. */
typedef struct cdns_k8s_label {
    char *key;
    char *value;
} cdns_k8s_label_t;

typedef struct cdns_k8s_labels {
    cdns_k8s_label_t *v;
    size_t n;
} cdns_k8s_labels_t;

typedef struct cdns_k8s_port {
    char *name;     /* "" when unnamed */
    char *protocol; /* "TCP", "UDP", "SCTP" as given; "" when absent */
    int32_t port;   /* -1 when absent (CoreDNS's sentinel: no SRV record) */
} cdns_k8s_port_t;

typedef enum {
    CDNS_K8S_SVC_CLUSTERIP = 0, /* also NodePort and LoadBalancer: they have cluster IPs */
    CDNS_K8S_SVC_EXTERNALNAME,
} cdns_k8s_svc_type_t;

typedef struct cdns_k8s_service {
    char *ns;
    char *name;
    cdns_k8s_svc_type_t type;
    char **cluster_ips; /* spec.clusterIPs, else [spec.clusterIP]; "None" = headless */
    size_t ncluster_ips;
    char *external_name;    /* ExternalName services only, else NULL */
    cdns_k8s_port_t *ports; /* never empty: a service without ports gets one port -1 */
    size_t nports;
    bool publish_not_ready; /* spec.publishNotReadyAddresses */
    cdns_k8s_labels_t labels;
} cdns_k8s_service_t;

/* One address set: an EndpointSlice endpoint, or one address of a core/v1 Endpoints subset. */
typedef struct cdns_k8s_endpoint {
    char **addresses;
    size_t naddresses;
    bool ready;     /* conditions.ready (absent = ready); false for notReadyAddresses */
    char *hostname; /* NULL when unset */
    char *pod;      /* targetRef name when targetRef.kind is Pod (or unset), else NULL */
} cdns_k8s_endpoint_t;

/* Endpoints that share one port list (a slice, or one subset of a core/v1 Endpoints). */
typedef struct cdns_k8s_epgroup {
    cdns_k8s_endpoint_t *endpoints;
    size_t nendpoints;
    cdns_k8s_port_t *ports; /* never empty: no ports gives one port -1 */
    size_t nports;
} cdns_k8s_epgroup_t;

/* An EndpointSlice (one group) or a core/v1 Endpoints (one group per subset). */
typedef struct cdns_k8s_endpoints {
    char *ns;
    char *name;
    char *service; /* owning service: label kubernetes.io/service-name, or the Endpoints name */
    bool is_slice;
    cdns_k8s_epgroup_t *groups;
    size_t ngroups;
    cdns_k8s_labels_t labels;
} cdns_k8s_endpoints_t;

typedef struct cdns_k8s_pod {
    char *ns;
    char *name;
    char **ips; /* status.podIPs, else [status.podIP]; may be empty */
    size_t nips;
    bool terminating; /* metadata.deletionTimestamp set: CoreDNS ignores such pods */
    cdns_k8s_labels_t labels;
} cdns_k8s_pod_t;

typedef struct cdns_k8s_namespace {
    char *name;
    cdns_k8s_labels_t labels;
} cdns_k8s_namespace_t;

typedef enum {
    CDNS_K8S_NONE = 0,
    CDNS_K8S_SERVICE,
    CDNS_K8S_ENDPOINTSLICE,
    CDNS_K8S_ENDPOINTS,
    CDNS_K8S_POD,
    CDNS_K8S_NAMESPACE,
} cdns_k8s_kind_t;

/* A decoded object of any kind; exactly the member matching kind is set. */
typedef struct cdns_k8s_object {
    cdns_k8s_kind_t kind;
    union {
        cdns_k8s_service_t *svc;
        cdns_k8s_endpoints_t *eps; /* ENDPOINTSLICE and ENDPOINTS */
        cdns_k8s_pod_t *pod;
        cdns_k8s_namespace_t *ns;
        void *ptr;
    } u;
} cdns_k8s_object_t;

/* ------------------------------------------------------------------- decode */
/* The kind named by an API "kind" string ("Service", "EndpointSlice", ...), or NONE. */
cdns_k8s_kind_t cdns_k8s_kind_from_name(const char *kind);
/* Decodes one object. kind_hint is used when the object carries no "kind" (items of a typed
 * list such as ServiceList); pass NONE otherwise. Returns CDNS_OK with out->kind NONE for kinds
 * DNS does not use, CDNS_EMALFORMED for a known kind missing what DNS needs (no name, ...).
 * The caller owns *out (cdns_k8s_object_free). Never keeps pointers into json. */
int cdns_k8s_decode(const struct cJSON *json, cdns_k8s_kind_t kind_hint, cdns_k8s_object_t *out);
/* Frees the object's struct (the union member) and sets kind to NONE. */
void cdns_k8s_object_free(cdns_k8s_object_t *o);
void cdns_k8s_service_free(cdns_k8s_service_t *s);
void cdns_k8s_endpoints_free(cdns_k8s_endpoints_t *e);
void cdns_k8s_pod_free(cdns_k8s_pod_t *p);
void cdns_k8s_namespace_free(cdns_k8s_namespace_t *n);
/* The value of a label, or NULL. */
const char *cdns_k8s_label(const cdns_k8s_labels_t *l, const char *key);

/* ----------------------------------------------------------------- selector */
/* A label selector in Kubernetes' string syntax: requirements joined by commas (AND):
 * "k=v", "k==v", "k!=v", "k in (a,b)", "k notin (a,b)", "k" (exists), "!k" (does not exist). */
typedef enum {
    CDNS_K8S_SEL_EQ = 0,
    CDNS_K8S_SEL_NE,
    CDNS_K8S_SEL_IN,
    CDNS_K8S_SEL_NOTIN,
    CDNS_K8S_SEL_EXISTS,
    CDNS_K8S_SEL_NOTEXISTS,
} cdns_k8s_sel_op_t;

typedef struct cdns_k8s_sel_req {
    char *key;
    cdns_k8s_sel_op_t op;
    char **values; /* one for EQ/NE, the set for IN/NOTIN, none otherwise */
    size_t nvalues;
} cdns_k8s_sel_req_t;

typedef struct cdns_k8s_selector {
    cdns_k8s_sel_req_t *reqs; /* none: matches everything */
    size_t n;
} cdns_k8s_selector_t;

/* Parses text into sel (zeroed first). On CDNS_EINVAL, err holds a one-line reason. */
int cdns_k8s_selector_parse(const char *text, cdns_k8s_selector_t *sel, char *err, size_t errlen);
void cdns_k8s_selector_deinit(cdns_k8s_selector_t *sel);
bool cdns_k8s_selector_match(const cdns_k8s_selector_t *sel, const cdns_k8s_labels_t *labels);

/* -------------------------------------------------------------------- index */
typedef struct cdns_k8s_index cdns_k8s_index_t;

cdns_k8s_index_t *cdns_k8s_index_new(void);
void cdns_k8s_index_free(cdns_k8s_index_t *idx);
/* Inserts or replaces (by kind, namespace, name). Takes ownership of the object's struct
 * whatever the result and leaves o->kind NONE. A NONE object is a no-op. */
int cdns_k8s_index_upsert(cdns_k8s_index_t *idx, cdns_k8s_object_t *o);
/* Removes an object; CDNS_ENOENT when it is not there. ns is ignored for namespaces. */
int cdns_k8s_index_delete(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *ns, const char *name);
/* Removes everything (a relist). */
void cdns_k8s_index_clear(cdns_k8s_index_t *idx);
size_t cdns_k8s_index_count(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind);

/* What a List load did. */
typedef struct cdns_k8s_load_stats {
    size_t objects;   /* items stored */
    size_t ignored;   /* items of kinds DNS does not use */
    size_t malformed; /* items skipped because they lack what DNS needs */
} cdns_k8s_load_stats_t;

/* Decodes a JSON document — a List ({"kind":"List","items":[...]}, as `kubectl get -o json`
 * prints it), a typed list (ServiceList, ...) or a single object — and upserts every item into
 * idx. The cJSON tree is freed before returning. CDNS_EMALFORMED when the text is not JSON or
 * not an object; then idx is unchanged. */
int cdns_k8s_index_load_json(cdns_k8s_index_t *idx, const char *text, size_t len, cdns_k8s_load_stats_t *stats);

/* Iteration in a stable order (namespace, then name): calls fn for every object of a kind
 * until fn returns false. The objects stay owned by the index. */
typedef bool (*cdns_k8s_visit_fn)(const cdns_k8s_object_t *o, void *arg);
void cdns_k8s_index_each(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, cdns_k8s_visit_fn fn, void *arg);
/* Lookups; NULL when absent. */
const cdns_k8s_service_t *cdns_k8s_index_service(const cdns_k8s_index_t *idx, const char *ns, const char *name);
const cdns_k8s_namespace_t *cdns_k8s_index_namespace(const cdns_k8s_index_t *idx, const char *name);

/* One address of a service's endpoints after merging its EndpointSlices (or, when the index
 * holds no EndpointSlice at all, its core/v1 Endpoints) with duplicates removed. */
typedef struct cdns_k8s_epaddr {
    const char *ip;
    const char *hostname; /* NULL when unset */
    const char *pod;      /* NULL when unknown */
    bool ready;
    const cdns_k8s_port_t *ports;
    size_t nports;
    const cdns_k8s_endpoints_t *from; /* the object it came from (labels, namespace) */
} cdns_k8s_epaddr_t;

/* The merged addresses of service ns/name into a malloc'd array (caller frees *out; NULL and 0
 * when there are none). Endpoint objects failing sel (NULL: all) are left out. Pointers stay
 * valid until the index next changes. */
int cdns_k8s_index_service_endpoints(const cdns_k8s_index_t *idx, const char *ns, const char *name,
                                     const cdns_k8s_selector_t *sel, cdns_k8s_epaddr_t **out, size_t *n);
/* True when the index holds at least one EndpointSlice (then core/v1 Endpoints are ignored,
 * as CoreDNS >= 1.11 does). */
bool cdns_k8s_index_uses_slices(const cdns_k8s_index_t *idx);

/* ------------------------------------------------------------------ records */
typedef enum { CDNS_K8S_PODS_DISABLED = 0, CDNS_K8S_PODS_INSECURE, CDNS_K8S_PODS_VERIFIED } cdns_k8s_pods_t;

#define CDNS_K8S_DEFAULT_TTL 5
#define CDNS_K8S_DNS_VERSION "1.1.0"

/* Everything from the Corefile stanza that shapes the records. Strings are borrowed. */
typedef struct cdns_k8s_opts {
    const char *const *zones; /* normalized ("cluster.local.", "10.in-addr.arpa."); the first
                                 non-reverse one is the primary zone PTR targets live in */
    size_t nzones;
    uint32_t ttl_s; /* records; SOA TTL is min(ttl, 300) and its MINIMUM is ttl */
    cdns_k8s_pods_t pods;
    bool endpoint_pod_names;
    bool noendpoints;
    bool ignore_empty_service;
    const char *const *namespaces; /* only these are exposed when nnamespaces > 0 */
    size_t nnamespaces;
    const cdns_k8s_selector_t *labels;           /* services, endpoints, pods; NULL: all */
    const cdns_k8s_selector_t *namespace_labels; /* namespaces; NULL: all */
    /* Addresses this server answers on (non-loopback), to find its own Service for the NS
     * records as CoreDNS does; none found → ns.dns.<zone> with these addresses. */
    const char *const *local_ips;
    size_t nlocal_ips;
    uint32_t serial; /* SOA serial; 0 = the wall clock at build time */
} cdns_k8s_opts_t;

/* Builds the snapshot of every zone in opts from idx. The caller owns *out. */
int cdns_k8s_build(const cdns_k8s_index_t *idx, const cdns_k8s_opts_t *opts, cdns_snapshot_t **out);

typedef enum {
    CDNS_K8S_NOTAUTH = 0, /* not under one of the snapshot's zones: nothing written */
    CDNS_K8S_ANSWERED,    /* NOERROR (data or NODATA) written, AA set */
    CDNS_K8S_NXDOMAIN,    /* NXDOMAIN with SOA written, AA set (fallthrough may roll it back) */
    CDNS_K8S_REFUSED,     /* zone transfer: REFUSED set, nothing else */
} cdns_k8s_result_t;

/* Answers q from a snapshot cdns_k8s_build made, as CoreDNS's kubernetes plugin answers:
 * the names CoreDNS parses (svc/pod schema, underscore-less SRV labels, pod sub-labels),
 * NXDOMAIN for names CoreDNS rejects, pods insecure synthesized without allocation. opts must
 * be the ones the snapshot was built with (only pods and ttl_s are read). */
cdns_k8s_result_t cdns_k8s_answer(const cdns_snapshot_t *s, const cdns_k8s_opts_t *opts, const cdns_query_t *q,
                                  cdns_msg_t *m);

/* The endpoint name CoreDNS uses: hostname, else (endpoint_pod_names) the pod name when it is
 * a valid label length, else the dashed address ("10-0-0-1", "fd00--1", "fd00--0" for "fd00::"). */
const char *cdns_k8s_endpoint_name(const cdns_k8s_epaddr_t *a, bool endpoint_pod_names, char buf[64]);

#endif
