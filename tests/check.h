/*
 * check.h - the unit-test harness: a dozen lines, no framework.
 *
 * Each test is a function; RUN() calls it and prints "PASS name" or
 * "FAIL name" (tests/run counts those lines).  A failed CHECK prints
 * file:line and the expression, and the test goes on.
 */
#ifndef TFTPX_CHECK_H
#define TFTPX_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_fails, check_total_fail, check_total_pass;

#define CHECK(c) do { \
	if (!(c)) { \
		printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
		check_fails++; \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) { \
		printf("  %s:%d: %s == %s failed: %lld != %lld\n", \
		    __FILE__, __LINE__, #a, #b, a_, b_); \
		check_fails++; \
	} \
} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

#define RUN(fn) do { \
	check_fails = 0; \
	fn(); \
	if (check_fails) { check_total_fail++; printf("FAIL %s\n", #fn); } \
	else { check_total_pass++; printf("PASS %s\n", #fn); } \
} while (0)

#define CHECK_EXIT() (check_total_fail ? 1 : 0)

#endif
