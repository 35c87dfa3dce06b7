// SPDX-License-Identifier: Apache-2.0
/* The status file `bpfmesh status` reads (status.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "agent.h"
#include "cli/cli.h"
#include "k8s/k8s.h"
#include "status.h"

int status_path(char *buf, size_t len, const char *state_dir, const char *bpffs)
{
	size_t n;
	char *p;
	int w;

	while (*bpffs == '/')
		bpffs++;
	w = snprintf(buf, len, "%s/status-%s", state_dir, bpffs);
	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	n = strlen(state_dir) + strlen("/status-");
	for (p = buf + n; *p; p++) {
		if (*p == '/')
			*p = '-';
	}
	/* "dir/" given as bpffs: no trailing '-' */
	if (p > buf + n && p[-1] == '-')
		p[-1] = '\0';
	return 0;
}

/* A field: tabs and newlines would split records. Written a run at a
 * time: the status file names every resource (20,000 rows at 10,000
 * services), rewritten after every apply. */
static void put_field(FILE *f, const char *s)
{
	size_t run;

	fputc('\t', f);
	while (s && *s) {
		run = strcspn(s, "\t\n\r");
		fwrite(s, 1, run, f);
		s += run;
		if (*s) {
			fputc(' ', f);
			s++;
		}
	}
}

/* Rows between two looks at the agent's sources when the write may stop
 * for an event (about 0.7 ms at 10,000 services). */
#define STATUS_ROWS_PER_LOOK 1024

/* false: stopped, an event waits on one of stop_for's sources (NULL:
 * never stop). */
static bool write_resources(FILE *f, const struct policy_report *rep,
			    const struct agent *stop_for)
{
	const struct res_report *r;
	size_t i;

	for (i = 0; i < rep->n; i++) {
		if (stop_for && i && i % STATUS_ROWS_PER_LOOK == 0 &&
		    agent_events_pending(stop_for))
			return false;
		r = &rep->v[i];
		fputs("resource", f);
		put_field(f, r->rejected ? "rejected" : "applied");
		put_field(f, r->kind);
		put_field(f, r->ns);
		put_field(f, r->name);
		put_field(f, r->file);
		fprintf(f, "\t%u\t%d", r->line, r->last_good);
		put_field(f, r->diag ? r->diag : "");
		fputc('\n', f);
	}
	return true;
}

/* kubernetes REACHABLE SYNCED OUTAGE_SINCE_MS LAST_ERROR: the API server
 * as the watch sees it (issue 16: in an outage the last good state stays). */
static void write_k8s(FILE *f, struct agent_k8s *k)
{
	struct k8s_health h;

	if (!k || !k->watch)
		return;
	k8s_health(k->watch, &h);
	fprintf(f, "kubernetes\t%d\t%d\t%lld", !h.outage, h.synced,
		(long long)h.outage_since * 1000);
	put_field(f, h.outage ? h.last_error : "");
	fputc('\n', f);
}

static bool write_status(FILE *f, struct agent *ag, bool may_stop)
{
	struct timespec ts;
	int i;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(f, "%s\npid\t%d\ngeneration\t%u\napplied_at_ms\t%lld\nwritten_at_ms\t%lld\n",
		STATUS_MAGIC, (int)getpid(), ag->applier.state.generation, ag->applied_at_ms,
		(long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	fputs("policies", f);
	put_field(f, ag->policies ? ag->policies : "");
	fputs("\nbpffs", f);
	put_field(f, ag->bpffs);
	fprintf(f, "\nresources\t%zu\t%zu\n", ag->report.n_applied, ag->report.n_rejected);
	write_k8s(f, ag->k8s);
	for (i = 0; i < PROBE__NR; i++)
		fprintf(f, "feature\t%s\t%d\n", probe_feature_name(i), ag->features.have[i]);
	return write_resources(f, &ag->report, may_stop ? ag : NULL);
}

/* 0, negative errno, or -EAGAIN: stopped for an event (may_stop), nothing
 * written. */
static int status_write(struct agent *ag, bool may_stop)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	const char *dir = ag->state_dir ? ag->state_dir : DEFAULT_STATE_DIR;
	FILE *f;
	int fd, err;

	if (!ag->features_probed) {
		probe_kernel(&ag->features);
		ag->features_probed = true;
	}
	err = status_path(path, sizeof(path), dir, ag->bpffs);
	if (err)
		return err;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	err = write_status(f, ag, may_stop) ? 0 : -EAGAIN;
	if (!err && ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* The status file (20,000 rows at 10,000 services: ~20 ms) is written
 * after STATUS_IDLE_MS with no event rather than after every apply, so a
 * change that follows at once does not wait for it; a stream of changes
 * still gets it every STATUS_MAX_DEFER_MS. `bpfmesh status` lags the
 * maps by that much at most. */
#define STATUS_IDLE_MS 5
#define STATUS_MAX_DEFER_MS 1000

static long long status_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agent_status_write(struct agent *ag)
{
	return status_write(ag, false);
}

void agent_status_changed(struct agent *ag)
{
	if (!ag->status_dirty)
		ag->status_dirty_ms = status_now_ms();
	ag->status_dirty = true;
}

int agent_status_poll_ms(const struct agent *ag, int idle_ms)
{
	return ag->status_dirty && idle_ms > STATUS_IDLE_MS ? STATUS_IDLE_MS : idle_ms;
}

void agent_status_flush(struct agent *ag, bool idle)
{
	int err;

	if (!ag->status_dirty ||
	    (!idle && status_now_ms() - ag->status_dirty_ms < STATUS_MAX_DEFER_MS))
		return;
	ag->status_dirty = false;
	/* Stops for an event unless due for STATUS_MAX_DEFER_MS already: then
	 * written whole, so a stream of events still gets it that often. */
	err = status_write(ag, status_now_ms() - ag->status_dirty_ms < STATUS_MAX_DEFER_MS);
	if (err == -EAGAIN) {
		ag->status_dirty = true; /* since the same time: at the next idle */
		return;
	}
	if (err && err != ag->status_err)
		agent_log("Failed to write the status file: %d (%s)", err, strerror(-err));
	ag->status_err = err;
}

void agent_status_remove(struct agent *ag)
{
	char path[PATH_MAX];

	if (!status_path(path, sizeof(path), ag->state_dir ? ag->state_dir : DEFAULT_STATE_DIR,
			 ag->bpffs))
		unlink(path);
}
