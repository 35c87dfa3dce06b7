/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_POLICY_CHECK_H
#define BPFMESH_POLICY_CHECK_H
/*
 * Pure value checks used by the parser: DNS names, label keys and values,
 * IP addresses, Go durations, prime numbers. Each returns NULL when the value
 * is fine, or a static string saying what is wrong with it.
 */
#include <stdbool.h>
#include <stdint.h>

const char *check_dns1123_label(const char *s);
const char *check_dns1123_subdomain(const char *s);
/* A host as Istio accepts it: FQDN or short name, "*" prefix label allowed. */
const char *check_wildcard_domain(const char *s);
const char *check_label_key(const char *s);
const char *check_label_value(const char *s);

/* Dotted-quad IPv4 into network-order *be (may be NULL). */
bool check_parse_ipv4(const char *s, uint32_t *be);
bool check_is_ipv6(const char *s);
/* IPv4 or IPv6 into ip (model.h: a mapped IPv6 address becomes IPv4). */
struct ip_addr;
bool check_parse_ip(const char *s, struct ip_addr *ip);
/* "a.b.c.d/len" or "v6/len": *is_v4, *plen filled. */
bool check_parse_cidr(const char *s, bool *is_v4, uint32_t *be, unsigned int *plen);

/* Go time.ParseDuration syntax into nanoseconds. */
const char *check_parse_duration(const char *s, int64_t *ns);

bool check_is_prime(uint64_t n);

#endif /* BPFMESH_POLICY_CHECK_H */
