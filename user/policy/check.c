// SPDX-License-Identifier: Apache-2.0
/* Pure value checks (see check.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return isalnum((unsigned char)c) != 0;
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters. */
static const char *check_label_span(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return "must not be empty";
	if (len > 63)
		return "must be at most 63 characters";
	for (i = 0; i < len; i++) {
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return "must consist of lower case alphanumeric characters or '-'";
	}
	if (s[0] == '-' || s[len - 1] == '-')
		return "must start and end with an alphanumeric character";
	return NULL;
}

const char *check_dns1123_label(const char *s)
{
	return check_label_span(s, strlen(s));
}

static const char *check_labels_of(const char *s, size_t len)
{
	const char *dot, *err, *end = s + len;

	while (s <= end) {
		dot = memchr(s, '.', (size_t)(end - s));
		if (!dot)
			dot = end;
		err = check_label_span(s, (size_t)(dot - s));
		if (err)
			return err;
		s = dot + 1;
	}
	return NULL;
}

const char *check_dns1123_subdomain(const char *s)
{
	size_t len = strlen(s);

	if (len == 0)
		return "must not be empty";
	if (len > 253)
		return "must be at most 253 characters";
	return check_labels_of(s, len);
}

static bool all_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return len > 0;
}

const char *check_wildcard_domain(const char *s)
{
	size_t len = strlen(s);
	const char *last;

	if (len == 0)
		return "must not be empty";
	if (len > 255)
		return "must be at most 255 characters";
	if (strcmp(s, "*") == 0)
		return NULL;
	if (strncmp(s, "*.", 2) == 0) {
		s += 2;
		len -= 2;
	}
	if (len && s[len - 1] == '.') /* "istio.io." is unambiguous, allowed */
		len--;
	if (strchr(s, '*'))
		return "a wildcard is allowed only as the whole first label (\"*.example.com\")";
	last = memrchr(s, '.', len);
	last = last ? last + 1 : s;
	if (all_digits(last, (size_t)(s + len - last)) && memchr(s, '.', len))
		return "top level domain cannot be all-numeric";
	return check_labels_of(s, len);
}

/* Kubernetes qualified name: [prefix/]name, name [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?,
 * at most 63 characters; prefix a DNS-1123 subdomain. */
static const char *check_qualified_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return "name part must not be empty";
	if (len > 63)
		return "name part must be at most 63 characters";
	for (i = 0; i < len; i++) {
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return "must consist of alphanumeric characters, '-', '_' or '.'";
	}
	if (!is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return "must start and end with an alphanumeric character";
	return NULL;
}

const char *check_label_key(const char *s)
{
	const char *slash = strchr(s, '/');
	char prefix[256];
	size_t plen;

	if (!slash)
		return check_qualified_name(s, strlen(s));
	plen = (size_t)(slash - s);
	if (plen == 0 || plen >= sizeof(prefix))
		return "prefix must be a DNS-1123 subdomain";
	memcpy(prefix, s, plen);
	prefix[plen] = '\0';
	if (check_dns1123_subdomain(prefix))
		return "prefix must be a DNS-1123 subdomain";
	return check_qualified_name(slash + 1, strlen(slash + 1));
}

const char *check_label_value(const char *s)
{
	size_t len = strlen(s);

	if (len == 0)
		return NULL;
	return check_qualified_name(s, len);
}

bool check_parse_ipv4(const char *s, uint32_t *be)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	if (be)
		*be = a.s_addr;
	return true;
}

bool check_is_ipv6(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET6, s, &a) == 1;
}

/* ::ffff:0:0/96: an IPv4 address seen through an IPv6 socket (RFC 4291 2.5.5.2). */
static bool is_v4_mapped(const struct in6_addr *a)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return memcmp(a->s6_addr, prefix, sizeof(prefix)) == 0;
}

bool check_parse_ip(const char *s, struct ip_addr *ip)
{
	struct in6_addr a6;

	memset(ip, 0, sizeof(*ip));
	if (check_parse_ipv4(s, &ip->a[0])) {
		ip->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, &a6) != 1)
		return false;
	if (is_v4_mapped(&a6)) {
		memcpy(&ip->a[0], &a6.s6_addr[12], 4);
		ip->family = AF_INET;
		return true;
	}
	memcpy(ip->a, a6.s6_addr, sizeof(ip->a));
	ip->family = AF_INET6;
	return true;
}

bool check_parse_cidr(const char *s, bool *is_v4, uint32_t *be, unsigned int *plen)
{
	const char *slash = strchr(s, '/');
	char addr[64];
	size_t alen;
	char *end;
	long n;

	if (!slash)
		return false;
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(addr) || !all_digits(slash + 1, strlen(slash + 1)))
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	n = strtol(slash + 1, &end, 10);
	if (strlen(slash + 1) > 3)
		return false;
	if (check_parse_ipv4(addr, be)) {
		*is_v4 = true;
		*plen = (unsigned int)n;
		return n <= 32;
	}
	if (check_is_ipv6(addr)) {
		*is_v4 = false;
		*plen = (unsigned int)n;
		return n <= 128;
	}
	return false;
}

struct dur_unit {
	const char *name;
	int64_t ns;
};

static const struct dur_unit dur_units[] = {
	{ "ns", 1LL },
	{ "us", 1000LL },
	{ "\xc2\xb5s", 1000LL }, /* U+00B5 micro sign */
	{ "\xce\xbcs", 1000LL }, /* U+03BC greek mu */
	{ "ms", 1000000LL },
	{ "s", 1000000000LL },
	{ "m", 60LL * 1000000000LL },
	{ "h", 3600LL * 1000000000LL },
};

static const struct dur_unit *dur_unit_at(const char **p)
{
	size_t i, best = 0, blen = 0, l;

	for (i = 0; i < sizeof(dur_units) / sizeof(dur_units[0]); i++) {
		l = strlen(dur_units[i].name);
		if (strncmp(*p, dur_units[i].name, l) == 0 && l > blen) {
			best = i;
			blen = l;
		}
	}
	if (!blen)
		return NULL;
	*p += blen;
	return &dur_units[best];
}

/* One "<digits>[.<digits>]<unit>" group, added to *total (in ns, as a long double
 * to keep fractions exact enough at ms precision, checked for overflow). */
static const char *dur_group(const char **p, long double *total)
{
	const char *s = *p;
	long double v = 0, scale = 1;
	const struct dur_unit *u;
	bool digits = false;

	for (; *s >= '0' && *s <= '9'; s++, digits = true)
		v = v * 10 + (*s - '0');
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, digits = true) {
			scale /= 10;
			v += (*s - '0') * scale;
		}
	}
	if (!digits)
		return "expected a number";
	u = dur_unit_at(&s);
	if (!u)
		return "missing or unknown unit (use ns, us, ms, s, m or h)";
	*total += v * (long double)u->ns;
	if (*total > 9.2e18L)
		return "out of range";
	*p = s;
	return NULL;
}

const char *check_parse_duration(const char *s, int64_t *ns)
{
	long double total = 0;
	const char *err;
	bool neg = false;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return NULL;
	}
	if (*s == '\0')
		return "invalid duration (Go syntax: 500ms, 1.5s, 1m, 1h)";
	while (*s) {
		err = dur_group(&s, &total);
		if (err)
			return err;
	}
	*ns = (int64_t)(total + 0.5L);
	if (neg)
		*ns = -*ns;
	return NULL;
}

bool check_is_prime(uint64_t n)
{
	uint64_t d;

	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (d = 3; d <= n / d; d += 2) {
		if (n % d == 0)
			return false;
	}
	return true;
}
