/*
 * test_xfer_client.c - our side as the client: get (request, OACK or
 * none, an OACK we must refuse) and put (WRQ, ACK 0 or OACK, DATA at the
 * granted size).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "xfer_fixture.h"

/* ==== client receiver (get) ============================================= */

static void
client_get_setup(struct fx *f)
{
	fx_cfg(f, XFER_RECV, 1);
	f->c.filename = "boot/pxe.0";
	grant_blksize(&f->c.opts, 1024);
	f->c.opts.have |= OPT_TSIZE;
	f->c.opts.tsize = 0;
	grant_window(&f->c.opts, 4);
	fx_begin(f, NULL, 0);
}

static void
test_client_get_request_oack(void)
{
	uint8_t *src = random_bytes(1500, 101);
	struct fx f;

	client_get_setup(&f);
	CHECK_EQ(xfer_start(&f.x, 0), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_bytes(&f.m, 0, LIT("\0\1boot/pxe.0\0octet\0blksize\0" "1024\0"
	    "tsize\0" "0\0windowsize\0" "4\0")));
	CHECK_EQ(f.x.phase, XP_REQUEST);
	/* no answer: the request is re-sent */
	xfer_tick(&f.x, T_US);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_bytes(&f.m, 1, f.m.sent[0].b, f.m.sent[0].len));
	/* OACK, lowered blksize and windowsize: ACK 0, and in force */
	CHECK_EQ(in_raw(&f.x, LIT("\0\6blksize\0" "600\0tsize\0" "1500\0"
	    "windowsize\0" "2\0"), T_US + 10), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 3);
	CHECK(is_ack(&f.m, 2, 0));
	CHECK_EQ(f.x.opts.blksize, 600);
	CHECK_EQ(f.x.opts.windowsize, 2);
	CHECK_EQ(f.x.opts.tsize, 1500);
	/* the server did not hear ACK 0 and re-sends the OACK */
	in_raw(&f.x, LIT("\0\6blksize\0" "600\0tsize\0" "1500\0"
	    "windowsize\0" "2\0"), T_US + 20);
	CHECK_EQ(f.m.nsent, 4);
	CHECK(is_ack(&f.m, 3, 0));
	/* DATA at the negotiated size; windowsize 2: ACK after block 2 */
	in_data(&f.x, 1, src, 600, T_US + 30);
	CHECK_EQ(f.m.nsent, 4);
	in_data(&f.x, 2, src + 600, 600, T_US + 31);
	CHECK_EQ(f.m.nsent, 5);
	CHECK(is_ack(&f.m, 4, 2));
	CHECK_EQ(in_data(&f.x, 3, src + 1200, 300, T_US + 32), XFER_DONE);
	CHECK(is_ack(&f.m, 5, 3));
	CHECK(f.m.out_len == 1500 && memcmp(f.m.out, src, 1500) == 0);
	/* a client does not dally */
	CHECK_EQ(f.x.phase, XP_END);
	fx_free(&f);
	free(src);
}

static void
test_client_get_no_oack(void)
{
	uint8_t *src = random_bytes(700, 102);
	struct fx f;

	client_get_setup(&f);
	xfer_start(&f.x, 0);
	/* the server ignored the options: DATA 1 at 512 */
	CHECK_EQ(in_data(&f.x, 1, src, 512, 10), XFER_RUNNING);
	CHECK_EQ(f.x.opts.blksize, 512);
	CHECK_EQ(f.x.opts.windowsize, 1);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_ack(&f.m, 1, 1));
	CHECK_EQ(f.m.out_len, 512);
	CHECK_EQ(in_data(&f.x, 2, src + 512, 188, 20), XFER_DONE);
	CHECK(is_ack(&f.m, 2, 2));
	CHECK(f.m.out_len == 700 && memcmp(f.m.out, src, 700) == 0);
	fx_free(&f);
	free(src);
}

