/* SPDX-License-Identifier: MIT */
/* test_decode.c — one object at a time: JSON → slim structs, bad input, label selectors. */
#include <cjson/cJSON.h>

#include "check_main.h"
#include "k8s_helpers.h"

static cdns_k8s_object_t decode(const char *json, int want_rc)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    cdns_k8s_object_t o;
    ck_assert_int_eq(cdns_k8s_decode(j, CDNS_K8S_NONE, &o), want_rc);
    cJSON_Delete(j);
    return o;
}

START_TEST(test_service)
{
    cdns_k8s_object_t o = decode("{\"kind\":\"Service\",\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\","
                                 "\"labels\":{\"app\":\"web\",\"tier\":\"fe\"},\"uid\":\"x\"},"
                                 "\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.0.0.3\","
                                 "\"clusterIPs\":[\"10.0.0.3\",\"fd00::3\"],\"publishNotReadyAddresses\":true,"
                                 "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80},"
                                 "{\"protocol\":\"UDP\",\"port\":53}]},\"status\":{}}",
                                 CDNS_OK);
    ck_assert_int_eq(o.kind, CDNS_K8S_SERVICE);
    const cdns_k8s_service_t *s = o.u.svc;
    ck_assert_str_eq(s->ns, "prod");
    ck_assert_str_eq(s->name, "web");
    ck_assert_int_eq(s->type, CDNS_K8S_SVC_CLUSTERIP);
    ck_assert_uint_eq(s->ncluster_ips, 2);
    ck_assert_str_eq(s->cluster_ips[1], "fd00::3");
    ck_assert(s->publish_not_ready);
    ck_assert_uint_eq(s->nports, 2);
    ck_assert_str_eq(s->ports[0].name, "http");
    ck_assert_str_eq(s->ports[1].name, "");
    ck_assert_str_eq(s->ports[1].protocol, "UDP");
    ck_assert_int_eq(s->ports[1].port, 53);
    ck_assert_str_eq(cdns_k8s_label(&s->labels, "tier"), "fe");
    ck_assert_ptr_null(cdns_k8s_label(&s->labels, "nope"));
    cdns_k8s_object_free(&o);
    ck_assert_int_eq(o.kind, CDNS_K8S_NONE);
}
END_TEST

START_TEST(test_service_variants)
{
    /* clusterIP only (old objects), no ports → the -1 sentinel */
    cdns_k8s_object_t o = decode("{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},"
                                 "\"spec\":{\"clusterIP\":\"None\"}}",
                                 CDNS_OK);
    ck_assert_uint_eq(o.u.svc->ncluster_ips, 1);
    ck_assert_str_eq(o.u.svc->cluster_ips[0], "None");
    ck_assert_uint_eq(o.u.svc->nports, 1);
    ck_assert_int_eq(o.u.svc->ports[0].port, -1);
    cdns_k8s_object_free(&o);
    o = decode("{\"kind\":\"Service\",\"metadata\":{\"name\":\"e\",\"namespace\":\"n\"},"
               "\"spec\":{\"type\":\"ExternalName\",\"externalName\":\"db.example.org\"}}",
               CDNS_OK);
    ck_assert_int_eq(o.u.svc->type, CDNS_K8S_SVC_EXTERNALNAME);
    ck_assert_str_eq(o.u.svc->external_name, "db.example.org");
    ck_assert_uint_eq(o.u.svc->ncluster_ips, 0);
    cdns_k8s_object_free(&o);
}
END_TEST

START_TEST(test_endpointslice)
{
    cdns_k8s_object_t o =
        decode("{\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\",\"addressType\":\"IPv4\","
               "\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"prod\",\"labels\":{\"kubernetes.io/"
               "service-name\":\"web\"}},"
               "\"endpoints\":[{\"addresses\":[\"10.1.0.1\"],\"conditions\":{\"ready\":true},\"hostname\":\"h0\","
               "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-0\"}},"
               "{\"addresses\":[\"10.1.0.2\"],\"conditions\":{\"ready\":false}},"
               "{\"addresses\":[\"10.1.0.3\"],\"conditions\":{},\"targetRef\":{\"kind\":\"Node\",\"name\":\"n1\"}}],"
               "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080},{\"name\":\"x\"}]}",
               CDNS_OK);
    ck_assert_int_eq(o.kind, CDNS_K8S_ENDPOINTSLICE);
    const cdns_k8s_endpoints_t *e = o.u.eps;
    ck_assert(e->is_slice);
    ck_assert_str_eq(e->service, "web");
    ck_assert_uint_eq(e->ngroups, 1);
    const cdns_k8s_epgroup_t *g = &e->groups[0];
    ck_assert_uint_eq(g->nendpoints, 3);
    ck_assert(g->endpoints[0].ready);
    ck_assert_str_eq(g->endpoints[0].hostname, "h0");
    ck_assert_str_eq(g->endpoints[0].pod, "web-0");
    ck_assert(!g->endpoints[1].ready);
    ck_assert(g->endpoints[2].ready); /* conditions.ready absent = ready */
    ck_assert_ptr_null(g->endpoints[2].pod);
    ck_assert_uint_eq(g->nports, 2);
    ck_assert_int_eq(g->ports[0].port, 8080);
    ck_assert_int_eq(g->ports[1].port, -1);
    cdns_k8s_object_free(&o);
}
END_TEST

