# tftpx - plain make; local overrides go in config.mak (not tracked).
#   make            build ./tftpx
#   make run        build and serve the current directory read-only on port 69
#   make check      build and run every test; ends with "N passed, N failed"
#   make asan       the same tests against a -fsanitize=address,undefined build

CC	?= cc
CFLAGS	?= -O2 -g
LDFLAGS	?=
# always on, also when CFLAGS is given on the command line
WFLAGS	= -std=c11 -Wall -Wextra -Wshadow -Wformat=2 -Werror -D_GNU_SOURCE
PREFIX	?= /usr/local
-include config.mak

ifeq ($(STATIC),1)
LDFLAGS	+= -static
endif

PURE	= src/packet.c src/options.c src/netascii.c src/xfer.c src/dedup.c
IO	= src/loop.c src/udp.c src/files.c src/log.c
APP	= src/server.c src/client.c src/bench.c src/main.c
SRCS	= $(PURE) $(IO) $(APP)
OBJS	= $(SRCS:.c=.o)
HDRS	= $(wildcard src/*.h)

UNIT	= tests/unit/test_packet tests/unit/test_options \
	  tests/unit/test_netascii tests/unit/test_xfer tests/unit/test_files \
	  tests/unit/test_dedup

all: tftpx

tftpx: $(OBJS)
	$(CC) $(WFLAGS) $(CFLAGS) -o $@ $(OBJS) $(LDFLAGS)

src/%.o: src/%.c $(HDRS)
	$(CC) $(WFLAGS) $(CFLAGS) -c -o $@ $<

tests/unit/test_%: tests/unit/test_%.c tests/check.h $(PURE:.c=.o) src/files.o $(HDRS)
	$(CC) $(WFLAGS) $(CFLAGS) -Isrc -o $@ $< $(PURE:.c=.o) src/files.o $(LDFLAGS)

run: tftpx
	./tftpx serve .

check: tftpx $(UNIT)
	@sh tests/run

asan:
	$(MAKE) clean
	$(MAKE) check CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=address,undefined"

# static checks: cppcheck and clang-tidy (.clang-tidy says what is off)
lint:
	cppcheck --enable=warning,portability,performance --std=c11 \
		--error-exitcode=1 -q -D_GNU_SOURCE src/ bench/udplimit.c
	clang-tidy --quiet src/*.c bench/udplimit.c -- -std=c11 -D_GNU_SOURCE -Isrc

# the whole loss/duplication/reordering matrix (make check runs --ci);
# about 35 min, plus about 2 h for three 20 MiB windowed cases at 30 %
faults: tftpx
	python3 tests/faults/faults.py --full

# every U-Boot target (arm64, arm, riscv64, x86_64 e1000, arm64 e1000);
# make check runs the arm64 virtio set
interop-all: tftpx
	python3 tests/interop/uboot.py --arch all

# tftpx beside tftpd-hpa, atftpd and dnsmasq (bench/run.py; as root, it
# installs the peers it lacks); about 10 min.  bench-loss: only the table of
# curl fetches under 0-10 % packet loss
bench: tftpx bench/udplimit
	python3 bench/run.py

bench-loss: tftpx bench/udplimit
	python3 bench/run.py --loss-only

# the loopback UDP yardstick of make bench; not installed
bench/udplimit: bench/udplimit.c
	$(CC) $(WFLAGS) $(CFLAGS) -o $@ bench/udplimit.c $(LDFLAGS)

install: tftpx
	install -D -m 0755 tftpx $(DESTDIR)$(PREFIX)/bin/tftpx

clean:
	rm -f tftpx src/*.o $(UNIT) bench/udplimit

.PHONY: all run check asan lint faults interop-all bench bench-loss install clean

# ---- fuzzing (fuzz/) --------------------------------------------------------
#   make fuzz         libFuzzer + ASan/UBSan builds (clang), each run for
#                     FUZZ_SECONDS over a scratch copy of its corpus
#   make fuzz-replay  replay every committed corpus under ASan/UBSan
# The replay binaries are plain programs built with $(CC): fuzz/replay.c
# gives each target a main() that runs it over a corpus directory, and
# `make check` replays all corpora with them (tests/run).  They link the
# pure sources compiled here with the sanitizers, not the plain src/*.o.
FUZZ_TARGETS	= packet options netascii xfer dedup
FUZZ_SECONDS	?= 60
FUZZ_CC		?= clang
FUZZ_SAN	= -fsanitize=address,undefined -fno-sanitize-recover=all \
		  -fno-omit-frame-pointer -g -O1
FUZZ_LIBFUZZER	= -fsanitize=fuzzer,address,undefined \
		  -fno-sanitize-recover=all -g -O1
FUZZ_OBJS	= $(PURE:src/%.c=fuzz/bin/obj/%.o)
FUZZ_REPLAY	= $(FUZZ_TARGETS:%=fuzz/bin/fuzz_%-replay)
FUZZ_BINS	= $(FUZZ_TARGETS:%=fuzz/bin/fuzz_%-fuzz)

fuzz/bin/obj/%.o: src/%.c $(HDRS)
	@mkdir -p fuzz/bin/obj
	$(CC) $(WFLAGS) $(FUZZ_SAN) -c -o $@ $<

fuzz/bin/obj/replay.o: fuzz/replay.c
	@mkdir -p fuzz/bin/obj
	$(CC) $(WFLAGS) $(FUZZ_SAN) -c -o $@ fuzz/replay.c

fuzz/bin/fuzz_%-replay: fuzz/fuzz_%.c fuzz/fuzz.h fuzz/bin/obj/replay.o \
		$(FUZZ_OBJS) $(HDRS)
	$(CC) $(WFLAGS) $(FUZZ_SAN) -Isrc -o $@ $< fuzz/bin/obj/replay.o \
		$(FUZZ_OBJS)

fuzz/bin/fuzz_%-fuzz: fuzz/fuzz_%.c fuzz/fuzz.h $(PURE) $(HDRS)
	@mkdir -p fuzz/bin
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_LIBFUZZER) -Isrc -o $@ $< $(PURE)

check: $(FUZZ_REPLAY)

fuzz-replay: $(FUZZ_REPLAY)
	@for t in $(FUZZ_TARGETS); do \
		fuzz/bin/fuzz_$$t-replay fuzz/corpus/$$t || exit 1; \
	done

# The run works on a copy: new inputs libFuzzer finds stay out of the
# committed corpus (merge them by hand with -merge=1).  Findings are kept
# as fuzz/bin/crash-<target>-*.
fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
		d=$$(mktemp -d) || exit 1; \
		cp -R fuzz/corpus/$$t/. $$d/; \
		echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
		if fuzz/bin/fuzz_$$t-fuzz -max_total_time=$(FUZZ_SECONDS) \
		    -timeout=30 -print_final_stats=1 \
		    -dict=fuzz/tftp.dict \
		    -artifact_prefix=fuzz/bin/crash-$$t- $$d \
		    >$$d.log 2>&1; then \
			grep -E '^Done' \
			    $$d.log; \
			rm -rf $$d $$d.log; \
		else \
			tail -n 60 $$d.log; \
			echo "FAIL fuzz_$$t (log: $$d.log)"; \
			rm -rf $$d; exit 1; \
		fi; \
	done

clean: clean-fuzz

clean-fuzz:
	rm -rf fuzz/bin

# keep the sanitized objects: make would delete them as intermediates
.SECONDARY: $(FUZZ_OBJS)
.PHONY: fuzz fuzz-replay clean-fuzz
