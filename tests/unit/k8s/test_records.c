/* SPDX-License-Identifier: MIT */
/* test_records.c — cdns_k8s_build + cdns_k8s_answer against CoreDNS's kubernetes tables.
 *
 * The fixture (data/handler.json) holds the objects of CoreDNS's handler_test.go (services svc1,
 * svcempty, svc6, hdls1, hdlsprtls, external, external-to-service, svc-dual-stack, kubedns,
 * unexposedns/svc1 and their endpoints) as a kubectl List; the cases below are the rows of
 * handler_test.go, kubernetes_apex_test.go, handler_pod_*_test.go and
 * handler_ignore_emptyservice_test.go, record for record (rcode, sections, TTLs, SOA). Rows that
 * need CoreDNS's upstream resolver (CNAME to an outside name, A query) are left out.
 */
#include "check_main.h"
#include "k8s_helpers.h"

#define SOA "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1499347823 7200 1800 86400 5"
#define T_A CDNS_T_A
#define T_AAAA CDNS_T_AAAA
#define T_SRV CDNS_T_SRV
#define T_TXT CDNS_T_TXT
#define T_NS CDNS_T_NS
#define T_SOA CDNS_T_SOA
#define T_CNAME CDNS_T_CNAME
#define T_PTR CDNS_T_PTR
#define T_HINFO CDNS_T_HINFO
#define NOERROR 0
#define NXDOMAIN 3

/* commonDnsTestCases + dnsTestCases of handler_test.go. */
static const k8s_case_t serve_cases[] = {
    {"svc1.testns.svc.cluster.local.", T_A, NOERROR, {"svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"}, {0}, {0}},
    {"svcempty.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"},
     {0},
     {0}},
    {"svc1.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local."},
     {0},
     {"svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"}},
    {"svcempty.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"svcempty.testns.svc.cluster.local. 5 IN SRV 0 100 80 svcempty.testns.svc.cluster.local."},
     {0},
     {"svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"}},
    {"svc6.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local."},
     {0},
     {"svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"}},
    {"_http._tcp.svc1.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"_http._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local."},
     {0},
     {"svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"}},
    {"_http._tcp.svcempty.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"_http._tcp.svcempty.testns.svc.cluster.local. 5 IN SRV 0 100 80 svcempty.testns.svc.cluster.local."},
     {0},
     {"svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1"}},
    {"hdls1.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2", "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
      "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4", "hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5"},
     {0},
     {0}},
    {"hdlsprtls.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20"},
     {0},
     {0}},
    {"svc1.testns.svc.cluster.local.", T_AAAA, NOERROR, {0}, {SOA}, {0}},
    {"svc0.testns.svc.cluster.local.", T_AAAA, NXDOMAIN, {0}, {SOA}, {0}},
    {"svc0.testns.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"svc0.svc-nons.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"dns-version.cluster.local.", T_TXT, NOERROR, {"dns-version.cluster.local 28800 IN TXT 1.1.0"}, {0}, {0}},
    {"svc1.testns.svc.cluster.local.", T_TXT, NOERROR, {0}, {SOA}, {0}},
    {"svc0.svc-nons.svc.cluster.local.", T_TXT, NXDOMAIN, {0}, {SOA}, {0}},
    {"bogusendpoint.hdls1.testns.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"bogusendpoint.svc0.testns.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"svc6.testns.svc.cluster.local.",
     T_AAAA,
     NOERROR,
     {"svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"},
     {0},
     {0}},
    {"_http._tcp.svc6.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"_http._tcp.svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local."},
     {0},
     {"svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1"}},
    {"hdls1.testns.svc.cluster.local.",
     T_AAAA,
     NOERROR,
     {"hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
      "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2"},
     {0},
     {0}},
    {"svc.cluster.local.", T_A, NOERROR, {0}, {SOA}, {0}},
    {"pod.cluster.local.", T_A, NOERROR, {0}, {SOA}, {0}},
    {"testns.svc.cluster.local.", T_A, NOERROR, {0}, {SOA}, {0}},
    {"svc.cluster.local.", T_NS, NOERROR, {0}, {SOA}, {0}},
    {"testns.svc.cluster.local.", T_NS, NOERROR, {0}, {SOA}, {0}},
    {"foo.cluster.local.", T_NS, NXDOMAIN, {0}, {SOA}, {0}},
    {"foo.svc.cluster.local.", T_NS, NXDOMAIN, {0}, {SOA}, {0}},
    {"svc-dual-stack.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3"},
     {0},
     {0}},
    {"svc-dual-stack.testns.svc.cluster.local.",
     T_AAAA,
     NOERROR,
     {"svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3"},
     {0},
     {0}},
    {"svc-dual-stack.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"svc-dual-stack.testns.svc.cluster.local. 5 IN SRV 0 50 80 svc-dual-stack.testns.svc.cluster.local."},
     {0},
     {"svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3",
      "svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3"}},
    {"svc1.testns.svc.cluster.local.", T_SOA, NOERROR, {0}, {SOA}, {0}},
    {"endpoint.external.testns.svc.cluster.local.", T_CNAME, NXDOMAIN, {0}, {SOA}, {0}},
    {"subdomain.subdomain.external.testns.svc.cluster.local.", T_CNAME, NXDOMAIN, {0}, {SOA}, {0}},
    /* dnsTestCases */
    {"_http._tcp.hdls1.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.",
      "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-3.hdls1.testns.svc.cluster.local.",
      "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
      "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local.",
      "_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local."},
     {0},
     {"172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",
      "172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
      "5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
      "5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
      "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
      "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5"}},
    {"5678-abcd--2.hdls1.testns.svc.cluster.local",
     T_AAAA,
     NOERROR,
     {"5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2"},
     {0},
     {0}},
    {"5678-abcd--1.hdls1.testns.svc.cluster.local.",
     T_AAAA,
     NOERROR,
     {"5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1"},
     {0},
     {0}},
    {"172-0-0-20.hdlsprtls.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"172-0-0-20.hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20"},
     {0},
     {0}},
    {"172-0-0-2.hdls1.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2"},
     {0},
     {0}},
    {"172-0-0-3.hdls1.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3"},
     {0},
     {0}},
    {"dup-name.hdls1.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
      "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5"},
     {0},
     {0}},
    {"external.testns.svc.cluster.local.",
     T_CNAME,
     NOERROR,
     {"external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."},
     {0},
     {0}},
    {"external-to-service.testns.svc.cluster.local",
     T_A,
     NOERROR,
     {"external-to-service.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.",
      "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"},
     {0},
     {0}},
};

