/*
 * fuzz_packet.c - packet_decode() on any datagram, then a round trip.
 *
 * The input is one datagram.  Whatever decodes must point inside the
 * datagram, NUL-terminated there; and whatever decodes can be encoded
 * again (request, OACK, ACK, DATA, ERROR) into a buffer of exactly the
 * encoder's size, which must decode to the same fields.  One byte less
 * must make the encoder return 0 without writing past its cap (ASan
 * watches the exact-size heap buffers).
 */
#include <string.h>

#include "fuzz.h"
#include "packet.h"

/* s is a NUL-terminated string lying wholly inside [buf, buf + len). */
static void
check_inside(const uint8_t *buf, size_t len, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	FUZZ_CHECK(s != NULL);
	FUZZ_CHECK(p >= buf && p < buf + len);
	FUZZ_CHECK(memchr(p, 0, (size_t)(buf + len - p)) != NULL);
}

static void
check_decoded(const uint8_t *buf, size_t len, const struct packet *p)
{
	size_t i;

	FUZZ_CHECK(p->op >= TFTP_RRQ && p->op <= TFTP_OACK);
	FUZZ_CHECK(p->op == get_be16(buf));
	FUZZ_CHECK(p->nopts <= PKT_OPT_MAX);
	switch (p->op) {
	case TFTP_RRQ:
	case TFTP_WRQ:
		check_inside(buf, len, p->filename);
		check_inside(buf, len, p->mode);
		FUZZ_CHECK(p->filename[0] != '\0' && p->mode[0] != '\0');
		FUZZ_CHECK(p->filename == (const char *)buf + 2);
		/* fall through */
	case TFTP_OACK:
		for (i = 0; i < p->nopts; i++) {
			check_inside(buf, len, p->opts[i].name);
			check_inside(buf, len, p->opts[i].value);
			FUZZ_CHECK(p->opts[i].name[0] != '\0');
		}
		break;
	case TFTP_DATA:
		FUZZ_CHECK(len >= PKT_HDR);
		FUZZ_CHECK(p->data == buf + PKT_HDR);
		FUZZ_CHECK(p->data_len == len - PKT_HDR);
		FUZZ_CHECK(p->block == get_be16(buf + 2));
		break;
	case TFTP_ACK:
		FUZZ_CHECK(len >= PKT_HDR);
		FUZZ_CHECK(p->block == get_be16(buf + 2));
		break;
	case TFTP_ERROR: {
		size_t n = strlen(p->err_msg);

		FUZZ_CHECK(len >= PKT_HDR);
		FUZZ_CHECK(p->err_code == get_be16(buf + 2));
		FUZZ_CHECK(n < PKT_ERRMSG_MAX);
		FUZZ_CHECK(n <= len - PKT_HDR);
		FUZZ_CHECK(memcmp(p->err_msg, buf + PKT_HDR, n) == 0);
		/* it stopped at a NUL, the end, or the size of err_msg */
		FUZZ_CHECK(n == len - PKT_HDR || buf[PKT_HDR + n] == 0 ||
		    n == PKT_ERRMSG_MAX - 1);
		break;
	}
	}
	FUZZ_CHECK(packet_op_name(p->op) != NULL);
	FUZZ_CHECK(strcmp(packet_op_name(p->op), "op?") != 0);
	FUZZ_CHECK(packet_error_text(p->err_code) != NULL);
}

/* Length the request/OACK encoders need for these fields. */
static size_t
need_len(const struct packet *p)
{
	size_t n = 2, i;

	if (p->op == TFTP_RRQ || p->op == TFTP_WRQ)
		n += strlen(p->filename) + 1 + strlen(p->mode) + 1;
	for (i = 0; i < p->nopts; i++)
		n += strlen(p->opts[i].name) + 1 + strlen(p->opts[i].value) + 1;
	return n;
}

