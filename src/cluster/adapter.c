/* adapter.c - the @socket.io/redis-adapter and redis-emitter wire format
 * (see adapter.h; doc/protocol.md, "Redis adapter" and "Redis emitter").
 *
 * Owns the bytes of cluster messages: a bounded msgpack reader, the
 * decoding of broadcasts and requests, the conversion of a packet's
 * msgpack data into the JSON text clients receive, and the encoding of
 * broadcasts and BROADCAST_ACK responses (msgpack-c's packer).  Does not
 * own channels, subscriptions or what a request makes us do (cluster.c),
 * nor the Socket.IO text header around the JSON (packet.c).
 *
 * Reading is two steps.  First the whole message is walked once with
 * adapter_mp_skip(): every declared length and count is checked against
 * the bytes left before anything uses it (an array32 of 2^32 - 1 elements
 * in five bytes fails at its header), nesting stops at ADAPTER_MAX_DEPTH,
 * and trailing bytes are refused, as notepack.io refuses them.  Then the
 * fields are looked up by key through struct adapter_val, which hides
 * whether a request came as JSON (a jansson value) or as msgpack bytes, so
 * both encodings share one field walk.  Nothing is allocated while bytes
 * are checked; a decoded msgpack message owns one heap block, its room
 * names (a JSON request also its parsed root).
 *
 * The JSON text is what JSON.stringify writes after notepack.io decoded the
 * data: numbers as Number::toString prints them, V8's string escapes,
 * Date.toJSON() for timestamps.  Map keys keep the message's order.  A
 * JavaScript object would list integer-like keys first and keep one entry
 * per repeated key; the client's JSON.parse does both again, so what
 * client code sees is the same, only the text differs.  A `__proto__` key
 * is not an own property in JavaScript (notepack assigns it, which sets
 * the prototype), so it is left out, as JSON.stringify leaves it out.
 *
 * Memory: every allocation, jansson's and ours, goes through jansson's
 * allocator (jsonmem.h), as packet.c's does, so one hook sees and fails
 * all of it in the unit tests.  jansson's loader sets no error text
 * when it runs out of memory, which is how ADAPTER_ERR_NOMEM is told from
 * bad JSON (packet.c's top comment lists the cases where it cannot be).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "jsonmem.h"
#include "adapter.h"
#include "eio.h"

/* Largest integer a JavaScript number holds exactly. */
#define ADAPTER_2_POW_53 9007199254740992.0

const char *adapter_result_text(enum adapter_result r)
{
	switch (r) {
#define ADAPTER_RESULT_TEXT(name, value, text) \
	case name:                             \
		return text;
		ADAPTER_RESULT_MAP(ADAPTER_RESULT_TEXT)
#undef ADAPTER_RESULT_TEXT
	}
	return "unknown adapter result";
}

/* ---- memory ------------------------------------------------------------ */

void adapter_buf_free(struct adapter_buf *b)
{
	jsonmem_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Makes room for <more> bytes, doubling (jansson's allocator has no
 * realloc, so the bytes are copied). */
static int adapter_buf_grow(struct adapter_buf *b, size_t more)
{
	size_t cap = b->cap != 0 ? b->cap : 64;
	uint8_t *data;

	if (more > SIZE_MAX / 2 - b->len)
		return -1;
	while (cap - b->len < more)
		cap *= 2;
	data = jsonmem_malloc(cap);
	if (data == NULL)
		return -1;
	if (b->len != 0)
		memcpy(data, b->data, b->len);
	jsonmem_free(b->data);
	b->data = data;
	b->cap = cap;
	return 0;
}

static int adapter_buf_append(struct adapter_buf *b, const void *bytes, size_t n)
{
	if (n > b->cap - b->len && adapter_buf_grow(b, n) != 0)
		return -1;
	if (n != 0)
		memcpy(b->data + b->len, bytes, n);
	b->len += n;
	return 0;
}

/* ---- msgpack reader ------------------------------------------------------ */

/* A cursor over msgpack bytes: <p> is the next byte, <end> one past the
 * last byte of the message. */
struct adapter_mp {
	const uint8_t *p, *end;
};

enum adapter_mp_kind {
	ADAPTER_MP_NIL,
	ADAPTER_MP_BOOL,
	ADAPTER_MP_UINT,
	ADAPTER_MP_INT,
	ADAPTER_MP_FLOAT,
	ADAPTER_MP_STR,
	ADAPTER_MP_BIN,
	ADAPTER_MP_ARRAY,
	ADAPTER_MP_MAP,
	ADAPTER_MP_EXT,
	ADAPTER_MP_BAD,                /* 0xc1, never used */
};

/* One value's head.  Strings, bins and exts come with their bytes; arrays
 * and maps with their count only, their elements follow. */
struct adapter_mp_token {
	enum adapter_mp_kind kind;
	uint8_t head;                  /* the first byte: tells the ext forms apart */
	int8_t ext_type;
	bool b;                        /* BOOL */
	uint64_t u;                    /* UINT */
	int64_t i;                     /* INT */
	double f;                      /* FLOAT */
	const uint8_t *bytes;          /* STR, BIN, EXT */
	size_t len;                    /* STR, BIN, EXT: bytes; ARRAY: elements; MAP: entries */
};

/* Heads 0xc0..0xdf: the kind, the size in bytes of the field after the
 * head (a length or count for STR, BIN, EXT, ARRAY, MAP; the value for
 * numbers) and, for fixext, the fixed payload length. */
static const struct {
	uint8_t kind, field, fixed;
} adapter_mp_heads[32] = {
	{ ADAPTER_MP_NIL, 0, 0 },   { ADAPTER_MP_BAD, 0, 0 },   { ADAPTER_MP_BOOL, 0, 0 },
	{ ADAPTER_MP_BOOL, 0, 0 },  { ADAPTER_MP_BIN, 1, 0 },   { ADAPTER_MP_BIN, 2, 0 },
	{ ADAPTER_MP_BIN, 4, 0 },   { ADAPTER_MP_EXT, 1, 0 },   { ADAPTER_MP_EXT, 2, 0 },
	{ ADAPTER_MP_EXT, 4, 0 },   { ADAPTER_MP_FLOAT, 4, 0 }, { ADAPTER_MP_FLOAT, 8, 0 },
	{ ADAPTER_MP_UINT, 1, 0 },  { ADAPTER_MP_UINT, 2, 0 },  { ADAPTER_MP_UINT, 4, 0 },
	{ ADAPTER_MP_UINT, 8, 0 },  { ADAPTER_MP_INT, 1, 0 },   { ADAPTER_MP_INT, 2, 0 },
	{ ADAPTER_MP_INT, 4, 0 },   { ADAPTER_MP_INT, 8, 0 },   { ADAPTER_MP_EXT, 0, 1 },
	{ ADAPTER_MP_EXT, 0, 2 },   { ADAPTER_MP_EXT, 0, 4 },   { ADAPTER_MP_EXT, 0, 8 },
	{ ADAPTER_MP_EXT, 0, 16 },  { ADAPTER_MP_STR, 1, 0 },   { ADAPTER_MP_STR, 2, 0 },
	{ ADAPTER_MP_STR, 4, 0 },   { ADAPTER_MP_ARRAY, 2, 0 }, { ADAPTER_MP_ARRAY, 4, 0 },
	{ ADAPTER_MP_MAP, 2, 0 },   { ADAPTER_MP_MAP, 4, 0 },
};

static bool adapter_mp_take(struct adapter_mp *mp, size_t n, const uint8_t **out)
{
	if ((size_t)(mp->end - mp->p) < n)
		return false;
	*out = mp->p;
	mp->p += n;
	return true;
}

static uint64_t adapter_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* <v> read from <n> bytes as two's complement. */
static int64_t adapter_sign_extend(uint64_t v, size_t n)
{
	uint64_t mask = n == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * n)) - 1;

	if ((v >> (8 * n - 1) & 1) == 0)
		return (int64_t)v;
	return -(int64_t)(~v & mask) - 1;
}

static double adapter_float_bits(uint64_t v, size_t n)
{
	uint32_t u32 = (uint32_t)v;
	float f;
	double d;

	if (n == 4) {
		memcpy(&f, &u32, sizeof(f));
		return f;
	}
	memcpy(&d, &v, sizeof(d));
	return d;
}