static cdns_k8s_index_t *idx;

static void setup_idx(void)
{
    idx = k8s_load("handler.json");
}

static void teardown_idx(void)
{
    cdns_k8s_index_free(idx);
    idx = NULL;
}

static const char *const testns_only[] = {"testns"};

START_TEST(test_serve_dns)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.namespaces = testns_only;
    o.nnamespaces = 1;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    k8s_check_all(s, &o, serve_cases, CDNS_ARRAY_LEN(serve_cases));
    cdns_snapshot_free(s);
}
END_TEST

/* kubernetes_apex_test.go: localIPs = 127.0.0.1, found in no endpoints → ns.dns.cluster.local. */
static const k8s_case_t apex_cases[] = {
    {"cluster.local.", T_SOA, NOERROR, {SOA}, {0}, {0}},
    {"cluster.local.", T_HINFO, NOERROR, {0}, {SOA}, {0}},
    {"cluster.local.",
     T_NS,
     NOERROR,
     {"cluster.local. 5 IN NS ns.dns.cluster.local."},
     {0},
     {"ns.dns.cluster.local. 5 IN A 127.0.0.1"}},
    {"cluster.local.", T_A, NOERROR, {0}, {SOA}, {0}},
    {"cluster.local.", T_AAAA, NOERROR, {0}, {SOA}, {0}},
    {"cluster.local.", T_SRV, NOERROR, {0}, {SOA}, {0}},
    {"ns.dns.cluster.local.", T_A, NOERROR, {"ns.dns.cluster.local. 5 IN A 127.0.0.1"}, {0}, {0}},
    {"ns.dns.cluster.local.", T_AAAA, NOERROR, {0}, {SOA}, {0}},
    {"dns.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"dns-version.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
};

static const char *const localhost[] = {"127.0.0.1"};

START_TEST(test_apex)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.local_ips = localhost;
    o.nlocal_ips = 1;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    k8s_check_all(s, &o, apex_cases, CDNS_ARRAY_LEN(apex_cases));
    cdns_snapshot_free(s);
}
END_TEST

