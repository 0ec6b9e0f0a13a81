/* SPDX-License-Identifier: MIT */
/* test_index.c — upsert/delete/replace per kind, slice merging and dedup, the slices-over-
 * Endpoints rule, List loading (kubectl List, typed lists, single objects, garbage). */
#include <cjson/cJSON.h>

#include "check_main.h"
#include "k8s_helpers.h"

static void upsert_json(cdns_k8s_index_t *idx, const char *json)
{
    cdns_k8s_load_stats_t st;
    ck_assert_int_eq(cdns_k8s_index_load_json(idx, json, strlen(json), &st), CDNS_OK);
    ck_assert_int_eq(st.objects, 1);
}

static const char *slice(char *buf, size_t len, const char *name, const char *svc, const char *ip, bool ready)
{
    snprintf(buf, len,
             "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"n\","
             "\"labels\":{\"kubernetes.io/service-name\":\"%s\"}},"
             "\"endpoints\":[{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":%s}}],"
             "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80}]}",
             name, svc, ip, ready ? "true" : "false");
    return buf;
}

START_TEST(test_upsert_delete)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    upsert_json(idx, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},"
                     "\"spec\":{\"clusterIP\":\"10.0.0.1\"}}");
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 1);
    ck_assert_str_eq(cdns_k8s_index_service(idx, "n", "a")->cluster_ips[0], "10.0.0.1");
    /* Same key: replaced, not added. */
    upsert_json(idx, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},"
                     "\"spec\":{\"clusterIP\":\"10.0.0.2\"}}");
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 1);
    ck_assert_str_eq(cdns_k8s_index_service(idx, "n", "a")->cluster_ips[0], "10.0.0.2");
    /* Same name, other namespace: a different object. */
    upsert_json(idx, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"namespace\":\"m\"},\"spec\":{}}");
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 2);
    upsert_json(idx, "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"n\"}}");
    ck_assert_ptr_nonnull(cdns_k8s_index_namespace(idx, "n"));
    ck_assert_int_eq(cdns_k8s_index_delete(idx, CDNS_K8S_SERVICE, "n", "a"), CDNS_OK);
    ck_assert_int_eq(cdns_k8s_index_delete(idx, CDNS_K8S_SERVICE, "n", "a"), CDNS_ENOENT);
    ck_assert_ptr_null(cdns_k8s_index_service(idx, "n", "a"));
    ck_assert_ptr_nonnull(cdns_k8s_index_service(idx, "m", "a"));
    ck_assert_int_eq(cdns_k8s_index_delete(idx, CDNS_K8S_NAMESPACE, "ignored", "n"), CDNS_OK);
    ck_assert_ptr_null(cdns_k8s_index_namespace(idx, "n"));
    ck_assert_int_eq(cdns_k8s_index_delete(idx, CDNS_K8S_NONE, "n", "a"), CDNS_EINVAL);
    /* A NONE object is a no-op. */
    cdns_k8s_object_t none = {0};
    ck_assert_int_eq(cdns_k8s_index_upsert(idx, &none), CDNS_OK);
    cdns_k8s_index_clear(idx);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 0);
    cdns_k8s_index_free(idx);
    cdns_k8s_index_free(NULL);
}
END_TEST