/* The kind and the field of a head byte, fixed forms included. */
static void adapter_mp_classify(uint8_t c, struct adapter_mp_token *t, size_t *field,
				size_t *fixed)
{
	*field = *fixed = 0;
	if (c <= 0x7f) {
		t->kind = ADAPTER_MP_UINT;
		t->u = c;
	} else if (c <= 0x9f) {
		t->kind = c <= 0x8f ? ADAPTER_MP_MAP : ADAPTER_MP_ARRAY;
		t->len = c & 0x0f;
	} else if (c <= 0xbf) {
		t->kind = ADAPTER_MP_STR;
		t->len = c & 0x1f;
	} else if (c >= 0xe0) {
		t->kind = ADAPTER_MP_INT;
		t->i = (int8_t)c;
	} else {
		t->kind = adapter_mp_heads[c - 0xc0].kind;
		t->b = c == 0xc3;
		*field = adapter_mp_heads[c - 0xc0].field;
		*fixed = adapter_mp_heads[c - 0xc0].fixed;
	}
}

/* Reads one value's head (and the bytes of a str, bin or ext).  False if
 * the bytes run out or the head is 0xc1.  A count is refused when the
 * bytes left could not hold that many elements (one byte each, two per
 * map entry), so no caller ever loops over a count the input cannot back. */
static bool adapter_mp_read(struct adapter_mp *mp, struct adapter_mp_token *t)
{
	const uint8_t *h, *f;
	size_t field, fixed, left;
	uint64_t v;

	memset(t, 0, sizeof(*t));
	if (!adapter_mp_take(mp, 1, &h))
		return false;
	t->head = h[0];
	adapter_mp_classify(h[0], t, &field, &fixed);
	if (t->kind == ADAPTER_MP_BAD || !adapter_mp_take(mp, field, &f))
		return false;
	v = adapter_be(f, field);
	switch (t->kind) {
	case ADAPTER_MP_UINT:
		if (field != 0)
			t->u = v;
		return true;
	case ADAPTER_MP_INT:
		if (field != 0)
			t->i = adapter_sign_extend(v, field);
		return true;
	case ADAPTER_MP_FLOAT:
		t->f = adapter_float_bits(v, field);
		return true;
	case ADAPTER_MP_EXT:
		if (!adapter_mp_take(mp, 1, &f))
			return false;
		t->ext_type = (int8_t)f[0];
		v = fixed != 0 ? fixed : v;
		/* fall through */
	case ADAPTER_MP_STR:
	case ADAPTER_MP_BIN:
		if (field != 0 || fixed != 0)
			t->len = (size_t)v;
		return adapter_mp_take(mp, t->len, &t->bytes);
	case ADAPTER_MP_ARRAY:
	case ADAPTER_MP_MAP:
		if (field != 0)
			t->len = (size_t)v;
		left = (size_t)(mp->end - mp->p);
		return t->kind == ADAPTER_MP_ARRAY ? t->len <= left : t->len <= left / 2;
	default:
		return true;
	}
}

/* Skips the elements of the array or map whose head <t> was just read
 * (nothing for other kinds).  <depth> is how many more levels of nesting
 * <t> may open. */
static bool adapter_mp_skip_rest(struct adapter_mp *mp, const struct adapter_mp_token *t,
				 unsigned depth);

/* Skips one whole value.  Recursion is bounded by <depth>. */
static bool adapter_mp_skip(struct adapter_mp *mp, unsigned depth)
{
	struct adapter_mp_token t;

	return adapter_mp_read(mp, &t) && adapter_mp_skip_rest(mp, &t, depth);
}

static bool adapter_mp_skip_rest(struct adapter_mp *mp, const struct adapter_mp_token *t,
				 unsigned depth)
{
	size_t n;

	if (t->kind != ADAPTER_MP_ARRAY && t->kind != ADAPTER_MP_MAP)
		return true;
	if (depth == 0)
		return false;
	n = t->kind == ADAPTER_MP_MAP ? 2 * t->len : t->len;
	for (size_t i = 0; i < n; i++)
		if (!adapter_mp_skip(mp, depth - 1))
			return false;
	return true;
}

/* The whole of <in> is one well-formed value within ADAPTER_MAX_DEPTH. */
static bool adapter_mp_is_one_value(const uint8_t *in, size_t len)
{
	struct adapter_mp mp = { in, in + len };

	return adapter_mp_skip(&mp, ADAPTER_MAX_DEPTH) && mp.p == mp.end;
}

static bool adapter_mp_is_number(const struct adapter_mp_token *t)
{
	return t->kind == ADAPTER_MP_UINT || t->kind == ADAPTER_MP_INT ||
	       t->kind == ADAPTER_MP_FLOAT;
}

/* notepack's encoding of JavaScript's undefined: fixext1 of type 0. */
static bool adapter_mp_is_undefined(const struct adapter_mp_token *t)
{
	return t->kind == ADAPTER_MP_EXT && t->head == 0xd4 && t->ext_type == 0;
}

/* The JavaScript number notepack decodes: 64-bit integers are rounded to
 * the nearest double, as its hi * 2^32 + lo does. */
static double adapter_mp_number(const struct adapter_mp_token *t)
{
	switch (t->kind) {
	case ADAPTER_MP_UINT:
		return (double)t->u;
	case ADAPTER_MP_INT:
		return (double)t->i;
	default:
		return t->f;
	}
}

/* The time value notepack gives an ext of type -1 (timestamp 32, 64 and
 * 96), in milliseconds, computed with its double arithmetic (each step on
 * its own line: one rounding per JavaScript operation, never a fused
 * multiply-add).  False for any other ext, other forms of type -1
 * included: notepack does not read those as dates. */
static bool adapter_mp_timestamp_ms(const struct adapter_mp_token *t, double *ms)
{
	const uint8_t *p = t->bytes;
	double s, frac;

	if (t->kind != ADAPTER_MP_EXT || t->ext_type != -1)
		return false;
	if (t->head == 0xd6) {
		*ms = (double)adapter_be(p, 4) * 1e3;
		return true;
	}
	if (t->head == 0xd7) {
		uint64_t hi = adapter_be(p, 4);

		s = (double)(hi & 3) * 4294967296.0 + (double)adapter_be(p + 4, 4);
		frac = (double)(hi >> 2) / 1e6;
	} else if (t->head == 0xc7 && t->len == 12) {
		s = (double)adapter_sign_extend(adapter_be(p + 4, 4), 4) * 4294967296.0;
		s += (double)adapter_be(p + 8, 4);
		frac = (double)adapter_be(p, 4) / 1e6;
	} else {
		return false;
	}
	*ms = s * 1e3;
	*ms += frac;
	return true;
}

/* ---- values of either encoding --------------------------------------------- */

/* One value of a message that has been checked whole: a jansson value
 * (a JSON request) or the msgpack bytes starting at <mp>.  All NULL:
 * absent. */
struct adapter_val {
	const json_t *json;
	const uint8_t *mp, *mp_end;    /* <mp_end>: the end of the message */
};

enum adapter_val_kind {
	ADAPTER_VAL_ABSENT,            /* missing, or msgpack undefined */
	ADAPTER_VAL_NIL,
	ADAPTER_VAL_BOOL,
	ADAPTER_VAL_NUMBER,
	ADAPTER_VAL_STRING,
	ADAPTER_VAL_ARRAY,
	ADAPTER_VAL_MAP,
	ADAPTER_VAL_OTHER,             /* bin, ext */
};

static bool adapter_val_token(const struct adapter_val *v, struct adapter_mp_token *t)
{
	struct adapter_mp mp = { v->mp, v->mp_end };

	return v->mp != NULL && adapter_mp_read(&mp, t);
}

