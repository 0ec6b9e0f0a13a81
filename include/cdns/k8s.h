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
/* Mark and sweep for relists: upsert_gen stamps the entry with gen; sweep removes every object
 * of kind (in namespace ns, or any when NULL) whose stamp differs, and returns how many. So a
 * relist replaces a resource's objects without ever emptying the index. A fresh gen comes from
 * cdns_k8s_index_next_gen(). */
int cdns_k8s_index_upsert_gen(cdns_k8s_index_t *idx, cdns_k8s_object_t *o, uint64_t gen);
size_t cdns_k8s_index_sweep(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *ns, uint64_t gen);
uint64_t cdns_k8s_index_next_gen(cdns_k8s_index_t *idx);
size_t cdns_k8s_index_count(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind);

/* What a List load did. */
typedef struct cdns_k8s_load_stats {
    size_t objects;   /* items stored */
    size_t ignored;   /* items of kinds DNS does not use */
    size_t malformed; /* items skipped because they lack what DNS needs */
} cdns_k8s_load_stats_t;

/* Decodes a JSON document — a List ({"kind":"List","items":[...]}, as `kubectl get -o json`
 * prints it), a typed list (ServiceList, ...) or a single object — and upserts every item into
 * idx. Items are parsed one at a time (never one tree for the whole document). CDNS_EMALFORMED when the text is not
 * JSON or not an object; then idx is unchanged. */
int cdns_k8s_index_load_json(cdns_k8s_index_t *idx, const char *text, size_t len, cdns_k8s_load_stats_t *stats);

/* The same for the document in a file, read through a window of opts->window bytes (0: the
 * default below) that grows only to hold the largest single item, so memory follows the
 * largest object, not the file. fd must be seekable: a list whose kind follows its items
 * ("kubectl get -o json" output) is read twice when an item lacks its own kind, and a lone
 * object is read whole. Kinds in opts->skip (bits 1u << kind) are counted as ignored and not
 * stored. A failed read returns its -errno, and idx is unchanged. */
#define CDNS_K8S_LOAD_WINDOW (256u * 1024u)
typedef struct cdns_k8s_load_opts {
    unsigned skip;
    size_t window;
} cdns_k8s_load_opts_t;
int cdns_k8s_index_load_fd(cdns_k8s_index_t *idx, int fd, const cdns_k8s_load_opts_t *opts,
                           cdns_k8s_load_stats_t *stats);

/* Iteration in a stable order (namespace, then name): calls fn for every object of a kind
 * until fn returns false. The objects stay owned by the index. */
typedef bool (*cdns_k8s_visit_fn)(const cdns_k8s_object_t *o, void *arg);
void cdns_k8s_index_each(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, cdns_k8s_visit_fn fn, void *arg);
/* The same in the order the objects' keys were first stored (a loaded file's order), for a
 * build that consumes the index: fn may release the object it is given
 * (cdns_k8s_index_release_service) and nothing else. */
void cdns_k8s_index_each_inserted(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, cdns_k8s_visit_fn fn, void *arg);
/* Frees a service with the EndpointSlices (or core/v1 Endpoints) that name it, for a build that
 * consumes the index as it goes: memory released in the order it was allocated comes back in
 * whole pages. Lookups after it keep the index's choice between slices and Endpoints. */
void cdns_k8s_index_release_service(cdns_k8s_index_t *idx, const char *ns, const char *name);
/* Lookups; NULL when absent. */
const cdns_k8s_service_t *cdns_k8s_index_service(const cdns_k8s_index_t *idx, const char *ns, const char *name);
const cdns_k8s_namespace_t *cdns_k8s_index_namespace(const cdns_k8s_index_t *idx, const char *name);
const cdns_k8s_pod_t *cdns_k8s_index_pod(const cdns_k8s_index_t *idx, const char *ns, const char *name);
/* An EndpointSlice or core/v1 Endpoints (kind says which). */
const cdns_k8s_endpoints_t *cdns_k8s_index_endpoints(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *ns,
                                                     const char *name);

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
/* The same for an index needed no more: it is freed (success or not) as soon as its records
 * are gathered, before the snapshot is laid out, which lowers a load's peak by the index. */
