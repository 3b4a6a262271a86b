/* test_glob.c - unit tests for glob.c: the room-pattern matcher.
 *
 * A test names a set of patterns, as a namespace's client_join line would
 * (space-separated), and asks whether any of them matches a room, with
 * the separators of the whole set, as config_room_allowed() does.  Room
 * names are matched from heap copies of exactly their length, so an
 * over-read shows under ASan.  The matcher is also checked against a naive
 * recursive one on every small pattern and room.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"

#define GLOB_TEST_MAX_PATTERNS 16

/* The patterns of one client_join line and their separators. */
struct glob_test_set {
	char patterns[GLOB_TEST_MAX_PATTERNS][GLOB_MAX_PATTERN + 1];
	size_t n;
	struct glob_separators sep;
};

/* Splits <patterns> at spaces into <set> ("" gives no pattern). */
static void glob_test_set(struct glob_test_set *set, const char *patterns)
{
	memset(set, 0, sizeof *set);
	for (const char *p = patterns; *p;) {
		size_t len = strcspn(p, " ");
		assert_true(set->n < GLOB_TEST_MAX_PATTERNS && len <= GLOB_MAX_PATTERN);
		memcpy(set->patterns[set->n], p, len);
		glob_separators_add(&set->sep, p, len);
		set->n++;
		p += len + (p[len] == ' ');
	}
}

/* Whether any pattern of <set> matches <room> (<len> bytes). */
static bool glob_test_any(const struct glob_test_set *set, const char *room, size_t len,
			  glob_value_fn *value, void *ctx)
{
	for (size_t i = 0; i < set->n; i++) {
		if (glob_match(set->patterns[i], strlen(set->patterns[i]), room, len, &set->sep, value,
			       ctx))
			return true;
	}
	return false;
}

/* Auth fields for the matcher: <fields> holds name, value pairs. */
struct glob_test_auth {
	const char *const *fields;
	size_t n_fields;
	int calls;
};

/* The placeholder's value: the callback gets what its braces hold, so
 * `auth.` is taken off before the table's field names are compared. */
static const char *glob_test_auth_field(void *ctx, const char *field, size_t field_len,
					  size_t *value_len)
{
	struct glob_test_auth *auth = ctx;

	auth->calls++;
	if (field_len < 5 || memcmp(field, "auth.", 5) != 0)
		return NULL;
	field += 5;
	field_len -= 5;
	for (size_t i = 0; i + 1 < auth->n_fields * 2; i += 2) {
		if (strlen(auth->fields[i]) == field_len && memcmp(auth->fields[i], field, field_len) == 0) {
			*value_len = strlen(auth->fields[i + 1]);
			return auth->fields[i + 1];
		}
	}
	return NULL;
}

/* glob_test_any() on a heap copy of exactly <room>'s bytes. */
static bool glob_test_allowed(const struct glob_test_set *set, const char *room,
			      struct glob_test_auth *auth)
{
	size_t len = strlen(room);
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, room, len);
	bool ok = glob_test_any(set, copy, len, auth ? glob_test_auth_field : NULL, auth);
	free(copy);
	return ok;
}

static void room_matcher_with_no_patterns_allows_nothing(void **state)
{
	struct glob_test_set set;

	glob_test_set(&set, "");
	assert_false(glob_test_allowed(&set, "chat:lobby", NULL));
	assert_false(glob_test_allowed(&set, "", NULL));
	assert_false(glob_test_allowed(&set, "*", NULL));
}

