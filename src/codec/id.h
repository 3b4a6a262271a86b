/* id.h - unguessable identifiers: Engine.IO session ids, Socket.IO ids.
 *
 * 20 characters of URL-safe base64 (A-Z a-z 0-9 - _), the reference
 * server's length and alphabet, from 15 bytes of the kernel's CSPRNG
 * (getrandom), read in batches so one id costs no system call.
 */
#ifndef ROOMCAST_ID_H
#define ROOMCAST_ID_H

#include <stdbool.h>
#include <stddef.h>

#define ID_LEN 20

/* The 64 id characters, in the order of their 6-bit values. */
extern const char id_alphabet[65];

/* Writes a fresh id and a NUL into <out>.  Returns 0, or -1 if the kernel
 * gave no random bytes (never fall back to a weak source). */
int id_generate(char out[ID_LEN + 1]) __attribute__((warn_unused_result));

/* The same, <n> (at most ID_LEN) characters long: an instance's id. */
int id_generate_short(char *out, size_t n) __attribute__((warn_unused_result));

/* Whether <s> (<len> bytes) is all id characters. */
bool id_chars_valid(const char *s, size_t len);

#endif