START_TEST(test_slices_merge)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    char buf[1024];
    upsert_json(idx, slice(buf, sizeof(buf), "s1", "web", "10.0.0.1", true));
    upsert_json(idx, slice(buf, sizeof(buf), "s2", "web", "10.0.0.2", false));
    /* s3 repeats s1's endpoint (a rollout moving it between slices): merged away. */
    upsert_json(idx, slice(buf, sizeof(buf), "s3", "web", "10.0.0.1", true));
    upsert_json(idx, slice(buf, sizeof(buf), "o1", "other", "10.0.0.9", true));
    cdns_k8s_epaddr_t *v;
    size_t n;
    ck_assert_int_eq(cdns_k8s_index_service_endpoints(idx, "n", "web", NULL, &v, &n), CDNS_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(v[0].ip, "10.0.0.1");
    ck_assert(v[0].ready);
    ck_assert_str_eq(v[1].ip, "10.0.0.2");
    ck_assert(!v[1].ready);
    ck_assert_int_eq(v[0].ports[0].port, 80);
    free(v);
    /* A slice moving to another service (label change) leaves the old one. */
    upsert_json(idx, slice(buf, sizeof(buf), "s2", "other", "10.0.0.2", true));
    ck_assert_int_eq(cdns_k8s_index_service_endpoints(idx, "n", "web", NULL, &v, &n), CDNS_OK);
    ck_assert_uint_eq(n, 1);
    free(v);
    ck_assert_int_eq(cdns_k8s_index_service_endpoints(idx, "n", "other", NULL, &v, &n), CDNS_OK);
    ck_assert_uint_eq(n, 2);
    free(v);
    ck_assert_int_eq(cdns_k8s_index_delete(idx, CDNS_K8S_ENDPOINTSLICE, "n", "s1"), CDNS_OK);
    ck_assert_int_eq(cdns_k8s_index_delete(idx, CDNS_K8S_ENDPOINTSLICE, "n", "s3"), CDNS_OK);
    ck_assert_int_eq(cdns_k8s_index_service_endpoints(idx, "n", "web", NULL, &v, &n), CDNS_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(v);
    /* The selector filters slices by their labels. */
    cdns_k8s_selector_t sel;
    ck_assert_int_eq(cdns_k8s_selector_parse("kubernetes.io/service-name!=other", &sel, NULL, 0), CDNS_OK);
    ck_assert_int_eq(cdns_k8s_index_service_endpoints(idx, "n", "other", &sel, &v, &n), CDNS_OK);
    ck_assert_uint_eq(n, 0);
    cdns_k8s_selector_deinit(&sel);
    cdns_k8s_index_free(idx);
}
END_TEST

START_TEST(test_slices_win_over_endpoints)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    upsert_json(idx, "{\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"web\",\"namespace\":\"n\"},"
                     "\"subsets\":[{\"addresses\":[{\"ip\":\"10.9.0.1\"}],\"ports\":[{\"port\":80}]}]}");
    cdns_k8s_epaddr_t *v;
    size_t n;
    ck_assert(!cdns_k8s_index_uses_slices(idx));
    ck_assert_int_eq(cdns_k8s_index_service_endpoints(idx, "n", "web", NULL, &v, &n), CDNS_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].ip, "10.9.0.1");
    free(v);
    char buf[1024];
    /* Any slice anywhere switches every service to slices. */
    upsert_json(idx, slice(buf, sizeof(buf), "x", "unrelated", "10.0.0.5", true));
    ck_assert(cdns_k8s_index_uses_slices(idx));
    ck_assert_int_eq(cdns_k8s_index_service_endpoints(idx, "n", "web", NULL, &v, &n), CDNS_OK);
    ck_assert_uint_eq(n, 0);
    cdns_k8s_index_free(idx);
}
END_TEST

static bool count_visit(const cdns_k8s_object_t *o, void *arg)
{
    char *names = arg;
    strcat(names, o->u.svc->ns);
    strcat(names, "/");
    strcat(names, o->u.svc->name);
    strcat(names, " ");
    return true;
}

START_TEST(test_load_list)
{
    cdns_k8s_index_t *idx = k8s_load("handler.json");
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 10);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_ENDPOINTSLICE), 6);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_NAMESPACE), 5);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_POD), 1);
    char names[1024] = "";
    cdns_k8s_index_each(idx, CDNS_K8S_SERVICE, count_visit, names);
    ck_assert_str_eq(names, "kube-system/kubedns testns/external testns/external-to-service testns/hdls1 "
                            "testns/hdlsprtls testns/svc-dual-stack testns/svc1 testns/svc6 testns/svcempty "
                            "unexposedns/svc1 ");
    cdns_k8s_index_free(idx);

    /* A typed list names the kind only once; a malformed item is skipped and counted. */
    idx = cdns_k8s_index_new();
    const char *typed = "{\"kind\":\"ServiceList\",\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}},"
                        "{\"metadata\":{\"namespace\":\"n\"}},{\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"}}]}";
    cdns_k8s_load_stats_t st;
    ck_assert_int_eq(cdns_k8s_index_load_json(idx, typed, strlen(typed), &st), CDNS_OK);
    ck_assert_uint_eq(st.objects, 1);
    ck_assert_uint_eq(st.malformed, 1);
    ck_assert_uint_eq(st.ignored, 1);
    ck_assert_ptr_nonnull(cdns_k8s_index_service(idx, "n", "a"));
    /* Not JSON, or not an object: an error and the index unchanged. */
    const char *bad[] = {"", "{", "[1,2]", "\"x\"", "{\"kind\":\"List\",\"items\":[}"};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(bad); i++)
        ck_assert_int_eq(cdns_k8s_index_load_json(idx, bad[i], strlen(bad[i]), &st), CDNS_EMALFORMED);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 1);
    cdns_k8s_index_free(idx);
}
END_TEST

