/*
 * test_intake.c - the verdict on a request (src/intake.c): duplicates of
 * live transfers, late copies of finished uploads, a new request from a
 * port that supersedes its transfer, the limits and the busy bucket.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "intake.h"

#define SEC	1000000ull

static struct dedup_key
key4(uint8_t last, uint16_t port)
{
	struct dedup_key k;

	memset(&k, 0, sizeof(k));
	k.family = 4;
	k.addr[0] = 10;
	k.addr[3] = last;
	k.port = port;
	return k;
}

static struct intake *
make(size_t max_live, unsigned max_host, unsigned buckets)
{
	struct intake_cfg c = {
		.max_live = max_live,
		.max_per_host = max_host,
		.grace_us = 2 * SEC,
		.ring_cap = 64,
		.buckets = buckets,
		.busy_per_sec = 3,
	};

	return intake_new(&c);
}

static void
test_key_of_address(void)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	struct dedup_key k;

	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = htons(6969);
	inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
	k = intake_key(&s4);
	CHECK_EQ(k.family, 4);
	CHECK_EQ(k.port, 6969);
	CHECK_EQ(k.addr[0], 192);
	CHECK_EQ(k.addr[3], 7);
	CHECK_EQ(k.addr[4], 0);
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons(1069);
	inet_pton(AF_INET6, "2001:db8::9", &s6.sin6_addr);
	k = intake_key(&s6);
	CHECK_EQ(k.family, 6);
	CHECK_EQ(k.port, 1069);
	CHECK_EQ(k.addr[0], 0x20);
	CHECK_EQ(k.addr[15], 9);
}

static void
test_duplicate_and_supersede(void)
{
	struct intake *in = make(10, 10, 4);
	struct intake_live a, *old = NULL;
	struct dedup_key k = key4(1, 5000), other = key4(1, 5001);

	CHECK(in != NULL);
	CHECK_EQ(intake_judge(in, &k, 111, 0, &old), IN_NEW);
	CHECK(old == NULL);
	CHECK_EQ(intake_join(in, &a, &k, 111, &a), 0);
	CHECK(intake_find(in, &k) == &a);
	CHECK(intake_find(in, &other) == NULL);
	/* the same request again from the same port: a re-send */
	CHECK_EQ(intake_judge(in, &k, 111, 10, &old), IN_DUPLICATE);
	CHECK(old == &a);
	CHECK_EQ(a.dups, 1);
	CHECK_EQ(intake_stats(in)->dups, 1);
	/* another port of the same host: its own transfer */
	CHECK_EQ(intake_judge(in, &other, 111, 10, &old), IN_NEW);
	/* a different request from the port: the client gave up on a */
	CHECK_EQ(intake_judge(in, &k, 222, 20, &old), IN_SUPERSEDE);
	CHECK(old == &a);
	intake_leave(in, &a, 0, 0);
	CHECK(intake_find(in, &k) == NULL);
	CHECK_EQ(intake_admit(in, &k), IN_NEW);
	CHECK_EQ(intake_stats(in)->live, 0);
	intake_free(in);
}

static void
test_late_copy_of_upload(void)
{
	struct intake *in = make(10, 10, 4);
	struct intake_live a, b, *old;
	struct dedup_key k = key4(2, 7000);

	CHECK_EQ(intake_join(in, &a, &k, 333, NULL), 0);
	/* an upload that finished; its client first answered at 1 s */
	intake_leave(in, &a, 1, 1 * SEC);
	CHECK_EQ(intake_judge(in, &k, 333, 2 * SEC, &old), IN_LATE);
	CHECK(old == NULL);
	CHECK_EQ(intake_stats(in)->dups, 1);
	/* another request from that port is served at once */
	CHECK_EQ(intake_judge(in, &k, 444, 2 * SEC, &old), IN_NEW);
	/* the grace (2 s) runs from the first answer, not from the end */
	CHECK_EQ(intake_judge(in, &k, 333, 3 * SEC + 1, &old), IN_NEW);
	/* a transfer that is not remembered (a download, a failure) */
	CHECK_EQ(intake_join(in, &b, &k, 555, NULL), 0);
	intake_leave(in, &b, 0, 4 * SEC);
	CHECK_EQ(intake_judge(in, &k, 555, 4 * SEC, &old), IN_NEW);
	intake_free(in);
}

