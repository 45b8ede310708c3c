/*
 * test_packet.c - the wire codec: round trips, truncation at every offset,
 * missing NULs, bad opcodes, option overflow and encoder bounds.
 *
 * Every decode of a prefix runs on an exact-size heap copy, so an
 * over-read by even one byte is an ASan report, not a silent pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "packet.h"

#define CANARY	0xA5

/*
 * Decode the first len bytes of buf from a heap block of exactly len.
 * The block lives until the next call, since the packet points into it.
 */
static int
decode_exact(const uint8_t *buf, size_t len, struct packet *p)
{
	static uint8_t *copy;

	free(copy);
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		abort();
	if (len)
		memcpy(copy, buf, len);
	return packet_decode(copy, len, p);
}

static void
test_roundtrip_request(void)
{
	static const struct pkt_opt opts[] = {
		{ "blksize", "1468" },
		{ "tsize", "0" },
		{ "windowsize", "8" },
	};
	uint8_t buf[128];
	struct packet p;
	size_t n, i;
	int op;

	for (op = TFTP_RRQ; op <= TFTP_WRQ; op++) {
		n = packet_encode_request(buf, sizeof(buf), op, "dir/file.bin",
		    "octet", opts, 3);
		CHECK_EQ(n, 2 + 13 + 6 + 8 + 5 + 6 + 2 + 11 + 2);
		CHECK_EQ(packet_decode(buf, n, &p), 0);
		CHECK_EQ(p.op, op);
		CHECK_STR(p.filename, "dir/file.bin");
		CHECK_STR(p.mode, "octet");
		CHECK_EQ(p.nopts, 3);
		for (i = 0; i < 3 && i < p.nopts; i++) {
			CHECK_STR(p.opts[i].name, opts[i].name);
			CHECK_STR(p.opts[i].value, opts[i].value);
		}
	}
	/* No options at all: the RFC 1350 request. */
	n = packet_encode_request(buf, sizeof(buf), TFTP_WRQ, "f", "netascii",
	    NULL, 0);
	CHECK_EQ(n, 2 + 2 + 9);
	CHECK_MEM(buf, "\0\2f\0netascii\0", 13);
	CHECK_EQ(packet_decode(buf, n, &p), 0);
	CHECK_EQ(p.op, TFTP_WRQ);
	CHECK_STR(p.filename, "f");
	CHECK_STR(p.mode, "netascii");
	CHECK_EQ(p.nopts, 0);
}

static void
test_roundtrip_data_ack(void)
{
	uint8_t buf[PKT_HDR + 5];
	struct packet p;

	CHECK_EQ(packet_encode_data_hdr(buf, sizeof(buf), 0xBEEF), PKT_HDR);
	memcpy(buf + PKT_HDR, "hello", 5);
	CHECK_MEM(buf, "\0\3\xBE\xEF", 4);
	CHECK_EQ(packet_decode(buf, sizeof(buf), &p), 0);
	CHECK_EQ(p.op, TFTP_DATA);
	CHECK_EQ(p.block, 0xBEEF);
	CHECK(p.data == buf + PKT_HDR);
	CHECK_EQ(p.data_len, 5);

	/* Empty DATA is the last block of a file of a multiple of blksize. */
	CHECK_EQ(packet_decode(buf, PKT_HDR, &p), 0);
	CHECK_EQ(p.data_len, 0);

	CHECK_EQ(packet_encode_ack(buf, sizeof(buf), 65535), 4);
	CHECK_MEM(buf, "\0\4\xFF\xFF", 4);
	CHECK_EQ(packet_decode(buf, 4, &p), 0);
	CHECK_EQ(p.op, TFTP_ACK);
	CHECK_EQ(p.block, 65535);
	CHECK_EQ(packet_encode_ack(buf, sizeof(buf), 0), 4);
	CHECK_EQ(packet_decode(buf, 4, &p), 0);
	CHECK_EQ(p.block, 0);
}

