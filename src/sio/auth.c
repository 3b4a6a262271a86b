/* auth.c - who may connect to a namespace, and what a token grants (see
 * auth.h).
 *
 * Owns the jwt_keys of each namespace with auth jwt, indexed like the
 * config's namespaces, and the counts of refusals by reason (auth jwt's
 * and auth backend's), rendered as roomcast_auth_refused_total{reason}.  Does not own the verification
 * (jwt.c), nor sockets and rooms (nsp.c), nor the sets fetched from a
 * jwt_jwks_url (jwks.c, asked per CONNECT).  Reads files at start-up only.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "jwks.h"
#include "jwt.h"
#include "metrics.h"

/* Refusal reasons: [0] a CONNECT without a token, [i] jwt_verify()'s
 * result -i, then auth backend's from AUTH_FIRST_BACKEND. */
#define AUTH_COUNT_RESULT(name, value, reason) +1
#define AUTH_FIRST_BACKEND (0 JWT_RESULT_MAP(AUTH_COUNT_RESULT))
#define AUTH_N_REASONS (AUTH_FIRST_BACKEND + AUTH_BACKEND_N_REASONS)
#define AUTH_MISSING 0
#define AUTH_LABEL_MAX 48

static struct {
	const struct config *cfg;
	struct jwt_keys *keys[CONFIG_MAX_NAMESPACES];
	uint64_t refused[AUTH_N_REASONS];
	const char *reasons[AUTH_N_REASONS];       /* what the client reads */
	char labels[AUTH_N_REASONS][AUTH_LABEL_MAX]; /* the same, '_' for ' ' */
	const char *label_ptrs[AUTH_N_REASONS];
	struct metrics_family family;
	bool is_registered;                  /* family is in /metrics (once per process) */
	struct jwt_keys *staged[CONFIG_MAX_NAMESPACES]; /* a reload's keys, until committed */
} auth;

static enum jwt_key_source auth_key_source(enum config_jwt_key k)
{
	switch (k) {
	case CONFIG_JWT_KEY_SECRET: return JWT_KEY_SECRET;
	case CONFIG_JWT_KEY_PEM: return JWT_KEY_PEM;
	default: return JWT_KEY_JWKS;
	}
}

/* The reasons and their metrics labels, from jwt.c's table and ours. */
static void auth_reasons_init(void)
{
	static const char *const backend_texts[] = {
#define AUTH_BACKEND_TEXT(name, text, label) text,
		AUTH_BACKEND_MAP(AUTH_BACKEND_TEXT)
#undef AUTH_BACKEND_TEXT
	};
	static const char *const backend_labels[] = {
#define AUTH_BACKEND_LABEL(name, text, label) label,
		AUTH_BACKEND_MAP(AUTH_BACKEND_LABEL)
#undef AUTH_BACKEND_LABEL
	};

	auth.reasons[AUTH_MISSING] = "missing token";
	for (int i = 1; i < AUTH_FIRST_BACKEND; i++)
		auth.reasons[i] = jwt_result_text((enum jwt_result)-i);
	for (int i = 0; i < AUTH_BACKEND_N_REASONS; i++) {
		auth.reasons[AUTH_FIRST_BACKEND + i] = backend_texts[i];
		snprintf(auth.labels[AUTH_FIRST_BACKEND + i], AUTH_LABEL_MAX, "%s", backend_labels[i]);
		auth.label_ptrs[AUTH_FIRST_BACKEND + i] = auth.labels[AUTH_FIRST_BACKEND + i];
	}
	for (int i = 0; i < AUTH_FIRST_BACKEND; i++) {
		snprintf(auth.labels[i], AUTH_LABEL_MAX, "%s", auth.reasons[i]);
		for (char *c = auth.labels[i]; *c; c++)
			*c = *c == ' ' ? '_' : *c;
		auth.label_ptrs[i] = auth.labels[i];
	}
	if (auth.is_registered)
		return;
	auth.is_registered = true;
	auth.family = (struct metrics_family){
		.name = "auth_refused_total",
		.help = "CONNECTs refused by a namespace's auth, by reason",
		.label = "reason",
		.values = auth.label_ptrs,
		.counts = auth.refused,
		.n = AUTH_N_REASONS,
	};
	metrics_family_register(&auth.family);
}

