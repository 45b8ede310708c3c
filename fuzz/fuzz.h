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

#endif