static size_t
encode(const struct packet *p, uint8_t *buf, size_t cap)
{
	size_t n;

	switch (p->op) {
	case TFTP_RRQ:
	case TFTP_WRQ:
		return packet_encode_request(buf, cap, p->op, p->filename,
		    p->mode, p->opts, p->nopts);
	case TFTP_OACK:
		return packet_encode_oack(buf, cap, p->opts, p->nopts);
	case TFTP_ACK:
		return packet_encode_ack(buf, cap, p->block);
	case TFTP_DATA:
		n = packet_encode_data_hdr(buf, cap, p->block);
		if (n == 0)
			return 0;
		FUZZ_CHECK(n == PKT_HDR);
		if (cap - n < p->data_len)
			return 0;
		if (p->data_len)
			memcpy(buf + n, p->data, p->data_len);
		return n + p->data_len;
	case TFTP_ERROR:
		return packet_encode_error(buf, cap, p->err_code, p->err_msg);
	}
	return 0;
}

static void
check_same(const struct packet *a, const struct packet *b)
{
	size_t i;

	FUZZ_CHECK(a->op == b->op);
	switch (a->op) {
	case TFTP_RRQ:
	case TFTP_WRQ:
		FUZZ_CHECK(strcmp(a->filename, b->filename) == 0);
		FUZZ_CHECK(strcmp(a->mode, b->mode) == 0);
		/* fall through */
	case TFTP_OACK:
		FUZZ_CHECK(a->nopts == b->nopts);
		for (i = 0; i < a->nopts; i++) {
			FUZZ_CHECK(strcmp(a->opts[i].name,
			    b->opts[i].name) == 0);
			FUZZ_CHECK(strcmp(a->opts[i].value,
			    b->opts[i].value) == 0);
		}
		break;
	case TFTP_DATA:
		FUZZ_CHECK(a->block == b->block);
		FUZZ_CHECK(a->data_len == b->data_len);
		FUZZ_CHECK(a->data_len == 0 ||
		    memcmp(a->data, b->data, a->data_len) == 0);
		break;
	case TFTP_ACK:
		FUZZ_CHECK(a->block == b->block);
		break;
	case TFTP_ERROR:
		FUZZ_CHECK(a->err_code == b->err_code);
		FUZZ_CHECK(strcmp(a->err_msg, b->err_msg) == 0);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct packet p, q;
	uint8_t *buf, *small;
	size_t need, n;
	int r;

	r = packet_decode(data, size, &p);
	if (size < 2)
		FUZZ_CHECK(r == PKT_EMALFORMED);
	else if (get_be16(data) < TFTP_RRQ || get_be16(data) > TFTP_OACK)
		FUZZ_CHECK(r == PKT_EBADOPCODE);
	if (r < 0) {
		FUZZ_CHECK(r == PKT_EMALFORMED || r == PKT_EBADOPCODE);
		return 0;
	}
	FUZZ_CHECK(r == 0);
	check_decoded(data, size, &p);

	switch (p.op) {
	case TFTP_ACK:
		need = PKT_HDR;
		break;
	case TFTP_DATA:
		need = PKT_HDR + p.data_len;
		break;
	case TFTP_ERROR:
		need = PKT_HDR + strlen(p.err_msg) + 1;
		break;
	default:
		need = need_len(&p);
		/* trailing junk and unkept pairs are not re-encoded */
		FUZZ_CHECK(need <= size);
		break;
	}

	/* exact size: must fit, and decode to the same fields */
	if ((buf = malloc(need)) == NULL)
		abort();
	n = encode(&p, buf, need);
	FUZZ_CHECK(n == need);
	FUZZ_CHECK(packet_decode(buf, n, &q) == 0);
	check_decoded(buf, n, &q);
	check_same(&p, &q);

	/* one byte short: must refuse, and not write past the cap */
	if ((small = malloc(need - 1)) == NULL)
		abort();
	FUZZ_CHECK(encode(&p, small, need - 1) == 0);
	free(small);
	free(buf);
	return 0;
}