int cdns_k8s_build_consume(cdns_k8s_index_t *idx, const cdns_k8s_opts_t *opts, cdns_snapshot_t **out);

/* ------------------------------------------------------- incremental builds */
/* What one build leaves for the next: which names every service (with its endpoints), pod and
 * namespace wrote, so that after a few changes only their names are rebuilt, as an update of
 * the previous snapshot (cdns_builder_update), instead of the whole cluster. Main thread only. */
typedef struct cdns_k8s_state cdns_k8s_state_t;

cdns_k8s_state_t *cdns_k8s_state_new(void);
void cdns_k8s_state_free(cdns_k8s_state_t *st);
/* Notes a changed object: a service, endpoints (name = the owning service), a pod or a
 * namespace (which touches every service and pod in it). */
int cdns_k8s_state_touch(cdns_k8s_state_t *st, cdns_k8s_kind_t kind, const char *ns, const char *name);
/* The same from a watch event (endpoints touch their owning service; NULL: everything). The
 * event type is declared further down; this is what the kubernetes plugin calls per event. */
struct cdns_k8s_event;
int cdns_k8s_state_touch_event(cdns_k8s_state_t *st, const struct cdns_k8s_event *ev);
/* The next build rebuilds everything (a relist, or a change touch cannot describe). */
void cdns_k8s_state_touch_all(cdns_k8s_state_t *st);
/* Builds the next snapshot of idx: an update of prev that rebuilds the names of what was
 * touched, or a full build (the first one, after touch_all, when the EndpointSlice/Endpoints
 * choice flips, or when so much changed that a full build is cheaper); *full says which. prev
 * must be what the previous call returned and must stay alive until this returns. The caller
 * owns *out. On failure the next call makes a full build. */
int cdns_k8s_build_next(cdns_k8s_state_t *st, const cdns_k8s_index_t *idx, const cdns_k8s_opts_t *opts,
                        const cdns_snapshot_t *prev, cdns_snapshot_t **out, bool *full);

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

/* ---------------------------------------------------------- API connection */
/* How to reach and authenticate to the API server: from the in-cluster service account, a
 * kubeconfig, or the Corefile's endpoint/tls. Every member is malloc'd and owned by the struct
 * (cdns_k8s_conn_deinit); *_data members are PEM held in memory (kubeconfig's *-data fields). */
typedef struct cdns_k8s_conn {
    char *server; /* "https://10.96.0.1:443", optional path prefix, no trailing '/' */
    char *ca_file, *cert_file, *key_file;
    char *ca_data, *cert_data, *key_data;
    size_t ca_len, cert_len, key_len;
    char *token;      /* a fixed bearer token */
    char *token_file; /* re-read whenever it changes (bound tokens rotate) */
    bool insecure;    /* kubeconfig insecure-skip-tls-verify: no certificate check */
} cdns_k8s_conn_t;

void cdns_k8s_conn_deinit(cdns_k8s_conn_t *c);
/* In-cluster configuration: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the
 * token and ca.crt of sa_dir (NULL: /var/run/secrets/kubernetes.io/serviceaccount). */
int cdns_k8s_conn_incluster(const char *sa_dir, cdns_k8s_conn_t *out, char *err, size_t errlen);
/* Reads a kubeconfig (libyaml): the cluster and user of context (NULL: current-context).
 * Relative file paths are taken from the kubeconfig's directory. CDNS_EINVAL with err set when
 * the file is unreadable or lacks what is needed. */
int cdns_k8s_kubeconfig_load(const char *path, const char *context, cdns_k8s_conn_t *out, char *err, size_t errlen);
/* Decodes standard base64 (whitespace ignored) into a malloc'd buffer, NUL-terminated. */
int cdns_k8s_base64_decode(const char *in, char **out, size_t *outlen);

/* ------------------------------------------------------------------ client */
/* An HTTP client for the API server: libcurl multi driven by a libuv loop (curl's multi-uv
 * pattern), so every list and watch shares the caller's thread. Main thread only. */
