/* record.c - the backend record codec (see record.h).
 *
 * Owns the bytes of a record: the XADD command of an event or a lifecycle
 * record, as a RESP array of bulk strings built in one heap block sized
 * first (each word's pieces are pointed at, not copied, until then), the
 * event name and arguments cut from the client's JSON text without a
 * parse, the stream a socket's records go to, and the check of a
 * backend's reply.  Does not own the Redis link, the outage buffer or
 * the policy of what is forwarded (backend.c).  Pure: no I/O, no
 * logging, no globals.
 * Limits: RECORD_MAX_WORDS words per command (the common fields, an
 * event's name, args, PACKET_MAX_ATTACHMENTS binN, ack and reply);
 * RECORD_MAX_FIELDS fields per lifecycle record.
 */
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "record.h"

/* XADD key MAXLEN ~ n * = 7 words, then a name and a value per field:
 * type nsp sid instance user event args, and up to PACKET_MAX_ATTACHMENTS
 * binN, with room for the lifecycle and ack fields. */
#define RECORD_MAX_CMD_FIELDS (16 + PACKET_MAX_ATTACHMENTS)
#define RECORD_MAX_WORDS (7 + 2 * RECORD_MAX_CMD_FIELDS)

/* One word of the command: up to two pieces, so that "[" and the rest of
 * an event's text make its args without a copy. */
struct record_word {
	const void *p[2];
	size_t len[2];
};

struct record_cmd {
	struct record_word w[RECORD_MAX_WORDS];
	size_t n;
};

static void record_word2(struct record_cmd *c, const void *a, size_t a_len, const void *b,
			 size_t b_len)
{
	c->w[c->n++] = (struct record_word){ { a, b }, { a_len, b_len } };
}

static void record_word(struct record_cmd *c, const void *p, size_t len)
{
	record_word2(c, p, len, NULL, 0);
}

static void record_str(struct record_cmd *c, const char *s)
{
	record_word(c, s, strlen(s));
}

/* A word of <v> in decimal, written in <buf>, which must outlive <c>. */
static void record_decimal(struct record_cmd *c, char buf[static 20], uint64_t v)
{
	const char *start = packet_write_decimal(buf + 20, v);

	record_word(c, start, (size_t)(buf + 20 - start));
}

/* Writes "<mark><n>\r\n" at <p>; returns the end.  No printf: a record has
 * some 25 of these, and printf's machinery was a tenth of the forwarding
 * CPU. */
