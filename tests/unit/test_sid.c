/* test_sid.c - unit tests for routed session ids (sid.c).
 *
 * A sid is 20 id characters: the instance, the random part, then a MAC
 * that only the cluster's secret makes.  Any change to any character, the
 * wrong secret, a wrong length or a character outside the alphabet makes
 * it invalid; the MAC is a pure function of instance, random part and
 * key (the vector below pins it, so that instances built apart agree).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sid.h"

static const uint8_t secret[] = "0123456789abcdef0123456789abcdef";

static struct sid_key *key;

static int sid_test_setup(void **state)
{
	key = sid_key_new(secret, sizeof secret - 1);
	return key ? 0 : -1;
}

static int sid_test_teardown(void **state)
{
	sid_key_free(key);
	return 0;
}

static void made_sid_is_valid_and_names_its_instance(void **state)
{
	char sid[ID_LEN + 1];

	sid_make(sid, "AbC", "random-part_", key);
	assert_int_equal(strlen(sid), ID_LEN);
	assert_memory_equal(sid, "AbCrandom-part_", SID_INSTANCE_LEN + SID_RANDOM_LEN);
	assert_true(id_chars_valid(sid, ID_LEN));
	assert_true(sid_valid(sid, ID_LEN, key));
}

static void mac_is_pinned_by_a_vector(void **state)
{
	char sid[ID_LEN + 1];

	/* HMAC-SHA256(key, "sid:AbCrandom-part_"), its first 30 bits in the
	 * id alphabet: python3 -c 'import hmac,hashlib,base64;
	 * d=hmac.new(b"0123456789abcdef0123456789abcdef", b"sid:AbCrandom-part_",
	 * hashlib.sha256).digest(); print(base64.urlsafe_b64encode(d[:4])[:5])' */
	sid_make(sid, "AbC", "random-part_", key);
	assert_string_equal(sid + SID_INSTANCE_LEN + SID_RANDOM_LEN, "oc6JU");
}

static void any_changed_character_is_refused(void **state)
{
	char sid[ID_LEN + 1];

	sid_make(sid, "xyz", "0123456789AB", key);
	for (int i = 0; i < ID_LEN; i++) {
		char copy[ID_LEN + 1];
		memcpy(copy, sid, sizeof copy);
		copy[i] = copy[i] == 'Q' ? 'R' : 'Q';
		assert_false(sid_valid(copy, ID_LEN, key));
	}
}

static void wrong_key_length_or_alphabet_is_refused(void **state)
{
	static const uint8_t other_secret[] = "0123456789abcdef0123456789abcdeF";
	struct sid_key *other = sid_key_new(other_secret, sizeof other_secret - 1);
	char sid[ID_LEN + 1];

	assert_non_null(other);
	sid_make(sid, "xyz", "0123456789AB", key);
	assert_false(sid_valid(sid, ID_LEN, other));
	sid_key_free(other);
	assert_false(sid_valid(sid, ID_LEN - 1, key));
	assert_false(sid_valid("", 0, key));
	sid[4] = '+';
	assert_false(id_chars_valid(sid, ID_LEN));
	assert_false(sid_valid(sid, ID_LEN, key));
	assert_false(id_chars_valid("a\0b", 3));
}

static void a_key_longer_than_a_block_is_hashed_first(void **state)
{
	uint8_t long_secret[100];
	char sid[ID_LEN + 1];

	for (size_t i = 0; i < sizeof long_secret; i++)
		long_secret[i] = (uint8_t)('a' + i % 26);
	struct sid_key *k = sid_key_new(long_secret, sizeof long_secret);
	assert_non_null(k);
	/* python3: hmac.new(bytes((97 + i % 26) for i in range(100)),
	 * b"sid:AbCrandom-part_", hashlib.sha256), as above */
	sid_make(sid, "AbC", "random-part_", k);
	assert_string_equal(sid + SID_INSTANCE_LEN + SID_RANDOM_LEN, "vd5EA");
	sid_key_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(made_sid_is_valid_and_names_its_instance),
		cmocka_unit_test(mac_is_pinned_by_a_vector),
		cmocka_unit_test(any_changed_character_is_refused),
		cmocka_unit_test(wrong_key_length_or_alphabet_is_refused),
		cmocka_unit_test(a_key_longer_than_a_block_is_hashed_first),
	};

	return cmocka_run_group_tests(tests, sid_test_setup, sid_test_teardown);
}