static enum adapter_val_kind adapter_val_kind(const struct adapter_val *v)
{
	static const enum adapter_val_kind from_mp[] = {
		[ADAPTER_MP_NIL] = ADAPTER_VAL_NIL,       [ADAPTER_MP_BOOL] = ADAPTER_VAL_BOOL,
		[ADAPTER_MP_UINT] = ADAPTER_VAL_NUMBER,   [ADAPTER_MP_INT] = ADAPTER_VAL_NUMBER,
		[ADAPTER_MP_FLOAT] = ADAPTER_VAL_NUMBER,  [ADAPTER_MP_STR] = ADAPTER_VAL_STRING,
		[ADAPTER_MP_BIN] = ADAPTER_VAL_OTHER,     [ADAPTER_MP_ARRAY] = ADAPTER_VAL_ARRAY,
		[ADAPTER_MP_MAP] = ADAPTER_VAL_MAP,       [ADAPTER_MP_EXT] = ADAPTER_VAL_OTHER,
		[ADAPTER_MP_BAD] = ADAPTER_VAL_OTHER,
	};
	static const enum adapter_val_kind from_json[] = {
		[JSON_OBJECT] = ADAPTER_VAL_MAP,    [JSON_ARRAY] = ADAPTER_VAL_ARRAY,
		[JSON_STRING] = ADAPTER_VAL_STRING, [JSON_INTEGER] = ADAPTER_VAL_NUMBER,
		[JSON_REAL] = ADAPTER_VAL_NUMBER,   [JSON_TRUE] = ADAPTER_VAL_BOOL,
		[JSON_FALSE] = ADAPTER_VAL_BOOL,    [JSON_NULL] = ADAPTER_VAL_NIL,
	};
	struct adapter_mp_token t;

	if (v->json != NULL)
		return from_json[json_typeof(v->json)];
	if (!adapter_val_token(v, &t) || adapter_mp_is_undefined(&t))
		return ADAPTER_VAL_ABSENT;
	return from_mp[t.kind];
}

/* Looks up <n> keys of map <map> in one pass: vals[i] gets the value of
 * keys[i], absent if there is none.  As in JavaScript, the last of equal
 * keys wins; keys that are not strings never match. */
static void adapter_val_members(const struct adapter_val *map, const char *const *keys,
				struct adapter_val *vals, size_t n)
{
	struct adapter_mp mp = { map->mp, map->mp_end };
	struct adapter_mp_token t, k;

	memset(vals, 0, n * sizeof(*vals));
	if (map->json != NULL) {
		for (size_t i = 0; i < n; i++)
			vals[i].json = json_object_get(map->json, keys[i]);
		return;
	}
	if (map->mp == NULL || !adapter_mp_read(&mp, &t) || t.kind != ADAPTER_MP_MAP)
		return;
	for (size_t e = 0; e < t.len; e++) {
		struct adapter_mp key_mp = mp;
		bool is_str = adapter_mp_read(&key_mp, &k) && k.kind == ADAPTER_MP_STR;
		const uint8_t *val_at;

		if (!adapter_mp_skip(&mp, ADAPTER_MAX_DEPTH))
			return;
		val_at = mp.p;
		if (!adapter_mp_skip(&mp, ADAPTER_MAX_DEPTH))
			return;
		for (size_t i = 0; is_str && i < n; i++)
			if (strlen(keys[i]) == k.len && memcmp(keys[i], k.bytes, k.len) == 0)
				vals[i] = (struct adapter_val){ NULL, val_at, map->mp_end };
	}
}

/* Iterates the elements of an array value. */
struct adapter_items {
	const json_t *json;
	struct adapter_mp mp;
	size_t i, n;
};

/* <arr> must be of kind ADAPTER_VAL_ARRAY.  Returns the element count. */
static size_t adapter_items_start(struct adapter_items *it, const struct adapter_val *arr)
{
	struct adapter_mp_token t;

	memset(it, 0, sizeof(*it));
	it->json = arr->json;
	if (arr->json != NULL) {
		it->n = json_array_size(arr->json);
	} else {
		it->mp = (struct adapter_mp){ arr->mp, arr->mp_end };
		if (adapter_mp_read(&it->mp, &t))
			it->n = t.len;
	}
	return it->n;
}

static bool adapter_items_next(struct adapter_items *it, struct adapter_val *item)
{
	if (it->i == it->n)
		return false;
	memset(item, 0, sizeof(*item));
	if (it->json != NULL) {
		item->json = json_array_get(it->json, it->i);
	} else {
		item->mp = it->mp.p;
		item->mp_end = it->mp.end;
		if (!adapter_mp_skip(&it->mp, ADAPTER_MAX_DEPTH))
			return false;
	}
	it->i++;
	return true;
}

static bool adapter_val_string(const struct adapter_val *v, struct adapter_str *out)
{
	struct adapter_mp_token t;

	if (v->json != NULL) {
		if (!json_is_string(v->json))
			return false;
		out->s = json_string_value(v->json);
		out->len = json_string_length(v->json);
		return true;
	}
	if (!adapter_val_token(v, &t) || t.kind != ADAPTER_MP_STR)
		return false;
	out->s = (const char *)t.bytes;
	out->len = t.len;
	return true;
}

static bool adapter_val_bool(const struct adapter_val *v, bool *out)
{
	struct adapter_mp_token t;

	if (v->json != NULL) {
		if (!json_is_boolean(v->json))
			return false;
		*out = json_is_true(v->json);
		return true;
	}
	if (!adapter_val_token(v, &t) || t.kind != ADAPTER_MP_BOOL)
		return false;
	*out = t.b;
	return true;
}

/* An integral number from 0 to <max> (at most 2^53).  JavaScript has one
 * number type, so 2.0 and a float64 1000 are integers too. */
static bool adapter_val_integer(const struct adapter_val *v, double max, uint64_t *out)
{
	struct adapter_mp_token t;
	double d;

	if (v->json != NULL) {
		if (!json_is_number(v->json))
			return false;
		d = json_number_value(v->json);
	} else {
		if (!adapter_val_token(v, &t) || !adapter_mp_is_number(&t))
			return false;
		d = adapter_mp_number(&t);
	}
	if (!(d >= 0 && d <= max) || d != (double)(uint64_t)d)
		return false;
	*out = (uint64_t)d;
	return true;
}

/* The msgpack bytes of one value. */
static void adapter_val_span(const struct adapter_val *v, const uint8_t **p, size_t *len)
{
	struct adapter_mp mp = { v->mp, v->mp_end };

	*p = v->mp;
	*len = adapter_mp_skip(&mp, ADAPTER_MAX_DEPTH) ? (size_t)(mp.p - v->mp) : 0;
}

/* ---- fields shared by broadcasts and requests -------------------------------- */

static enum adapter_result adapter_field_str(const struct adapter_val *v, struct adapter_str *out)
{
	if (adapter_val_kind(v) == ADAPTER_VAL_ABSENT)
		return ADAPTER_OK;
	return adapter_val_string(v, out) ? ADAPTER_OK : ADAPTER_ERR_FIELD;
}

static enum adapter_result adapter_field_bool(const struct adapter_val *v, bool *out)
{
	if (adapter_val_kind(v) == ADAPTER_VAL_ABSENT)
		return ADAPTER_OK;
	return adapter_val_bool(v, out) ? ADAPTER_OK : ADAPTER_ERR_FIELD;
}

/* opts.flags: an optional map.  `compress` and unknown flags are left to
 * whoever publishes; a timeout past 2^53 ms is no JavaScript integer. */
static enum adapter_result adapter_field_flags(const struct adapter_val *flags,
					       struct adapter_flags *out)
{
	static const char *const keys[] = { "volatile", "local", "timeout" };
	struct adapter_val vals[3];
	enum adapter_result res;

	if (adapter_val_kind(flags) == ADAPTER_VAL_ABSENT)
		return ADAPTER_OK;
	if (adapter_val_kind(flags) != ADAPTER_VAL_MAP)
		return ADAPTER_ERR_FIELD;
	adapter_val_members(flags, keys, vals, 3);
	res = adapter_field_bool(&vals[0], &out->is_volatile);
	if (res == ADAPTER_OK)
		res = adapter_field_bool(&vals[1], &out->local);
	if (res != ADAPTER_OK || adapter_val_kind(&vals[2]) == ADAPTER_VAL_ABSENT)
		return res;
	if (!adapter_val_integer(&vals[2], ADAPTER_2_POW_53, &out->timeout_ms))
		return ADAPTER_ERR_FIELD;
	out->has_timeout = true;
	return ADAPTER_OK;
}

