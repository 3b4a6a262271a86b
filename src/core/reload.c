/* reload.c - what a SIGHUP may change in the running configuration (see
 * reload.h).
 *
 * Pure: two configurations in, one changed, lines out through the
 * caller's note function; no I/O.  Does not own the file's syntax
 * (config.c) nor what each module does with a new value (daemon.c's
 * reload hooks).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reload.h"

#define RELOAD_LINE_MAX 512

/* A top-level setting that needs a restart: one field of struct config. */
struct reload_fixed {
	const char *key;
	size_t offset, size;
	bool is_text;                  /* a NUL-terminated string: compared as one */
};

#define RELOAD_FIXED(key, field, is_text) \
	{ key, offsetof(struct config, field), sizeof(((struct config *)0)->field), is_text }

static const struct reload_fixed reload_fixed[] = {
	RELOAD_FIXED("path", path, true),
	RELOAD_FIXED("ping_interval", ping_interval_ms, false),
	RELOAD_FIXED("ping_timeout", ping_timeout_ms, false),
	RELOAD_FIXED("redis_db", redis_db, false),
	RELOAD_FIXED("redis_key", redis_key, true),
	RELOAD_FIXED("redis_emit_channel", redis_emit_channel, true),
	RELOAD_FIXED("backend_stream", backend_stream, true),
	RELOAD_FIXED("backend_streams", backend_streams, false),
	RELOAD_FIXED("cluster_secret_file", cluster_secret_file, true),
};

struct reload_ctx {
	reload_note_fn *note;
	void *arg;
};

static void reload_note(const struct reload_ctx *c, const char *what)
{
	char line[RELOAD_LINE_MAX];

	snprintf(line, sizeof line, "%s changed in the file: needs a restart, the running value stays",
		 what);
	c->note(c->arg, line);
}

static bool reload_field_differs(const struct reload_fixed *f, const struct config *a,
				 const struct config *b)
{
	const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;

	return f->is_text ? strcmp(pa, pb) != 0 : memcmp(pa, pb, f->size) != 0;
}

static void reload_keep_fixed(const struct reload_ctx *c, const struct config *running,
			      struct config *next)
{
	for (size_t i = 0; i < sizeof reload_fixed / sizeof reload_fixed[0]; i++) {
		const struct reload_fixed *f = &reload_fixed[i];
		if (!reload_field_differs(f, running, next))
			continue;
		reload_note(c, f->key);
		memcpy((char *)next + f->offset, (const char *)running + f->offset, f->size);
	}
}

static bool reload_listen_differs(const struct config *a, const struct config *b)
{
	if (a->n_listen != b->n_listen)
		return true;
	for (size_t i = 0; i < a->n_listen; i++) {
		if (strcmp(a->listen[i].text, b->listen[i].text) != 0 ||
		    a->listen[i].reuseport != b->listen[i].reuseport ||
		    a->listen[i].proxy_protocol != b->listen[i].proxy_protocol ||
		    a->listen[i].mode != b->listen[i].mode)
			return true;
	}
	return false;
}

static bool reload_redis_differs(const struct config *a, const struct config *b)
{
	return strcmp(a->redis_host, b->redis_host) != 0 || a->redis_port != b->redis_port ||
	       strcmp(a->redis_unix, b->redis_unix) != 0;
}

/* An optional single listener (admin_listen, cluster_listen). */
static void reload_keep_listener(const struct reload_ctx *c, const char *key,
				 const struct config_listen *running, bool running_has,
				 struct config_listen *next, bool *next_has)
{
	if (running_has == *next_has && strcmp(running->text, next->text) == 0)
		return;
	reload_note(c, key);
	*next = *running;
	*next_has = running_has;
}