static void
test_limits(void)
{
	struct intake *in = make(3, 2, 2);
	struct intake_live e[3], *old;
	struct dedup_key h1a = key4(1, 1), h1b = key4(1, 2), h1c = key4(1, 3);
	struct dedup_key h2a = key4(2, 1), h3a = key4(3, 1);

	CHECK_EQ(intake_join(in, &e[0], &h1a, 1, NULL), 0);
	CHECK_EQ(intake_join(in, &e[1], &h1b, 1, NULL), 0);
	CHECK_EQ(intake_host_live(in, &h1c), 2);
	CHECK_EQ(intake_host_live(in, &h2a), 0);
	/* host 1 has --max-per-client (2) live: busy for it alone */
	CHECK_EQ(intake_judge(in, &h1c, 1, 0, &old), IN_BUSY_HOST);
	CHECK_EQ(intake_judge(in, &h2a, 1, 0, &old), IN_NEW);
	CHECK_EQ(intake_join(in, &e[2], &h2a, 1, NULL), 0);
	/* three live: --max-transfers for everyone */
	CHECK_EQ(intake_judge(in, &h3a, 1, 0, &old), IN_BUSY);
	CHECK_EQ(intake_stats(in)->busy, 2);
	CHECK_EQ(intake_stats(in)->live, 3);
	/* one of host 1's ends: room for host 1 and for all again */
	intake_leave(in, &e[0], 0, 0);
	CHECK_EQ(intake_host_live(in, &h1c), 1);
	CHECK_EQ(intake_judge(in, &h1c, 1, 0, &old), IN_NEW);
	CHECK_EQ(intake_judge(in, &h3a, 1, 0, &old), IN_NEW);
	intake_leave(in, &e[1], 0, 0);
	intake_leave(in, &e[2], 0, 0);
	CHECK_EQ(intake_host_live(in, &h1c), 0);
	CHECK(intake_any(in) == NULL);
	intake_free(in);
}

static void
test_busy_bucket(void)
{
	struct intake *in = make(1, 1, 1);
	int i, told = 0;

	/* 3 a second: a flood of refusals gets 3 ERRORs a second */
	for (i = 0; i < 10; i++)
		told += intake_busy_tell(in, 5 * SEC + (uint64_t)i);
	CHECK_EQ(told, 3);
	CHECK_EQ(intake_busy_tell(in, 5 * SEC + 999999), 0);
	CHECK_EQ(intake_busy_tell(in, 6 * SEC), 1);
	intake_free(in);
}

static void
test_chains_in_one_bucket(void)
{
	struct intake *in = make(100, 100, 1);
	struct intake_live e[20], *old;
	struct dedup_key k;
	int i;

	for (i = 0; i < 20; i++) {
		k = key4((uint8_t)(i % 4), (uint16_t)(100 + i));
		CHECK_EQ(intake_join(in, &e[i], &k, (uint64_t)i, &e[i]), 0);
	}
	/* leave every other one; the rest are still found */
	for (i = 0; i < 20; i += 2)
		intake_leave(in, &e[i], 0, 0);
	for (i = 0; i < 20; i++) {
		k = key4((uint8_t)(i % 4), (uint16_t)(100 + i));
		CHECK(intake_find(in, &k) == (i % 2 ? &e[i] : NULL));
		CHECK_EQ(intake_judge(in, &k, (uint64_t)i, 0, &old),
		    i % 2 ? IN_DUPLICATE : IN_NEW);
	}
	CHECK_EQ(intake_stats(in)->live, 10);
	CHECK_EQ(intake_host_live(in, &k), 5);
	while ((old = intake_any(in)) != NULL)
		intake_leave(in, old, 0, 0);
	CHECK_EQ(intake_stats(in)->live, 0);
	intake_free(in);
}

int
main(void)
{
	RUN(test_key_of_address);
	RUN(test_duplicate_and_supersede);
	RUN(test_late_copy_of_upload);
	RUN(test_limits);
	RUN(test_busy_bucket);
	RUN(test_chains_in_one_bucket);
	return CHECK_EXIT();
}