static void room_matcher_star_matches_any_run_of_bytes_even_an_empty_one(void **state)
{
	struct glob_test_set set;

	glob_test_set(&set, "chat:*");
	assert_true(glob_test_allowed(&set, "chat:lobby", NULL));
	assert_true(glob_test_allowed(&set, "chat:", NULL));
	assert_true(glob_test_allowed(&set, "chat:a:b:c", NULL));
	assert_true(glob_test_allowed(&set, "chat:*", NULL));
	assert_false(glob_test_allowed(&set, "chat", NULL));
	assert_false(glob_test_allowed(&set, "Chat:lobby", NULL));
	assert_false(glob_test_allowed(&set, "xchat:lobby", NULL));

	glob_test_set(&set, "*:x*y");
	assert_true(glob_test_allowed(&set, ":xy", NULL));
	assert_true(glob_test_allowed(&set, "a:b:xzzy", NULL));
	assert_true(glob_test_allowed(&set, "a:xyxy", NULL));
	assert_false(glob_test_allowed(&set, "a:xyz", NULL));
	assert_false(glob_test_allowed(&set, "axy", NULL));

	glob_test_set(&set, "**");
	assert_true(glob_test_allowed(&set, "anything", NULL));
}

static void room_matcher_question_mark_matches_exactly_one_byte(void **state)
{
	struct glob_test_set set;

	glob_test_set(&set, "table:??");
	assert_true(glob_test_allowed(&set, "table:12", NULL));
	assert_true(glob_test_allowed(&set, "table:*?", NULL));
	assert_false(glob_test_allowed(&set, "table:1", NULL));
	assert_false(glob_test_allowed(&set, "table:123", NULL));
	/* One byte, not one character: a two-byte UTF-8 letter takes two. */
	assert_true(glob_test_allowed(&set, "table:\xc3\xa9", NULL));
	glob_test_set(&set, "?*?");
	assert_false(glob_test_allowed(&set, "a", NULL));
	assert_true(glob_test_allowed(&set, "ab", NULL));
}

static void room_matcher_literal_pattern_matches_only_itself(void **state)
{
	struct glob_test_set set;

	glob_test_set(&set, "lobby a}b");
	assert_true(glob_test_allowed(&set, "lobby", NULL));
	assert_true(glob_test_allowed(&set, "a}b", NULL));
	assert_false(glob_test_allowed(&set, "lobb", NULL));
	assert_false(glob_test_allowed(&set, "lobby2", NULL));
	assert_false(glob_test_allowed(&set, "LOBBY", NULL));
	assert_false(glob_test_allowed(&set, "", NULL));
}

static void room_matcher_replaces_auth_placeholders_with_the_field_values(void **state)
{
	static const char *const fields[] = { "user", "ana", "team", "red" };
	struct glob_test_auth auth = { fields, 2, 0 };
	struct glob_test_set set;

	glob_test_set(&set, "user:{auth.user}:* team:{auth.team}/{auth.user}");
	assert_true(glob_test_allowed(&set, "user:ana:inbox", &auth));
	assert_true(glob_test_allowed(&set, "user:ana:", &auth));
	assert_true(glob_test_allowed(&set, "team:red/ana", &auth));
	assert_false(glob_test_allowed(&set, "user:bob:inbox", &auth));
	assert_false(glob_test_allowed(&set, "user:an:inbox", &auth));
	assert_false(glob_test_allowed(&set, "user:anan:inbox", &auth));
	assert_false(glob_test_allowed(&set, "team:red/bob", &auth));
	assert_false(glob_test_allowed(&set, "user:{auth.user}:x", &auth));
}

static void room_matcher_fails_a_pattern_whose_field_is_missing(void **state)
{
	static const char *const fields[] = { "team", "red" };
	struct glob_test_auth auth = { fields, 1, 0 };
	struct glob_test_set set;

	glob_test_set(&set, "user:{auth.user}:* team:{auth.team}");
	assert_false(glob_test_allowed(&set, "user::x", &auth));
	assert_false(glob_test_allowed(&set, "user:ana:x", &auth));
	/* The other pattern still applies. */
	assert_true(glob_test_allowed(&set, "team:red", &auth));
	/* No callback: no placeholder pattern matches, the plain ones do. */
	glob_test_set(&set, "user:{auth.user}:* plain:*");
	assert_false(glob_test_any(&set, "user:a:b", 8, NULL, NULL));
	assert_true(glob_test_any(&set, "plain:b", 7, NULL, NULL));
	/* Field names are matched exactly, case included. */
	glob_test_set(&set, "{auth.Team} {auth.tea}");
	assert_false(glob_test_allowed(&set, "red", &auth));
}