static void
test_roundtrip_error(void)
{
	uint8_t buf[64];
	struct packet p;
	size_t n;

	n = packet_encode_error(buf, sizeof(buf), TFTP_EACCESS, "no way");
	CHECK_EQ(n, 4 + 7);
	CHECK_MEM(buf, "\0\5\0\2no way\0", 11);
	CHECK_EQ(packet_decode(buf, n, &p), 0);
	CHECK_EQ(p.op, TFTP_ERROR);
	CHECK_EQ(p.err_code, TFTP_EACCESS);
	CHECK_STR(p.err_msg, "no way");

	/* msg NULL: the standard text. */
	n = packet_encode_error(buf, sizeof(buf), TFTP_ENOTFOUND, NULL);
	CHECK_EQ(n, 4 + strlen("File not found") + 1);
	CHECK_EQ(packet_decode(buf, n, &p), 0);
	CHECK_EQ(p.err_code, TFTP_ENOTFOUND);
	CHECK_STR(p.err_msg, "File not found");

	n = packet_encode_error(buf, sizeof(buf), 4242, NULL);
	CHECK_EQ(packet_decode(buf, n, &p), 0);
	CHECK_EQ(p.err_code, 4242);
	CHECK_STR(p.err_msg, "Unknown error");

	/* Empty text is legal. */
	n = packet_encode_error(buf, sizeof(buf), TFTP_EUNDEF, "");
	CHECK_EQ(n, 5);
	CHECK_EQ(packet_decode(buf, n, &p), 0);
	CHECK_STR(p.err_msg, "");
}