/* A room array to take: the value (absent: no rooms) and where its names
 * go. */
struct adapter_room_list {
	struct adapter_val val;
	struct room_name **names;
	size_t *n_names;
};

static enum adapter_result adapter_room_list_count(const struct adapter_val *v, size_t *n)
{
	struct adapter_items it;
	struct adapter_val item;
	struct adapter_str s;

	*n = 0;
	if (adapter_val_kind(v) == ADAPTER_VAL_ABSENT)
		return ADAPTER_OK;
	if (adapter_val_kind(v) != ADAPTER_VAL_ARRAY)
		return ADAPTER_ERR_FIELD;
	adapter_items_start(&it, v);
	while (adapter_items_next(&it, &item))
		if (!adapter_val_string(&item, &s))
			return ADAPTER_ERR_FIELD;
	*n = it.i;
	return ADAPTER_OK;
}

/* Takes every list's names into one heap block, returned in *<block>
 * (NULL when there are no names at all); each list's pointer is NULL when
 * it has none.  Names borrow from the message. */
static enum adapter_result adapter_room_lists_take(struct adapter_room_list *lists, size_t n_lists,
						   struct room_name **block)
{
	size_t total = 0, at = 0, n;
	struct adapter_items it;
	struct adapter_val item;
	struct adapter_str s;

	*block = NULL;
	for (size_t i = 0; i < n_lists; i++) {
		enum adapter_result res = adapter_room_list_count(&lists[i].val, &n);

		if (res != ADAPTER_OK)
			return res;
		*lists[i].n_names = n;
		total += n;
	}
	if (total == 0)
		return ADAPTER_OK;
	/* No overflow: each name took at least one byte of the message. */
	*block = jsonmem_malloc(total * sizeof(**block));
	if (*block == NULL)
		return ADAPTER_ERR_NOMEM;
	for (size_t i = 0; i < n_lists; i++) {
		*lists[i].names = *lists[i].n_names != 0 ? *block + at : NULL;
		if (*lists[i].n_names == 0)
			continue;
		adapter_items_start(&it, &lists[i].val);
		while (adapter_items_next(&it, &item) && adapter_val_string(&item, &s))
			(*block)[at++] = (struct room_name){ s.s, s.len };
	}
	return ADAPTER_OK;
}

/* opts `{rooms, except, flags}`: a map, required where it is passed.
 * <lists> gets the two room arrays to take. */
static enum adapter_result adapter_field_opts(const struct adapter_val *opts,
					      struct adapter_room_list lists[2],
					      struct adapter_flags *flags)
{
	static const char *const keys[] = { "rooms", "except", "flags" };
	struct adapter_val vals[3];

	if (adapter_val_kind(opts) != ADAPTER_VAL_MAP)
		return ADAPTER_ERR_FIELD;
	adapter_val_members(opts, keys, vals, 3);
	lists[0].val = vals[0];
	lists[1].val = vals[1];
	return adapter_field_flags(&vals[2], flags);
}

/* packet `{type, data, nsp}` of a broadcast or a BROADCAST request: type
 * 2 or 5, data a msgpack array of at least one element, nsp "/" when
 * absent.  A JSON packet has no msgpack data to point at. */
static enum adapter_result adapter_field_packet(const struct adapter_val *packet,
						enum packet_type *type, struct adapter_str *nsp,
						const uint8_t **data, size_t *data_len)
{
	static const char *const keys[] = { "type", "data", "nsp" };
	struct adapter_val vals[3];
	struct adapter_items it;
	uint64_t t;

	if (packet->json != NULL || adapter_val_kind(packet) != ADAPTER_VAL_MAP)
		return ADAPTER_ERR_FIELD;
	adapter_val_members(packet, keys, vals, 3);
	if (adapter_val_kind(&vals[0]) != ADAPTER_VAL_NUMBER)
		return ADAPTER_ERR_FIELD;
	if (!adapter_val_integer(&vals[0], ADAPTER_2_POW_53, &t) ||
	    (t != PACKET_EVENT && t != PACKET_BINARY_EVENT))
		return ADAPTER_ERR_TYPE;
	*type = (enum packet_type)t;
	if (adapter_val_kind(&vals[1]) != ADAPTER_VAL_ARRAY ||
	    adapter_items_start(&it, &vals[1]) == 0)
		return ADAPTER_ERR_FIELD;
	adapter_val_span(&vals[1], data, data_len);
	*nsp = (struct adapter_str){ "/", 1 };
	return adapter_field_str(&vals[2], nsp);
}

/* ---- broadcasts ------------------------------------------------------------- */

void adapter_broadcast_free(struct adapter_broadcast *b)
{
	/* One block: it starts at rooms, or at except when there are no rooms. */
	jsonmem_free(b->n_rooms != 0 ? b->rooms : b->except);
	memset(b, 0, sizeof(*b));
}

static enum adapter_result adapter_broadcast_fields(const struct adapter_val *msg,
						    struct adapter_broadcast *out)
{
	struct adapter_room_list lists[2] = {
		{ { 0 }, &out->rooms, &out->n_rooms },
		{ { 0 }, &out->except, &out->n_except },
	};
	struct adapter_val uid, packet, opts;
	struct adapter_items it;
	struct room_name *block;
	enum adapter_result res;

	if (adapter_val_kind(msg) != ADAPTER_VAL_ARRAY || adapter_items_start(&it, msg) != 3)
		return ADAPTER_ERR_MALFORMED;
	if (!adapter_items_next(&it, &uid) || !adapter_items_next(&it, &packet) ||
	    !adapter_items_next(&it, &opts))
		return ADAPTER_ERR_MALFORMED;
	if (!adapter_val_string(&uid, &out->uid))
		return ADAPTER_ERR_FIELD;
	res = adapter_field_packet(&packet, &out->type, &out->nsp, &out->data, &out->data_len);
	if (res == ADAPTER_OK)
		res = adapter_field_opts(&opts, lists, &out->flags);
	if (res == ADAPTER_OK)
		res = adapter_room_lists_take(lists, 2, &block);
	return res;
}

enum adapter_result adapter_decode_broadcast(const uint8_t *in, size_t len,
					     struct adapter_broadcast *out)
{
	struct adapter_val msg = { NULL, in, in + len };
	enum adapter_result res;

	memset(out, 0, sizeof(*out));
	if (!adapter_mp_is_one_value(in, len))
		return ADAPTER_ERR_MALFORMED;
	res = adapter_broadcast_fields(&msg, out);
	if (res != ADAPTER_OK)
		adapter_broadcast_free(out);
	return res;
}

/* ---- JSON text from msgpack --------------------------------------------------- */

/* Longest text adapter_number_text() writes: a sign, 17 digits, a point,
 * "e-324", or a sign and "0.000000" before 17 digits. */
#define ADAPTER_NUMBER_MAX 32

/* The shortest digits that read back as <d> (> 0), as ECMAScript's
 * Number::toString picks them: %.Ne for N = 0.. until strtod gives <d>
 * back.  Returns the digit count; *<exp10> is the exponent of the first
 * digit. */
static int adapter_shortest_digits(double d, char digits[18], int *exp10)
{
	char text[40], *e;
	int n = 0;

	for (int prec = 0; prec < 17; prec++) {
		snprintf(text, sizeof(text), "%.*e", prec, d);
		if (strtod(text, NULL) == d)
			break;
	}
	e = strchr(text, 'e');
	*exp10 = atoi(e + 1);
	for (const char *p = text; p < e; p++)
		if (*p != '.')
			digits[n++] = *p;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = '\0';
	return n;
}

/* Number::toString(<d>) for a finite <d> into <out>: shortest round-trip
 * digits, plain decimal from 1e-7 up to 1e21, otherwise `1.5e-7`,
 * `1e+21`.  -0 is "0".  Returns the length, 0 for NaN and infinities. */
