/*
 * fuzz.h - what every fuzz target shares: the libFuzzer entry point and
 * an assertion that stays on in every build (NDEBUG must not turn the
 * fuzzers' oracles off) and dies loudly, so libFuzzer saves the input and
 * the replay program fails.
 */
#ifndef TFTPX_FUZZ_H
#define TFTPX_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", \
		    __FILE__, __LINE__, #c); \
		abort(); \
	} \
} while (0)

/*
 * Would glibc's regcomp blow up on some field of this map file?  It is
 * exponential in stacked quantifiers (a followed by 20 '+' takes 700 MB):
 * a map file's author can do that to any server; a fuzzer need not.
 */
static inline int
fuzz_regex_too_hard(const uint8_t *p, size_t n)
{
	size_t i, quant = 0, braces = 0;

	for (i = 0; i < n; i++) {
		quant += p[i] == '*' || p[i] == '+' || p[i] == '?';
		braces += p[i] == '{';
	}
	return quant > 8 || braces > 1;
}

#endif