static void auth_keys_free(struct jwt_keys *keys[])
{
	for (size_t i = 0; i < CONFIG_MAX_NAMESPACES; i++) {
		jwt_keys_free(keys[i]);
		keys[i] = NULL;
	}
}

/* Reads the keys of every namespace of <cfg> with auth jwt into <keys>
 * (indexed like its namespaces).  Returns 0, or -1 with "namespace NAME:
 * PATH: reason" in <err> and nothing kept. */
static int auth_keys_load(const struct config *cfg, struct jwt_keys *keys[], char *err,
			  size_t err_len)
{
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		const struct config_namespace *ns = &cfg->namespaces[i];
		char why[256];

		if (ns->auth != CONFIG_AUTH_JWT)
			continue;
		/* Fetched once the loop runs (jwks.c); its CA file is read now. */
		if (ns->jwt_key == CONFIG_JWT_KEY_URL) {
			if (ns->jwt_jwks_ca_file[0] &&
			    jwks_ca_check(ns->jwt_jwks_ca_file, why, sizeof why) < 0) {
				snprintf(err, err_len, "namespace %s: jwt_jwks_ca_file %s", ns->name, why);
				auth_keys_free(keys);
				return -1;
			}
			continue;
		}
		if (jwt_keys_load(&keys[i], auth_key_source(ns->jwt_key), ns->jwt_key_file, why,
				  sizeof why) < 0) {
			snprintf(err, err_len, "namespace %s: %s", ns->name, why);
			auth_keys_free(keys);
			return -1;
		}
	}
	return 0;
}

/* The refusal counters appear once a namespace can refuse. */
static void auth_register(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		if (cfg->namespaces[i].auth != CONFIG_AUTH_NONE) {
			auth_reasons_init();
			return;
		}
	}
}

int auth_init(const struct config *cfg, char *err, size_t err_len)
{
	auth.cfg = cfg;
	if (auth_keys_load(cfg, auth.keys, err, err_len) < 0)
		return -1;
	auth_register(cfg);
	return 0;
}

int auth_reload_prepare(const struct config *next, char *err, size_t err_len)
{
	auth_keys_free(auth.staged);
	return auth_keys_load(next, auth.staged, err, err_len);
}

void auth_reload_commit(void)
{
	auth_keys_free(auth.keys);
	memcpy(auth.keys, auth.staged, sizeof auth.keys);
	memset(auth.staged, 0, sizeof auth.staged);
	auth_register(auth.cfg);
}

void auth_cleanup(void)
{
	auth_keys_free(auth.keys);
	auth_keys_free(auth.staged);
}

static const char *auth_refuse(int reason)
{
	auth.refused[reason]++;
	return auth.reasons[reason];
}

const char *auth_backend_refuse(enum auth_backend_reason why)
{
	return auth_refuse(AUTH_FIRST_BACKEND + (int)why);
}

