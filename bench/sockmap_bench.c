// SPDX-License-Identifier: Apache-2.0
/*
 * Same-node benchmark tool (bench/sockmap.sh): one listener on EP:PORT, one
 * connection to ADDR:80 (a bpfmesh VIP), the server end echoing in a
 * thread. Measures request/response latency (SIZE bytes each way, blocking
 * sockets, TCP_NODELAY) or one-way bulk throughput. Prints one CSV line:
 *   rr,SIZE,N,p50_us,p90_us,p99_us
 *   bulk,CHUNK,SECONDS,MB_per_s
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t size;
static int mode_bulk;
static double bulk_secs;
static unsigned long long bulk_bytes;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int io_all(int fd, char *buf, size_t len, int wr)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = wr ? write(fd, buf + off, len - off) : read(fd, buf + off, len - off);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static void *server(void *arg)
{
	int fd = *(int *)arg;
	size_t cap = mode_bulk ? size : size;
	char *buf = malloc(cap);
	ssize_t n;

	if (mode_bulk) {
		while ((n = read(fd, buf, cap)) > 0)
			bulk_bytes += (unsigned long long)n;
	} else {
		while (io_all(fd, buf, size, 0) == 0 && io_all(fd, buf, size, 1) == 0)
			;
	}
	free(buf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void run_rr(int fd, int n)
{
	double *lat = calloc((size_t)n, sizeof(double));
	char *buf = calloc(1, size);
	int i, warm = n / 10;

	for (i = -warm; i < n; i++) {
		double t0 = now_s();

		if (io_all(fd, buf, size, 1) || io_all(fd, buf, size, 0)) {
			fprintf(stderr, "sockmap_bench: I/O failed at %d\n", i);
			exit(1);
		}
		if (i >= 0)
			lat[i] = (now_s() - t0) * 1e6;
	}
	qsort(lat, (size_t)n, sizeof(double), cmp_double);
	printf("rr,%zu,%d,%.2f,%.2f,%.2f\n", size, n, lat[n / 2], lat[n * 9 / 10],
	       lat[n * 99 / 100]);
	free(lat);
	free(buf);
}

static void run_bulk(int fd)
{
	char *buf = calloc(1, size);
	double t0 = now_s(), end = t0 + bulk_secs;

	while (now_s() < end)
		if (io_all(fd, buf, size, 1)) {
			fprintf(stderr, "sockmap_bench: write failed\n");
			exit(1);
		}
	free(buf);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET }, ep = { .sin_family = AF_INET };
	int lfd, cfd, sfd, one = 1, n;
	pthread_t th;
	double t0;

	if (argc != 6) {
		fprintf(stderr, "usage: %s rr|bulk VIP EP:PORT SIZE N|SECONDS\n", argv[0]);
		return 2;
	}
	mode_bulk = !strcmp(argv[1], "bulk");
	size = strtoul(argv[4], NULL, 10);
	n = atoi(argv[5]);
	bulk_secs = atof(argv[5]);
	inet_pton(AF_INET, argv[2], &sa.sin_addr);
	sa.sin_port = htons(80);
	*strchr(argv[3], ':') = '\0';
	inet_pton(AF_INET, argv[3], &ep.sin_addr);
	ep.sin_port = htons((unsigned short)atoi(argv[3] + strlen(argv[3]) + 1));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ep, sizeof(ep)) || listen(lfd, 16)) {
		perror("sockmap_bench: listen");
		return 1;
	}
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(cfd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("sockmap_bench: connect");
		return 1;
	}
	sfd = accept(lfd, NULL, NULL);
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_create(&th, NULL, server, &sfd);
	t0 = now_s();
	if (mode_bulk)
		run_bulk(cfd);
	else
		run_rr(cfd, n);
	shutdown(cfd, SHUT_WR);
	pthread_join(th, NULL);
	if (mode_bulk)
		printf("bulk,%zu,%.1f,%.1f\n", size, bulk_secs,
		       (double)bulk_bytes / (now_s() - t0) / 1e6);
	close(cfd);
	close(sfd);
	close(lfd);
	return 0;
}