static void room_matcher_takes_a_field_value_literally_even_with_star_or_question_mark(void **state)
{
	static const char *const fields[] = { "user", "*", "q", "a?c", "e", "" };
	struct glob_test_auth auth = { fields, 3, 0 };
	struct glob_test_set set;

	glob_test_set(&set, "user:{auth.user}");
	assert_true(glob_test_allowed(&set, "user:*", &auth));
	assert_false(glob_test_allowed(&set, "user:ana", &auth));
	assert_false(glob_test_allowed(&set, "user:", &auth));
	glob_test_set(&set, "q:{auth.q}");
	assert_true(glob_test_allowed(&set, "q:a?c", &auth));
	assert_false(glob_test_allowed(&set, "q:abc", &auth));
	/* An empty value matches the empty string, nothing more. */
	glob_test_set(&set, "e:{auth.e}:x");
	assert_true(glob_test_allowed(&set, "e::x", &auth));
	assert_false(glob_test_allowed(&set, "e:a:x", &auth));
}

/* #19: under own:{sub}:* the user "a" reached own:a:b:inbox, a room of
 * the user "a:b".  A value holding a separator (a byte that follows a
 * placeholder anywhere in the block) now names no room at all. */
static void room_matcher_refuses_a_value_holding_a_separator_so_users_never_meet(void **state)
{
	static const char *const a[] = { "user", "a", "tag", "x" };
	static const char *const ab[] = { "user", "a:b", "tag", "x" };
	static const char *const odd[] = { "user", "*", "tag", "a/b" };
	struct glob_test_auth auth_a = { a, 2, 0 }, auth_ab = { ab, 2, 0 }, auth_odd = { odd, 2, 0 };
	struct glob_test_set set;

	glob_test_set(&set, "own:{auth.user}:* box:{auth.user} t/{auth.tag}/*");
	assert_true(glob_test_allowed(&set, "own:a:b:inbox", &auth_a));
	assert_true(glob_test_allowed(&set, "box:a", &auth_a));
	/* "a:b" holds ':', a separator: no room of either pattern is its, not
	 * even box:{auth.user}, where it would be the room own:{auth.user}:*
	 * gives "a". */
	assert_false(glob_test_allowed(&set, "own:a:b:inbox", &auth_ab));
	assert_false(glob_test_allowed(&set, "box:a:b", &auth_ab));
	assert_false(glob_test_allowed(&set, "own:a:inbox", &auth_ab));
	assert_true(glob_test_allowed(&set, "t/x/1", &auth_ab));
	/* Wildcards in a value are bytes; '/' follows {auth.tag}. */
	assert_true(glob_test_allowed(&set, "own:*:x", &auth_odd));
	assert_false(glob_test_allowed(&set, "own:a:x", &auth_odd));
	assert_false(glob_test_allowed(&set, "t/a/b/1", &auth_odd));
	assert_true(glob_value_is_separated(&set.sep, "a\0b*?{", 6));
	assert_false(glob_value_is_separated(&set.sep, "a/b", 3));
	assert_false(glob_value_is_separated(&set.sep, "a:b", 3));
}

static void room_matcher_handles_an_empty_room(void **state)
{
	static const char *const fields[] = { "e", "", "u", "ana" };
	struct glob_test_auth auth = { fields, 2, 0 };
	struct glob_test_set set;

	glob_test_set(&set, "chat:* ?");
	assert_false(glob_test_allowed(&set, "", NULL));
	glob_test_set(&set, "*");
	assert_true(glob_test_allowed(&set, "", NULL));
	glob_test_set(&set, "{auth.e}");
	assert_true(glob_test_allowed(&set, "", &auth));
	glob_test_set(&set, "{auth.u}*");
	assert_false(glob_test_allowed(&set, "", &auth));
	assert_false(glob_test_any(&set, NULL, 0, glob_test_auth_field, &auth));
}