static void reload_keep_links(const struct reload_ctx *c, const struct config *running,
			      struct config *next)
{
	reload_keep_listener(c, "admin_listen", &running->admin_listen, running->has_admin_listen,
			     &next->admin_listen, &next->has_admin_listen);
	reload_keep_listener(c, "cluster_listen", &running->cluster_listen,
			     running->has_cluster_listen, &next->cluster_listen,
			     &next->has_cluster_listen);
	if (reload_listen_differs(running, next)) {
		reload_note(c, "listen");
		memcpy(next->listen, running->listen, sizeof next->listen);
		next->n_listen = running->n_listen;
	}
	if (reload_redis_differs(running, next)) {
		reload_note(c, "redis");
		memcpy(next->redis_host, running->redis_host, sizeof next->redis_host);
		next->redis_port = running->redis_port;
		memcpy(next->redis_unix, running->redis_unix, sizeof next->redis_unix);
	}
}

static const struct config_namespace *reload_ns_find(const struct config *cfg, const char *name,
						    bool *taken)
{
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		if (strcmp(cfg->namespaces[i].name, name) == 0) {
			taken[i] = true;
			return &cfg->namespaces[i];
		}
	}
	return NULL;
}

/* Every running namespace at its index (from the file, or as it runs if
 * the file dropped it), then the file's new ones.  <out> has room for
 * CONFIG_MAX_NAMESPACES. */
static int reload_order_namespaces(const struct reload_ctx *c, const struct config *running,
				   const struct config *next, struct config_namespace *out,
				   size_t *n_out, char *err, size_t err_len)
{
	bool taken[CONFIG_MAX_NAMESPACES] = { false };
	char what[CONFIG_MAX_NSP_NAME + 64];
	size_t n = 0;

	for (size_t i = 0; i < running->n_namespaces; i++) {
		const struct config_namespace *was = &running->namespaces[i];
		const struct config_namespace *now = reload_ns_find(next, was->name, taken);
		if (!now) {
			snprintf(what, sizeof what, "namespace %s (removed)", was->name);
			reload_note(c, what);
			now = was;
		}
		out[n] = *now;
		if (out[n].flush_delay_ms != was->flush_delay_ms) {
			snprintf(what, sizeof what, "namespace %s: flush_delay", was->name);
			reload_note(c, what);
			out[n].flush_delay_ms = was->flush_delay_ms;
		}
		n++;
	}
	for (size_t j = 0; j < next->n_namespaces; j++) {
		if (taken[j])
			continue;
		if (n == CONFIG_MAX_NAMESPACES) {
			snprintf(err, err_len, "more than %d namespaces with the removed ones that still "
				 "run: restart to drop them", CONFIG_MAX_NAMESPACES);
			return -1;
		}
		out[n++] = next->namespaces[j];
	}
	*n_out = n;
	return 0;
}

/* The running daemon has no Redis link to give a namespace the file
 * newly puts under auth backend. */
static int reload_check_backends(const struct config *next, char *err, size_t err_len)
{
	if (next->redis_host[0] || next->redis_unix[0])
		return 0;
	for (size_t i = 0; i < next->n_namespaces; i++) {
		if (next->namespaces[i].auth == CONFIG_AUTH_BACKEND) {
			snprintf(err, err_len, "namespace %s: auth backend needs the redis link the "
				 "running daemon has not got: restart", next->namespaces[i].name);
			return -1;
		}
	}
	return 0;
}

int reload_merge(const struct config *running, struct config *next, reload_note_fn *note,
		 void *arg, char *err, size_t err_len)
{
	const struct reload_ctx c = { note, arg };
	struct config_namespace *ordered = malloc(CONFIG_MAX_NAMESPACES * sizeof *ordered);
	size_t n;

	if (!ordered) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	reload_keep_fixed(&c, running, next);
	reload_keep_links(&c, running, next);
	int rc = reload_order_namespaces(&c, running, next, ordered, &n, err, err_len);
	if (rc == 0) {
		memcpy(next->namespaces, ordered, n * sizeof *ordered);
		next->n_namespaces = n;
		rc = reload_check_backends(next, err, err_len);
	}
	free(ordered);
	return rc;
}