typedef struct uv_loop_s uv_loop_t;
typedef struct cdns_k8s_client cdns_k8s_client_t;
typedef struct cdns_k8s_http cdns_k8s_http_t;

typedef struct cdns_k8s_http_cbs {
    /* Body bytes as they arrive, with the response's HTTP status. Return false to abort the
     * transfer (on_done follows with CDNS_EIO). Must not cancel or start requests. */
    bool (*on_data)(void *arg, long status, const char *data, size_t len);
    /* The transfer ended: result CDNS_OK (complete response, any status) or CDNS_EIO
     * (connection failed or broke; why says how). The request is freed after this returns. */
    void (*on_done)(void *arg, int result, long status, const char *why);
} cdns_k8s_http_cbs_t;

/* Copies conn. A conn without a server is CDNS_EINVAL. */
int cdns_k8s_client_new(uv_loop_t *loop, const cdns_k8s_conn_t *conn, cdns_k8s_client_t **out, char *err,
                        size_t errlen);
/* Cancels every request (no callbacks) and closes the loop handles; the memory goes when the
 * loop runs their close callbacks. */
void cdns_k8s_client_free(cdns_k8s_client_t *c);
/* Starts a GET of path (with its query) relative to the server. Credentials (token, client
 * certificate) are sent over https only, as client-go does. */
int cdns_k8s_client_get(cdns_k8s_client_t *c, const char *path, const cdns_k8s_http_cbs_t *cbs, void *arg,
                        cdns_k8s_http_t **out);
/* Stops a request; its callbacks are not called. Not from inside on_data. */
void cdns_k8s_http_cancel(cdns_k8s_http_t *h);
/* Retry-After of the response in seconds (0 when absent). */
unsigned cdns_k8s_http_retry_after(const cdns_k8s_http_t *h);
const char *cdns_k8s_client_server(const cdns_k8s_client_t *c);

/* ------------------------------------------------------------------- watch */
/* Splits a byte stream (chunks of any size) into lines; a line longer than max is an error. */
typedef struct cdns_k8s_lines {
    char *buf;
    size_t len, cap, max;
} cdns_k8s_lines_t;

void cdns_k8s_lines_init(cdns_k8s_lines_t *l, size_t max);
void cdns_k8s_lines_deinit(cdns_k8s_lines_t *l);
void cdns_k8s_lines_reset(cdns_k8s_lines_t *l);
/* Calls fn for every complete line (without the '\n'; empty lines skipped) until fn returns
 * false. CDNS_ENOSPC when a line exceeds max, CDNS_ECANCELED when fn stopped. */
#define CDNS_ECANCELED (-ECANCELED)
int cdns_k8s_lines_feed(cdns_k8s_lines_t *l, const char *data, size_t len, bool (*fn)(void *arg, char *line, size_t n),
                        void *arg);

typedef enum {
    CDNS_K8S_EV_ADDED = 0,
    CDNS_K8S_EV_MODIFIED,
    CDNS_K8S_EV_DELETED,
    CDNS_K8S_EV_BOOKMARK,
    CDNS_K8S_EV_ERROR,
} cdns_k8s_ev_type_t;

/* What applying one watch event did. */
typedef struct cdns_k8s_event {
    cdns_k8s_ev_type_t type;
    cdns_k8s_kind_t kind;
    char rv[64];          /* object's metadata.resourceVersion ("" when absent) */
    char ns[64];          /* the object's namespace (a label: at most 63 octets) */
    char name[256];       /* the object's name (pods' may be 253 octets); truncated past that */
    char service[64];     /* endpoints: the owning service */
    char old_service[64]; /* endpoints: the service the replaced object belonged to, when another */
    int code;             /* ERROR: the Status code (410 = relist) */
    uint64_t trigger_ns;  /* endpoints.kubernetes.io/last-change-trigger-time (Unix ns), 0 = none */
    bool changed;         /* the index changed */
} cdns_k8s_event_t;

/* Parses one watch line {"type":..., "object":...} and applies it to idx (ADDED/MODIFIED
 * upsert, DELETED delete); kind is the watched kind (objects without "kind"). Objects failing
 * to decode are CDNS_EMALFORMED and leave idx unchanged. */
