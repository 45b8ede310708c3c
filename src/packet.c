/*
 * packet.c - the TFTP wire format (RFC 1350, RFC 2347 OACK).
 *
 * Pure: no allocation, no syscalls.  Every string is found with a bounded
 * walk (dnsmasq's next()); every 16-bit field goes through get_be16() /
 * put_be16(), never through a struct laid over the datagram.
 */
#include <string.h>

#include "packet.h"

static const char *const packet_errtab[] = {
	[TFTP_EUNDEF] = "Undefined error",
	[TFTP_ENOTFOUND] = "File not found",
	[TFTP_EACCESS] = "Access violation",
	[TFTP_ENOSPACE] = "Disk full or allocation exceeded",
	[TFTP_EBADOP] = "Illegal TFTP operation",
	[TFTP_EBADID] = "Unknown transfer ID",
	[TFTP_EEXISTS] = "File already exists",
	[TFTP_ENOUSER] = "No such user",
	[TFTP_EOPTNEG] = "Option negotiation refused",
};

static const char *const packet_optab[] = {
	[TFTP_RRQ] = "RRQ",
	[TFTP_WRQ] = "WRQ",
	[TFTP_DATA] = "DATA",
	[TFTP_ACK] = "ACK",
	[TFTP_ERROR] = "ERROR",
	[TFTP_OACK] = "OACK",
};

#define PACKET_NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Take the NUL-terminated string at *pp, which must end before end.
 * Returns its length and moves *pp past the NUL, or -1 when the walk runs
 * off the end of the datagram (then *pp is unchanged).  An empty string is
 * returned as 0: whether that is legal is the caller's business.
 */
static long
packet_next_str(const uint8_t **pp, const uint8_t *end, const char **out)
{
	const uint8_t *s = *pp, *n;

	for (n = s; n < end && *n != 0; n++)
		;
	if (n == end)
		return -1;
	*out = (const char *)s;
	*pp = n + 1;
	return (long)(n - s);
}

/*
 * Options are name\0value\0 pairs up to the end of the datagram.  A pair
 * cut short by the end is ignored (some firmware pads or truncates its
 * requests), an empty name ends the list (NUL padding), and pairs beyond
 * PKT_OPT_MAX are dropped: none of these makes the packet invalid.
 */
static void
packet_decode_opts(const uint8_t *p, const uint8_t *end, struct packet *pk)
{
	const char *name, *value;
	long nlen;

	while (p < end && pk->nopts < PKT_OPT_MAX) {
		nlen = packet_next_str(&p, end, &name);
		if (nlen <= 0)
			break;
		if (packet_next_str(&p, end, &value) < 0)
			break;
		pk->opts[pk->nopts].name = name;
		pk->opts[pk->nopts].value = value;
		pk->nopts++;
	}
}

int
packet_decode(const uint8_t *buf, size_t len, struct packet *p)
{
	const uint8_t *cur, *end;
	size_t i, n;

	memset(p, 0, sizeof(*p));
	if (len < 2)
		return PKT_EMALFORMED;
	p->op = get_be16(buf);
	cur = buf + 2;
	end = buf + len;

	switch (p->op) {
	case TFTP_RRQ:
	case TFTP_WRQ:
		if (packet_next_str(&cur, end, &p->filename) <= 0)
			return PKT_EMALFORMED;
		if (packet_next_str(&cur, end, &p->mode) <= 0)
			return PKT_EMALFORMED;
		packet_decode_opts(cur, end, p);
		return 0;
	case TFTP_OACK:
		packet_decode_opts(cur, end, p);
		return 0;
	case TFTP_DATA:
		if (len < PKT_HDR)
			return PKT_EMALFORMED;
		p->block = get_be16(buf + 2);
		p->data = buf + PKT_HDR;
		p->data_len = len - PKT_HDR;
		return 0;
	case TFTP_ACK:
		/* Trailing bytes are tolerated: some stacks pad frames. */
		if (len < PKT_HDR)
			return PKT_EMALFORMED;
		p->block = get_be16(buf + 2);
		return 0;
	case TFTP_ERROR:
		if (len < PKT_HDR)
			return PKT_EMALFORMED;
		p->err_code = get_be16(buf + 2);
		/* Real peers omit the NUL: stop at it or at the end. */
		n = len - PKT_HDR;
		for (i = 0; i < n && i < PKT_ERRMSG_MAX - 1; i++) {
			if (buf[PKT_HDR + i] == 0)
				break;
			p->err_msg[i] = (char)buf[PKT_HDR + i];
		}
		p->err_msg[i] = '\0';
		return 0;
	default:
		return PKT_EBADOPCODE;
	}
}