static void room_matcher_allows_a_room_that_any_pattern_matches(void **state)
{
	struct glob_test_set set;

	glob_test_set(&set, "chat:* game:?? lobby");
	assert_true(glob_test_allowed(&set, "chat:x", NULL));
	assert_true(glob_test_allowed(&set, "game:42", NULL));
	assert_true(glob_test_allowed(&set, "lobby", NULL));
	assert_false(glob_test_allowed(&set, "game:420", NULL));
	assert_false(glob_test_allowed(&set, "other", NULL));
}

/* A callback that, like nsp.c's for numbers, formats into one static
 * buffer: each value lasts only until the next call. */
static const char *glob_test_auth_number(void *ctx, const char *field, size_t field_len,
					   size_t *value_len)
{
	static char number[8];

	(*(int *)ctx)++;
	snprintf(number, sizeof number, "%d", field[field_len - 1] == 'a' ? 1 : 2);
	*value_len = strlen(number);
	return number;
}

static void room_matcher_needs_a_value_only_until_the_next_lookup(void **state)
{
	struct glob_test_set set;
	int calls = 0;

	glob_test_set(&set, "{auth.a}-{auth.b}");
	assert_true(glob_test_any(&set, "1-2", 3, glob_test_auth_number, &calls));
	assert_false(glob_test_any(&set, "2-2", 3, glob_test_auth_number, &calls));
	assert_int_equal(calls, 4);
}

static void room_matcher_bytes_are_not_c_strings(void **state)
{
	struct glob_test_set set;
	const char room[] = { 'c', 'h', 'a', 't', ':', '\0', 'x' };

	glob_test_set(&set, "chat:?x chat:");
	assert_true(glob_test_any(&set, room, sizeof room, NULL, NULL));
	/* Only <room_len> bytes count: "chat:" is a prefix here. */
	assert_true(glob_test_any(&set, "chat:lobby", 5, NULL, NULL));
	assert_false(glob_test_any(&set, "chat:lobby", 6, NULL, NULL));
}

static void room_matcher_refuses_a_room_longer_than_the_largest_max_room_name(void **state)
{
	static const char *const fields[] = { "v", "" };
	struct glob_test_auth auth = { fields, 1, 0 };
	struct glob_test_set set;
	char *room = malloc(GLOB_MAX_NAME + 1), *value = malloc(GLOB_MAX_NAME + 2);
	const char *long_fields[] = { "v", value };

	assert_true(room && value);
	memset(room, 'r', GLOB_MAX_NAME + 1);
	memset(value, 'v', GLOB_MAX_NAME + 1);
	value[GLOB_MAX_NAME + 1] = '\0';

	glob_test_set(&set, "*");
	assert_true(glob_test_any(&set, room, GLOB_MAX_NAME, NULL, NULL));
	assert_false(glob_test_any(&set, room, GLOB_MAX_NAME + 1, NULL, NULL));
	/* A value longer than the room can never match, however long. */
	glob_test_set(&set, "{auth.v}*");
	auth.fields = long_fields;
	assert_false(glob_test_any(&set, value, GLOB_MAX_NAME, glob_test_auth_field, &auth));
	value[GLOB_MAX_NAME] = '\0';
	assert_true(glob_test_any(&set, value, GLOB_MAX_NAME, glob_test_auth_field, &auth));
	free(room);
	free(value);
}

/* The obvious recursive matcher over a pattern of 'a', '*', '?' and 'P'
 * (the placeholder, standing for <value>), as the reference. */