static void
test_client_get_bad_oack(void)
{
	struct fx f;

	/* an option we did not ask for */
	client_get_setup(&f);
	xfer_start(&f.x, 0);
	CHECK_EQ(in_raw(&f.x, LIT("\0\6blksize\0" "1024\0rollover\0" "1\0"), 5),
	    XFER_FAILED);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_error(&f.m, 1, TFTP_EOPTNEG));
	CHECK_EQ(f.x.err_code, TFTP_EOPTNEG);
	CHECK_EQ(f.x.err_peer, 0);
	CHECK_EQ(f.x.why, XW_OPTIONS);
	fx_free(&f);

	/* blksize above what we asked */
	client_get_setup(&f);
	xfer_start(&f.x, 0);
	CHECK_EQ(in_raw(&f.x, LIT("\0\6blksize\0" "1025\0"), 5), XFER_FAILED);
	CHECK(is_error(&f.m, 1, TFTP_EOPTNEG));
	CHECK_EQ(f.m.nsent, 2);
	xfer_tick(&f.x, 100 * T_US);
	CHECK_EQ(f.m.nsent, 2);
	fx_free(&f);

	/* windowsize above what we asked */
	client_get_setup(&f);
	xfer_start(&f.x, 0);
	CHECK_EQ(in_raw(&f.x, LIT("\0\6windowsize\0" "5\0"), 5), XFER_FAILED);
	CHECK(is_error(&f.m, 1, TFTP_EOPTNEG));
	fx_free(&f);
}

/* ==== client sender (put) =============================================== */

static void
test_client_put(void)
{
	uint8_t *src = random_bytes(3000, 111);
	struct fx f;

	/* no options: WRQ, ACK 0, DATA 1 of 512 */
	fx_cfg(&f, XFER_SEND, 1);
	f.c.filename = "up.img";
	fx_begin(&f, src, 3000);
	CHECK_EQ(xfer_start(&f.x, 0), XFER_RUNNING);
	CHECK(is_bytes(&f.m, 0, LIT("\0\2up.img\0octet\0")));
	CHECK_EQ(f.m.nsent, 1);
	/* ACK 1 is no answer to a WRQ */
	in_ack(&f.x, 1, 5);
	CHECK_EQ(f.m.nsent, 1);
	CHECK_EQ(in_ack(&f.x, 0, 10), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_data(&f.m, 1, 1, src, 512));
	in_ack(&f.x, 1, 20);
	CHECK(is_data(&f.m, 2, 2, src + 512, 512));
	fx_free(&f);

	/* with options: WRQ with them, OACK, DATA 1 at the granted size */
	fx_cfg(&f, XFER_SEND, 1);
	f.c.filename = "up.img";
	grant_blksize(&f.c.opts, 1468);
	f.c.opts.have |= OPT_TSIZE;
	f.c.opts.tsize = 3000;
	fx_begin(&f, src, 3000);
	xfer_start(&f.x, 0);
	CHECK(is_bytes(&f.m, 0, LIT("\0\2up.img\0octet\0blksize\0" "1468\0"
	    "tsize\0" "3000\0")));
	CHECK_EQ(in_raw(&f.x, LIT("\0\6blksize\0" "1000\0tsize\0" "3000\0"),
	    10), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_data(&f.m, 1, 1, src, 1000));
	in_ack(&f.x, 1, 20);
	CHECK(is_data(&f.m, 2, 2, src + 1000, 1000));
	in_ack(&f.x, 2, 30);
	CHECK(is_data(&f.m, 3, 3, src + 2000, 1000));
	in_ack(&f.x, 3, 40);
	CHECK(is_data(&f.m, 4, 4, NULL, 0));
	CHECK_EQ(in_ack(&f.x, 4, 50), XFER_DONE);
	CHECK_EQ(f.x.st.bytes, 3000);
	fx_free(&f);

	/* an OACK granting more than asked: ERROR 8 */
	fx_cfg(&f, XFER_SEND, 1);
	grant_blksize(&f.c.opts, 1468);
	fx_begin(&f, src, 3000);
	xfer_start(&f.x, 0);
	CHECK_EQ(in_raw(&f.x, LIT("\0\6blksize\0" "2000\0"), 10), XFER_FAILED);
	CHECK(is_error(&f.m, 1, TFTP_EOPTNEG));
	fx_free(&f);
	free(src);
}

int
main(void)
{
	/* line-buffered, so a crash or a sanitizer exit loses no output */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_client_get_request_oack);
	RUN(test_client_get_no_oack);
	RUN(test_client_get_bad_oack);
	RUN(test_client_put);
	return CHECK_EXIT();
}
