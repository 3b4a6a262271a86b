/* test_packet.c - unit tests for the Socket.IO packet codec (packet.c).
 *
 * Covers every encode and decode case of tests/vectors/sio-parser-vectors.json
 * (socket.io-parser 4.2.7) and every input of sio-bad-input-polling.json
 * and sio-bad-input-websocket.txt that reaches the Socket.IO parser (there
 * without the Engine.IO `4` in front), typed into the tables below; the
 * reference oddities we refuse (doc/protocol.md, "Socket.IO text form") are
 * marked where they
 * appear.  Then binary packets, limits, sticky errors, memory held between
 * packets, ack ids, the JSON differences from JSON.parse that packet.c's
 * top comment lists, the encoder, and allocation failures.
 *
 * Each message is fed whole, from a test_malloc() block of its exact size:
 * a packet arrives as whole Engine.IO messages, so there are no split points
 * to try.  Binary messages (and binary headers) are overwritten and freed
 * right after their feed, so a reader that kept a pointer instead of a copy
 * fails.  Every packet decoded is encoded again and decoded to the same
 * fields.  jansson and packet.c allocate through json_set_alloc_funcs()
 * hooks on cmocka's allocator (failalloc.h): cmocka reports leaks and
 * overruns, and the hooks count the bytes a reader holds (zero once it is
 * idle) and fail the n-th allocation on request.  Not covered here: what
 * the server does with a packet or an error (server tests, integration
 * tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonmem.h"
#include "packet.h"
#include "failalloc.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define PACKET_TEST_ACK_MAX INT64_C(9007199254740991) /* 2^53 - 1 */

/* ---- cases ---- */

/* One Engine.IO message: text, or one binary attachment. */
struct packet_test_msg {
	bool binary;
	const char *bytes;
	size_t len;
};

#define TXT(s) { false, (s), sizeof(s) - 1 }
#define BIN(s) { true, (s), sizeof(s) - 1 }

#define PACKET_TEST_MAX_MSGS 12

/* What a decoded packet must hold.  Attachments are the case's binary
 * messages, in order. */
struct packet_test_want {
	enum packet_type type;
	const char *nsp;
	int64_t ack_id;
	const char *json; /* the payload text as sent; NULL: none */
	const char *data; /* the payload's value, spelled independently; NULL: none */
};

/* Messages fed in order (the list ends at the first NULL bytes); every one
 * but the last must give PACKET_MORE, the last gives <result>. */
struct packet_test_case {
	const char *what;
	struct packet_test_msg msgs[PACKET_TEST_MAX_MSGS];
	enum packet_result result;
	struct packet_test_want want;
};

#define NO_ACK PACKET_NO_ACK

#define PH(n) "{\"_placeholder\":true,\"num\":" #n "}"
#define PH_DATA(n) "{\"num\": " #n ", \"_placeholder\": true}"

/* "é€😀" and U+2028 spelled in UTF-8 bytes, so the test does not depend on
 * the compiler's source character set. */
#define PACKET_TEST_UNI "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x80\xa8"

/* vectors "decode", in order.  The reference's "Illegal attachments" and
 * "illegal attachments" are both PACKET_ERR_ATTACHMENTS. */