static bool glob_test_reference_match(const char *p, const char *value, const char *room, size_t len)
{
	if (*p == '\0')
		return len == 0;
	if (*p == '*') {
		for (size_t i = 0; i <= len; i++) {
			if (glob_test_reference_match(p + 1, value, room + i, len - i))
				return true;
		}
		return false;
	}
	if (*p == '?')
		return len > 0 && glob_test_reference_match(p + 1, value, room + 1, len - 1);
	if (*p == 'P') {
		size_t n = strlen(value);
		return len >= n && memcmp(room, value, n) == 0 &&
		       glob_test_reference_match(p + 1, value, room + n, len - n);
	}
	return len > 0 && *room == *p && glob_test_reference_match(p + 1, value, room + 1, len - 1);
}

/* Every pattern of 1..5 items over {a, *, ?, {auth.v}} against every room of
 * 0..5 bytes over {a, b, *}, for values "", "a", "*" and "a*": the
 * backtracking walk must agree with the naive recursion each time. */
static void room_matcher_agrees_with_a_recursive_reference_on_every_small_case(void **state)
{
	static const char items[] = "a*?P";
	static const char room_bytes[] = "ab*";
	static const char *const values[] = { "", "a", "*", "a*" };
	struct glob_test_set set;
	size_t checked = 0;

	for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
		const char *fields[] = { "v", values[v] };
		struct glob_test_auth auth = { fields, 1, 0 };
		for (size_t plen = 1, pcount = 4; plen <= 5; plen++, pcount *= 4) {
			for (size_t pi = 0; pi < pcount; pi++) {
				char p[8], pattern[64];
				size_t off = 0;
				for (size_t k = 0, x = pi; k < plen; k++, x /= 4)
					p[k] = items[x % 4];
				p[plen] = '\0';
				for (size_t k = 0; k < plen; k++) {
					if (p[k] == 'P')
						off += (size_t)snprintf(pattern + off, sizeof pattern - off, "{auth.v}");
					else
						pattern[off++] = p[k];
				}
				pattern[off] = '\0';
				glob_test_set(&set, pattern);
				for (size_t rlen = 0, rcount = 1; rlen <= 5; rlen++, rcount *= 3) {
					for (size_t ri = 0; ri < rcount; ri++) {
						char room[8];
						for (size_t k = 0, x = ri; k < rlen; k++, x /= 3)
							room[k] = room_bytes[x % 3];
						/* A value holding the byte after its placeholder matches nothing. */
						bool sep = false;
						for (const char *at = p; (at = strchr(at, 'P')) != NULL; at++)
							sep |= at[1] && strchr(values[v], at[1]);
						bool want = !sep && glob_test_reference_match(p, values[v], room, rlen);
						bool got = glob_test_any(&set, room, rlen, glob_test_auth_field, &auth);
						if (got != want)
							fail_msg("pattern '%s' value '%s' room '%.*s': got %d, want %d",
								 pattern, values[v], (int)rlen, room, got, want);
						checked++;
					}
				}
			}
		}
	}
	assert_true(checked > 100000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(room_matcher_with_no_patterns_allows_nothing),
		cmocka_unit_test(room_matcher_star_matches_any_run_of_bytes_even_an_empty_one),
		cmocka_unit_test(room_matcher_question_mark_matches_exactly_one_byte),
		cmocka_unit_test(room_matcher_literal_pattern_matches_only_itself),
		cmocka_unit_test(room_matcher_replaces_auth_placeholders_with_the_field_values),
		cmocka_unit_test(room_matcher_fails_a_pattern_whose_field_is_missing),
		cmocka_unit_test(room_matcher_takes_a_field_value_literally_even_with_star_or_question_mark),
		cmocka_unit_test(room_matcher_refuses_a_value_holding_a_separator_so_users_never_meet),
		cmocka_unit_test(room_matcher_handles_an_empty_room),
		cmocka_unit_test(room_matcher_allows_a_room_that_any_pattern_matches),
		cmocka_unit_test(room_matcher_needs_a_value_only_until_the_next_lookup),
		cmocka_unit_test(room_matcher_bytes_are_not_c_strings),
		cmocka_unit_test(room_matcher_refuses_a_room_longer_than_the_largest_max_room_name),
		cmocka_unit_test(room_matcher_agrees_with_a_recursive_reference_on_every_small_case),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