/* ns.go: when our address is an endpoint of a service, NS names that service. */
static const char *const kubedns_ep[] = {"172.0.0.100"};
static const k8s_case_t own_ns_cases[] = {
    {"cluster.local.",
     T_NS,
     NOERROR,
     {"cluster.local. 5 IN NS kubedns.kube-system.svc.cluster.local."},
     {0},
     {"kubedns.kube-system.svc.cluster.local. 5 IN A 10.0.0.10"}},
    {"ns.dns.cluster.local.", T_A, NOERROR, {"ns.dns.cluster.local. 5 IN A 10.0.0.10"}, {0}, {0}},
    /* kube-system is not exposed: the name itself still does not resolve, whatever the type
     * (the glue's name carries the private marker type; asking for it reveals nothing), and
     * neither do the names below it nor the namespace the glue makes an empty non-terminal. */
    {"kubedns.kube-system.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"kubedns.kube-system.svc.cluster.local.", T_AAAA, NXDOMAIN, {0}, {SOA}, {0}},
    {"kubedns.kube-system.svc.cluster.local.", 65281, NXDOMAIN, {0}, {SOA}, {0}},
    {"_dns._udp.kubedns.kube-system.svc.cluster.local.", T_SRV, NXDOMAIN, {0}, {SOA}, {0}},
    {"dns.udp.kubedns.kube-system.svc.cluster.local.", T_SRV, NXDOMAIN, {0}, {SOA}, {0}},
    {"kube-system.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
};

/* The same own service with every namespace exposed: its names answer as any service's, the NS
 * glue's name holds no marker, and neither private marker type is ever answered. The SRV names
 * with one label underscored and one not are looked up in their underscored form. */
static const k8s_case_t own_ns_exposed_cases[] = {
    {"cluster.local.",
     T_NS,
     NOERROR,
     {"cluster.local. 5 IN NS kubedns.kube-system.svc.cluster.local."},
     {0},
     {"kubedns.kube-system.svc.cluster.local. 5 IN A 10.0.0.10"}},
    {"kubedns.kube-system.svc.cluster.local.",
     T_A,
     NOERROR,
     {"kubedns.kube-system.svc.cluster.local. 5 IN A 10.0.0.10"},
     {0},
     {0}},
    {"kubedns.kube-system.svc.cluster.local.", 65281, NOERROR, {0}, {SOA}, {0}},
    {"kube-system.svc.cluster.local.", 65280, NOERROR, {0}, {SOA}, {0}},
    {"_dns.udp.kubedns.kube-system.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"_dns.udp.kubedns.kube-system.svc.cluster.local. 5 IN SRV 0 100 53 kubedns.kube-system.svc.cluster.local."},
     {0},
     {"kubedns.kube-system.svc.cluster.local. 5 IN A 10.0.0.10"}},
    {"dns._udp.kubedns.kube-system.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"dns._udp.kubedns.kube-system.svc.cluster.local. 5 IN SRV 0 100 53 kubedns.kube-system.svc.cluster.local."},
     {0},
     {"kubedns.kube-system.svc.cluster.local. 5 IN A 10.0.0.10"}},
    {"_dns._tcp.kubedns.kube-system.svc.cluster.local.", T_SRV, NXDOMAIN, {0}, {SOA}, {0}},
};

START_TEST(test_ns_own_service)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.local_ips = kubedns_ep;
    o.nlocal_ips = 1;
    o.namespaces = testns_only;
    o.nnamespaces = 1;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    k8s_check_all(s, &o, own_ns_cases, CDNS_ARRAY_LEN(own_ns_cases));
    cdns_snapshot_free(s);
}
END_TEST

START_TEST(test_ns_own_service_exposed)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.local_ips = kubedns_ep;
    o.nlocal_ips = 1;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    k8s_check_all(s, &o, own_ns_exposed_cases, CDNS_ARRAY_LEN(own_ns_exposed_cases));
    cdns_snapshot_free(s);
}
END_TEST

/* TestServeNamespaceDNS: no namespaces option → every existing namespace is exposed. */
static const k8s_case_t ns_cases[] = {
    {"svc1.testns.svc.cluster.local.", T_A, NOERROR, {"svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"}, {0}, {0}},
    {"svc1.nsnoexist.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"svc1.unexposedns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"svc1.unexposedns.svc.cluster.local. 5 IN A 10.0.0.2"},
     {0},
     {0}},
    {"kubedns.kube-system.svc.cluster.local.",
     T_A,
     NOERROR,
     {"kubedns.kube-system.svc.cluster.local. 5 IN A 10.0.0.10"},
     {0},
     {0}},
    {"_dns._udp.kubedns.kube-system.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"_dns._udp.kubedns.kube-system.svc.cluster.local. 5 IN SRV 0 100 53 kubedns.kube-system.svc.cluster.local."},
     {0},
     {"kubedns.kube-system.svc.cluster.local. 5 IN A 10.0.0.10"}},
    {"nsnoexist.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
};

