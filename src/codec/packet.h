/* packet.h - Socket.IO protocol 5 packet codec, text and binary attachments.
 *
 * Pure: bytes in, values out; no sockets, no libevent, no logging.  A text
 * packet is `<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]` inside one
 * Engine.IO message; a BINARY_EVENT or BINARY_ACK is followed by its
 * attachments, one binary Engine.IO message each (doc/protocol.md,
 * "Socket.IO text form" and "Binary attachments").  The decoder applies
 * socket.io-parser 4.2.7's rules, so anything
 * the reference server refuses is refused here with the reason it logs
 * (2.9); JSON is parsed with jansson.  A reader that failed stays failed:
 * the connection must be closed.
 */
#ifndef ROOMCAST_PACKET_H
#define ROOMCAST_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum packet_type {
	PACKET_CONNECT = 0,
	PACKET_DISCONNECT = 1,
	PACKET_EVENT = 2,
	PACKET_ACK = 3,
	PACKET_CONNECT_ERROR = 4,
	PACKET_BINARY_EVENT = 5,
	PACKET_BINARY_ACK = 6,
};

/* socket.io-parser's maxAttachments default. */
#define PACKET_MAX_ATTACHMENTS 10
/* No ack id.  Ack ids are decimal, at most 2^53 - 1 (a JavaScript number). */
#define PACKET_NO_ACK (-1)

/* Results: X(name, value, description).  Descriptions are the reference
 * server's words where it has them, for log lines. */
#define PACKET_RESULT_MAP(X)                                                     \
	X(PACKET_OK, 0, "ok")                                                    \
	X(PACKET_MORE, 1, "waiting for attachments")                             \
	X(PACKET_ERR_TYPE, -1, "unknown packet type")                            \
	X(PACKET_ERR_ATTACHMENTS, -2, "illegal attachments")                     \
	X(PACKET_ERR_TOO_MANY_ATTACHMENTS, -3, "too many attachments")           \
	X(PACKET_ERR_NSP, -4, "invalid namespace")                               \
	X(PACKET_ERR_PAYLOAD, -5, "invalid payload")                             \
	X(PACKET_ERR_UNEXPECTED_BINARY, -6, "got binary data when not reconstructing a packet") \
	X(PACKET_ERR_UNEXPECTED_TEXT, -7, "got plaintext data when reconstructing a packet") \
	X(PACKET_ERR_NOMEM, -8, "out of memory")                                \
	X(PACKET_ERR_JSON_BUDGET, -9, "payload too costly to parse (max_json_expansion)")

enum packet_result {
#define PACKET_RESULT_ENUM(name, value, text) name = value,
	PACKET_RESULT_MAP(PACKET_RESULT_ENUM)
#undef PACKET_RESULT_ENUM
};

const char *packet_result_text(enum packet_result r);

/* One decoded packet.  Strings borrow from the input given to the reader
 * (or from the reader's own copies for binary packets) and from <data>;
 * everything is valid until the next packet_reader_feed(),
 * packet_reader_done() or packet_reader_cleanup(). */
struct packet {
	enum packet_type type;
	const char *nsp;               /* "/" when the packet names none */
	size_t nsp_len;
	int64_t ack_id;                /* PACKET_NO_ACK when absent */
	unsigned n_attachments;        /* BINARY_*: announced and received */
	const uint8_t *json;           /* the payload text exactly as sent, may be empty */
	size_t json_len;
	json_t *data;                  /* the parsed payload, NULL when absent (owned by the reader) */
	const uint8_t *attachments[PACKET_MAX_ATTACHMENTS]; /* BINARY_*: the raw bytes */
	size_t attachment_lens[PACKET_MAX_ATTACHMENTS];
};

/* A binary packet held by a reader: private to packet.c. */
struct packet_binary;

/* Per-connection decoder.  Every client embeds one and most clients are
 * idle, so it is two pointers past its settings (32 bytes on LP64): what a
 * packet needs is on the heap only while the reader holds that packet.  A
 * delivered text packet leaves its parsed payload (its strings point into
 * the caller's bytes); a binary packet holds a block with its fields, its
 * header copy and its attachment copies from the header until the packet
 * is given back.  Idle (fresh, failed, or after packet_reader_done()), it
 * holds no heap memory. */
struct packet_reader {
	size_t max_bytes;              /* header + attachments of one packet */
	enum packet_result failed;     /* sticky error, PACKET_OK while healthy */
	json_t *delivered;             /* the last delivered text packet's data, or NULL */
	struct packet_binary *binary;  /* being assembled or just delivered, or NULL */
};

void packet_reader_init(struct packet_reader *r, size_t max_bytes);
void packet_reader_cleanup(struct packet_reader *r);

/* Gives back the last delivered packet (its data and binary copies) once
 * the caller is done with it, so that a reader between packets holds no
 * heap memory; the next feed does the same first.  Keeps a pending packet
 * and a sticky error. */
void packet_reader_done(struct packet_reader *r);

/* Feeds one Engine.IO message (<binary> for a binary message).  Returns
 * PACKET_OK with *<out> filled when a packet is complete, PACKET_MORE while
 * a binary packet waits for attachments, or an error (sticky).  Checks
 * everything socket.io-parser checks: the type, the attachment count (1 to
 * PACKET_MAX_ATTACHMENTS, then `-`), the namespace (starts with `/`), the
 * JSON and its shape per type (CONNECT: object or none; DISCONNECT: none;
 * EVENT: non-empty array whose first element is a number or a string that
 * is not reserved; ACK: array; CONNECT_ERROR: object or string), and every
 * placeholder's num against the attachments.  A packet larger than
 * max_bytes is PACKET_ERR_PAYLOAD. */
enum packet_result packet_reader_feed(struct packet_reader *r, bool binary,
				      const uint8_t *data, size_t len, struct packet *out)
	__attribute__((warn_unused_result));

/* True if <name> is one of the event names the protocol reserves
 * (connect, connect_error, disconnect, disconnecting, newListener,
 * removeListener). */
bool packet_event_is_reserved(const char *name, size_t len);

/* Writes the decimal digits of <v> backwards from <end> (at most 20 bytes
 * before it) and returns where they start: for encoders that have to
 * write numbers often, without printf's machinery. */
char *packet_write_decimal(char *end, uint64_t v);

/* Writes the text header `<type>[<n>-][<nsp>,][<ack id>]` (the namespace
 * only when it is not "/", the ack id only when not PACKET_NO_ACK) into
 * <out>, NUL-terminated.  Returns its length, or 0 if <out_len> is too
 * small or the header has no encoding: a BINARY_* count outside 1 to
 * PACKET_MAX_ATTACHMENTS, a namespace not starting with `/` or holding a
 * `,`, an ack id past 2^53 - 1.  The packet is this header followed by the
 * JSON payload text. */
size_t packet_encode_header(char *out, size_t out_len, enum packet_type type,
			    unsigned n_attachments, const char *nsp, size_t nsp_len,
			    int64_t ack_id);

/* Longest header packet_encode_header() can write for a namespace of
 * <nsp_len> bytes. */
#define PACKET_HEADER_MAX(nsp_len) (1 + 3 + (nsp_len) + 1 + 16 + 1)

#endif