START_TEST(test_v1_endpoints)
{
    cdns_k8s_object_t o = decode(
        "{\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\"},\"subsets\":["
        "{\"addresses\":[{\"ip\":\"10.1.0.1\",\"hostname\":\"a\",\"targetRef\":{\"kind\":\"Pod\",\"name\":\"p\"}}],"
        "\"notReadyAddresses\":[{\"ip\":\"10.1.0.2\"}],\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}]},"
        "{\"addresses\":[{\"ip\":\"10.1.0.3\"}]}]}",
        CDNS_OK);
    ck_assert_int_eq(o.kind, CDNS_K8S_ENDPOINTS);
    const cdns_k8s_endpoints_t *e = o.u.eps;
    ck_assert(!e->is_slice);
    ck_assert_str_eq(e->service, "web");
    ck_assert_uint_eq(e->ngroups, 2);
    ck_assert_uint_eq(e->groups[0].nendpoints, 2);
    ck_assert(e->groups[0].endpoints[0].ready);
    ck_assert(!e->groups[0].endpoints[1].ready);
    ck_assert_str_eq(e->groups[0].endpoints[0].pod, "p");
    ck_assert_int_eq(e->groups[1].ports[0].port, -1);
    cdns_k8s_object_free(&o);
}
END_TEST

START_TEST(test_pod_and_namespace)
{
    cdns_k8s_object_t o =
        decode("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\","
               "\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},"
               "\"status\":{\"podIP\":\"10.0.0.9\",\"podIPs\":[{\"ip\":\"10.0.0.9\"},{\"ip\":\"fd00::9\"}]}}",
               CDNS_OK);
    ck_assert_int_eq(o.kind, CDNS_K8S_POD);
    ck_assert_uint_eq(o.u.pod->nips, 2);
    ck_assert_str_eq(o.u.pod->ips[1], "fd00::9");
    ck_assert(o.u.pod->terminating);
    cdns_k8s_object_free(&o);
    o = decode(
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},\"status\":{\"podIP\":\"10.0.0.8\"}}",
        CDNS_OK);
    ck_assert_uint_eq(o.u.pod->nips, 1);
    ck_assert(!o.u.pod->terminating);
    cdns_k8s_object_free(&o);
    o = decode("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"pending\",\"namespace\":\"n\"},\"status\":{}}", CDNS_OK);
    ck_assert_uint_eq(o.u.pod->nips, 0);
    cdns_k8s_object_free(&o);
    o = decode("{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"n\",\"labels\":{\"env\":\"prod\"}}}", CDNS_OK);
    ck_assert_int_eq(o.kind, CDNS_K8S_NAMESPACE);
    ck_assert_str_eq(o.u.ns->name, "n");
    ck_assert_str_eq(cdns_k8s_label(&o.u.ns->labels, "env"), "prod");
    cdns_k8s_object_free(&o);
}
END_TEST

START_TEST(test_bad_input)
{
    /* Unknown kinds are not errors; known kinds without what DNS needs are. */
    cdns_k8s_object_t o = decode("{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"n\"}}", CDNS_OK);
    ck_assert_int_eq(o.kind, CDNS_K8S_NONE);
    o = decode("{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"n\"}}", CDNS_EMALFORMED);
    ck_assert_int_eq(o.kind, CDNS_K8S_NONE);
    o = decode("{\"kind\":\"Service\",\"metadata\":{\"name\":\"x\"}}", CDNS_EMALFORMED);
    o = decode("{\"kind\":\"Pod\",\"metadata\":{\"name\":7,\"namespace\":\"n\"}}", CDNS_EMALFORMED);
    o = decode("{\"kind\":\"Namespace\",\"metadata\":[]}", CDNS_EMALFORMED);
    /* Odd field types are treated as absent. */
    o = decode("{\"kind\":\"Service\",\"metadata\":{\"name\":\"x\",\"namespace\":\"n\",\"labels\":[1]},"
               "\"spec\":{\"clusterIPs\":\"nope\",\"ports\":[{\"port\":\"80\"},7,{\"port\":70000}]}}",
               CDNS_OK);
    ck_assert_uint_eq(o.u.svc->ncluster_ips, 0);
    ck_assert_uint_eq(o.u.svc->nports, 2);
    ck_assert_int_eq(o.u.svc->ports[0].port, -1);
    ck_assert_int_eq(o.u.svc->ports[1].port, -1);
    cdns_k8s_object_free(&o);
    cJSON *arr = cJSON_Parse("[1,2]");
    ck_assert_int_eq(cdns_k8s_decode(arr, CDNS_K8S_SERVICE, &o), CDNS_EMALFORMED);
    cJSON_Delete(arr);
    /* A kind hint covers items of typed lists, which carry no kind. */
    cJSON *j = cJSON_Parse("{\"metadata\":{\"name\":\"n1\"}}");
    ck_assert_int_eq(cdns_k8s_decode(j, CDNS_K8S_NAMESPACE, &o), CDNS_OK);
    ck_assert_int_eq(o.kind, CDNS_K8S_NAMESPACE);
    cdns_k8s_object_free(&o);
    cJSON_Delete(j);
}
END_TEST