static size_t adapter_number_text(double d, char out[ADAPTER_NUMBER_MAX])
{
	static const char zeros[] = "000000000000000000000";
	const char *sign = d < 0 ? "-" : "";
	char digits[18];
	int k, n, exp10, len;

	if (!isfinite(d))
		return 0;
	if (d == 0)
		return (size_t)snprintf(out, ADAPTER_NUMBER_MAX, "0");
	if (d > -ADAPTER_2_POW_53 && d < ADAPTER_2_POW_53 && d == (double)(int64_t)d)
		return (size_t)snprintf(out, ADAPTER_NUMBER_MAX, "%" PRId64, (int64_t)d);
	k = adapter_shortest_digits(d < 0 ? -d : d, digits, &exp10);
	n = exp10 + 1;                 /* the value is 0.<digits> x 10^n */
	if (k <= n && n <= 21)
		len = snprintf(out, ADAPTER_NUMBER_MAX, "%s%s%.*s", sign, digits, n - k, zeros);
	else if (n > 0 && n <= 21)
		len = snprintf(out, ADAPTER_NUMBER_MAX, "%s%.*s.%s", sign, n, digits, digits + n);
	else if (n > -6 && n <= 0)
		len = snprintf(out, ADAPTER_NUMBER_MAX, "%s0.%.*s%s", sign, -n, zeros, digits);
	else
		len = snprintf(out, ADAPTER_NUMBER_MAX, "%s%c%s%se%c%d", sign, digits[0],
			       k > 1 ? "." : "", digits + 1, n > 0 ? '+' : '-',
			       n > 0 ? n - 1 : 1 - n);
	return (size_t)len;
}

/* Longest Date.toISOString(): `+275760-09-13T00:00:00.000Z`. */
#define ADAPTER_ISO_MAX 32

/* Date.prototype.toJSON() of time value <ms> into <out>: the ISO 8601
 * text, years outside 0..9999 as a sign and six digits.  Returns the
 * length, or 0 for an invalid Date (beyond +-8.64e15 ms), which JSON.stringify
 * writes as null. */
static size_t adapter_iso_date(double ms, char out[ADAPTER_ISO_MAX])
{
	int64_t t, days, rem, z, era, doe, yoe, doy, mp, y, m, d;
	int n;

	if (!(ms >= -8.64e15 && ms <= 8.64e15))
		return 0;
	t = (int64_t)ms;               /* TimeClip: toward zero */
	days = t / 86400000;
	rem = t % 86400000;
	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	/* Days to a proleptic Gregorian date (H. Hinnant's civil_from_days). */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	if (y >= 0 && y <= 9999)
		n = snprintf(out, ADAPTER_ISO_MAX, "%04" PRId64, y);
	else
		n = snprintf(out, ADAPTER_ISO_MAX, "%c%06" PRId64, y < 0 ? '-' : '+',
			     y < 0 ? -y : y);
	n += snprintf(out + n, (size_t)(ADAPTER_ISO_MAX - n),
		      "-%02" PRId64 "-%02" PRId64 "T%02" PRId64 ":%02" PRId64 ":%02" PRId64
		      ".%03" PRId64 "Z",
		      m, d, rem / 3600000, rem / 60000 % 60, rem / 1000 % 60, rem % 1000);
	return (size_t)n;
}

/* A conversion of msgpack into JSON text.  Appends never fail on their
 * own: one that runs out of memory sets <nomem> and later ones do
 * nothing, so the walk checks once, at the end. */
struct adapter_conv {
	struct adapter_mp mp;
	struct adapter_buf text;
	bool nomem;
	struct adapter_payload *payload; /* takes the bins; NULL: bins unsupported */
};

static void adapter_conv_put(struct adapter_conv *c, const void *bytes, size_t n)
{
	if (!c->nomem && adapter_buf_append(&c->text, bytes, n) != 0)
		c->nomem = true;
}

static void adapter_conv_puts(struct adapter_conv *c, const char *s)
{
	adapter_conv_put(c, s, strlen(s));
}

/* JSON.stringify's escape of byte <ch>, which is a control character, '"'
 * or '\\': the short forms where JSON has them, else \u00XX in lowercase
 * hex, as V8 writes it. */
static void adapter_conv_escape(struct adapter_conv *c, uint8_t ch)
{
	static const char from[] = "\b\f\n\r\t\"\\", to[] = "bfnrt\"\\";
	const char *f = memchr(from, ch, sizeof(from) - 1);
	char text[7];

	if (f != NULL)
		snprintf(text, sizeof(text), "\\%c", to[f - from]);
	else
		snprintf(text, sizeof(text), "\\u%04x", ch);
	adapter_conv_puts(c, text);
}

/* A string as JSON.stringify writes it.  Node's Buffer.toString() turns
 * invalid UTF-8 into U+FFFD when notepack decodes; the repair is the same
 * as eio.c's for polling bodies. */
static void adapter_conv_string(struct adapter_conv *c, const uint8_t *s, size_t len)
{
	size_t fixed_len = eio_utf8_repaired_len(s, len), run = 0;
	uint8_t *fixed = NULL;

	if (fixed_len != 0) {
		fixed = jsonmem_malloc(fixed_len);
		if (fixed == NULL) {
			c->nomem = true;
			return;
		}
		eio_utf8_repair(fixed, s, len);
		s = fixed;
		len = fixed_len;
	}
	adapter_conv_put(c, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
			continue;
		adapter_conv_put(c, s + run, i - run);
		adapter_conv_escape(c, s[i]);
		run = i + 1;
	}
	adapter_conv_put(c, s + run, len - run);
	adapter_conv_put(c, "\"", 1);
	jsonmem_free(fixed);
}

static void adapter_conv_number(struct adapter_conv *c, double d)
{
	char text[ADAPTER_NUMBER_MAX];
	size_t n = adapter_number_text(d, text);

	if (n == 0)
		adapter_conv_puts(c, "null");
	else
		adapter_conv_put(c, text, n);
}

/* A map key as the property name JavaScript makes of it: a string as it
 * is, a number as String(n) gives it.  Other keys are unsupported. */