START_TEST(test_namespaces_all)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    cdns_snapshot_t *s = k8s_build(idx, &o);
    k8s_check_all(s, &o, ns_cases, CDNS_ARRAY_LEN(ns_cases));
    cdns_snapshot_free(s);
}
END_TEST

/* handler_pod_disabled_test.go */
static const k8s_case_t pod_disabled_cases[] = {
    {"10-240-0-1.podns.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"172-0-0-2.podns.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"podns.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"pod.cluster.local.", T_A, NOERROR, {0}, {SOA}, {0}},
};

/* handler_pod_insecure_test.go (plus IPv6 and the ignored sub-labels of parse.go). */
static const k8s_case_t pod_insecure_cases[] = {
    {"10-240-0-1.podns.pod.cluster.local.",
     T_A,
     NOERROR,
     {"10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1"},
     {0},
     {0}},
    {"172-0-0-2.podns.pod.cluster.local.",
     T_A,
     NOERROR,
     {"172-0-0-2.podns.pod.cluster.local. 5 IN A 172.0.0.2"},
     {0},
     {0}},
    {"blah.podns.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"blah.podns.pod.cluster.local.", T_AAAA, NXDOMAIN, {0}, {SOA}, {0}},
    {"blah.podns.pod.cluster.local.", T_HINFO, NXDOMAIN, {0}, {SOA}, {0}},
    {"blah.pod-nons.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"podns.pod.cluster.local.", T_A, NOERROR, {0}, {SOA}, {0}},
    {"fd00--1.podns.pod.cluster.local.",
     T_AAAA,
     NOERROR,
     {"fd00--1.podns.pod.cluster.local. 5 IN AAAA fd00::1"},
     {0},
     {0}},
    {"fd00--1.podns.pod.cluster.local.", T_A, NOERROR, {0}, {SOA}, {0}},
    {"x.10-240-0-1.podns.pod.cluster.local.",
     T_A,
     NOERROR,
     {"x.10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1"},
     {0},
     {0}},
    {"a.b.c.10-240-0-1.podns.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"10-240-0-1.pod-nons.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
};

/* handler_pod_verified_test.go (the fixture's only pod is podns/foo at 10.240.0.1). */
static const k8s_case_t pod_verified_cases[] = {
    {"10-240-0-1.podns.pod.cluster.local.",
     T_A,
     NOERROR,
     {"10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1"},
     {0},
     {0}},
    {"podns.pod.cluster.local.", T_A, NOERROR, {0}, {SOA}, {0}},
    {"svcns.svc.cluster.local.", T_A, NOERROR, {0}, {SOA}, {0}},
    {"pod-nons.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"172-0-0-2.podns.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"10-240-0-1.testns.pod.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"10-240-0-1.podns.pod.cluster.local.", T_AAAA, NOERROR, {0}, {SOA}, {0}},
};

START_TEST(test_pods)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.pods = CDNS_K8S_PODS_DISABLED;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    k8s_check_all(s, &o, pod_disabled_cases, CDNS_ARRAY_LEN(pod_disabled_cases));
    cdns_snapshot_free(s);

    o.pods = CDNS_K8S_PODS_INSECURE;
    s = k8s_build(idx, &o);
    k8s_check_all(s, &o, pod_insecure_cases, CDNS_ARRAY_LEN(pod_insecure_cases));
    cdns_snapshot_free(s);

    o.pods = CDNS_K8S_PODS_VERIFIED;
    s = k8s_build(idx, &o);
    k8s_check_all(s, &o, pod_verified_cases, CDNS_ARRAY_LEN(pod_verified_cases));
    cdns_snapshot_free(s);
}
END_TEST

/* handler_ignore_emptyservice_test.go */
static const k8s_case_t empty_service_cases[] = {
    {"svcempty.testns.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"external.testns.svc.cluster.local.",
     T_CNAME,
     NOERROR,
     {"external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."},
     {0},
     {0}},
    {"svc1.testns.svc.cluster.local.", T_A, NOERROR, {"svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"}, {0}, {0}},
    {"hdls1.testns.svc.cluster.local.",
     T_AAAA,
     NOERROR,
     {"hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
      "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2"},
     {0},
     {0}},
};

START_TEST(test_ignore_empty_service)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.namespaces = testns_only;
    o.nnamespaces = 1;
    o.ignore_empty_service = true;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    k8s_check_all(s, &o, empty_service_cases, CDNS_ARRAY_LEN(empty_service_cases));
    cdns_snapshot_free(s);
}
END_TEST

/* Name shapes CoreDNS's parseRequest decides on, beyond the tables. */
static const k8s_case_t shape_cases[] = {
    /* An empty non-terminal the store makes is not a name for CoreDNS. */
    {"_tcp.svc1.testns.svc.cluster.local.", T_SRV, NXDOMAIN, {0}, {SOA}, {0}},
    /* Underscores are optional on the port and protocol labels. */
    {"http.tcp.svc1.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"http.tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local."},
     {0},
     {"svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"}},
    {"_http._tcp.svc1.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"_http._tcp.svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"},
     {0},
     {0}},
    {"_https._tcp.svc1.testns.svc.cluster.local.", T_SRV, NXDOMAIN, {0}, {SOA}, {0}},
    {"_http._udp.svc1.testns.svc.cluster.local.", T_SRV, NXDOMAIN, {0}, {SOA}, {0}},
    {"x._http._tcp.svc1.testns.svc.cluster.local.", T_SRV, NXDOMAIN, {0}, {SOA}, {0}},
    /* Endpoint names exist under ClusterIP services too. */
    {"ep1a.svc1.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"ep1a.svc1.testns.svc.cluster.local. 5 IN A 172.0.0.1"},
     {0},
     {0}},
    /* Case is kept in the answer owner. */
    {"SVC1.TestNS.svc.cluster.local.", T_A, NOERROR, {"svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"}, {0}, {0}},
    /* ExternalName: no SRV, and SRV-ish names below it do not exist. */
    {"external.testns.svc.cluster.local.", T_SRV, NOERROR, {0}, {SOA}, {0}},
    {"_http._tcp.external.testns.svc.cluster.local.", T_SRV, NXDOMAIN, {0}, {SOA}, {0}},
    {"external.testns.svc.cluster.local.",
     T_A,
     NOERROR,
     {"external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."},
     {0},
     {0}},
    /* Not a svc/pod schema name. */
    {"foo.bar.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    {"svc0.testns.svc.cluster.local.", T_SOA, NOERROR, {0}, {SOA}, {0}},
    /* Headless without ports: names but no SRV. */
    {"hdlsprtls.testns.svc.cluster.local.", T_SRV, NOERROR, {0}, {SOA}, {0}},
    {"hdls1.testns.svc.cluster.local.",
     T_SRV,
     NOERROR,
     {"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.",
      "hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-0-0-3.hdls1.testns.svc.cluster.local.",
      "hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
      "hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local.",
      "hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local."},
     {0},
     {"172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",
      "172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
      "5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
      "5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
      "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
      "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5"}},
};

START_TEST(test_name_shapes)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.namespaces = testns_only;
    o.nnamespaces = 1;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    k8s_check_all(s, &o, shape_cases, CDNS_ARRAY_LEN(shape_cases));
    ldns_pkt *p = NULL;
    ck_assert_int_eq(k8s_query(s, &o, "example.org.", T_A, &p), CDNS_K8S_NOTAUTH);
    ldns_pkt_free(p);
    ck_assert_int_eq(k8s_query(s, &o, "cluster.local.", CDNS_T_AXFR, &p), CDNS_K8S_REFUSED);
    ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    ldns_pkt_free(p);
    cdns_snapshot_free(s);
}
END_TEST

/* reverse_test.go: PTRs for service IPs (primary zone) and endpoint IPs, in reverse zones. */
static const char *const rev_zones[] = {"cluster.local.", "in-addr.arpa.", "ip6.arpa."};
#define SOA_REV "in-addr.arpa. 5 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. 1499347823 7200 1800 86400 5"
static const k8s_case_t reverse_cases[] = {
    {"1.0.0.10.in-addr.arpa.",
     T_PTR,
     NOERROR,
     {"1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local."},
     {0},
     {0}},
    {"3.0.0.10.in-addr.arpa.",
     T_PTR,
     NOERROR,
     {"3.0.0.10.in-addr.arpa. 5 IN PTR svc-dual-stack.testns.svc.cluster.local."},
     {0},
     {0}},
    {"2.0.0.172.in-addr.arpa.",
     T_PTR,
     NOERROR,
     {"2.0.0.172.in-addr.arpa. 5 IN PTR 172-0-0-2.hdls1.testns.svc.cluster.local."},
     {0},
     {0}},
    {"4.0.0.172.in-addr.arpa.",
     T_PTR,
     NOERROR,
     {"4.0.0.172.in-addr.arpa. 5 IN PTR dup-name.hdls1.testns.svc.cluster.local."},
     {0},
     {0}},
    {"1.0.0.172.in-addr.arpa.",
     T_PTR,
     NOERROR,
     {"1.0.0.172.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local."},
     {0},
     {0}},
    {"9.9.9.10.in-addr.arpa.", T_PTR, NXDOMAIN, {0}, {SOA_REV}, {0}},
    {"1.0.0.10.in-addr.arpa.", T_A, NXDOMAIN, {0}, {SOA_REV}, {0}},
    {"0.0.10.in-addr.arpa.", T_PTR, NXDOMAIN, {0}, {SOA_REV}, {0}},
    {"3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.ip6.arpa.",
     T_PTR,
     NOERROR,
     {"3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.ip6.arpa. 5 IN PTR "
      "svc-dual-stack.testns.svc.cluster.local."},
     {0},
     {0}},
};

START_TEST(test_reverse)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.zones = rev_zones;
    o.nzones = 3;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    k8s_check_all(s, &o, reverse_cases, CDNS_ARRAY_LEN(reverse_cases));
    cdns_snapshot_free(s);
}
END_TEST

/* A build that frees its index before the layout (objects mode) answers the same; the index
 * it consumed is gone (ASan would report a use or a leak). */
START_TEST(test_build_consume)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.zones = rev_zones;
    o.nzones = 3;
    cdns_k8s_index_t *mine = k8s_load("handler.json");
    cdns_snapshot_t *s = NULL;
    ck_assert_int_eq(cdns_k8s_build_consume(mine, &o, &s), CDNS_OK);
    k8s_check_all(s, &o, reverse_cases, CDNS_ARRAY_LEN(reverse_cases));
    cdns_snapshot_t *want = k8s_build(idx, &o);
    ck_assert_uint_eq(cdns_snapshot_records(s), cdns_snapshot_records(want));
    ck_assert_uint_eq(cdns_snapshot_nodes(s), cdns_snapshot_nodes(want));
    cdns_snapshot_free(want);
    cdns_snapshot_free(s);
    o.namespaces = testns_only;
    o.nnamespaces = 1;
    o.zones = k8s_test_opts().zones;
    o.nzones = 1;
    mine = k8s_load("handler.json");
    ck_assert_int_eq(cdns_k8s_build_consume(mine, &o, &s), CDNS_OK);
    k8s_check_all(s, &o, serve_cases, CDNS_ARRAY_LEN(serve_cases));
    cdns_snapshot_free(s);
    /* Our own service outlives its visit: the apex's NS records read it (and its endpoints)
     * after every other service has been released. */
    o.local_ips = kubedns_ep;
    o.nlocal_ips = 1;
    mine = k8s_load("handler.json");
    ck_assert_int_eq(cdns_k8s_build_consume(mine, &o, &s), CDNS_OK);
    k8s_check_all(s, &o, own_ns_cases, CDNS_ARRAY_LEN(own_ns_cases));
    cdns_snapshot_free(s);
}
END_TEST

/* The ttl option: records and SOA MINIMUM take it, the SOA's own TTL is capped at 300. */
START_TEST(test_ttl)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.ttl_s = 3600;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    const k8s_case_t cases[] = {
        {"svc1.testns.svc.cluster.local.",
         T_A,
         NOERROR,
         {"svc1.testns.svc.cluster.local. 3600 IN A 10.0.0.1"},
         {0},
         {0}},
        {"cluster.local.",
         T_SOA,
         NOERROR,
         {"cluster.local. 300 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1499347823 7200 1800 86400 3600"},
         {0},
         {0}},
        {"svc0.testns.svc.cluster.local.",
         T_A,
         NXDOMAIN,
         {0},
         {"cluster.local. 300 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1499347823 7200 1800 86400 3600"},
         {0}},
    };
    k8s_check_all(s, &o, cases, CDNS_ARRAY_LEN(cases));
    cdns_snapshot_free(s);
}
END_TEST