int cdns_k8s_event_apply(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *line, size_t len,
                         cdns_k8s_event_t *ev);
/* Parses one LIST page and upserts its items stamped with gen (see cdns_k8s_index_sweep).
 * rv and cont receive metadata.resourceVersion and metadata.continue ("" when none). The JSON
 * tree is freed before returning. */
int cdns_k8s_list_apply(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *body, size_t len, uint64_t gen,
                        char *rv, size_t rvlen, char **cont, cdns_k8s_load_stats_t *stats);

/* One reflector: LIST (paginated) into the index, then WATCH from the list's resourceVersion,
 * resuming after closed streams, relisting after 410, backing off after errors. */
typedef struct cdns_k8s_watch cdns_k8s_watch_t;

typedef struct cdns_k8s_watch_opts {
    cdns_k8s_kind_t kind;
    const char *ns;             /* NULL: all namespaces */
    const char *label_selector; /* Kubernetes syntax, NULL: none */
    const char *field_selector;
    unsigned limit;          /* LIST page size (0: 500) */
    unsigned timeout_s;      /* WATCH timeoutSeconds (0: 300..600 at random, as client-go) */
    uint64_t stall_ms;       /* no byte for this long: reconnect (0: 90 s) */
    uint64_t backoff_min_ms; /* first retry delay (0: 250 ms); doubles up to backoff_max_ms */
    uint64_t backoff_max_ms; /* 0: 10 s */
    bool slice_fallback;     /* ENDPOINTSLICE: a 404 switches to core/v1 Endpoints */
} cdns_k8s_watch_opts_t;

typedef struct cdns_k8s_watch_cbs {
    /* The index changed: one event (ev set) or a completed (re)list (ev NULL). */
    void (*changed)(void *arg, cdns_k8s_watch_t *w, const cdns_k8s_event_t *ev);
    /* A LIST was applied completely (the first one: the resource has synced). */
    void (*listed)(void *arg, cdns_k8s_watch_t *w);
    /* The API server answered 403 (true) or the resource is readable again (false). */
    void (*forbidden)(void *arg, cdns_k8s_watch_t *w, bool forbidden);
} cdns_k8s_watch_cbs_t;

/* The watch uses (does not own) client and idx; both must outlive it. Strings are copied. */
int cdns_k8s_watch_new(cdns_k8s_client_t *client, cdns_k8s_index_t *idx, const cdns_k8s_watch_opts_t *opts,
                       const cdns_k8s_watch_cbs_t *cbs, void *arg, cdns_k8s_watch_t **out);
void cdns_k8s_watch_start(cdns_k8s_watch_t *w);
/* Cancels its request and timers; memory goes when the loop runs the close callbacks. */
void cdns_k8s_watch_free(cdns_k8s_watch_t *w);
bool cdns_k8s_watch_synced(const cdns_k8s_watch_t *w);
/* "services", "endpointslices.discovery.k8s.io", ... (what an RBAC rule names). */
const char *cdns_k8s_watch_resource(const cdns_k8s_watch_t *w);
cdns_k8s_kind_t cdns_k8s_watch_kind(const cdns_k8s_watch_t *w);
const char *cdns_k8s_watch_rv(const cdns_k8s_watch_t *w);

/* The selector in Kubernetes' string syntax ("a=b,c in (d,e)") into buf; truncation is an error. */
int cdns_k8s_selector_format(const cdns_k8s_selector_t *sel, char *buf, size_t len);

/* Defined by the kubernetes plugin (src/plugins/kubernetes), for autopath; main thread only.
 * inst is a "kubernetes" instance (cdns_chain_instance). Gives its zones (normalized, owned by
 * the instance), calls fn for every pod it holds (fn may be NULL), and sets *version to a value
 * that changes whenever the pods may have changed. CDNS_ENOENT (zones and version still set)
 * unless `pods verified`, which CoreDNS's autopath requires. */
int cdns_kube_autopath(void *inst, const char *const **zones, size_t *nzones, cdns_k8s_visit_fn fn, void *arg,
                       const void **version);

#endif