/* Many objects: the maps grow and every object stays reachable. */
START_TEST(test_many)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    for (int i = 0; i < 5000; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"kind\":\"Service\",\"metadata\":{\"name\":\"s%d\",\"namespace\":\"ns%d\"},"
                 "\"spec\":{\"clusterIP\":\"10.%d.%d.1\"}}",
                 i, i % 7, i / 256, i % 256);
        upsert_json(idx, json);
    }
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 5000);
    ck_assert_ptr_nonnull(cdns_k8s_index_service(idx, "ns1", "s4999"));
    for (int i = 0; i < 5000; i += 2) {
        char name[16], ns[16];
        snprintf(name, sizeof(name), "s%d", i);
        snprintf(ns, sizeof(ns), "ns%d", i % 7);
        ck_assert_int_eq(cdns_k8s_index_delete(idx, CDNS_K8S_SERVICE, ns, name), CDNS_OK);
    }
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 2500);
    cdns_k8s_index_free(idx);
}
END_TEST

typedef struct release_walk {
    cdns_k8s_index_t *idx;
    char order[256];
} release_walk_t;

static bool release_visit(const cdns_k8s_object_t *o, void *arg)
{
    release_walk_t *w = arg;
    strcat(w->order, o->u.svc->name);
    strcat(w->order, " ");
    cdns_k8s_index_release_service(w->idx, o->u.svc->ns, o->u.svc->name);
    return true;
}

/* A consuming build's way through the index: services in the order they were first stored
 * (replacing one keeps its place), each released with its slices while the walk goes on, and
 * the choice of slices over Endpoints outlives the last slice. */
START_TEST(test_release_in_insertion_order)
{
    release_walk_t w = {.idx = cdns_k8s_index_new()};
    static const char *const names[] = {"zeta", "alpha", "mid", "beta"};
    char json[512];
    for (size_t i = 0; i < CDNS_ARRAY_LEN(names); i++) {
        snprintf(json, sizeof(json),
                 "{\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"n\"},"
                 "\"spec\":{\"clusterIP\":\"10.1.0.%zu\"}}",
                 names[i], i + 1);
        upsert_json(w.idx, json);
    }
    upsert_json(w.idx, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"alpha\",\"namespace\":\"n\"},"
                       "\"spec\":{\"clusterIP\":\"10.1.0.9\"}}");
    char buf[1024];
    upsert_json(w.idx, slice(buf, sizeof(buf), "zeta-1", "zeta", "10.2.0.1", true));
    upsert_json(w.idx, slice(buf, sizeof(buf), "zeta-2", "zeta", "10.2.0.2", true));
    upsert_json(w.idx, slice(buf, sizeof(buf), "beta-1", "beta", "10.2.0.3", true));
    upsert_json(w.idx, "{\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"mid\",\"namespace\":\"n\"},"
                       "\"subsets\":[{\"addresses\":[{\"ip\":\"10.9.0.1\"}],\"ports\":[{\"port\":80}]}]}");
    cdns_k8s_index_each_inserted(w.idx, CDNS_K8S_SERVICE, release_visit, &w);
    ck_assert_str_eq(w.order, "zeta alpha mid beta ");
    ck_assert_uint_eq(cdns_k8s_index_count(w.idx, CDNS_K8S_SERVICE), 0);
    ck_assert_uint_eq(cdns_k8s_index_count(w.idx, CDNS_K8S_ENDPOINTSLICE), 0);
    ck_assert_uint_eq(cdns_k8s_index_count(w.idx, CDNS_K8S_ENDPOINTS), 0);
    /* Later lookups still read slices, not the Endpoints a file may also hold. */
    ck_assert(cdns_k8s_index_uses_slices(w.idx));
    cdns_k8s_index_free(w.idx);
}
END_TEST

static Suite *index_suite(void)
{
    Suite *s = suite_create("k8s_index");
    TCase *tc = tcase_create("index");
    tcase_add_test(tc, test_upsert_delete);
    tcase_add_test(tc, test_slices_merge);
    tcase_add_test(tc, test_slices_win_over_endpoints);
    tcase_add_test(tc, test_load_list);
    tcase_add_test(tc, test_many);
    tcase_add_test(tc, test_release_in_insertion_order);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(index_suite)