static enum adapter_result adapter_conv_key(struct adapter_conv *c,
					    const struct adapter_mp_token *k)
{
	char text[ADAPTER_NUMBER_MAX];
	size_t n;
	double d;

	if (k->kind == ADAPTER_MP_STR) {
		adapter_conv_string(c, k->bytes, k->len);
		return ADAPTER_OK;
	}
	if (!adapter_mp_is_number(k))
		return ADAPTER_ERR_UNSUPPORTED;
	d = adapter_mp_number(k);
	n = adapter_number_text(d, text);
	if (n == 0)
		n = (size_t)snprintf(text, sizeof(text), "%s",
				     isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
	adapter_conv_put(c, "\"", 1);
	adapter_conv_put(c, text, n);
	adapter_conv_put(c, "\"", 1);
	return ADAPTER_OK;
}

static enum adapter_result adapter_conv_value(struct adapter_conv *c,
					      const struct adapter_mp_token *t, unsigned depth);

static enum adapter_result adapter_conv_array(struct adapter_conv *c, size_t n, unsigned depth)
{
	struct adapter_mp_token t;

	adapter_conv_put(c, "[", 1);
	for (size_t i = 0; i < n; i++) {
		enum adapter_result res;

		if (i != 0)
			adapter_conv_put(c, ",", 1);
		if (!adapter_mp_read(&c->mp, &t))
			return ADAPTER_ERR_MALFORMED;
		if (adapter_mp_is_undefined(&t)) {
			adapter_conv_puts(c, "null");
			continue;
		}
		res = adapter_conv_value(c, &t, depth);
		if (res != ADAPTER_OK)
			return res;
	}
	adapter_conv_put(c, "]", 1);
	return ADAPTER_OK;
}

/* Whether JSON.stringify writes the entry <key>: <val>.  An undefined
 * value is left out.  So is `__proto__`: notepack's assignment sets the
 * prototype (or ignores a primitive) instead of making a property; a Date
 * or Buffer prototype would lend the object its toJSON, which we do not
 * imitate. */
static enum adapter_result adapter_conv_entry_is_written(const struct adapter_mp_token *key,
							 const struct adapter_mp_token *val,
							 bool *written)
{
	double ms;

	*written = false;
	if (adapter_mp_is_undefined(val))
		return ADAPTER_OK;
	if (key->kind == ADAPTER_MP_STR && key->len == 9 && memcmp(key->bytes, "__proto__", 9) == 0)
		return val->kind == ADAPTER_MP_BIN || adapter_mp_timestamp_ms(val, &ms)
			       ? ADAPTER_ERR_UNSUPPORTED
			       : ADAPTER_OK;
	*written = true;
	return ADAPTER_OK;
}

static enum adapter_result adapter_conv_map(struct adapter_conv *c, size_t n, unsigned depth)
{
	struct adapter_mp_token key, val;
	bool first = true, written;

	adapter_conv_put(c, "{", 1);
	for (size_t i = 0; i < n; i++) {
		enum adapter_result res;

		if (!adapter_mp_read(&c->mp, &key))
			return ADAPTER_ERR_MALFORMED;
		if (key.kind == ADAPTER_MP_ARRAY || key.kind == ADAPTER_MP_MAP)
			return ADAPTER_ERR_UNSUPPORTED;
		if (!adapter_mp_read(&c->mp, &val))
			return ADAPTER_ERR_MALFORMED;
		res = adapter_conv_entry_is_written(&key, &val, &written);
		if (res != ADAPTER_OK)
			return res;
		if (!written) {
			if (!adapter_mp_skip_rest(&c->mp, &val, depth))
				return ADAPTER_ERR_MALFORMED;
			continue;
		}
		if (!first)
			adapter_conv_put(c, ",", 1);
		first = false;
		res = adapter_conv_key(c, &key);
		adapter_conv_put(c, ":", 1);
		if (res == ADAPTER_OK)
			res = adapter_conv_value(c, &val, depth);
		if (res != ADAPTER_OK)
			return res;
	}
	adapter_conv_put(c, "}", 1);
	return ADAPTER_OK;
}

/* A bin becomes the next attachment and its placeholder, numbered in the
 * order socket.io-parser's deconstructPacket() meets them: depth first,
 * which is the order of the text. */
static enum adapter_result adapter_conv_bin(struct adapter_conv *c,
					    const struct adapter_mp_token *t)
{
	struct adapter_payload *p = c->payload;
	char text[40];

	if (p == NULL || p->n_attachments == PACKET_MAX_ATTACHMENTS)
		return ADAPTER_ERR_UNSUPPORTED;
	p->attachments[p->n_attachments] = t->bytes;
	p->attachment_lens[p->n_attachments] = t->len;
	snprintf(text, sizeof(text), "{\"_placeholder\":true,\"num\":%u}", p->n_attachments++);
	adapter_conv_puts(c, text);
	return ADAPTER_OK;
}

static enum adapter_result adapter_conv_ext(struct adapter_conv *c,
					    const struct adapter_mp_token *t)
{
	char iso[ADAPTER_ISO_MAX];
	size_t n;
	double ms;

	if (!adapter_mp_timestamp_ms(t, &ms))
		return ADAPTER_ERR_UNSUPPORTED;
	n = adapter_iso_date(ms, iso);
	if (n == 0) {
		adapter_conv_puts(c, "null");
		return ADAPTER_OK;
	}
	adapter_conv_put(c, "\"", 1);
	adapter_conv_put(c, iso, n);
	adapter_conv_put(c, "\"", 1);
	return ADAPTER_OK;
}

/* Converts the value whose head <t> was just read; <depth> is how many
 * more levels of nesting it may open.  Undefined is the caller's. */
static enum adapter_result adapter_conv_value(struct adapter_conv *c,
					      const struct adapter_mp_token *t, unsigned depth)
{
	switch (t->kind) {
	case ADAPTER_MP_NIL:
		adapter_conv_puts(c, "null");
		return ADAPTER_OK;
	case ADAPTER_MP_BOOL:
		adapter_conv_puts(c, t->b ? "true" : "false");
		return ADAPTER_OK;
	case ADAPTER_MP_UINT:
	case ADAPTER_MP_INT:
	case ADAPTER_MP_FLOAT:
		adapter_conv_number(c, adapter_mp_number(t));
		return ADAPTER_OK;
	case ADAPTER_MP_STR:
		adapter_conv_string(c, t->bytes, t->len);
		return ADAPTER_OK;
	case ADAPTER_MP_BIN:
		return adapter_conv_bin(c, t);
	case ADAPTER_MP_ARRAY:
		if (depth == 0)
			return ADAPTER_ERR_MALFORMED;
		return adapter_conv_array(c, t->len, depth - 1);
	case ADAPTER_MP_MAP:
		if (depth == 0)
			return ADAPTER_ERR_MALFORMED;
		return adapter_conv_map(c, t->len, depth - 1);
	case ADAPTER_MP_EXT:
		return adapter_conv_ext(c, t);
	default:
		return ADAPTER_ERR_MALFORMED;
	}
}

/* Converts <in>, one whole msgpack value, into NUL-terminated text in
 * *<text> (freed on failure).  <payload> takes the bins (NULL: a bin is
 * unsupported). */
static enum adapter_result adapter_conv_run(const uint8_t *in, size_t len,
					    struct adapter_payload *payload,
					    struct adapter_buf *text)
{
	struct adapter_conv c = { { in, in + len }, { NULL, 0, 0 }, false, payload };
	struct adapter_mp_token t;
	enum adapter_result res;

	if (!adapter_mp_read(&c.mp, &t))
		res = ADAPTER_ERR_MALFORMED;
	else if (adapter_mp_is_undefined(&t))
		res = ADAPTER_ERR_UNSUPPORTED;   /* JSON.stringify gives no text */
	else
		res = adapter_conv_value(&c, &t, ADAPTER_MAX_DEPTH);
	if (res == ADAPTER_OK && c.mp.p != c.mp.end)
		res = ADAPTER_ERR_MALFORMED;
	adapter_conv_put(&c, "", 1);
	if (res == ADAPTER_OK && c.nomem)
		res = ADAPTER_ERR_NOMEM;
	if (res != ADAPTER_OK) {
		adapter_buf_free(&c.text);
		return res;
	}
	*text = c.text;
	return ADAPTER_OK;
}

void adapter_payload_free(struct adapter_payload *p)
{
	jsonmem_free(p->json);
	memset(p, 0, sizeof(*p));
}

enum adapter_result adapter_payload_from_msgpack(const uint8_t *in, size_t len,
						 struct adapter_payload *out)
{
	struct adapter_buf text;
	enum adapter_result res;

	memset(out, 0, sizeof(*out));
	res = adapter_conv_run(in, len, out, &text);
	if (res != ADAPTER_OK) {
		memset(out, 0, sizeof(*out));
		return res;
	}
	out->json = (char *)text.data;
	out->json_len = text.len - 1;
	return ADAPTER_OK;
}

/* ---- requests ------------------------------------------------------------------ */

/* Parses JSON from Redis under the budget (jsonmem.h).  <flags> adds to
 * jsonmem_load()'s. */
static enum adapter_result adapter_json_load(const uint8_t *text, size_t len, size_t flags,
					     json_t **out)
{
	switch (jsonmem_load(text, len, flags, out)) {
	case JSONMEM_OK: return ADAPTER_OK;
	case JSONMEM_ERR_NOMEM: return ADAPTER_ERR_NOMEM;
	case JSONMEM_ERR_BUDGET: return ADAPTER_ERR_TOO_COSTLY;
	case JSONMEM_ERR_SYNTAX: break;
	}
	return ADAPTER_ERR_MALFORMED;
}

/* SERVER_SIDE_EMIT's data: a reference for a JSON request; for msgpack,
 * the same JSON text a payload gets, parsed (a bin has no JSON form, and
 * a \u0000 in a key none in jansson: unsupported). */
static enum adapter_result adapter_emit_data(const struct adapter_val *data, json_t **out)
{
	struct adapter_buf text;
	enum adapter_result res;
	const uint8_t *p;
	size_t len;

	if (adapter_val_kind(data) != ADAPTER_VAL_ARRAY)
		return ADAPTER_ERR_FIELD;
	if (data->json != NULL) {
		*out = json_incref((json_t *)data->json);
		return ADAPTER_OK;
	}
	adapter_val_span(data, &p, &len);
	res = adapter_conv_run(p, len, NULL, &text);
	if (res != ADAPTER_OK)
		return res;
	res = adapter_json_load(text.data, text.len - 1, 0, out);
	adapter_buf_free(&text);
	return res == ADAPTER_ERR_MALFORMED ? ADAPTER_ERR_UNSUPPORTED : res;
}

/* The request's top-level keys, looked up in one pass. */
enum adapter_request_key {
	ADAPTER_KEY_TYPE,
	ADAPTER_KEY_REQUEST_ID,
	ADAPTER_KEY_UID,
	ADAPTER_KEY_ROOMS,
	ADAPTER_KEY_OPTS,
	ADAPTER_KEY_SID,
	ADAPTER_KEY_ROOM,
	ADAPTER_KEY_CLOSE,
	ADAPTER_KEY_DATA,
	ADAPTER_KEY_PACKET,
	ADAPTER_N_KEYS,
};

static const char *const adapter_request_keys[ADAPTER_N_KEYS] = {
	"type", "requestId", "uid", "rooms", "opts", "sid", "room", "close", "data", "packet",
};

/* REMOTE_JOIN, REMOTE_LEAVE, REMOTE_DISCONNECT: which sockets, by opts or,
 * as the Node adapter decides, by the legacy sid when opts is absent. */
static enum adapter_result adapter_request_targets(const struct adapter_val *v,
						   struct adapter_request *r,
						   struct adapter_room_list lists[3])
{
	bool join_or_leave = r->type != ADAPTER_REMOTE_DISCONNECT;
	enum adapter_result res = adapter_field_bool(&v[ADAPTER_KEY_CLOSE], &r->close);

	if (res != ADAPTER_OK)
		return res;
	if (adapter_val_kind(&v[ADAPTER_KEY_OPTS]) != ADAPTER_VAL_ABSENT) {
		if (join_or_leave && adapter_val_kind(&v[ADAPTER_KEY_ROOMS]) == ADAPTER_VAL_ABSENT)
			return ADAPTER_ERR_FIELD;
		lists[0].val = v[ADAPTER_KEY_ROOMS];
		return adapter_field_opts(&v[ADAPTER_KEY_OPTS], lists + 1, &r->flags);
	}
	/* An empty sid would read as "no sid", and the opts form with no
	 * opts means every socket. */
	if (!adapter_val_string(&v[ADAPTER_KEY_SID], &r->sid) || r->sid.len == 0)
		return ADAPTER_ERR_FIELD;
	if (join_or_leave && !adapter_val_string(&v[ADAPTER_KEY_ROOM], &r->room))
		return ADAPTER_ERR_FIELD;
	return ADAPTER_OK;
}

/* The fields of <r>'s type, whose room lists go to <lists>: rooms,
 * opts.rooms, opts.except. */
static enum adapter_result adapter_request_type_fields(const struct adapter_val *v,
						       struct adapter_request *r,
						       struct adapter_room_list lists[3])
{
	switch (r->type) {
	case ADAPTER_SOCKETS:
		lists[0].val = v[ADAPTER_KEY_ROOMS];
		return ADAPTER_OK;
	case ADAPTER_REMOTE_JOIN:
	case ADAPTER_REMOTE_LEAVE:
	case ADAPTER_REMOTE_DISCONNECT:
		return adapter_request_targets(v, r, lists);
	case ADAPTER_REMOTE_FETCH:
		return adapter_field_opts(&v[ADAPTER_KEY_OPTS], lists + 1, &r->flags);
	case ADAPTER_SERVER_SIDE_EMIT:
		return adapter_emit_data(&v[ADAPTER_KEY_DATA], &r->emit_data);
	case ADAPTER_BROADCAST: {
		enum adapter_result res = adapter_field_packet(&v[ADAPTER_KEY_PACKET],
							       &r->packet_type, &r->packet_nsp,
							       &r->data, &r->data_len);

		if (res != ADAPTER_OK)
			return res;
		return adapter_field_opts(&v[ADAPTER_KEY_OPTS], lists + 1, &r->flags);
	}
	default:
		return ADAPTER_OK;     /* ALL_ROOMS; responses */
	}
}

static enum adapter_result adapter_request_fields(const struct adapter_val *root,
						  struct adapter_request *r)
{
	struct adapter_room_list lists[3] = {
		{ { 0 }, &r->rooms, &r->n_rooms },
		{ { 0 }, &r->opts_rooms, &r->n_opts_rooms },
		{ { 0 }, &r->opts_except, &r->n_opts_except },
	};
	struct adapter_val v[ADAPTER_N_KEYS];
	struct room_name *block = NULL;
	enum adapter_result res;
	uint64_t type;

	if (adapter_val_kind(root) != ADAPTER_VAL_MAP)
		return ADAPTER_ERR_MALFORMED;
	adapter_val_members(root, adapter_request_keys, v, ADAPTER_N_KEYS);
	if (!adapter_val_integer(&v[ADAPTER_KEY_TYPE], ADAPTER_BROADCAST_ACK, &type))
		return ADAPTER_ERR_TYPE;
	r->type = (enum adapter_request_type)type;
	res = adapter_field_str(&v[ADAPTER_KEY_REQUEST_ID], &r->request_id);
	if (res != ADAPTER_OK || r->type >= ADAPTER_BROADCAST_CLIENT_COUNT)
		return res;
	res = adapter_field_str(&v[ADAPTER_KEY_UID], &r->uid);
	if (res == ADAPTER_OK)
		res = adapter_request_type_fields(v, r, lists);
	if (res == ADAPTER_OK)
		res = adapter_room_lists_take(lists, 3, &block);
	r->heap = block;
	return res;
}

void adapter_request_free(struct adapter_request *r)
{
	json_decref(r->emit_data);
	json_decref(r->root);
	jsonmem_free(r->heap);
	memset(r, 0, sizeof(*r));
}

enum adapter_result adapter_decode_request(const uint8_t *in, size_t len,
					   struct adapter_request *out)
{
	struct adapter_val root = { NULL, in, in + len };
	enum adapter_result res;

	memset(out, 0, sizeof(*out));
	if (len != 0 && in[0] == '{') {
		res = adapter_json_load(in, len, 0, &out->root);
		if (res != ADAPTER_OK)
			return res;
		root = (struct adapter_val){ out->root, NULL, NULL };
	} else if (!adapter_mp_is_one_value(in, len)) {
		return ADAPTER_ERR_MALFORMED;
	}
	res = adapter_request_fields(&root, out);
	if (res != ADAPTER_OK)
		adapter_request_free(out);
	return res;
}

/* ---- backend replies -------------------------------------------------------------- */

enum adapter_result adapter_decode_reply(const uint8_t *in, size_t len, struct adapter_reply *out)
{
	static const char *const keys[] = { "sid", "ack", "args" };
	static const uint8_t no_args[] = { 0x90 }; /* [] */
	struct adapter_val root = { NULL, in, in + len }, vals[3];
	const uint8_t *args = no_args;
	size_t args_len = sizeof(no_args);

	memset(out, 0, sizeof(*out));
	if (!adapter_mp_is_one_value(in, len) || adapter_val_kind(&root) != ADAPTER_VAL_MAP)
		return ADAPTER_ERR_MALFORMED;
	adapter_val_members(&root, keys, vals, 3);
	if (!adapter_val_string(&vals[0], &out->sid) ||
	    !adapter_val_integer(&vals[1], ADAPTER_2_POW_53 - 1, &out->ack))
		return ADAPTER_ERR_FIELD;
	switch (adapter_val_kind(&vals[2])) {
	case ADAPTER_VAL_ABSENT:
		break;
	case ADAPTER_VAL_ARRAY:
		adapter_val_span(&vals[2], &args, &args_len);
		break;
	default:
		return ADAPTER_ERR_FIELD;
	}
	return adapter_payload_from_msgpack(args, args_len, &out->args);
}

/* ---- msgpack from JSON ------------------------------------------------------------ */

/* msgpack-c's packer writes through this into a struct adapter_buf; a
 * failed append fails the pack call that made it. */
static int adapter_pack_write(void *data, const char *buf, size_t len)
{
	return adapter_buf_append(data, buf, len);
}

/* A packer and the attachments that placeholders stand for. */
struct adapter_pack {
	msgpack_packer pk;
	const uint8_t *const *attachments;
	const size_t *attachment_lens;
	unsigned n_attachments;
};

static int adapter_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
	return msgpack_pack_str(pk, len) != 0 || msgpack_pack_str_body(pk, s, len) != 0 ? -1 : 0;
}