static void
test_roundtrip_oack(void)
{
	static const struct pkt_opt opts[] = {
		{ "blksize", "1024" },
		{ "tsize", "123456" },
	};
	uint8_t buf[64];
	struct packet p;
	size_t n;

	n = packet_encode_oack(buf, sizeof(buf), opts, 2);
	CHECK_EQ(n, 2 + 8 + 5 + 6 + 7);
	CHECK_EQ(packet_decode(buf, n, &p), 0);
	CHECK_EQ(p.op, TFTP_OACK);
	CHECK_EQ(p.nopts, 2);
	CHECK_STR(p.opts[0].name, "blksize");
	CHECK_STR(p.opts[0].value, "1024");
	CHECK_STR(p.opts[1].name, "tsize");
	CHECK_STR(p.opts[1].value, "123456");

	/* An OACK with no options is still a valid packet. */
	n = packet_encode_oack(buf, sizeof(buf), NULL, 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(packet_decode(buf, n, &p), 0);
	CHECK_EQ(p.op, TFTP_OACK);
	CHECK_EQ(p.nopts, 0);
}

/*
 * Truncated requests.  Up to and including the byte before the mode's NUL
 * the prefix is malformed.  From there on it is valid, with as many
 * options as have their value NUL inside the prefix: a cut pair is ignored.
 */
static void
test_truncate_request(void)
{
	static const struct pkt_opt opts[] = {
		{ "blksize", "1468" },
		{ "tsize", "0" },
	};
	uint8_t buf[64];
	struct packet p;
	size_t n, len, mode_end, pair1_end, pair2_end, want;
	int rc;

	n = packet_encode_request(buf, sizeof(buf), TFTP_RRQ, "a.txt",
	    "octet", opts, 2);
	mode_end = 2 + 6 + 6;	/* past the mode NUL */
	pair1_end = mode_end + 8 + 5;
	pair2_end = pair1_end + 6 + 2;
	CHECK_EQ(n, pair2_end);
	for (len = 0; len <= n; len++) {
		rc = decode_exact(buf, len, &p);
		if (len < mode_end) {
			CHECK_EQ(rc, PKT_EMALFORMED);
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK_EQ(p.op, TFTP_RRQ);
		want = len >= pair2_end ? 2 : len >= pair1_end ? 1 : 0;
		CHECK_EQ(p.nopts, want);
	}
}

/* DATA: shorter than the header is malformed, any longer prefix is a
 * shorter DATA.  ACK: only the full 4 bytes are valid. */
static void
test_truncate_data_ack(void)
{
	uint8_t buf[PKT_HDR + 3];
	struct packet p;
	size_t len;
	int rc;

	packet_encode_data_hdr(buf, sizeof(buf), 7);
	memcpy(buf + PKT_HDR, "xyz", 3);
	for (len = 0; len <= sizeof(buf); len++) {
		rc = decode_exact(buf, len, &p);
		if (len < PKT_HDR) {
			CHECK_EQ(rc, PKT_EMALFORMED);
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK_EQ(p.block, 7);
		CHECK_EQ(p.data_len, len - PKT_HDR);
	}

	packet_encode_ack(buf, sizeof(buf), 9);
	for (len = 0; len < PKT_HDR; len++)
		CHECK_EQ(decode_exact(buf, len, &p), PKT_EMALFORMED);
	CHECK_EQ(decode_exact(buf, PKT_HDR, &p), 0);
}

/* ACK with trailing garbage is tolerated (padded frames). */
static void
test_ack_trailing(void)
{
	static const uint8_t ack[] = { 0, 4, 0, 3, 0, 0, 0xff };
	struct packet p;

	CHECK_EQ(decode_exact(ack, sizeof(ack), &p), 0);
	CHECK_EQ(p.op, TFTP_ACK);
	CHECK_EQ(p.block, 3);
}

/*
 * ERROR: shorter than 4 is malformed; from 4 on the prefix is valid, the
 * text being what of it arrived (the NUL is optional).
 */
static void
test_truncate_error(void)
{
	uint8_t buf[64];
	struct packet p;
	size_t n, len;
	int rc;

	n = packet_encode_error(buf, sizeof(buf), TFTP_EEXISTS, "exists");
	for (len = 0; len <= n; len++) {
		rc = decode_exact(buf, len, &p);
		if (len < PKT_HDR) {
			CHECK_EQ(rc, PKT_EMALFORMED);
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK_EQ(p.err_code, TFTP_EEXISTS);
		CHECK_EQ(strlen(p.err_msg), len - PKT_HDR > 6 ? 6 :
		    len - PKT_HDR);
		CHECK(strncmp(p.err_msg, "exists", strlen(p.err_msg)) == 0);
	}
}

/* OACK: under 2 bytes malformed; then valid with the complete pairs. */
static void
test_truncate_oack(void)
{
	static const struct pkt_opt opts[] = {
		{ "blksize", "512" },
		{ "timeout", "3" },
	};
	uint8_t buf[64];
	struct packet p;
	size_t n, len, pair1_end, pair2_end, want;
	int rc;

	n = packet_encode_oack(buf, sizeof(buf), opts, 2);
	pair1_end = 2 + 8 + 4;
	pair2_end = pair1_end + 8 + 2;
	CHECK_EQ(n, pair2_end);
	for (len = 0; len <= n; len++) {
		rc = decode_exact(buf, len, &p);
		if (len < 2) {
			CHECK_EQ(rc, PKT_EMALFORMED);
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK_EQ(p.op, TFTP_OACK);
		want = len >= pair2_end ? 2 : len >= pair1_end ? 1 : 0;
		CHECK_EQ(p.nopts, want);
	}
}

static void
test_missing_nul(void)
{
	struct packet p;

	/* Filename runs to the end. */
	CHECK_EQ(decode_exact((const uint8_t *)"\0\1file", 6, &p),
	    PKT_EMALFORMED);
	/* Mode runs to the end. */
	CHECK_EQ(decode_exact((const uint8_t *)"\0\1file\0octet", 12, &p),
	    PKT_EMALFORMED);
	/* No mode at all. */
	CHECK_EQ(decode_exact((const uint8_t *)"\0\2file\0", 7, &p),
	    PKT_EMALFORMED);
	/* Empty filename, empty mode. */
	CHECK_EQ(decode_exact((const uint8_t *)"\0\1\0octet\0", 9, &p),
	    PKT_EMALFORMED);
	CHECK_EQ(decode_exact((const uint8_t *)"\0\1f\0\0", 5, &p),
	    PKT_EMALFORMED);
	/* Only the opcode. */
	CHECK_EQ(decode_exact((const uint8_t *)"\0\1", 2, &p),
	    PKT_EMALFORMED);
	/* A value without NUL: the pair is ignored, the request stands. */
	CHECK_EQ(decode_exact((const uint8_t *)"\0\1f\0octet\0blksize\0"
	    "1024", 22, &p), 0);
	CHECK_EQ(p.nopts, 0);
	/* OACK with a name and no value. */
	CHECK_EQ(decode_exact((const uint8_t *)"\0\6tsize\0", 8, &p), 0);
	CHECK_EQ(p.nopts, 0);
}

/* NUL padding ends the options; an empty value is kept for options_parse. */
static void
test_option_edges(void)
{
	static const uint8_t pad[] =
	    "\0\1f\0octet\0blksize\0" "1024\0\0\0\0tsize\0" "0\0";
	static const uint8_t empty_value[] =
	    "\0\1f\0octet\0blksize\0\0tsize\0" "0\0";
	struct packet p;

	CHECK_EQ(decode_exact(pad, sizeof(pad) - 1, &p), 0);
	CHECK_EQ(p.nopts, 1);
	CHECK_STR(p.opts[0].name, "blksize");

	CHECK_EQ(decode_exact(empty_value, sizeof(empty_value) - 1, &p), 0);
	CHECK_EQ(p.nopts, 2);
	CHECK_STR(p.opts[0].value, "");
	CHECK_STR(p.opts[1].name, "tsize");
}

static void
test_too_many_options(void)
{
	struct pkt_opt opts[PKT_OPT_MAX + 4];
	char names[PKT_OPT_MAX + 4][8];
	uint8_t buf[512];
	struct packet p;
	size_t i, n;

	for (i = 0; i < PKT_OPT_MAX + 4; i++) {
		names[i][0] = 'o';
		names[i][1] = (char)('a' + i);
		names[i][2] = '\0';
		opts[i].name = names[i];
		opts[i].value = "1";
	}
	n = packet_encode_request(buf, sizeof(buf), TFTP_RRQ, "f", "octet",
	    opts, PKT_OPT_MAX + 4);
	CHECK(n > 0);
	CHECK_EQ(decode_exact(buf, n, &p), 0);
	CHECK_EQ(p.nopts, PKT_OPT_MAX);
	for (i = 0; i < PKT_OPT_MAX && i < p.nopts; i++)
		CHECK_STR(p.opts[i].name, names[i]);

	n = packet_encode_oack(buf, sizeof(buf), opts, PKT_OPT_MAX + 4);
	CHECK(n > 0);
	CHECK_EQ(decode_exact(buf, n, &p), 0);
	CHECK_EQ(p.nopts, PKT_OPT_MAX);
}

static void
test_bad_opcode(void)
{
	static const uint8_t op0[] = { 0, 0, 0, 1 };
	static const uint8_t op7[] = { 0, 7, 0, 1 };
	static const uint8_t op256[] = { 1, 4, 0, 1 };	/* ACK in LE */
	static const uint8_t opff[] = { 0xff, 0xff };
	struct packet p;

	CHECK_EQ(decode_exact(op0, sizeof(op0), &p), PKT_EBADOPCODE);
	CHECK_EQ(decode_exact(op7, sizeof(op7), &p), PKT_EBADOPCODE);
	CHECK_EQ(decode_exact(op256, sizeof(op256), &p), PKT_EBADOPCODE);
	CHECK_EQ(decode_exact(opff, sizeof(opff), &p), PKT_EBADOPCODE);
	CHECK_EQ(decode_exact(op7, 2, &p), PKT_EBADOPCODE);
	/* Too short to hold an opcode: malformed, whatever the byte. */
	CHECK_EQ(decode_exact(op7, 1, &p), PKT_EMALFORMED);
	CHECK_EQ(decode_exact(op7, 0, &p), PKT_EMALFORMED);
}

static void
test_error_no_nul(void)
{
	static const uint8_t e[] = { 0, 5, 0, 1, 'g', 'o', 'n', 'e' };
	static const uint8_t mid[] = { 0, 5, 0, 0, 'a', 0, 'b' };
	uint8_t big[4 + 400];
	struct packet p;

	CHECK_EQ(decode_exact(e, sizeof(e), &p), 0);
	CHECK_EQ(p.err_code, 1);
	CHECK_STR(p.err_msg, "gone");

	/* The text stops at the first NUL. */
	CHECK_EQ(decode_exact(mid, sizeof(mid), &p), 0);
	CHECK_STR(p.err_msg, "a");
	CHECK_EQ(p.err_msg[2], '\0');	/* nothing after the NUL copied */

	/* Long text, no NUL: truncated to PKT_ERRMSG_MAX - 1. */
	big[0] = 0;
	big[1] = 5;
	big[2] = 0;
	big[3] = 3;
	memset(big + 4, 'x', sizeof(big) - 4);
	CHECK_EQ(decode_exact(big, sizeof(big), &p), 0);
	CHECK_EQ(strlen(p.err_msg), PKT_ERRMSG_MAX - 1);
	CHECK_EQ(p.err_msg[0], 'x');
}

/*
 * Every encoder, at every cap below the size it needs, returns 0 and
 * leaves everything from cap on untouched.  At the exact size it works.
 */
static void
check_small_caps(size_t (*enc)(uint8_t *, size_t, int), int which,
    size_t need)
{
	uint8_t buf[128];
	size_t cap, i, bad;

	CHECK(need < sizeof(buf));
	for (cap = 0; cap < need; cap++) {
		memset(buf, CANARY, sizeof(buf));
		CHECK_EQ(enc(buf, cap, which), 0);
		for (bad = 0, i = cap; i < sizeof(buf); i++)
			if (buf[i] != CANARY)
				bad++;
		CHECK_EQ(bad, 0);
	}
	memset(buf, CANARY, sizeof(buf));
	CHECK_EQ(enc(buf, need, which), need);
	for (bad = 0, i = need; i < sizeof(buf); i++)
		if (buf[i] != CANARY)
			bad++;
	CHECK_EQ(bad, 0);
}

static size_t
enc_any(uint8_t *buf, size_t cap, int which)
{
	static const struct pkt_opt opts[] = {
		{ "blksize", "1468" },
		{ "windowsize", "4" },
	};

	switch (which) {
	case 0:
		return packet_encode_request(buf, cap, TFTP_RRQ, "file",
		    "octet", opts, 2);
	case 1:
		return packet_encode_oack(buf, cap, opts, 2);
	case 2:
		return packet_encode_ack(buf, cap, 1);
	case 3:
		return packet_encode_data_hdr(buf, cap, 1);
	case 4:
		return packet_encode_error(buf, cap, 1, "nope");
	default:
		return packet_encode_error(buf, cap, TFTP_EOPTNEG, NULL);
	}
}

static void
test_encode_cap(void)
{
	check_small_caps(enc_any, 0, 2 + 5 + 6 + 8 + 5 + 11 + 2);
	check_small_caps(enc_any, 1, 2 + 8 + 5 + 11 + 2);
	check_small_caps(enc_any, 2, 4);
	check_small_caps(enc_any, 3, 4);
	check_small_caps(enc_any, 4, 4 + 5);
	check_small_caps(enc_any, 5, 4 + strlen("Option negotiation refused")
	    + 1);
}

static void
test_encode_refuses(void)
{
	static const struct pkt_opt empty_name[] = { { "", "1" } };
	static const struct pkt_opt null_value[] = { { "a", NULL } };
	uint8_t buf[64];

	CHECK_EQ(packet_encode_request(buf, sizeof(buf), TFTP_DATA, "f",
	    "octet", NULL, 0), 0);
	CHECK_EQ(packet_encode_request(buf, sizeof(buf), TFTP_RRQ, "",
	    "octet", NULL, 0), 0);
	CHECK_EQ(packet_encode_request(buf, sizeof(buf), TFTP_RRQ, "f",
	    "", NULL, 0), 0);
	CHECK_EQ(packet_encode_request(buf, sizeof(buf), TFTP_RRQ, NULL,
	    "octet", NULL, 0), 0);
	CHECK_EQ(packet_encode_request(buf, sizeof(buf), TFTP_RRQ, "f",
	    "octet", empty_name, 1), 0);
	CHECK_EQ(packet_encode_oack(buf, sizeof(buf), empty_name, 1), 0);
	CHECK_EQ(packet_encode_oack(buf, sizeof(buf), null_value, 1), 0);
}

static void
test_texts(void)
{
	CHECK_STR(packet_error_text(0), "Undefined error");
	CHECK_STR(packet_error_text(1), "File not found");
	CHECK_STR(packet_error_text(2), "Access violation");
	CHECK_STR(packet_error_text(3), "Disk full or allocation exceeded");
	CHECK_STR(packet_error_text(4), "Illegal TFTP operation");
	CHECK_STR(packet_error_text(5), "Unknown transfer ID");
	CHECK_STR(packet_error_text(6), "File already exists");
	CHECK_STR(packet_error_text(7), "No such user");
	CHECK_STR(packet_error_text(8), "Option negotiation refused");
	CHECK_STR(packet_error_text(9), "Unknown error");
	CHECK_STR(packet_error_text(~0u), "Unknown error");
	CHECK_STR(packet_op_name(TFTP_RRQ), "RRQ");
	CHECK_STR(packet_op_name(TFTP_OACK), "OACK");
	CHECK_STR(packet_op_name(TFTP_ERROR), "ERROR");
	CHECK_STR(packet_op_name(0), "op?");
	CHECK_STR(packet_op_name(7), "op?");
	CHECK_STR(packet_op_name(-1), "op?");
}

int
main(void)
{
	RUN(test_roundtrip_request);
	RUN(test_roundtrip_data_ack);
	RUN(test_roundtrip_error);
	RUN(test_roundtrip_oack);
	RUN(test_truncate_request);
	RUN(test_truncate_data_ack);
	RUN(test_ack_trailing);
	RUN(test_truncate_error);
	RUN(test_truncate_oack);
	RUN(test_missing_nul);
	RUN(test_option_edges);
	RUN(test_too_many_options);
	RUN(test_bad_opcode);
	RUN(test_error_no_nul);
	RUN(test_encode_cap);
	RUN(test_encode_refuses);
	RUN(test_texts);
	return CHECK_EXIT();
}