/* noendpoints: headless services and endpoint names are gone; ClusterIP names stay. */
START_TEST(test_noendpoints)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.noendpoints = true;
    cdns_snapshot_t *s = k8s_build(idx, &o);
    const k8s_case_t cases[] = {
        {"hdls1.testns.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
        {"ep1a.svc1.testns.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
        {"svc1.testns.svc.cluster.local.", T_A, NOERROR, {"svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1"}, {0}, {0}},
    };
    k8s_check_all(s, &o, cases, CDNS_ARRAY_LEN(cases));
    cdns_snapshot_free(s);
}
END_TEST

/* endpoint_pod_names and not-ready endpoints, from a second fixture. */
START_TEST(test_pod_names_and_readiness)
{
    cdns_k8s_index_t *ix = k8s_load("readiness.json");
    cdns_k8s_opts_t o = k8s_test_opts();
    o.endpoint_pod_names = true;
    cdns_snapshot_t *s = k8s_build(ix, &o);
    const k8s_case_t cases[] = {
        /* ready endpoints only */
        {"web.prod.svc.cluster.local.", T_A, NOERROR, {"web.prod.svc.cluster.local. 5 IN A 10.1.0.1"}, {0}, {0}},
        {"web-0.web.prod.svc.cluster.local.",
         T_A,
         NOERROR,
         {"web-0.web.prod.svc.cluster.local. 5 IN A 10.1.0.1"},
         {0},
         {0}},
        {"web-1.web.prod.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
        /* publishNotReadyAddresses: not-ready endpoints are served */
        {"db.prod.svc.cluster.local.",
         T_A,
         NOERROR,
         {"db.prod.svc.cluster.local. 5 IN A 10.1.1.1", "db.prod.svc.cluster.local. 5 IN A 10.1.1.2"},
         {0},
         {0}},
        /* hostname wins over the pod name */
        {"primary.db.prod.svc.cluster.local.",
         T_A,
         NOERROR,
         {"primary.db.prod.svc.cluster.local. 5 IN A 10.1.1.1"},
         {0},
         {0}},
        {"db-1.db.prod.svc.cluster.local.",
         T_A,
         NOERROR,
         {"db-1.db.prod.svc.cluster.local. 5 IN A 10.1.1.2"},
         {0},
         {0}},
        /* core/v1 Endpoints are ignored while EndpointSlices exist */
        {"legacy.prod.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    };
    k8s_check_all(s, &o, cases, CDNS_ARRAY_LEN(cases));
    cdns_snapshot_free(s);
    cdns_k8s_index_free(ix);
}
END_TEST

/* labels and namespace_labels selectors. */
START_TEST(test_selectors)
{
    cdns_k8s_index_t *ix = k8s_load("readiness.json");
    cdns_k8s_opts_t o = k8s_test_opts();
    cdns_k8s_selector_t sel, nsel;
    ck_assert_int_eq(cdns_k8s_selector_parse("tier in (db), !skip", &sel, NULL, 0), CDNS_OK);
    o.labels = &sel;
    cdns_snapshot_t *s = k8s_build(ix, &o);
    const k8s_case_t cases[] = {
        {"db.prod.svc.cluster.local.",
         T_A,
         NOERROR,
         {"db.prod.svc.cluster.local. 5 IN A 10.1.1.1", "db.prod.svc.cluster.local. 5 IN A 10.1.1.2"},
         {0},
         {0}},
        {"web.prod.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    };
    k8s_check_all(s, &o, cases, CDNS_ARRAY_LEN(cases));
    cdns_snapshot_free(s);

    o.labels = NULL;
    ck_assert_int_eq(cdns_k8s_selector_parse("env=staging", &nsel, NULL, 0), CDNS_OK);
    o.namespace_labels = &nsel;
    s = k8s_build(ix, &o);
    const k8s_case_t ncases[] = {
        {"web.prod.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
        {"prod.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
        {"api.stage.svc.cluster.local.", T_A, NOERROR, {"api.stage.svc.cluster.local. 5 IN A 10.2.0.1"}, {0}, {0}},
    };
    k8s_check_all(s, &o, ncases, CDNS_ARRAY_LEN(ncases));
    cdns_snapshot_free(s);
    cdns_k8s_selector_deinit(&sel);
    cdns_k8s_selector_deinit(&nsel);
    cdns_k8s_index_free(ix);
}
END_TEST

/* Without any EndpointSlice, core/v1 Endpoints are used (notReadyAddresses left out). */
START_TEST(test_v1_endpoints)
{
    cdns_k8s_index_t *ix = k8s_load("v1endpoints.json");
    cdns_k8s_opts_t o = k8s_test_opts();
    cdns_snapshot_t *s = k8s_build(ix, &o);
    const k8s_case_t cases[] = {
        {"hl.apps.svc.cluster.local.",
         T_A,
         NOERROR,
         {"hl.apps.svc.cluster.local. 5 IN A 10.3.0.1", "hl.apps.svc.cluster.local. 5 IN A 10.3.0.2"},
         {0},
         {0}},
        {"_grpc._tcp.hl.apps.svc.cluster.local.",
         T_SRV,
         NOERROR,
         {"_grpc._tcp.hl.apps.svc.cluster.local. 5 IN SRV 0 50 9000 a.hl.apps.svc.cluster.local.",
          "_grpc._tcp.hl.apps.svc.cluster.local. 5 IN SRV 0 50 9000 10-3-0-2.hl.apps.svc.cluster.local."},
         {0},
         {"a.hl.apps.svc.cluster.local. 5 IN A 10.3.0.1", "10-3-0-2.hl.apps.svc.cluster.local. 5 IN A 10.3.0.2"}},
        {"10-3-0-9.hl.apps.svc.cluster.local.", T_A, NXDOMAIN, {0}, {SOA}, {0}},
    };
    k8s_check_all(s, &o, cases, CDNS_ARRAY_LEN(cases));
    cdns_snapshot_free(s);
    cdns_k8s_index_free(ix);
}
END_TEST

/* reverse.go's order when addresses collide: a cluster IP names its service alone, even when an
 * endpoint holds the same address; two services sharing a cluster IP give the first in
 * (namespace, name) order; an address held by endpoints only gives one PTR per endpoint. */
START_TEST(test_reverse_collisions)
{
    cdns_k8s_index_t *ix = k8s_load("ptrclash.json");
    cdns_k8s_opts_t o = k8s_test_opts();
    o.zones = rev_zones;
    o.nzones = 3;
    cdns_snapshot_t *s = k8s_build(ix, &o);
    const k8s_case_t cases[] = {
        {"7.0.5.10.in-addr.arpa.",
         T_PTR,
         NOERROR,
         {"7.0.5.10.in-addr.arpa. 5 IN PTR web.a.svc.cluster.local."},
         {0},
         {0}},
        {"8.0.5.10.in-addr.arpa.",
         T_PTR,
         NOERROR,
         {"8.0.5.10.in-addr.arpa. 5 IN PTR 10-5-0-8.hl2.b.svc.cluster.local.",
          "8.0.5.10.in-addr.arpa. 5 IN PTR y.hl.a.svc.cluster.local."},
         {0},
         {0}},
        {"9.0.5.10.in-addr.arpa.",
         T_PTR,
         NOERROR,
         {"9.0.5.10.in-addr.arpa. 5 IN PTR bbb.b.svc.cluster.local."},
         {0},
         {0}},
        {"x.hl.a.svc.cluster.local.", T_A, NOERROR, {"x.hl.a.svc.cluster.local. 5 IN A 10.5.0.7"}, {0}, {0}},
    };
    k8s_check_all(s, &o, cases, CDNS_ARRAY_LEN(cases));
    cdns_snapshot_free(s);
    cdns_k8s_index_free(ix);
}
END_TEST

static Suite *records_suite(void)
{
    Suite *s = suite_create("k8s_records");
    TCase *tc = tcase_create("coredns");
    tcase_add_checked_fixture(tc, setup_idx, teardown_idx);
    tcase_add_test(tc, test_serve_dns);
    tcase_add_test(tc, test_apex);
    tcase_add_test(tc, test_ns_own_service);
    tcase_add_test(tc, test_ns_own_service_exposed);
    tcase_add_test(tc, test_namespaces_all);
    tcase_add_test(tc, test_pods);
    tcase_add_test(tc, test_ignore_empty_service);
    tcase_add_test(tc, test_name_shapes);
    tcase_add_test(tc, test_reverse);
    tcase_add_test(tc, test_build_consume);
    tcase_add_test(tc, test_ttl);
    tcase_add_test(tc, test_noendpoints);
    suite_add_tcase(s, tc);
    TCase *tc2 = tcase_create("more");
    tcase_add_test(tc2, test_pod_names_and_readiness);
    tcase_add_test(tc2, test_selectors);
    tcase_add_test(tc2, test_v1_endpoints);
    tcase_add_test(tc2, test_reverse_collisions);
    suite_add_tcase(s, tc2);
    return s;
}

CDNS_TEST_MAIN(records_suite)