static int adapter_pack_cstr(msgpack_packer *pk, const char *s)
{
	return adapter_pack_str(pk, s, strlen(s));
}

/* A JavaScript number as notepack writes it: integral values as the
 * smallest integer.  Past 2^53 notepack's integer encoding wraps (1e20
 * comes out as another number), so those go as float64, which every
 * receiver reads back as the same number. */
static int adapter_pack_number(msgpack_packer *pk, double d)
{
	if (d >= -ADAPTER_2_POW_53 && d <= ADAPTER_2_POW_53 && d == (double)(int64_t)d)
		return msgpack_pack_int64(pk, (int64_t)d);
	return msgpack_pack_double(pk, d);
}

/* The attachment an object stands for, as socket.io-parser's
 * reconstructPacket() replaces it: `_placeholder` true and an integral
 * `num` below the count (packet.c has refused any other num).  Without
 * attachments (a plain EVENT) nothing is replaced. */
static bool adapter_pack_placeholder(const struct adapter_pack *p, const json_t *obj,
				     unsigned *index)
{
	const json_t *num;
	double d;

	if (p->n_attachments == 0 || !json_is_true(json_object_get(obj, "_placeholder")))
		return false;
	num = json_object_get(obj, "num");
	if (!json_is_number(num))
		return false;
	d = json_number_value(num);
	if (!(d >= 0 && d < p->n_attachments) || d != (double)(unsigned)d)
		return false;
	*index = (unsigned)d;
	return true;
}