static bool sel_match(const char *sel_text, const char *const *kv)
{
    cdns_k8s_selector_t sel;
    char err[128];
    ck_assert_msg(cdns_k8s_selector_parse(sel_text, &sel, err, sizeof(err)) == CDNS_OK, "%s: %s", sel_text, err);
    cdns_k8s_label_t l[8];
    cdns_k8s_labels_t labels = {l, 0};
    for (size_t i = 0; kv[i]; i += 2) {
        l[labels.n].key = (char *)kv[i];
        l[labels.n].value = (char *)kv[i + 1];
        labels.n++;
    }
    bool r = cdns_k8s_selector_match(&sel, &labels);
    cdns_k8s_selector_deinit(&sel);
    return r;
}

START_TEST(test_selector)
{
    const char *const web[] = {"app", "web", "environment", "qa", NULL};
    const char *const none[] = {NULL};
    ck_assert(sel_match("app=web", web));
    ck_assert(sel_match("app==web", web));
    ck_assert(!sel_match("app=db", web));
    ck_assert(sel_match("app!=db", web));
    ck_assert(sel_match("app!=db", none));
    ck_assert(sel_match("environment in (staging, qa),app=web", web));
    ck_assert(!sel_match("environment in (staging, qa),app=web", none));
    ck_assert(sel_match("environment notin (prod)", web));
    ck_assert(!sel_match("environment notin (prod, qa)", web));
    ck_assert(sel_match("app", web));
    ck_assert(!sel_match("!app", web));
    ck_assert(sel_match("!tier", web));
    ck_assert(sel_match(" app = web , ! tier ", web));
    ck_assert(sel_match("app.kubernetes.io/name notin (x)", web));
    cdns_k8s_selector_t sel;
    char err[128];
    const char *bad[] = {"",        "=x",       "app=web,", "app in staging", "app in (a b)",
                         "app > 3", "app=w eb", "app=(x)",  "a notin ()"};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(bad); i++) {
        ck_assert_msg(cdns_k8s_selector_parse(bad[i], &sel, err, sizeof(err)) == CDNS_EINVAL, "accepted '%s'", bad[i]);
        ck_assert(err[0] != '\0');
        ck_assert_ptr_null(sel.reqs);
    }
    ck_assert(cdns_k8s_selector_match(NULL, NULL));
}
END_TEST

START_TEST(test_endpoint_name)
{
    char buf[64];
    cdns_k8s_epaddr_t a = {.ip = "10.0.0.1"};
    ck_assert_str_eq(cdns_k8s_endpoint_name(&a, false, buf), "10-0-0-1");
    a.ip = "fd00::";
    ck_assert_str_eq(cdns_k8s_endpoint_name(&a, false, buf), "fd00--0");
    a.ip = "5678:abcd::1";
    ck_assert_str_eq(cdns_k8s_endpoint_name(&a, false, buf), "5678-abcd--1");
    a.pod = "web-0";
    ck_assert_str_eq(cdns_k8s_endpoint_name(&a, false, buf), "5678-abcd--1");
    ck_assert_str_eq(cdns_k8s_endpoint_name(&a, true, buf), "web-0");
    a.hostname = "h";
    ck_assert_str_eq(cdns_k8s_endpoint_name(&a, true, buf), "h");
    a.hostname = NULL;
    a.pod = "a-very-long-pod-name-that-cannot-be-a-label-because-it-is-64-chars";
    ck_assert_str_eq(cdns_k8s_endpoint_name(&a, true, buf), "5678-abcd--1");
}
END_TEST

static Suite *decode_suite(void)
{
    Suite *s = suite_create("k8s_decode");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, test_service);
    tcase_add_test(tc, test_service_variants);
    tcase_add_test(tc, test_endpointslice);
    tcase_add_test(tc, test_v1_endpoints);
    tcase_add_test(tc, test_pod_and_namespace);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_selector);
    tcase_add_test(tc, test_endpoint_name);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(decode_suite)