/*
 * Append s and its NUL at *off.  Returns -1, writing nothing, if it would
 * not fit in cap.
 */
static int
packet_put_str(uint8_t *buf, size_t cap, size_t *off, const char *s)
{
	size_t n = strlen(s) + 1;

	if (*off > cap || n > cap - *off)
		return -1;
	memcpy(buf + *off, s, n);
	*off += n;
	return 0;
}

/*
 * Options after *off.  An empty name would read back as the end of the
 * list, so it is refused rather than silently losing what follows.
 */
static int
packet_put_opts(uint8_t *buf, size_t cap, size_t *off,
    const struct pkt_opt *opts, size_t nopts)
{
	size_t i;

	if (nopts > 0 && opts == NULL)
		return -1;
	for (i = 0; i < nopts; i++) {
		if (opts[i].name == NULL || opts[i].name[0] == '\0' ||
		    opts[i].value == NULL)
			return -1;
		if (packet_put_str(buf, cap, off, opts[i].name) < 0 ||
		    packet_put_str(buf, cap, off, opts[i].value) < 0)
			return -1;
	}
	return 0;
}

size_t
packet_encode_request(uint8_t *buf, size_t cap, int op,
    const char *filename, const char *mode,
    const struct pkt_opt *opts, size_t nopts)
{
	size_t off = 2;

	if (op != TFTP_RRQ && op != TFTP_WRQ)
		return 0;
	/* Empty strings would not decode: refuse to build them. */
	if (filename == NULL || filename[0] == '\0' ||
	    mode == NULL || mode[0] == '\0')
		return 0;
	if (cap < 2)
		return 0;
	put_be16(buf, (uint16_t)op);
	if (packet_put_str(buf, cap, &off, filename) < 0 ||
	    packet_put_str(buf, cap, &off, mode) < 0 ||
	    packet_put_opts(buf, cap, &off, opts, nopts) < 0)
		return 0;
	return off;
}

size_t
packet_encode_oack(uint8_t *buf, size_t cap,
    const struct pkt_opt *opts, size_t nopts)
{
	size_t off = 2;

	if (cap < 2)
		return 0;
	put_be16(buf, TFTP_OACK);
	if (packet_put_opts(buf, cap, &off, opts, nopts) < 0)
		return 0;
	return off;
}

size_t
packet_encode_ack(uint8_t *buf, size_t cap, uint16_t block)
{
	if (cap < PKT_HDR)
		return 0;
	put_be16(buf, TFTP_ACK);
	put_be16(buf + 2, block);
	return PKT_HDR;
}

size_t
packet_encode_data_hdr(uint8_t *buf, size_t cap, uint16_t block)
{
	if (cap < PKT_HDR)
		return 0;
	put_be16(buf, TFTP_DATA);
	put_be16(buf + 2, block);
	return PKT_HDR;
}

size_t
packet_encode_error(uint8_t *buf, size_t cap, uint16_t code,
    const char *msg)
{
	size_t off = PKT_HDR;

	if (msg == NULL)
		msg = packet_error_text(code);
	if (cap < PKT_HDR)
		return 0;
	put_be16(buf, TFTP_ERROR);
	put_be16(buf + 2, code);
	if (packet_put_str(buf, cap, &off, msg) < 0)
		return 0;
	return off;
}

const char *
packet_error_text(unsigned code)
{
	if (code >= PACKET_NELEM(packet_errtab) || packet_errtab[code] == NULL)
		return "Unknown error";
	return packet_errtab[code];
}

const char *
packet_op_name(int op)
{
	if (op < 0 || (size_t)op >= PACKET_NELEM(packet_optab) ||
	    packet_optab[op] == NULL)
		return "op?";
	return packet_optab[op];
}
