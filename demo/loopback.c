// SPDX-License-Identifier: Apache-2.0
/*
 * Demo helper: loopback backends that answer with their name, and a client
 * that counts which backend answered.
 *   loopback serve ADDR PORT NAME      (foreground; SIGTERM stops it)
 *   loopback connect VIP PORT N        (prints "NAME COUNT" lines)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define MAX_NAMES 16

static int parse_addr(struct sockaddr_in *sa, const char *ip, const char *port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)atoi(port));
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

static int serve(const char *ip, const char *port, const char *name)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if (parse_addr(&sa, ip, port))
		return 2;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1024)) {
		fprintf(stderr, "serve %s:%s: %s\n", ip, port, strerror(errno));
		return 1;
	}
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0)
			continue;
		if (write(c, name, strlen(name)) < 0)
			perror("write");
		close(c);
	}
}

static int client(const char *ip, const char *port, int n)
{
	char names[MAX_NAMES][32] = {};
	int counts[MAX_NAMES] = {}, used = 0, failed = 0, i, j;
	struct linger lg = { 1, 0 };
	struct sockaddr_in sa;

	if (parse_addr(&sa, ip, port))
		return 2;
	for (i = 0; i < n; i++) {
		char buf[32] = {};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || read(fd, buf, 31) <= 0) {
			failed++;
			close(fd);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		for (j = 0; j < used && strcmp(names[j], buf); j++)
			;
		if (j == used && used < MAX_NAMES)
			snprintf(names[used++], sizeof(names[0]), "%s", buf);
		if (j < MAX_NAMES)
			counts[j]++;
	}
	for (j = 0; j < used; j++)
		printf("%s %d\n", names[j], counts[j]);
	if (failed)
		printf("failed %d\n", failed);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argv[3], argv[4]);
	if (argc == 5 && !strcmp(argv[1], "connect"))
		return client(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr, "usage: loopback serve ADDR PORT NAME | connect VIP PORT N\n");
	return 2;
}
