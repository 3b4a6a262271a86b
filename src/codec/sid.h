/* sid.h - session ids that name the instance owning them (session routing).
 *
 * A routed sid is still 20 characters of URL-safe base64, the reference
 * server's length and alphabet, so tooling that matches
 * `sid=([\w\-]{20})` keeps working:
 *
 *     III RRRRRRRRRRRR MMMMM
 *
 * III is the owner's instance id (18 bits, chosen at start), R 72 random
 * bits, and M the first 30 bits of HMAC-SHA256(secret, "sid:" III R) under
 * the cluster's shared secret.  Any instance can then tell, without a
 * lookup, which peer owns a sid, and that the sid was made by the cluster:
 * a forged or mangled one is refused before anything is forwarded.  To a
 * client who does not know the secret the MAC is 30 more unpredictable
 * bits: guessing a live sid is as hard as guessing 102 random bits.
 *
 * Pure: bytes in, bytes out; no I/O.  A key is prepared once
 * (sid_key_new()); its scratch state makes it one caller's at a time.
 */
#ifndef ROOMCAST_SID_H
#define ROOMCAST_SID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "id.h"

#define SID_INSTANCE_LEN 3
#define SID_RANDOM_LEN 12
#define SID_MAC_LEN 5

/* The cluster secret, prepared for MACs: NULL if memory ran out. */
struct sid_key;
struct sid_key *sid_key_new(const uint8_t *key, size_t key_len);
void sid_key_free(struct sid_key *k);

/* Writes the sid of <instance> (SID_INSTANCE_LEN id characters) with
 * <random> (SID_RANDOM_LEN id characters) and its MAC under <k>, and a
 * NUL, into <out>. */
void sid_make(char out[ID_LEN + 1], const char *instance, const char *random, struct sid_key *k);

/* Whether <sid> (<len> bytes) is a sid sid_make() wrote under <k>:
 * length, alphabet and MAC (compared in constant time). */
bool sid_valid(const char *sid, size_t len, struct sid_key *k);

#endif
