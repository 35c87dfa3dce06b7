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

/* Rows from *row on; false: stopped, an event waits on one of stop_for's
 * sources (NULL: never stop), after at least min_rows rows. */
static bool write_resources(FILE *f, const struct policy_report *rep, size_t *row,
			    const struct agent *stop_for, size_t min_rows)
{
	const struct res_report *r;
	size_t i, from = *row;

	for (i = from; i < rep->n; i++) {
		if (stop_for && i > from && (i - from) % STATUS_ROWS_PER_LOOK == 0 &&
		    i - from >= min_rows && agent_events_pending(stop_for)) {
			*row = i;
			return false;
		}
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
	*row = i;
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

static void write_header(FILE *f, struct agent *ag)
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
}

/* A file written in parts (agent.h status_*): abandoned, nothing renamed. */
static void status_discard(struct agent *ag)
{
	if (!ag->status_file)
		return;
	fclose(ag->status_file);
	ag->status_file = NULL;
	unlink(ag->status_tmp);
}

/* Open the temporary file and write the header: its rows follow in
 * status_rows. 0 or negative errno. */
static int status_begin(struct agent *ag)
{
	const char *dir = ag->state_dir ? ag->state_dir : DEFAULT_STATE_DIR;
	FILE *f;
	int fd, err;

	if (!ag->features_probed) {
		probe_kernel(&ag->features);
		ag->features_probed = true;
	}
	err = status_path(ag->status_final, sizeof(ag->status_final), dir, ag->bpffs);
	if (err)
		return err;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	snprintf(ag->status_tmp, sizeof(ag->status_tmp), "%s.tmp%d", ag->status_final,
		 (int)getpid());
	fd = open(ag->status_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		unlink(ag->status_tmp);
		return err;
	}
	write_header(f, ag);
	ag->status_file = f;
	ag->status_row = 0;
	ag->status_file_seq = ag->status_seq;
	return 0;
}

/* The rows, then the rename: 0, negative errno (the file abandoned), or
 * -EAGAIN: stopped for an event (may_stop, after min_rows rows), to go on
 * from there at the next call. */
static int status_rows(struct agent *ag, bool may_stop, size_t min_rows)
{
	FILE *f = ag->status_file;
	int err = 0;

	if (!write_resources(f, &ag->report, &ag->status_row, may_stop ? ag : NULL, min_rows))
		return -EAGAIN;
	ag->status_file = NULL;
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(ag->status_tmp, ag->status_final))
		err = -errno;
	if (err)
		unlink(ag->status_tmp);
	return err;
}

/* The status file (20,000 rows at 10,000 services: ~20 ms) is written
 * after STATUS_IDLE_MS with no event rather than after every apply, so a
 * change that follows at once does not wait for it. It is written in
 * parts: an event stops it after a slice of rows and the next idle goes on
 * from there, as long as no reload made its rows stale (their strings
 * belong to the resources in force, replaced at each commit: the file then
 * starts over). Due for STATUS_MAX_DEFER_MS, it goes on at every turn of
 * the loop, a slice (~0.7 ms) before it looks for an event. Before, it was
 * written whole then, 20-25 ms that a change coming meanwhile waited for
 * (issue 16: every change under 10 ms); now a stream of changes with no
 * pause of a file's length (~20 ms) delays it until the first such pause.
 * `bpfmesh status` shows when the file was written and what it shows
 * (written_at_ms, generation). */
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
	int err;

	status_discard(ag); /* same temporary name: this one replaces it */
	err = status_begin(ag);
	return err ? err : status_rows(ag, false, 0);
}

void agent_status_changed(struct agent *ag)
{
	if (!ag->status_dirty)
		ag->status_dirty_ms = status_now_ms();
	ag->status_dirty = true;
	ag->status_seq++;
}

int agent_status_poll_ms(const struct agent *ag, int idle_ms)
{
	return ag->status_dirty && idle_ms > STATUS_IDLE_MS ? STATUS_IDLE_MS : idle_ms;
}

void agent_status_flush(struct agent *ag, bool idle)
{
	bool overdue = status_now_ms() - ag->status_dirty_ms >= STATUS_MAX_DEFER_MS;
	int err;

	if (ag->status_file && ag->status_file_seq != ag->status_seq)
		status_discard(ag); /* a reload since it began: its rows are stale */
	if (!ag->status_dirty || (!idle && !overdue))
		return;
	err = ag->status_file ? 0 : status_begin(ag);
	if (!err)
		err = status_rows(ag, true, overdue ? STATUS_ROWS_PER_LOOK : 0);
	if (err == -EAGAIN)
		return; /* goes on at the next idle (or turn, once overdue) */
	ag->status_dirty = false;
	if (err && err != ag->status_err)
		agent_log("Failed to write the status file: %d (%s)", err, strerror(-err));
	ag->status_err = err;
}

void agent_status_remove(struct agent *ag)
{
	char path[PATH_MAX];

	status_discard(ag);

	if (!status_path(path, sizeof(path), ag->state_dir ? ag->state_dir : DEFAULT_STATE_DIR,
			 ag->bpffs))
		unlink(path);
}