static const struct packet_test_case packet_test_decode_vectors[] = {
	{ "connect without namespace or auth", { TXT("0") }, PACKET_OK,
	  { PACKET_CONNECT, "/", NO_ACK, NULL, NULL } },
	{ "connect to /admin without auth", { TXT("0/admin,") }, PACKET_OK,
	  { PACKET_CONNECT, "/admin", NO_ACK, NULL, NULL } },
	{ "connect with auth", { TXT("0{\"token\":\"abc\"}") }, PACKET_OK,
	  { PACKET_CONNECT, "/", NO_ACK, "{\"token\":\"abc\"}", "{ \"token\": \"abc\" }" } },
	{ "disconnect", { TXT("1") }, PACKET_OK, { PACKET_DISCONNECT, "/", NO_ACK, NULL, NULL } },
	{ "disconnect from /admin", { TXT("1/admin,") }, PACKET_OK,
	  { PACKET_DISCONNECT, "/admin", NO_ACK, NULL, NULL } },
	{ "event", { TXT("2[\"hello\",1]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"hello\",1]", "[\"hello\", 1]" } },
	{ "event on /admin with ack id 9", { TXT("2/admin,9[\"hello\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/admin", 9, "[\"hello\"]", "[\"hello\"]" } },
	{ "ack on /admin with id 9", { TXT("3/admin,9[\"ok\"]") }, PACKET_OK,
	  { PACKET_ACK, "/admin", 9, "[\"ok\"]", "[\"ok\"]" } },
	{ "connect error object", { TXT("4{\"message\":\"err\"}") }, PACKET_OK,
	  { PACKET_CONNECT_ERROR, "/", NO_ACK, "{\"message\":\"err\"}", "{\"message\": \"err\"}" } },
	{ "event with unterminated json", { TXT("2[\"a\"") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event with an object payload", { TXT("2{\"a\":1}") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event named connect", { TXT("2[\"connect\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event with an empty array", { TXT("2[]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event with a numeric name", { TXT("2[1,\"numeric event name\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[1,\"numeric event name\"]", "[1, \"numeric event name\"]" } },
	{ "type 7", { TXT("7") }, PACKET_ERR_TYPE, { 0 } },
	{ "connect with an array as auth", { TXT("0[1]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "ack with an object payload", { TXT("3{}") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "disconnect with a payload", { TXT("1{\"a\":1}") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "binary event without an attachment count", { TXT("5-[\"x\"]") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "binary event with 0 attachments", { TXT("50-[\"x\"]") }, PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "binary event with one attachment",
	  { TXT("51-[\"x\"," PH(0) "]"), BIN("\x01\x02\x03") }, PACKET_OK,
	  { PACKET_BINARY_EVENT, "/", NO_ACK, "[\"x\"," PH(0) "]", "[\"x\", " PH_DATA(0) "]" } },
	{ "binary event with placeholders out of order",
	  { TXT("52-[\"x\"," PH(1) "," PH(0) "]"), BIN("\xaa"), BIN("\xbb") }, PACKET_OK,
	  { PACKET_BINARY_EVENT, "/", NO_ACK, "[\"x\"," PH(1) "," PH(0) "]",
	    "[\"x\", " PH_DATA(1) ", " PH_DATA(0) "]" } },
	{ "binary ack with 11 attachments", { TXT("611-[\"x\"]") },
	  PACKET_ERR_TOO_MANY_ATTACHMENTS, { 0 } },
	{ "binary ack with ack id 9", { TXT("61-9[" PH(0) "]"), BIN("\x07") }, PACKET_OK,
	  { PACKET_BINARY_ACK, "/", 9, "[" PH(0) "]", "[" PH_DATA(0) "]" } },
	{ "binary event whose placeholder names attachment 3 of 1",
	  { TXT("51-[\"x\"," PH(3) "]"), BIN("\x01") }, PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "text packet while an attachment is expected",
	  { TXT("51-[\"x\"," PH(0) "]"), TXT("2[\"y\"]") }, PACKET_ERR_UNEXPECTED_TEXT, { 0 } },
	{ "binary message with no packet pending", { BIN("\x01") },
	  PACKET_ERR_UNEXPECTED_BINARY, { 0 } },
	/* Reference: EVENT on /nsp-without-comma with no data (an oddity). */
	{ "event with a namespace and no payload", { TXT("2/nsp-without-comma") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	{ "event whose payload starts after a second comma", { TXT("2/a,b,[\"x\"]") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	/* Reference: EVENT with ack id 0 (an oddity). */
	{ "event with a space before the payload", { TXT("2 [\"x\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
};

/* sio-bad-input-polling.json cases whose body reaches the Socket.IO parser
 * (Engine.IO's `4` removed), plus the two WebSocket cases.  Packets the
 * parser accepts and the server then refuses (event before CONNECT, second
 * CONNECT, CONNECT_ERROR from a client, unjoined namespace) must decode. */
static const struct packet_test_case packet_test_bad_input[] = {
	{ "unknown socket.io packet type '47'", { TXT("7") }, PACKET_ERR_TYPE, { 0 } },
	{ "invalid JSON in event", { TXT("2[\"a\"") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event payload not an array", { TXT("2{\"a\":1}") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event name reserved ('connect')", { TXT("2[\"connect\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event name reserved ('disconnecting')", { TXT("2[\"disconnecting\",1]") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	{ "event name reserved ('connect_error')", { TXT("2[\"connect_error\"]") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	{ "event name reserved ('newListener')", { TXT("2[\"newListener\"]") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	{ "event name not string/number (object)", { TXT("2[{\"a\":1}]") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	{ "empty event array", { TXT("2[]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event name reserved ('disconnect')", { TXT("2[\"disconnect\"]") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	{ "event name 'error' (not reserved in parser)", { TXT("2[\"error\",\"x\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"error\",\"x\"]", "[\"error\", \"x\"]" } },
	{ "event with numeric name (allowed by parser)", { TXT("2[7,\"x\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[7,\"x\"]", "[7, \"x\"]" } },
	{ "event before CONNECT (no socket on nsp)", { TXT("2[\"hello\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"hello\"]", "[\"hello\"]" } },
	{ "second CONNECT to an already connected nsp", { TXT("0") }, PACKET_OK,
	  { PACKET_CONNECT, "/", NO_ACK, NULL, NULL } },
	{ "CONNECT with non-object auth", { TXT("0[1]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "CONNECT with string auth", { TXT("0\"abc\"") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "CONNECT namespace without leading slash", { TXT("0admin,") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "DISCONNECT with payload", { TXT("1{\"a\":1}") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "ACK without array", { TXT("31{}") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "ACK for unknown id (ignored)", { TXT("399[\"x\"]") }, PACKET_OK,
	  { PACKET_ACK, "/", 99, "[\"x\"]", "[\"x\"]" } },
	{ "BINARY_EVENT with attachments 0", { TXT("50-[\"x\"]") }, PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "BINARY_EVENT with 11 attachments (over maxAttachments 10)", { TXT("511-[\"x\"]") },
	  PACKET_ERR_TOO_MANY_ATTACHMENTS, { 0 } },
	{ "BINARY_EVENT missing dash", { TXT("51[\"x\"]") }, PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "text packet while a binary attachment is expected",
	  { TXT("51-[\"x\"," PH(0) "]"), TXT("2[\"y\"]") }, PACKET_ERR_UNEXPECTED_TEXT, { 0 } },
	{ "binary attachment with no pending BINARY_EVENT", { BIN("\x01\x02\x03") },
	  PACKET_ERR_UNEXPECTED_BINARY, { 0 } },
	{ "placeholder num out of range", { TXT("51-[\"x\"," PH(5) "]"), BIN("\x01\x02\x03") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "CONNECT_ERROR sent by client", { TXT("4{\"message\":\"x\"}") }, PACKET_OK,
	  { PACKET_CONNECT_ERROR, "/", NO_ACK, "{\"message\":\"x\"}", "{\"message\": \"x\"}" } },
	/* Reference: a TypeError in the Socket.IO layer; the connection closes either way. */
	{ "engine message with empty data", { TXT("") }, PACKET_ERR_TYPE, { 0 } },
	{ "event on a namespace the client has not joined", { TXT("2/admin,[\"hello\"]") },
	  PACKET_OK, { PACKET_EVENT, "/admin", NO_ACK, "[\"hello\"]", "[\"hello\"]" } },
};

/* Binary packets beyond the vectors. */
#define PH10 PH(0) "," PH(1) "," PH(2) "," PH(3) "," PH(4) "," PH(5) "," PH(6) "," PH(7) "," PH(8)

static const struct packet_test_case packet_test_binary[] = {
	{ "binary event with 10 attachments, the last nested two levels down",
	  { TXT("510-[\"ten\"," PH10 ",{\"deep\":[{\"deeper\":" PH(9) "}]}]"), BIN("\x00"), BIN("1"),
	    BIN("22"), BIN("333"), BIN(""), BIN("55555"), BIN("\xff\xfe"), BIN("7"), BIN("8"),
	    BIN("\x09\x00\x09") },
	  PACKET_OK,
	  { PACKET_BINARY_EVENT, "/", NO_ACK,
	    "[\"ten\"," PH10 ",{\"deep\":[{\"deeper\":" PH(9) "}]}]",
	    "[\"ten\", " PH_DATA(0) ", " PH_DATA(1) ", " PH_DATA(2) ", " PH_DATA(3) ", "
	    PH_DATA(4) ", " PH_DATA(5) ", " PH_DATA(6) ", " PH_DATA(7) ", " PH_DATA(8)
	    ", {\"deep\": [{\"deeper\": " PH_DATA(9) "}]}]" } },
	{ "binary event whose attachments are all zero-length",
	  { TXT("52-/admin,3[\"e\"," PH(0) "," PH(1) "]"), BIN(""), BIN("") }, PACKET_OK,
	  { PACKET_BINARY_EVENT, "/admin", 3, "[\"e\"," PH(0) "," PH(1) "]",
	    "[\"e\", " PH_DATA(0) ", " PH_DATA(1) "]" } },
	{ "binary event that uses one attachment twice and one not at all",
	  { TXT("52-[\"e\"," PH(0) ",{\"again\":" PH(0) "}]"), BIN("a"), BIN("b") }, PACKET_OK,
	  { PACKET_BINARY_EVENT, "/", NO_ACK, "[\"e\"," PH(0) ",{\"again\":" PH(0) "}]",
	    "[\"e\", " PH_DATA(0) ", {\"again\": " PH_DATA(0) "}]" } },
	{ "binary event with a leading zero in its count",
	  { TXT("501-[\"e\"," PH(0) "]"), BIN("z") }, PACKET_OK,
	  { PACKET_BINARY_EVENT, "/", NO_ACK, "[\"e\"," PH(0) "]", "[\"e\", " PH_DATA(0) "]" } },
	{ "binary ack with ack id and namespace",
	  { TXT("61-/chat,2[" PH(0) "]"), BIN("\x09") }, PACKET_OK,
	  { PACKET_BINARY_ACK, "/chat", 2, "[" PH(0) "]", "[" PH_DATA(0) "]" } },
	/* The reference checks only binary packets' placeholders. */
	{ "text event holding a placeholder is not checked", { TXT("2[\"e\"," PH(4) "]") },
	  PACKET_OK, { PACKET_EVENT, "/", NO_ACK, "[\"e\"," PH(4) "]", "[\"e\", " PH_DATA(4) "]" } },
	{ "placeholder num equal to the count", { TXT("52-[\"e\"," PH(2) "]"), BIN("a"), BIN("b") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "placeholder num -1", { TXT("51-[\"e\"," PH(-1) "]"), BIN("a") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "placeholder num as a string",
	  { TXT("51-[\"e\",{\"_placeholder\":true,\"num\":\"0\"}]"), BIN("a") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
	/* Reference: buffers[0.5], undefined. */
	{ "placeholder num 0.5", { TXT("51-[\"e\"," PH(0.5) "]"), BIN("a") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "placeholder num 0.0 is attachment 0", { TXT("51-[\"e\"," PH(0.0) "]"), BIN("a") },
	  PACKET_OK,
	  { PACKET_BINARY_EVENT, "/", NO_ACK, "[\"e\"," PH(0.0) "]", "[\"e\", " PH_DATA(0.0) "]" } },
	{ "placeholder without num", { TXT("51-[\"e\",{\"_placeholder\":true}]"), BIN("a") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "placeholder out of range deep in an object",
	  { TXT("51-[\"e\",{\"a\":{\"b\":[1,[" PH(1) "]]}}]"), BIN("a") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "object whose _placeholder is not true is no placeholder",
	  { TXT("51-[\"e\",{\"_placeholder\":1,\"num\":9},{\"_placeholder\":\"true\",\"num\":9}]"),
	    BIN("a") },
	  PACKET_OK,
	  { PACKET_BINARY_EVENT, "/", NO_ACK,
	    "[\"e\",{\"_placeholder\":1,\"num\":9},{\"_placeholder\":\"true\",\"num\":9}]",
	    "[\"e\", {\"_placeholder\": 1, \"num\": 9}, {\"_placeholder\": \"true\", \"num\": 9}]" } },
	/* Reference: a placeholder is replaced whole, its other keys unseen. */
	{ "placeholder's own other keys are not looked into",
	  { TXT("51-[\"e\",{\"_placeholder\":true,\"num\":0,\"x\":" PH(7) "}]"), BIN("a") },
	  PACKET_OK,
	  { PACKET_BINARY_EVENT, "/", NO_ACK, "[\"e\",{\"_placeholder\":true,\"num\":0,\"x\":" PH(7) "}]",
	    "[\"e\", {\"_placeholder\": true, \"num\": 0, \"x\": " PH_DATA(7) "}]" } },
	{ "binary header with bad json fails before any attachment", { TXT("51-[\"e\"") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	{ "binary event with a reserved name fails at its header",
	  { TXT("51-[\"disconnect\"," PH(0) "]") }, PACKET_ERR_PAYLOAD, { 0 } },
	/* Reference: an EVENT without data once its attachment arrives. */
	{ "binary event without a payload", { TXT("51-") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "binary ack whose payload is not an array", { TXT("61-{\"a\":" PH(0) "}") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	{ "binary event with a space in its count", { TXT("5 1-[\"e\"]") }, PACKET_ERR_ATTACHMENTS,
	  { 0 } },
	{ "binary event with a decimal point in its count", { TXT("51.0-[\"e\"]") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "binary event with a huge count", { TXT("59999999999999999999999999-[\"e\"]") },
	  PACKET_ERR_TOO_MANY_ATTACHMENTS, { 0 } },
	{ "binary event whose count wraps 32 bits to 1", { TXT("54294967297-[\"e\"]") },
	  PACKET_ERR_TOO_MANY_ATTACHMENTS, { 0 } },
	{ "binary event whose count wraps 64 bits to 1", { TXT("518446744073709551617-[\"e\"]") },
	  PACKET_ERR_TOO_MANY_ATTACHMENTS, { 0 } },
	{ "binary event of only its type", { TXT("5") }, PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "binary event whose count runs to the end", { TXT("51") }, PACKET_ERR_ATTACHMENTS, { 0 } },
	{ "binary event whose first dash is inside the payload", { TXT("51[\"a-b\"]") },
	  PACKET_ERR_ATTACHMENTS, { 0 } },
};

/* Text packets beyond the vectors: ack ids, namespaces, whitespace, shapes. */
static const struct packet_test_case packet_test_text[] = {
	{ "ack id 0", { TXT("20[\"x\"]") }, PACKET_OK, { PACKET_EVENT, "/", 0, "[\"x\"]", "[\"x\"]" } },
	{ "ack id 1", { TXT("21[\"x\"]") }, PACKET_OK, { PACKET_EVENT, "/", 1, "[\"x\"]", "[\"x\"]" } },
	{ "ack id 12", { TXT("212[\"x\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", 12, "[\"x\"]", "[\"x\"]" } },
	{ "ack id 2^53 - 1", { TXT("29007199254740991[\"x\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", PACKET_TEST_ACK_MAX, "[\"x\"]", "[\"x\"]" } },
	{ "ack id 2^53 - 1 on a namespace", { TXT("3/admin,9007199254740991[]") }, PACKET_OK,
	  { PACKET_ACK, "/admin", PACKET_TEST_ACK_MAX, "[]", "[ ]" } },
	/* Reference: rounded to 9007199254740992, which then names another ack. */
	{ "ack id 2^53", { TXT("29007199254740992[\"x\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "ack id past int64", { TXT("2123456789012345678901234567890[\"x\"]") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	{ "ack id with leading zeros", { TXT("2007[\"x\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", 7, "[\"x\"]", "[\"x\"]" } },
	{ "connect with an ack id and no payload", { TXT("01") }, PACKET_OK,
	  { PACKET_CONNECT, "/", 1, NULL, NULL } },
	{ "connect to a namespace without a comma", { TXT("0/admin") }, PACKET_OK,
	  { PACKET_CONNECT, "/admin", NO_ACK, NULL, NULL } },
	{ "namespace / written out", { TXT("2/,[\"x\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"x\"]", "[\"x\"]" } },
	{ "namespace with slashes and utf-8", { TXT("2/a/b" PACKET_TEST_UNI ",4[\"x\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/a/b" PACKET_TEST_UNI, 4, "[\"x\"]", "[\"x\"]" } },
	{ "disconnect with an ack id after its namespace", { TXT("1/admin,5") }, PACKET_OK,
	  { PACKET_DISCONNECT, "/admin", 5, NULL, NULL } },
	{ "utf-8 and U+2028 in an event", { TXT("2[\"uni\",\"" PACKET_TEST_UNI "\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"uni\",\"" PACKET_TEST_UNI "\"]",
	    "[\"uni\", \"\\u00e9\\u20ac\\ud83d\\ude00\\u2028\"]" } },
	{ "trailing whitespace after the payload", { TXT("2[\"x\"] \n") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"x\"] \n", "[\"x\"]" } },
	{ "tab before the payload", { TXT("2\t[\"x\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "newline before the payload", { TXT("2\n[\"x\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "space after the ack id", { TXT("21 [\"x\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "space after the namespace", { TXT("2/admin, [\"x\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "connect with only a space", { TXT("0 ") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "garbage after the payload", { TXT("2[\"x\"]x") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "two json values", { TXT("2[\"x\"][\"y\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "byte order mark before the payload", { TXT("2\xef\xbb\xbf[\"x\"]") },
	  PACKET_ERR_PAYLOAD, { 0 } },
	/* Reference: these pass with no data (an oddity). */
	{ "event of only its type", { TXT("2") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event with an ack id and no payload", { TXT("21") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "ack without payload", { TXT("3") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "ack with an id and no payload", { TXT("31") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "connect error without payload", { TXT("4") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "connect error string", { TXT("4\"boom\"") }, PACKET_OK,
	  { PACKET_CONNECT_ERROR, "/", NO_ACK, "\"boom\"", "\"boom\"" } },
	{ "connect error array", { TXT("4[1]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "connect error null", { TXT("4null") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "connect with null auth", { TXT("0null") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "connect with empty auth", { TXT("0{}") }, PACKET_OK,
	  { PACKET_CONNECT, "/", NO_ACK, "{}", "{ }" } },
	{ "event named removeListener", { TXT("2[\"removeListener\",1]") }, PACKET_ERR_PAYLOAD,
	  { 0 } },
	{ "event named Connect", { TXT("2[\"Connect\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"Connect\"]", "[\"Connect\"]" } },
	{ "event named connect with a NUL after it", { TXT("2[\"connect\\u0000\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"connect\\u0000\"]", "[\"connect\\u0000\"]" } },
	{ "event with an empty name", { TXT("2[\"\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"\"]", "[\"\"]" } },
	{ "event named by a negative real", { TXT("2[-1.5e3]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[-1.5e3]", "[-1500.0]" } },
	{ "event named true", { TXT("2[true]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event named null", { TXT("2[null,1]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event named by an array", { TXT("2[[\"x\"]]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "event with a string payload", { TXT("2\"x\"") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "disconnect with null", { TXT("1null") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "ack with an empty array", { TXT("30[]") }, PACKET_OK,
	  { PACKET_ACK, "/", 0, "[]", "[]" } },
	{ "duplicate keys keep the last value", { TXT("0{\"a\":1,\"a\":2}") }, PACKET_OK,
	  { PACKET_CONNECT, "/", NO_ACK, "{\"a\":1,\"a\":2}", "{\"a\": 2}" } },
	{ "NUL escaped in a string", { TXT("2[\"x\",\"a\\u0000b\"]") }, PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"x\",\"a\\u0000b\"]", "[\"x\", \"a\\u0000b\"]" } },
	/* JSON.stringify writes 2 ** 64 this way; jansson needs the real retry. */
	{ "integer past int64 becomes a real", { TXT("2[\"n\",18446744073709552000,7]") },
	  PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[\"n\",18446744073709552000,7]",
	    "[\"n\", 1.8446744073709552e19, 7.0]" } },
	{ "negative integer past int64 becomes a real", { TXT("2[-100000000000000000000]") },
	  PACKET_OK,
	  { PACKET_EVENT, "/", NO_ACK, "[-100000000000000000000]", "[-1e20]" } },
	/* Gaps to JSON.parse (packet.c's top comment). */
	{ "real past the double range", { TXT("2[\"n\",1e400]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "lone high surrogate escape", { TXT("2[\"s\",\"\\ud800\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "lone low surrogate escape", { TXT("2[\"s\",\"\\udc00x\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "NUL escaped in an object key", { TXT("0{\"a\\u0000\":1}") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "raw control character in a string", { TXT("2[\"a\tb\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
	{ "invalid utf-8 in a string", { TXT("2[\"\xc3\"]") }, PACKET_ERR_PAYLOAD, { 0 } },
};

/* vectors "encode": the header fields, the payload text, and the messages
 * socket.io-parser produced (attachments follow the text). */
static const struct packet_test_encode {
	enum packet_type type;
	unsigned n_attachments;
	const char *nsp;
	int64_t ack_id;
	const char *json;
	struct packet_test_msg msgs[PACKET_TEST_MAX_MSGS];
} packet_test_encode_vectors[] = {
	{ PACKET_CONNECT, 0, "/", NO_ACK, "", { TXT("0") } },
	{ PACKET_CONNECT, 0, "/", NO_ACK, "{\"token\":\"abc\"}", { TXT("0{\"token\":\"abc\"}") } },
	{ PACKET_CONNECT, 0, "/admin", NO_ACK, "{\"token\":\"abc\"}",
	  { TXT("0/admin,{\"token\":\"abc\"}") } },
	{ PACKET_CONNECT, 0, "/", NO_ACK, "{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
	  { TXT("0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}") } },
	{ PACKET_CONNECT, 0, "/", NO_ACK,
	  "{\"sid\":\"wZX3oN0bSVIhsaknAAAI\",\"pid\":\"bxoPjHYWVTQqdVk4AAAB\"}",
	  { TXT("0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\",\"pid\":\"bxoPjHYWVTQqdVk4AAAB\"}") } },
	{ PACKET_CONNECT, 0, "/", NO_ACK, "{\"pid\":\"bxoPjHYWVTQqdVk4AAAB\",\"offset\":\"MzUPkW0\"}",
	  { TXT("0{\"pid\":\"bxoPjHYWVTQqdVk4AAAB\",\"offset\":\"MzUPkW0\"}") } },
	{ PACKET_DISCONNECT, 0, "/", NO_ACK, "", { TXT("1") } },
	{ PACKET_DISCONNECT, 0, "/admin", NO_ACK, "", { TXT("1/admin,") } },
	{ PACKET_EVENT, 0, "/", NO_ACK, "[\"hello\",1,{\"a\":[true,null]}]",
	  { TXT("2[\"hello\",1,{\"a\":[true,null]}]") } },
	{ PACKET_EVENT, 0, "/", 12, "[\"hello\"]", { TXT("212[\"hello\"]") } },
	{ PACKET_EVENT, 0, "/admin", 0, "[\"hello\"]", { TXT("2/admin,0[\"hello\"]") } },
	{ PACKET_EVENT, 0, "/", NO_ACK, "[\"news\",\"x\",\"MzUPkW0\"]",
	  { TXT("2[\"news\",\"x\",\"MzUPkW0\"]") } },
	{ PACKET_EVENT, 0, "/", NO_ACK, "[\"uni\",\"" PACKET_TEST_UNI "\"]",
	  { TXT("2[\"uni\",\"" PACKET_TEST_UNI "\"]") } },
	{ PACKET_ACK, 0, "/", 12, "[\"ok\"]", { TXT("312[\"ok\"]") } },
	{ PACKET_ACK, 0, "/admin", 3, "[]", { TXT("3/admin,3[]") } },
	{ PACKET_CONNECT_ERROR, 0, "/", NO_ACK, "{\"message\":\"Invalid namespace\"}",
	  { TXT("4{\"message\":\"Invalid namespace\"}") } },
	{ PACKET_CONNECT_ERROR, 0, "/admin", NO_ACK,
	  "{\"message\":\"not authorized\",\"data\":{\"reason\":\"x\"}}",
	  { TXT("4/admin,{\"message\":\"not authorized\",\"data\":{\"reason\":\"x\"}}") } },
	{ PACKET_BINARY_EVENT, 1, "/", NO_ACK, "[\"bin\"," PH(0) "]",
	  { TXT("51-[\"bin\"," PH(0) "]"), BIN("\x01\x02\x03") } },
	{ PACKET_BINARY_EVENT, 2, "/", 7, "[\"bin\"," PH(0) ",{\"deep\":[" PH(1) "]}]",
	  { TXT("52-7[\"bin\"," PH(0) ",{\"deep\":[" PH(1) "]}]"), BIN("\x01"), BIN("\x02\x03") } },
	{ PACKET_BINARY_EVENT, 1, "/admin", NO_ACK, "[\"bin\"," PH(0) "]",
	  { TXT("51-/admin,[\"bin\"," PH(0) "]"), BIN("") } },
	{ PACKET_BINARY_ACK, 1, "/", 4, "[" PH(0) "]", { TXT("61-4[" PH(0) "]"), BIN("\x09") } },
};

/* ---- helpers ---- */

/* A test_malloc() copy of exactly <len> bytes (at least one byte is
 * allocated so the pointer is never NULL). */
static uint8_t *packet_test_copy(const void *bytes, size_t len)
{
	uint8_t *p = test_malloc(len != 0 ? len : 1);

	if (len != 0)
		memcpy(p, bytes, len);
	return p;
}

/* Frees a message the reader must not hold on to, scribbling on it first so
 * a kept pointer reads garbage even without ASan. */
static void packet_test_scrub(uint8_t *p, size_t len)
{
	memset(p, 0xa5, len);
	test_free(p);
}

static size_t packet_test_n_msgs(const struct packet_test_msg *msgs)
{
	size_t n = 0;

	while (n < PACKET_TEST_MAX_MSGS && msgs[n].bytes != NULL)
		n++;
	return n;
}

static bool packet_test_ptr_within(const void *p, size_t len, const void *base, size_t base_len)
{
	const uint8_t *q = p, *b = base;

	return q >= b && len <= base_len && (size_t)(q - b) <= base_len - len;
}

/* Checks *<p> field by field against <w>; the attachments must be the
 * binary messages of <msgs>. */
static void packet_test_check_packet(const char *what, const struct packet *p,
				     const struct packet_test_want *w,
				     const struct packet_test_msg *msgs)
{
	size_t n_msgs = packet_test_n_msgs(msgs);
	unsigned n_bin = 0;

	if (p->type != w->type)
		fail_msg("%s: type %d, want %d", what, (int)p->type, (int)w->type);
	if (p->nsp == NULL || p->nsp_len != strlen(w->nsp) || memcmp(p->nsp, w->nsp, p->nsp_len) != 0)
		fail_msg("%s: nsp \"%.*s\", want \"%s\"", what, (int)p->nsp_len,
			 p->nsp ? p->nsp : "", w->nsp);
	if (p->ack_id != w->ack_id)
		fail_msg("%s: ack id %lld, want %lld", what, (long long)p->ack_id, (long long)w->ack_id);
	if (w->json == NULL) {
		if (p->json_len != 0 || p->data != NULL)
			fail_msg("%s: payload \"%.*s\", want none", what, (int)p->json_len,
				 (const char *)p->json);
	} else {
		json_error_t err;
		json_t *want;

		if (p->json_len != strlen(w->json) || memcmp(p->json, w->json, p->json_len) != 0)
			fail_msg("%s: json \"%.*s\", want \"%s\"", what, (int)p->json_len,
				 (const char *)p->json, w->json);
		want = json_loads(w->data, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
		if (want == NULL)
			fail_msg("%s: the table's data does not parse: %s", what, err.text);
		if (!json_equal(p->data, want)) {
			char *got = p->data ? json_dumps(p->data, JSON_ENCODE_ANY) : NULL;

			print_error("%s: data %s, want %s\n", what, got ? got : "NULL", w->data);
			failalloc_free(got);
			json_decref(want);
			fail();
		}
		json_decref(want);
	}
	for (size_t i = 0; i < n_msgs; i++) {
		if (!msgs[i].binary)
			continue;
		if (n_bin >= PACKET_MAX_ATTACHMENTS || p->attachments[n_bin] == NULL ||
		    p->attachment_lens[n_bin] != msgs[i].len ||
		    memcmp(p->attachments[n_bin], msgs[i].bytes, msgs[i].len) != 0)
			fail_msg("%s: attachment %u differs", what, n_bin);
		n_bin++;
	}
	if (p->n_attachments != n_bin)
		fail_msg("%s: %u attachments, want %u", what, p->n_attachments, n_bin);
	for (unsigned i = n_bin; i < PACKET_MAX_ATTACHMENTS; i++)
		if (p->attachments[i] != NULL || p->attachment_lens[i] != 0)
			fail_msg("%s: attachment slot %u is not empty", what, i);
}

/* Feeds <msgs> to <r> (fresh copies, binary ones freed at once).  Returns
 * the last result; every earlier one must be PACKET_MORE.  A text message
 * that gives PACKET_OK is handed back in *<text_copy> (the packet borrows
 * it); the caller frees it. */
static enum packet_result packet_test_feed_all(const char *what, struct packet_reader *r,
					       const struct packet_test_msg *msgs,
					       struct packet *out, uint8_t **text_copy)
{
	size_t n = packet_test_n_msgs(msgs);
	enum packet_result res = PACKET_MORE;

	*text_copy = NULL;
	for (size_t i = 0; i < n; i++) {
		uint8_t *copy = packet_test_copy(msgs[i].bytes, msgs[i].len);

		res = packet_reader_feed(r, msgs[i].binary, copy, msgs[i].len, out);
		if (i + 1 < n && res != PACKET_MORE)
			fail_msg("%s: message %zu gave \"%s\", want more", what, i,
				 packet_result_text(res));
		if (res == PACKET_OK && !msgs[i].binary)
			*text_copy = copy;
		else
			packet_test_scrub(copy, msgs[i].len);
	}
	return res;
}

/* Encodes *<p> again and decodes the result on a fresh reader: it must give
 * the same packet. */
static void packet_test_check_round_trip(const char *what, const struct packet *p,
					 const struct packet_test_want *w,
					 const struct packet_test_msg *msgs)
{
	char header[PACKET_HEADER_MAX(256)];
	struct packet_test_msg again[PACKET_TEST_MAX_MSGS] = { { 0 } };
	struct packet_reader r;
	struct packet q;
	size_t hlen, n = packet_test_n_msgs(msgs);
	char *text;
	uint8_t *text_copy;

	assert_true(p->nsp_len <= 256);
	hlen = packet_encode_header(header, sizeof(header), p->type, p->n_attachments, p->nsp,
				    p->nsp_len, p->ack_id);
	if (hlen == 0)
		fail_msg("%s: the decoded header does not encode", what);
	text = test_malloc(hlen + p->json_len + 1);
	memcpy(text, header, hlen);
	if (p->json_len != 0)
		memcpy(text + hlen, p->json, p->json_len);
	again[0] = (struct packet_test_msg){ false, text, hlen + p->json_len };
	for (size_t i = 1, k = 1; i < n; i++)
		if (msgs[i].binary)
			again[k++] = msgs[i];

	packet_reader_init(&r, SIZE_MAX);
	if (packet_test_feed_all(what, &r, again, &q, &text_copy) != PACKET_OK)
		fail_msg("%s: its re-encoding \"%s\" does not decode", what, text);
	packet_test_check_packet(what, &q, w, msgs);
	packet_reader_cleanup(&r);
	if (text_copy != NULL)
		test_free(text_copy);
	test_free(text);
}

/* Runs one case on a fresh reader: the result, the packet, its re-encoding,
 * that errors stick, and that nothing is held once the reader is idle. */
static void packet_test_run_case(const struct packet_test_case *c, size_t max_bytes)
{
	struct packet_reader r;
	struct packet p;
	enum packet_result res;
	uint8_t *text_copy;

	memset(&p, 0, sizeof(p));
	packet_reader_init(&r, max_bytes);
	res = packet_test_feed_all(c->what, &r, c->msgs, &p, &text_copy);
	if (res != c->result)
		fail_msg("%s: \"%s\", want \"%s\"", c->what, packet_result_text(res),
			 packet_result_text(c->result));

	if (res == PACKET_OK) {
		size_t n = packet_test_n_msgs(c->msgs);

		packet_test_check_packet(c->what, &p, &c->want, c->msgs);
		if (text_copy != NULL && p.json_len != 0 &&
		    !packet_test_ptr_within(p.json, p.json_len, text_copy, c->msgs[n - 1].len))
			fail_msg("%s: json does not point into the message", c->what);
		packet_test_check_round_trip(c->what, &p, &c->want, c->msgs);
		packet_reader_done(&r);
	} else {
		uint8_t more[] = "2[\"more\"]";
		struct packet q;

		if (packet_reader_feed(&r, false, more, sizeof(more) - 1, &q) != res ||
		    packet_reader_feed(&r, true, more, 1, &q) != res || r.failed != res)
			fail_msg("%s: the error does not stick", c->what);
	}
	if (failalloc_heap.live_bytes != 0)
		fail_msg("%s: an idle reader holds %zu bytes", c->what, failalloc_heap.live_bytes);
	packet_reader_cleanup(&r);
	if (text_copy != NULL)
		test_free(text_copy);
}

static void packet_test_run_table(const struct packet_test_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		packet_test_run_case(&cases[i], SIZE_MAX);
}

/* ---- decoding: tables ---- */

static void every_decode_vector_gives_the_reference_outcome_or_a_strict_refusal(void **state)
{
	packet_test_run_table(packet_test_decode_vectors, N_ELEMS(packet_test_decode_vectors));
}

static void every_bad_input_capture_that_reaches_the_parser_gives_its_outcome(void **state)
{
	packet_test_run_table(packet_test_bad_input, N_ELEMS(packet_test_bad_input));
}

static void binary_packets_reassemble_and_check_every_placeholder(void **state)
{
	packet_test_run_table(packet_test_binary, N_ELEMS(packet_test_binary));
}

static void text_packets_parse_ack_ids_namespaces_and_payload_shapes(void **state)
{
	packet_test_run_table(packet_test_text, N_ELEMS(packet_test_text));
}

static void every_encode_vector_decodes_to_its_fields_and_attachments(void **state)
{
	for (size_t i = 0; i < N_ELEMS(packet_test_encode_vectors); i++) {
		const struct packet_test_encode *v = &packet_test_encode_vectors[i];
		char what[64];
		struct packet_test_case c = { what, { { 0 } }, PACKET_OK,
					      { v->type, v->nsp, v->ack_id,
						v->json[0] != '\0' ? v->json : NULL,
						v->json[0] != '\0' ? v->json : NULL } };

		snprintf(what, sizeof(what), "encode vector %zu", i);
		memcpy(c.msgs, v->msgs, sizeof(c.msgs));
		packet_test_run_case(&c, SIZE_MAX);
	}
}

/* ---- decoding: single behaviours ---- */

static void every_first_byte_but_0_to_6_is_an_unknown_type(void **state)
{
	for (unsigned b = 0; b < 256; b++) {
		uint8_t msg[] = { (uint8_t)b, '[', '"', 'x', '"', ']' };
		struct packet_reader r;
		struct packet p;
		enum packet_result res;

		packet_reader_init(&r, SIZE_MAX);
		res = packet_reader_feed(&r, false, msg, sizeof(msg), &p);
		if (b >= '0' && b <= '6')
			assert_int_not_equal(res, PACKET_ERR_TYPE);
		else
			assert_int_equal(res, PACKET_ERR_TYPE);
		packet_reader_cleanup(&r);
	}
}

static void connect_then_event_in_one_post_decode_as_two_packets(void **state)
{
	static const uint8_t connect[] = "0", event[] = "2[\"hello\"]";
	struct packet_reader r;
	struct packet p;

	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, connect, 1, &p), PACKET_OK);
	assert_int_equal(p.type, PACKET_CONNECT);
	assert_int_equal(packet_reader_feed(&r, false, event, sizeof(event) - 1, &p), PACKET_OK);
	assert_int_equal(p.type, PACKET_EVENT);
	assert_int_equal(p.ack_id, PACKET_NO_ACK);
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

static void text_packet_after_a_binary_one_starts_from_empty_fields(void **state)
{
	static const uint8_t header[] = "52-/admin,7[\"b\"," PH(0) "," PH(1) "]", event[] = "2[\"t\"]";
	struct packet_reader r;
	struct packet p;

	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, header, sizeof(header) - 1, &p), PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"a", 1, &p), PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"b", 1, &p), PACKET_OK);
	assert_int_equal(p.n_attachments, 2);
	assert_int_equal(packet_reader_feed(&r, false, event, sizeof(event) - 1, &p), PACKET_OK);
	assert_int_equal(p.type, PACKET_EVENT);
	assert_int_equal(p.n_attachments, 0);
	assert_int_equal(p.ack_id, PACKET_NO_ACK);
	assert_int_equal(p.nsp_len, 1);
	for (unsigned i = 0; i < PACKET_MAX_ATTACHMENTS; i++) {
		assert_null(p.attachments[i]);
		assert_int_equal(p.attachment_lens[i], 0);
	}
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

static void zero_length_attachment_points_at_readable_memory(void **state)
{
	static const uint8_t header[] = "51-[\"e\"," PH(0) "]";
	struct packet_reader r;
	struct packet p;

	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, header, sizeof(header) - 1, &p), PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, NULL, 0, &p), PACKET_OK);
	assert_non_null(p.attachments[0]);
	assert_int_equal(p.attachment_lens[0], 0);
	/* Only the header copy and its JSON: a zero-length attachment costs nothing. */
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

/* Builds `2["x",[[...]]]` with the value nested <depth> deep overall. */
static uint8_t *packet_test_nested_event(size_t depth, size_t *len)
{
	size_t inner = depth - 1, n = 1 + 5 + 2 * inner + 1;
	uint8_t *msg = test_malloc(n), *o = msg;

	memcpy(o, "2[\"x\",", 6);
	o += 6;
	memset(o, '[', inner);
	o += inner;
	memset(o, ']', inner);
	o += inner;
	*o = ']';
	*len = n;
	return msg;
}

/* jansson's depth limit, with a budget that lets 2048 levels be built:
 * nesting costs about 50 bytes per byte of text, past the default. */
static void json_nested_2048_deep_is_accepted_and_2049_is_invalid_payload(void **state)
{
	static const size_t depths[] = { 2048, 2049 };

	jsonmem_set_expansion(64);

	for (size_t i = 0; i < N_ELEMS(depths); i++) {
		struct packet_reader r;
		struct packet p;
		size_t len;
		uint8_t *msg = packet_test_nested_event(depths[i], &len);

		packet_reader_init(&r, SIZE_MAX);
		assert_int_equal(packet_reader_feed(&r, false, msg, len, &p),
				 depths[i] <= 2048 ? PACKET_OK : PACKET_ERR_PAYLOAD);
		packet_reader_cleanup(&r);
		test_free(msg);
	}
	jsonmem_set_expansion(JSONMEM_DEFAULT_EXPANSION);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

static void deep_placeholder_walk_over_2048_levels_finds_the_bad_num(void **state)
{
	/* `51-["e",` 2045 x `[` PH(1) 2045 x `]` `]`: the placeholder's values
	 * sit at jansson's last level, 2048. */
	size_t inner = 2045, n = 3 + 5 + inner + strlen(PH(1)) + inner + 1;
	uint8_t *msg = test_malloc(n), *o = msg;
	struct packet_reader r;
	struct packet p;

	memcpy(o, "51-[\"e\",", 8);
	o += 8;
	memset(o, '[', inner);
	o += inner;
	memcpy(o, PH(1), strlen(PH(1)));
	o += strlen(PH(1));
	memset(o, ']', inner);
	o += inner;
	*o++ = ']';
	assert_int_equal((size_t)(o - msg), n);

	jsonmem_set_expansion(64);
	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, msg, n, &p), PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"a", 1, &p),
			 PACKET_ERR_ATTACHMENTS);
	packet_reader_cleanup(&r);
	jsonmem_set_expansion(JSONMEM_DEFAULT_EXPANSION);
	test_free(msg);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

/* ---- the JSON budget (max_json_expansion) ---- */

/* `<prefix>` then <n> copies of <unit> separated by commas, then `]`: a
 * test_malloc() block the caller frees. */
static uint8_t *packet_test_flood(const char *prefix, const char *unit, size_t n, size_t *len)
{
	size_t plen = strlen(prefix), ulen = strlen(unit);
	uint8_t *msg = test_malloc(plen + n * (ulen + 1) + 1), *o = msg;

	memcpy(o, prefix, plen);
	o += plen;
	for (size_t i = 0; i < n; i++) {
		memcpy(o, unit, ulen);
		o += ulen;
		*o++ = ',';
	}
	o[-1] = ']';
	*len = (size_t)(o - msg);
	return msg;
}

/* Bytes jansson asks for to parse <msg> as a text packet, unbudgeted. */
static size_t packet_test_parse_cost(const uint8_t *msg, size_t len)
{
	struct packet_reader r;
	struct packet p;

	jsonmem_set_expansion(UINT32_MAX / 2);
	packet_reader_init(&r, SIZE_MAX);
	failalloc_reset(0);
	assert_int_equal(packet_reader_feed(&r, false, msg, len, &p), PACKET_OK);
	size_t cost = failalloc_heap.requested_bytes;
	packet_reader_cleanup(&r);
	jsonmem_set_expansion(JSONMEM_DEFAULT_EXPANSION);
	return cost;
}

/* The attack of issue #11: 3 bytes of `[],` became well over 100 bytes of
 * tree.  Refused at the default, sticky, and nothing is held; a payload of
 * the same length made of strings passes. */
static void flood_of_empty_arrays_is_refused_by_the_budget_and_holds_nothing(void **state)
{
	struct packet_reader r;
	struct packet p;
	size_t len, str_len;
	uint8_t *flood = packet_test_flood("2[\"x\",", "[]", 100000, &len);
	uint8_t *strings = packet_test_flood("2[\"x\",", "\"abcdefghijklm\"", 18750, &str_len);

	assert_true(str_len >= len);
	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, flood, len, &p), PACKET_ERR_JSON_BUDGET);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	assert_int_equal(packet_reader_feed(&r, false, strings, str_len, &p), PACKET_ERR_JSON_BUDGET);
	packet_reader_cleanup(&r);

	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, strings, str_len, &p), PACKET_OK);
	assert_int_equal(json_array_size(p.data), 18751);
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	test_free(flood);
	test_free(strings);
}

/* At the smallest factor whose budget covers the parse the packet passes;
 * at one less it is refused, and nothing is kept either way. */
static void budget_at_the_parse_cost_passes_and_one_factor_less_is_refused(void **state)
{
	static const char *const units[] = { "[]", "{}", "{\"a\":1}", "1", "\"\"" };

	for (size_t i = 0; i < N_ELEMS(units); i++) {
		struct packet_reader r;
		struct packet p;
		size_t len;
		uint8_t *msg = packet_test_flood("2[\"x\",", units[i], 40000, &len);
		size_t cost = packet_test_parse_cost(msg, len);
		uint32_t factor = (uint32_t)((cost - JSONMEM_FLOOR_BYTES + len - 1) / len);

		assert_true(cost > JSONMEM_FLOOR_BYTES);
		jsonmem_set_expansion(factor);
		assert_true(jsonmem_budget(len) >= cost);
		packet_reader_init(&r, SIZE_MAX);
		assert_int_equal(packet_reader_feed(&r, false, msg, len, &p), PACKET_OK);
		packet_reader_cleanup(&r);
		jsonmem_set_expansion(factor - 1);
		assert_true(jsonmem_budget(len) < cost);
		packet_reader_init(&r, SIZE_MAX);
		assert_int_equal(packet_reader_feed(&r, false, msg, len, &p), PACKET_ERR_JSON_BUDGET);
		packet_reader_cleanup(&r);
		jsonmem_set_expansion(JSONMEM_DEFAULT_EXPANSION);
		assert_int_equal(failalloc_heap.live_bytes, 0);
		test_free(msg);
	}
}

/* A short packet may always use the floor, whatever the factor. */
static void short_packets_always_fit_the_floor(void **state)
{
	static const uint8_t msg[] = "2[\"x\",[],[],[],{},{},{\"a\":[[[]]]}]";
	struct packet_reader r;
	struct packet p;

	jsonmem_set_expansion(2);
	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, msg, sizeof(msg) - 1, &p), PACKET_OK);
	packet_reader_cleanup(&r);
	jsonmem_set_expansion(JSONMEM_DEFAULT_EXPANSION);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

/* A binary packet waiting for its attachments holds its header's bytes,
 * not the header's tree (46 MB for a 1 MB header of `[],` before #11);
 * the tree is built when the last attachment arrives. */
static void pending_binary_packet_holds_its_header_not_its_tree(void **state)
{
	struct packet_reader r;
	struct packet p;
	size_t len;
	uint8_t *msg = packet_test_flood("51-[\"x\"," PH(0) ",", "7", 5000, &len);

	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, msg, len, &p), PACKET_MORE);
	assert_true(failalloc_heap.live_bytes >= len);
	assert_true(failalloc_heap.live_bytes <= len + 512);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"a", 1, &p), PACKET_OK);
	assert_int_equal(json_array_size(p.data), 5002);
	assert_true(failalloc_heap.live_bytes > len + 5000 * sizeof(json_int_t) * 2);
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	test_free(msg);
}

/* ---- limits ---- */

static void text_packet_of_exactly_max_bytes_passes_and_one_more_is_invalid_payload(void **state)
{
	static const uint8_t msg[] = "2[\"hello\",\"world\"]";
	size_t len = sizeof(msg) - 1;
	struct packet_reader r;
	struct packet p;

	packet_reader_init(&r, len);
	assert_int_equal(packet_reader_feed(&r, false, msg, len, &p), PACKET_OK);
	packet_reader_cleanup(&r);

	packet_reader_init(&r, len - 1);
	assert_int_equal(packet_reader_feed(&r, false, msg, len, &p), PACKET_ERR_PAYLOAD);
	assert_int_equal(r.failed, PACKET_ERR_PAYLOAD);
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

static const struct packet_test_case packet_test_limit_case = {
	"binary packet at its limit",
	{ TXT("53-[\"b\"," PH(0) "," PH(2) "]"), BIN("abc"), BIN(""), BIN("defg") },
	PACKET_OK,
	{ PACKET_BINARY_EVENT, "/", NO_ACK, "[\"b\"," PH(0) "," PH(2) "]",
	  "[\"b\", " PH_DATA(0) ", " PH_DATA(2) "]" },
};

static void binary_packet_of_exactly_max_bytes_passes_and_one_more_is_invalid_payload(void **state)
{
	const struct packet_test_case *c = &packet_test_limit_case;
	size_t total = 0;
	struct packet_test_case over = *c, header_over = *c;

	for (size_t i = 0; i < packet_test_n_msgs(c->msgs); i++)
		total += c->msgs[i].len;
	packet_test_run_case(c, total);

	/* One byte short: the last attachment is one too many. */
	over.what = "binary packet one byte past its limit";
	over.result = PACKET_ERR_PAYLOAD;
	packet_test_run_case(&over, total - 1);

	/* A header alone past the limit fails at once. */
	header_over.what = "binary header past the limit";
	memset(header_over.msgs + 1, 0, sizeof(header_over.msgs) - sizeof(header_over.msgs[0]));
	header_over.result = PACKET_ERR_PAYLOAD;
	packet_test_run_case(&header_over, c->msgs[0].len - 1);
}

static void zero_length_attachment_fits_a_packet_already_at_its_limit(void **state)
{
	static const uint8_t header[] = "52-[\"e\"," PH(1) "]";
	struct packet_reader r;
	struct packet p;

	packet_reader_init(&r, sizeof(header) - 1 + 2);
	assert_int_equal(packet_reader_feed(&r, false, header, sizeof(header) - 1, &p), PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"xy", 2, &p), PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"", 0, &p), PACKET_OK);
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

static void limit_counts_each_packet_on_its_own(void **state)
{
	static const uint8_t header[] = "51-[\"e\"," PH(0) "]";
	size_t hlen = sizeof(header) - 1;
	struct packet_reader r;
	struct packet p;

	packet_reader_init(&r, hlen + 4);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(packet_reader_feed(&r, false, header, hlen, &p), PACKET_MORE);
		assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"abcd", 4, &p), PACKET_OK);
	}
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

/* ---- errors and memory ---- */

static void every_error_sticks_and_leaves_the_reader_holding_nothing(void **state)
{
	static const struct packet_test_case errors[] = {
		{ "type", { TXT("9") }, PACKET_ERR_TYPE, { 0 } },
		{ "attachments", { TXT("50-[\"x\"]") }, PACKET_ERR_ATTACHMENTS, { 0 } },
		{ "too many", { TXT("511-[\"x\"]") }, PACKET_ERR_TOO_MANY_ATTACHMENTS, { 0 } },
		{ "payload", { TXT("2[]") }, PACKET_ERR_PAYLOAD, { 0 } },
		{ "unexpected binary", { BIN("x") }, PACKET_ERR_UNEXPECTED_BINARY, { 0 } },
		{ "unexpected text", { TXT("52-[\"x\"," PH(0) "]"), BIN("a"), TXT("0") },
		  PACKET_ERR_UNEXPECTED_TEXT, { 0 } },
		{ "placeholder after two attachments",
		  { TXT("52-[\"x\"," PH(2) "]"), BIN("a"), BIN("b") }, PACKET_ERR_ATTACHMENTS, { 0 } },
	};

	/* packet_test_run_case() feeds text and binary after the error and
	 * checks the reader holds nothing. */
	packet_test_run_table(errors, N_ELEMS(errors));
}

static void error_after_good_packets_sticks(void **state)
{
	static const uint8_t good[] = "2[\"ok\"]", bad[] = "2[\"connect\"]";
	struct packet_reader r;
	struct packet p;

	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, good, sizeof(good) - 1, &p), PACKET_OK);
	assert_int_equal(packet_reader_feed(&r, false, bad, sizeof(bad) - 1, &p), PACKET_ERR_PAYLOAD);
	assert_int_equal(packet_reader_feed(&r, false, good, sizeof(good) - 1, &p), PACKET_ERR_PAYLOAD);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	packet_reader_done(&r);
	assert_int_equal(packet_reader_feed(&r, false, good, sizeof(good) - 1, &p), PACKET_ERR_PAYLOAD);
	packet_reader_cleanup(&r);
}

static void fresh_reader_holds_nothing_and_cleans_up_twice(void **state)
{
	struct packet_reader r;

	packet_reader_init(&r, 100);
	assert_int_equal(r.failed, PACKET_OK);
	assert_null(r.delivered);
	assert_null(r.binary);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	packet_reader_done(&r);
	packet_reader_cleanup(&r);
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

/* nsp.c embeds a reader in every client, so an idle client pays for its
 * size: the packet's state is on the heap only while the packet is held. */
static void reader_is_at_most_32_bytes_and_points_at_nothing_between_packets(void **state)
{
	static const uint8_t text[] = "2[\"a\"]", header[] = "51-[\"e\"," PH(0) "]";
	struct packet_reader r;
	struct packet p;

	assert_true(sizeof(struct packet_reader) <= 32);
	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, text, sizeof(text) - 1, &p), PACKET_OK);
	assert_ptr_equal(r.delivered, p.data);
	assert_null(r.binary);
	packet_reader_done(&r);
	assert_null(r.delivered);

	assert_int_equal(packet_reader_feed(&r, false, header, sizeof(header) - 1, &p), PACKET_MORE);
	assert_null(r.delivered);
	assert_non_null(r.binary);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"x", 1, &p), PACKET_OK);
	assert_non_null(r.binary);
	packet_reader_done(&r);
	assert_null(r.delivered);
	assert_null(r.binary);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	packet_reader_cleanup(&r);
}

static void delivered_packet_is_held_until_done_or_the_next_feed(void **state)
{
	static const uint8_t text[] = "2[\"a\",{\"b\":[1,2,3]}]";
	static const uint8_t header[] = "51-[\"e\"," PH(0) "]";
	struct packet_reader r;
	struct packet p;
	size_t text_bytes;

	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, text, sizeof(text) - 1, &p), PACKET_OK);
	text_bytes = failalloc_heap.live_bytes;
	assert_true(text_bytes > 0);
	packet_reader_done(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);

	/* A binary packet: its header and attachment copies go with it. */
	assert_int_equal(packet_reader_feed(&r, false, header, sizeof(header) - 1, &p), PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"12345", 5, &p), PACKET_OK);
	assert_true(failalloc_heap.live_bytes >= sizeof(header) - 1 + 5);
	assert_int_equal(packet_reader_feed(&r, false, text, sizeof(text) - 1, &p), PACKET_OK);
	assert_int_equal(failalloc_heap.live_bytes, text_bytes);
	packet_reader_done(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	packet_reader_cleanup(&r);
}

static void pending_packet_survives_done_and_is_freed_by_cleanup(void **state)
{
	static const uint8_t header[] = "52-[\"e\"," PH(0) "," PH(1) "]";
	struct packet_reader r;
	struct packet p;
	size_t held;

	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, header, sizeof(header) - 1, &p), PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"abc", 3, &p), PACKET_MORE);
	held = failalloc_heap.live_bytes;
	assert_non_null(r.binary);
	packet_reader_done(&r);
	assert_non_null(r.binary);
	assert_int_equal(failalloc_heap.live_bytes, held);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"d", 1, &p), PACKET_OK);
	assert_int_equal(p.attachment_lens[0], 3);
	assert_memory_equal(p.attachments[0], "abc", 3);

	assert_int_equal(packet_reader_feed(&r, false, header, sizeof(header) - 1, &p), PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"abc", 3, &p), PACKET_MORE);
	packet_reader_cleanup(&r);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

/* A binary header's first allocation is the block that holds the packet,
 * made after the previous packet is given back: failing it is out of
 * memory whatever the reader held before, and the reader holds nothing. */
static void binary_state_that_cannot_be_allocated_is_out_of_memory_and_holds_nothing(void **state)
{
	static const uint8_t text[] = "2[\"a\",{\"b\":1}]", header[] = "51-[\"e\"," PH(0) "]";

	for (unsigned before = 0; before < 3; before++) {
		struct packet_reader r;
		struct packet p;

		packet_reader_init(&r, SIZE_MAX);
		if (before == 1) {
			assert_int_equal(packet_reader_feed(&r, false, text, sizeof(text) - 1, &p),
					 PACKET_OK);
		} else if (before == 2) {
			assert_int_equal(packet_reader_feed(&r, false, header, sizeof(header) - 1, &p),
					 PACKET_MORE);
			assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"x", 1, &p),
					 PACKET_OK);
		}
		assert_true(before == 0 || failalloc_heap.live_bytes > 0);

		failalloc_reset(1);
		assert_int_equal(packet_reader_feed(&r, false, header, sizeof(header) - 1, &p),
				 PACKET_ERR_NOMEM);
		assert_int_equal(failalloc_heap.n_failed, 1);
		assert_int_equal(r.failed, PACKET_ERR_NOMEM);
		assert_null(r.delivered);
		assert_null(r.binary);
		assert_int_equal(failalloc_heap.live_bytes, 0);
		assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)"x", 1, &p),
				 PACKET_ERR_NOMEM);
		packet_reader_cleanup(&r);
		failalloc_reset(0);
	}
}

static void data_referenced_by_the_caller_outlives_the_reader(void **state)
{
	static const uint8_t text[] = "0{\"token\":\"abc\"}";
	struct packet_reader r;
	struct packet p;
	json_t *kept;

	packet_reader_init(&r, SIZE_MAX);
	assert_int_equal(packet_reader_feed(&r, false, text, sizeof(text) - 1, &p), PACKET_OK);
	kept = json_incref(p.data);
	packet_reader_cleanup(&r);
	assert_string_equal(json_string_value(json_object_get(kept, "token")), "abc");
	json_decref(kept);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

/* Fails the 1st, 2nd, ... allocation of decoding <c> until a run needs no
 * more.  Each run must give the case's outcome or fail cleanly: our own
 * copies fail as PACKET_ERR_NOMEM, and so does jansson when it notices
 * (it returns no error text); an allocation jansson fails inside its
 * string scanner comes back as a syntax error, PACKET_ERR_PAYLOAD.  The
 * cases keep every JSON token under 16 bytes: jansson 2.14 ignores a failed
 * growth of its token buffer (lex_save()) and drops that byte, so
 * `18446744073709552000` came back as the integer 1844674407370952000. */
static void packet_test_fail_each_allocation(const struct packet_test_case *c)
{
	unsigned long k;
	bool saw_nomem = false;

	for (k = 1;; k++) {
		struct packet_reader r;
		struct packet p;
		size_t n = packet_test_n_msgs(c->msgs);
		enum packet_result res = PACKET_MORE;

		failalloc_reset(k);
		packet_reader_init(&r, SIZE_MAX);
		for (size_t i = 0; i < n; i++) {
			uint8_t *copy = packet_test_copy(c->msgs[i].bytes, c->msgs[i].len);

			res = packet_reader_feed(&r, c->msgs[i].binary, copy, c->msgs[i].len, &p);
			if (res == PACKET_OK) {
				failalloc_heap.paused = true;
				packet_test_check_packet(c->what, &p, &c->want, c->msgs);
				failalloc_heap.paused = false;
			}
			test_free(copy);
			if (res < 0)
				break;
		}
		if (failalloc_heap.n_failed == 0) {
			assert_int_equal(res, c->result);
			packet_reader_cleanup(&r);
			break;
		}
		if (res != PACKET_ERR_NOMEM && res != PACKET_ERR_PAYLOAD)
			fail_msg("%s: allocation %lu failed, got \"%s\"", c->what, k,
				 packet_result_text(res));
		/* A binary packet's first allocation is its own state block. */
		if (k == 1 && (c->msgs[0].bytes[0] == '5' || c->msgs[0].bytes[0] == '6'))
			assert_int_equal(res, PACKET_ERR_NOMEM);
		saw_nomem |= res == PACKET_ERR_NOMEM;
		assert_int_equal(r.failed, res);
		assert_int_equal(failalloc_heap.live_bytes, 0);
		packet_reader_cleanup(&r);
	}
	failalloc_reset(0);
	assert_true(k > 1);
	assert_true(saw_nomem);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

static void every_failed_allocation_fails_the_packet_cleanly(void **state)
{
	static const struct packet_test_case cases[] = {
		{ "connect with auth", { TXT("0/admin,{\"token\":\"abc\"}") }, PACKET_OK,
		  { PACKET_CONNECT, "/admin", NO_ACK, "{\"token\":\"abc\"}", "{\"token\":\"abc\"}" } },
		{ "event", { TXT("21[\"hello\",1,{\"a\":[true,null]}]") }, PACKET_OK,
		  { PACKET_EVENT, "/", 1, "[\"hello\",1,{\"a\":[true,null]}]",
		    "[\"hello\",1,{\"a\":[true,null]}]" } },
		{ "binary event", { TXT("53-7[\"b\"," PH(0) ",{\"d\":[" PH(1) "," PH(2) "]}]"),
				    BIN("\x01"), BIN(""), BIN("\x02\x03") },
		  PACKET_OK,
		  { PACKET_BINARY_EVENT, "/", 7, "[\"b\"," PH(0) ",{\"d\":[" PH(1) "," PH(2) "]}]",
		    "[\"b\"," PH(0) ",{\"d\":[" PH(1) "," PH(2) "]}]" } },
		{ "binary ack", { TXT("62-/admin,4[" PH(1) "," PH(0) "]"), BIN("xyz"), BIN("\x00") },
		  PACKET_OK,
		  { PACKET_BINARY_ACK, "/admin", 4, "[" PH(1) "," PH(0) "]",
		    "[" PH(1) "," PH(0) "]" } },
		{ "bad placeholder", { TXT("51-[\"b\"," PH(1) "]"), BIN("\x01") },
		  PACKET_ERR_ATTACHMENTS, { 0 } },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++)
		packet_test_fail_each_allocation(&cases[i]);
}

/* ---- names and results ---- */

static void reserved_event_names_are_exactly_the_six_of_the_protocol(void **state)
{
	static const char *const reserved[] = { "connect", "connect_error", "disconnect",
						"disconnecting", "newListener", "removeListener" };
	static const char *const free_names[] = { "error", "message", "Connect", "connect ",
						  "connec", "newlistener", "", "ping" };

	for (size_t i = 0; i < N_ELEMS(reserved); i++)
		assert_true(packet_event_is_reserved(reserved[i], strlen(reserved[i])));
	for (size_t i = 0; i < N_ELEMS(free_names); i++)
		assert_false(packet_event_is_reserved(free_names[i], strlen(free_names[i])));
	/* Names are compared with their length: a NUL does not end them. */
	assert_false(packet_event_is_reserved("connect\0", 8));
	assert_false(packet_event_is_reserved("disconnect", 4));
}

static void result_texts_are_the_reference_servers_words(void **state)
{
	assert_string_equal(packet_result_text(PACKET_OK), "ok");
	assert_string_equal(packet_result_text(PACKET_MORE), "waiting for attachments");
	assert_string_equal(packet_result_text(PACKET_ERR_TYPE), "unknown packet type");
	assert_string_equal(packet_result_text(PACKET_ERR_ATTACHMENTS), "illegal attachments");
	assert_string_equal(packet_result_text(PACKET_ERR_TOO_MANY_ATTACHMENTS),
			    "too many attachments");
	assert_string_equal(packet_result_text(PACKET_ERR_NSP), "invalid namespace");
	assert_string_equal(packet_result_text(PACKET_ERR_PAYLOAD), "invalid payload");
	assert_string_equal(packet_result_text(PACKET_ERR_UNEXPECTED_BINARY),
			    "got binary data when not reconstructing a packet");
	assert_string_equal(packet_result_text(PACKET_ERR_UNEXPECTED_TEXT),
			    "got plaintext data when reconstructing a packet");
	assert_string_equal(packet_result_text(PACKET_ERR_NOMEM), "out of memory");
	assert_string_equal(packet_result_text((enum packet_result)42), "unknown result");
}

/* ---- encoding ---- */

static void every_encode_vector_is_its_header_then_its_json(void **state)
{
	for (size_t i = 0; i < N_ELEMS(packet_test_encode_vectors); i++) {
		const struct packet_test_encode *v = &packet_test_encode_vectors[i];
		char out[PACKET_HEADER_MAX(16) + 128];
		size_t len = packet_encode_header(out, sizeof(out), v->type, v->n_attachments, v->nsp,
						  strlen(v->nsp), v->ack_id);

		assert_int_not_equal(len, 0);
		assert_int_equal(out[len], '\0');
		assert_true(len + strlen(v->json) < sizeof(out));
		memcpy(out + len, v->json, strlen(v->json) + 1);
		assert_int_equal(len + strlen(v->json), v->msgs[0].len);
		assert_memory_equal(out, v->msgs[0].bytes, v->msgs[0].len);
	}
}

static void header_examples_of_the_brief_are_byte_exact(void **state)
{
	char out[64];

	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_EVENT, 0, "/admin", 6, 12), 10);
	assert_string_equal(out, "2/admin,12");
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_BINARY_EVENT, 2, "/", 1,
					      PACKET_NO_ACK), 3);
	assert_string_equal(out, "52-");
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_BINARY_ACK, 1, "/", 1, 4), 4);
	assert_string_equal(out, "61-4");
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_BINARY_EVENT, 10, "/x", 2,
					      0), 8);
	assert_string_equal(out, "510-/x,0");
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_ACK, 0, "/", 1,
					      PACKET_TEST_ACK_MAX), 17);
	assert_string_equal(out, "39007199254740991");
}

static void header_needs_room_for_its_bytes_and_a_nul(void **state)
{
	char out[11];

	memset(out, 'z', sizeof(out));
	assert_int_equal(packet_encode_header(out, 10, PACKET_EVENT, 0, "/admin", 6, 12), 0);
	assert_int_equal(out[0], 'z');
	assert_int_equal(packet_encode_header(out, 11, PACKET_EVENT, 0, "/admin", 6, 12), 10);
	assert_string_equal(out, "2/admin,12");
	assert_int_equal(packet_encode_header(out, 0, PACKET_CONNECT, 0, "/", 1, PACKET_NO_ACK), 0);
	assert_int_equal(packet_encode_header(out, 1, PACKET_CONNECT, 0, "/", 1, PACKET_NO_ACK), 0);
	assert_int_equal(packet_encode_header(out, 2, PACKET_CONNECT, 0, "/", 1, PACKET_NO_ACK), 1);
	assert_string_equal(out, "0");
}

static void header_max_fits_the_longest_header(void **state)
{
	static const char nsp[] = "/a-namespace";
	char out[PACKET_HEADER_MAX(sizeof(nsp) - 1)];
	size_t len = packet_encode_header(out, sizeof(out), PACKET_BINARY_ACK, 10, nsp,
					  sizeof(nsp) - 1, PACKET_TEST_ACK_MAX);

	assert_int_equal(len, sizeof(out) - 1);
	assert_string_equal(out, "610-/a-namespace,9007199254740991");
}

static void header_without_an_encoding_is_refused(void **state)
{
	char out[64];

	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_BINARY_EVENT, 0, "/", 1,
					      PACKET_NO_ACK), 0);
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_BINARY_ACK, 11, "/", 1,
					      PACKET_NO_ACK), 0);
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_EVENT, 0, "admin", 5,
					      PACKET_NO_ACK), 0);
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_EVENT, 0, "/a,b", 4,
					      PACKET_NO_ACK), 0);
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_EVENT, 0, "", 0,
					      PACKET_NO_ACK), 0);
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_EVENT, 0, "/", 1,
					      PACKET_TEST_ACK_MAX + 1), 0);
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_EVENT, 0, "/", 1, -2), 0);
	assert_int_equal(packet_encode_header(out, sizeof(out), (enum packet_type)7, 0, "/", 1,
					      PACKET_NO_ACK), 0);
	/* A count given with a text type is not written. */
	assert_int_equal(packet_encode_header(out, sizeof(out), PACKET_EVENT, 3, "/", 1,
					      PACKET_NO_ACK), 1);
	assert_string_equal(out, "2");
}

static void every_ack_id_up_to_2_pow_53_minus_1_round_trips(void **state)
{
	static const int64_t ids[] = { 0, 1, 9, 10, 12, 99, 100, 4294967296, PACKET_TEST_ACK_MAX };

	for (size_t i = 0; i < N_ELEMS(ids); i++) {
		char out[PACKET_HEADER_MAX(6) + 8];
		size_t len = packet_encode_header(out, sizeof(out), PACKET_ACK, 0, "/admin", 6, ids[i]);
		struct packet_reader r;
		struct packet p;

		memcpy(out + len, "[]", 3);
		packet_reader_init(&r, SIZE_MAX);
		assert_int_equal(packet_reader_feed(&r, false, (const uint8_t *)out, len + 2, &p),
				 PACKET_OK);
		assert_int_equal(p.ack_id, ids[i]);
		packet_reader_cleanup(&r);
	}
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

#define PACKET_TEST(f) cmocka_unit_test_setup(f, failalloc_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PACKET_TEST(every_decode_vector_gives_the_reference_outcome_or_a_strict_refusal),
		PACKET_TEST(every_bad_input_capture_that_reaches_the_parser_gives_its_outcome),
		PACKET_TEST(every_encode_vector_decodes_to_its_fields_and_attachments),
		PACKET_TEST(binary_packets_reassemble_and_check_every_placeholder),
		PACKET_TEST(text_packets_parse_ack_ids_namespaces_and_payload_shapes),
		PACKET_TEST(every_first_byte_but_0_to_6_is_an_unknown_type),
		PACKET_TEST(connect_then_event_in_one_post_decode_as_two_packets),
		PACKET_TEST(text_packet_after_a_binary_one_starts_from_empty_fields),
		PACKET_TEST(zero_length_attachment_points_at_readable_memory),
		PACKET_TEST(json_nested_2048_deep_is_accepted_and_2049_is_invalid_payload),
		PACKET_TEST(deep_placeholder_walk_over_2048_levels_finds_the_bad_num),
		PACKET_TEST(flood_of_empty_arrays_is_refused_by_the_budget_and_holds_nothing),
		PACKET_TEST(budget_at_the_parse_cost_passes_and_one_factor_less_is_refused),
		PACKET_TEST(short_packets_always_fit_the_floor),
		PACKET_TEST(pending_binary_packet_holds_its_header_not_its_tree),
		PACKET_TEST(text_packet_of_exactly_max_bytes_passes_and_one_more_is_invalid_payload),
		PACKET_TEST(binary_packet_of_exactly_max_bytes_passes_and_one_more_is_invalid_payload),
		PACKET_TEST(zero_length_attachment_fits_a_packet_already_at_its_limit),
		PACKET_TEST(limit_counts_each_packet_on_its_own),
		PACKET_TEST(every_error_sticks_and_leaves_the_reader_holding_nothing),
		PACKET_TEST(error_after_good_packets_sticks),
		PACKET_TEST(fresh_reader_holds_nothing_and_cleans_up_twice),
		PACKET_TEST(reader_is_at_most_32_bytes_and_points_at_nothing_between_packets),
		PACKET_TEST(delivered_packet_is_held_until_done_or_the_next_feed),
		PACKET_TEST(pending_packet_survives_done_and_is_freed_by_cleanup),
		PACKET_TEST(binary_state_that_cannot_be_allocated_is_out_of_memory_and_holds_nothing),
		PACKET_TEST(data_referenced_by_the_caller_outlives_the_reader),
		PACKET_TEST(every_failed_allocation_fails_the_packet_cleanly),
		PACKET_TEST(reserved_event_names_are_exactly_the_six_of_the_protocol),
		PACKET_TEST(result_texts_are_the_reference_servers_words),
		PACKET_TEST(every_encode_vector_is_its_header_then_its_json),
		PACKET_TEST(header_examples_of_the_brief_are_byte_exact),
		PACKET_TEST(header_needs_room_for_its_bytes_and_a_nul),
		PACKET_TEST(header_max_fits_the_longest_header),
		PACKET_TEST(header_without_an_encoding_is_refused),
		PACKET_TEST(every_ack_id_up_to_2_pow_53_minus_1_round_trips),
	};

	/* Before any other jansson call, so every json_t lives on these hooks. */
	json_set_alloc_funcs(failalloc_malloc, failalloc_free);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