enum auth_verdict auth_connect(const struct config_namespace *ns, const json_t *payload,
			       const char *bearer, int64_t now_s, bool may_wait, json_t **claims,
			       const char **refusal)
{
	const json_t *field = json_object_get(payload, "token");
	struct jwt_policy policy = {
		.issuer = ns->jwt_issuer[0] ? ns->jwt_issuer : NULL,
		.audience = ns->jwt_audience[0] ? ns->jwt_audience : NULL,
		.leeway_s = ns->jwt_leeway_ms / 1000,
		.max_len = auth.cfg->max_auth_size,
	};
	const char *token = bearer;
	size_t len = strlen(bearer);

	*claims = NULL;
	*refusal = NULL;
	if (ns->auth != CONFIG_AUTH_JWT)
		return AUTH_ACCEPT;
	if (field && !json_is_string(field)) {
		*refusal = auth_refuse(-JWT_ERR_MALFORMED);
		return AUTH_REFUSE;
	}
	if (field) {
		token = json_string_value(field);
		len = json_string_length(field);
	}
	if (len == 0) {
		*refusal = auth_refuse(AUTH_MISSING);
		return AUTH_REFUSE;
	}
	bool is_fetched = ns->jwt_key == CONFIG_JWT_KEY_URL;
	const struct jwt_keys *keys = is_fetched ? jwks_keys(ns) : auth.keys[ns - auth.cfg->namespaces];
	enum jwt_result r = jwt_verify(keys, &policy, token, len, now_s, claims);

	/* The provider may have rotated: the set is fetched again
	 * (rate-limited), and the CONNECT waits for a fetch under way;
	 * without one, the kid is refused now, for the next attempt. */
	if (is_fetched && (r == JWT_ERR_NO_KEY_FOR_KID || r == JWT_ERR_NO_KEYS) &&
	    jwks_refresh_wanted(ns) && may_wait && ns->jwt_jwks_wait_ms > 0)
		return AUTH_WAIT;
	if (r == JWT_OK)
		return AUTH_ACCEPT;
	*refusal = auth_refuse(-r);
	return AUTH_REFUSE;
}

int64_t auth_expiry(const struct config_namespace *ns, const json_t *claims)
{
	int64_t exp = jwt_claims_exp(claims), leeway = ns->jwt_leeway_ms / 1000;

	/* exp may be anything up to INT64_MAX: a far-future token saturates. */
	if (!exp)
		return 0;
	return exp > INT64_MAX - leeway ? INT64_MAX : exp + leeway;
}

const char *auth_placeholder_value(const json_t *payload, const json_t *claims, const char *name,
				   size_t name_len, char number[static 24], size_t *len)
{
	static const struct {
		const char *prefix;
		bool is_claim;
	} kinds[] = { { "auth.", false }, { "claims.", true }, { "", true } };
	char key[CONFIG_MAX_ROOM_PATTERN + 1];

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		size_t skip = strlen(kinds[i].prefix);
		if (name_len <= skip || name_len > CONFIG_MAX_ROOM_PATTERN ||
		    memcmp(name, kinds[i].prefix, skip) != 0)
			continue;
		/* Without a prefix only {sub} is a placeholder. */
		if (skip == 0 && (name_len != 3 || memcmp(name, "sub", 3) != 0))
			return NULL;
		memcpy(key, name + skip, name_len - skip);
		key[name_len - skip] = '\0';
		const json_t *v = json_object_get(kinds[i].is_claim ? claims : payload, key);
		if (json_is_string(v)) {
			*len = json_string_length(v);
			return json_string_value(v);
		}
		if (json_is_integer(v)) {
			*len = (size_t)snprintf(number, 24, "%lld", (long long)json_integer_value(v));
			return number;
		}
		return NULL;
	}
	return NULL;
}

size_t auth_user_room(const struct config_namespace *ns, const json_t *claims, char *out,
		      size_t out_len)
{
	const char *p = ns->user_room, *end = p + strlen(p);
	size_t n = 0;

	if (!claims || p == end)
		return 0;
	while (p < end) {
		const char *open = memchr(p, '{', (size_t)(end - p));
		size_t lit = open ? (size_t)(open - p) : (size_t)(end - p);
		char number[24];
		const char *value = NULL;
		size_t len = 0;

		if (lit > out_len - n)
			return 0;
		memcpy(out + n, p, lit);
		n += lit;
		if (!open)
			break;
		/* config.c checked the template: every '{' has its '}'. */
		const char *close = memchr(open, '}', (size_t)(end - open));
		value = auth_placeholder_value(NULL, claims, open + 1, (size_t)(close - open - 1), number,
					       &len);
		if (!value || len > out_len - n || !config_value_is_separated(ns, value, len))
			return 0;
		memcpy(out + n, value, len);
		n += len;
		p = close + 1;
	}
	return n;
}

const json_t *auth_claim_list(const json_t *claims, const char *name)
{
	const json_t *v = name[0] ? json_object_get(claims, name) : NULL;

	return json_is_array(v) ? v : NULL;
}