static int adapter_pack_json(struct adapter_pack *p, const json_t *v);

static int adapter_pack_object(struct adapter_pack *p, const json_t *obj)
{
	const char *key;
	size_t key_len;
	json_t *child;
	unsigned k;

	if (adapter_pack_placeholder(p, obj, &k))
		return msgpack_pack_bin(&p->pk, p->attachment_lens[k]) != 0 ||
			       msgpack_pack_bin_body(&p->pk, p->attachments[k],
						     p->attachment_lens[k]) != 0
			       ? -1
			       : 0;
	if (msgpack_pack_map(&p->pk, json_object_size(obj)) != 0)
		return -1;
	json_object_keylen_foreach((json_t *)obj, key, key_len, child)
		if (adapter_pack_str(&p->pk, key, key_len) != 0 || adapter_pack_json(p, child) != 0)
			return -1;
	return 0;
}

/* Recursion is bounded by jansson's parsing depth (2048). */
static int adapter_pack_json(struct adapter_pack *p, const json_t *v)
{
	size_t i;
	json_t *child;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return adapter_pack_object(p, v);
	case JSON_ARRAY:
		if (msgpack_pack_array(&p->pk, json_array_size(v)) != 0)
			return -1;
		json_array_foreach(v, i, child)
			if (adapter_pack_json(p, child) != 0)
				return -1;
		return 0;
	case JSON_STRING:
		return adapter_pack_str(&p->pk, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return adapter_pack_number(&p->pk, (double)json_integer_value(v));
	case JSON_REAL:
		return adapter_pack_number(&p->pk, json_real_value(v));
	case JSON_TRUE:
		return msgpack_pack_true(&p->pk);
	case JSON_FALSE:
		return msgpack_pack_false(&p->pk);
	default:
		return msgpack_pack_nil(&p->pk);
	}
}

static int adapter_pack_rooms(msgpack_packer *pk, const struct room_name *rooms, size_t n)
{
	if (msgpack_pack_array(pk, n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (adapter_pack_str(pk, rooms[i].name, rooms[i].len) != 0)
			return -1;
	return 0;
}

static int adapter_pack_flags(msgpack_packer *pk, const struct adapter_flags *f)
{
	size_t n = (size_t)f->is_volatile + (size_t)f->local + (size_t)f->has_timeout;

	if (msgpack_pack_map(pk, n) != 0)
		return -1;
	if (f->is_volatile &&
	    (adapter_pack_cstr(pk, "volatile") != 0 || msgpack_pack_true(pk) != 0))
		return -1;
	if (f->local && (adapter_pack_cstr(pk, "local") != 0 || msgpack_pack_true(pk) != 0))
		return -1;
	if (f->has_timeout && (adapter_pack_cstr(pk, "timeout") != 0 ||
			       adapter_pack_number(pk, (double)f->timeout_ms) != 0))
		return -1;
	return 0;
}

static void adapter_pack_init(struct adapter_pack *p, struct adapter_buf *out,
			      const uint8_t *const *attachments, const size_t *attachment_lens,
			      unsigned n_attachments)
{
	msgpack_packer_init(&p->pk, out, adapter_pack_write);
	p->attachments = attachments;
	p->attachment_lens = attachment_lens;
	p->n_attachments = n_attachments;
}

/* Key order of the Node adapter: [uid, {type, data, nsp}, {rooms, except,
 * flags}].  The type stays 2 with binary data, as there. */
int adapter_encode_broadcast(struct adapter_buf *out, const char *uid,
			     const char *nsp, size_t nsp_len, const json_t *data,
			     const uint8_t *const *attachments, const size_t *attachment_lens,
			     unsigned n_attachments,
			     const struct room_name *rooms, size_t n_rooms,
			     const struct room_name *except, size_t n_except,
			     const struct adapter_flags *flags)
{
	struct adapter_pack p;
	msgpack_packer *pk = &p.pk;

	adapter_pack_init(&p, out, attachments, attachment_lens, n_attachments);
	if (msgpack_pack_array(pk, 3) != 0 || adapter_pack_cstr(pk, uid) != 0)
		return -1;
	if (msgpack_pack_map(pk, 3) != 0 || adapter_pack_cstr(pk, "type") != 0 ||
	    msgpack_pack_int64(pk, PACKET_EVENT) != 0 || adapter_pack_cstr(pk, "data") != 0 ||
	    adapter_pack_json(&p, data) != 0 || adapter_pack_cstr(pk, "nsp") != 0 ||
	    adapter_pack_str(pk, nsp, nsp_len) != 0)
		return -1;
	if (msgpack_pack_map(pk, 3) != 0 || adapter_pack_cstr(pk, "rooms") != 0 ||
	    adapter_pack_rooms(pk, rooms, n_rooms) != 0 || adapter_pack_cstr(pk, "except") != 0 ||
	    adapter_pack_rooms(pk, except, n_except) != 0 || adapter_pack_cstr(pk, "flags") != 0 ||
	    adapter_pack_flags(pk, flags) != 0)
		return -1;
	return 0;
}

int adapter_encode_broadcast_ack(struct adapter_buf *out, const char *request_id,
				 size_t request_id_len, const json_t *arg,
				 const uint8_t *const *attachments, const size_t *attachment_lens,
				 unsigned n_attachments)
{
	struct adapter_pack p;
	msgpack_packer *pk = &p.pk;

	adapter_pack_init(&p, out, attachments, attachment_lens, n_attachments);
	if (msgpack_pack_map(pk, arg != NULL ? 3 : 2) != 0 || adapter_pack_cstr(pk, "type") != 0 ||
	    msgpack_pack_int64(pk, ADAPTER_BROADCAST_ACK) != 0 ||
	    adapter_pack_cstr(pk, "requestId") != 0 ||
	    adapter_pack_str(pk, request_id, request_id_len) != 0)
		return -1;
	if (arg != NULL &&
	    (adapter_pack_cstr(pk, "packet") != 0 || adapter_pack_json(&p, arg) != 0))
		return -1;
	return 0;
}

enum adapter_result adapter_payload_from_json(const json_t *data, struct adapter_payload *out)
{
	struct adapter_buf mp = { 0 };
	struct adapter_pack p;
	enum adapter_result r = ADAPTER_ERR_NOMEM;

	memset(out, 0, sizeof(*out));  /* failed packing leaves it empty too */
	adapter_pack_init(&p, &mp, NULL, NULL, 0);
	if (adapter_pack_json(&p, data) == 0)
		r = adapter_payload_from_msgpack(mp.data, mp.len, out);
	adapter_buf_free(&mp);
	return r;
}