static char *record_put_count(char *p, char mark, size_t n)
{
	char digits[20];
	char *start = packet_write_decimal(digits + sizeof digits, n);
	size_t len = (size_t)(digits + sizeof digits - start);

	*p++ = mark;
	memcpy(p, start, len);
	p += len;
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

/* Writes <c> as a RESP array of bulk strings into one heap block. */
static char *record_cmd_encode(const struct record_cmd *c, size_t *out_len)
{
	size_t len = 24;               /* "*N\r\n" */
	char *out, *p;

	for (size_t i = 0; i < c->n; i++)
		len += 1 + 20 + 2 + c->w[i].len[0] + c->w[i].len[1] + 2;
	if (!(out = malloc(len)))
		return NULL;
	p = record_put_count(out, '*', c->n);
	for (size_t i = 0; i < c->n; i++) {
		const struct record_word *w = &c->w[i];
		p = record_put_count(p, '$', w->len[0] + w->len[1]);
		for (int k = 0; k < 2; k++) {
			if (w->len[k])
				memcpy(p, w->p[k], w->len[k]);
			p += w->len[k];
		}
		memcpy(p, "\r\n", 2);
		p += 2;
	}
	*out_len = (size_t)(p - out);
	return out;
}

static size_t record_skip_ws(const uint8_t *s, size_t i, size_t len)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* The end of the first element of the array text <s> that starts at <i>:
 * a string (escapes skipped) or a number.  <len> if it does not end. */
static size_t record_skip_name(const uint8_t *s, size_t i, size_t len)
{
	if (i < len && s[i] == '"') {
		for (i++; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\')
				i++;
		}
		return i < len ? i + 1 : len;
	}
	while (i < len && strchr("+-.0123456789eE", s[i]) && s[i])
		i++;
	return i;
}

long record_args_offset(const uint8_t *json, size_t len)
{
	size_t i = record_skip_ws(json, 0, len);

	if (i == len || json[i] != '[')
		return -1;
	i = record_skip_ws(json, i + 1, len);
	size_t end = record_skip_name(json, i, len);
	if (end == i || end == len)
		return -1;
	i = record_skip_ws(json, end, len);
	if (i < len && json[i] == ',')
		return (long)i + 1;
	if (i < len && json[i] == ']')
		return (long)i;
	return -1;
}

int record_event_name(const struct packet *p, const char **name, size_t *len)
{
	const json_t *first = json_array_get(p->data, 0);

	if (json_is_string(first)) {
		*name = json_string_value(first);
		*len = json_string_length(first);
		return 0;
	}
	/* A number: its text as the client wrote it, which is what a Node
	 * handler's event name would print as. */
	size_t i = record_skip_ws(p->json, 0, p->json_len);
	if (!json_is_number(first) || i == p->json_len)
		return -1;
	i = record_skip_ws(p->json, i + 1, p->json_len);
	*name = (const char *)p->json + i;
	*len = record_skip_name(p->json, i, p->json_len) - i;
	return 0;
}

/* XADD <stream> MAXLEN ~ <maxlen> * and the fields every record has. */
static void record_cmd_start(struct record_cmd *c, const struct record_target *t,
			     char maxlen[static 20], const char *type,
			     const struct record_socket *sock)
{
	c->n = 0;
	record_str(c, "XADD");
	record_word(c, t->stream, t->stream_len);
	record_str(c, "MAXLEN");
	record_str(c, "~");
	record_decimal(c, maxlen, t->maxlen);
	record_str(c, "*");
	record_str(c, "type");
	record_str(c, type);
	record_str(c, "nsp");
	record_word(c, sock->nsp, sock->nsp_len);
	record_str(c, "sid");
	record_str(c, sock->sid);
	record_str(c, "instance");
	record_str(c, t->instance);
	record_str(c, "user");
	record_word(c, sock->user, sock->user_len);
}

char *record_encode_event(const struct record_target *t, const struct record_socket *sock,
			  const struct packet *p, size_t *len)
{
	static const char *const bin_names[PACKET_MAX_ATTACHMENTS] = {
		"bin0", "bin1", "bin2", "bin3", "bin4", "bin5", "bin6", "bin7", "bin8", "bin9",
	};
	struct record_cmd c;
	char maxlen[20], ack[20];
	const char *name;
	size_t name_len;
	long args = record_args_offset(p->json, p->json_len);

	if (args < 0 || record_event_name(p, &name, &name_len) < 0)
		return NULL;
	record_cmd_start(&c, t, maxlen, "event", sock);
	record_str(&c, "event");
	record_word(&c, name, name_len);
	record_str(&c, "args");
	record_word2(&c, "[", 1, p->json + args, p->json_len - (size_t)args);
	for (unsigned i = 0; i < p->n_attachments && i < PACKET_MAX_ATTACHMENTS; i++) {
		record_str(&c, bin_names[i]);
		record_word(&c, p->attachments[i], p->attachment_lens[i]);
	}
	if (sock->ack_id != PACKET_NO_ACK) {
		record_str(&c, "ack");
		record_decimal(&c, ack, (uint64_t)sock->ack_id);
		record_str(&c, "reply");
		record_str(&c, t->reply);
	}
	return record_cmd_encode(&c, len);
}

char *record_encode_lifecycle(const struct record_target *t, const struct record_socket *sock,
			      const char *type, const struct record_field *fields, size_t n_fields,
			      size_t *len)
{
	struct record_cmd c;
	char maxlen[20];

	if (n_fields > RECORD_MAX_FIELDS)
		return NULL;
	record_cmd_start(&c, t, maxlen, type, sock);
	for (size_t i = 0; i < n_fields; i++) {
		record_str(&c, fields[i].name);
		record_word(&c, fields[i].value, fields[i].len);
	}
	return record_cmd_encode(&c, len);
}

uint32_t record_stream_index(const char *sid, size_t len, uint32_t k)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)sid[i];
		h *= 16777619u;
	}
	return k > 1 ? h % k : 0;
}

/* Checks {"sid", "ack", "args"}; returns the refusal or NULL. */
const char *record_reply_check(const json_t *root)
{
	const json_t *sid = json_object_get(root, "sid");
	const json_t *ack = json_object_get(root, "ack");
	const json_t *args = json_object_get(root, "args");

	if (!json_is_object(root))
		return "not a JSON object";
	if (!json_is_string(sid) || json_string_length(sid) != ID_LEN)
		return "sid is not a socket id";
	if (!json_is_integer(ack) || json_integer_value(ack) < 0)
		return "ack is not an ack id";
	if (args && !json_is_array(args))
		return "args is not an array";
	return NULL;
}

