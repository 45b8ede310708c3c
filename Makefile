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
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
# where packages put systemd units (/etc/systemd/system is the admin's);
# systemd also reads /usr/local/lib/systemd/system
UNITDIR	?= $(PREFIX)/lib/systemd/system
-include config.mak

# make STATIC=1 [CC=musl-gcc]: one binary that runs on any Linux of the
# same architecture.  With glibc, getpwnam (--user NAME) still wants the
# NSS libraries at run time; --user UID:GID does not.
ifeq ($(STATIC),1)
LDFLAGS	+= -static
endif
# musl-gcc sees musl's headers only; tftpx also uses the kernel's
# (linux/openat2.h, linux/capability.h), found after musl's own in a
# directory of links to them
ifneq ($(findstring musl,$(CC)),)
KINC	= .musl-kernel-include
WFLAGS	+= -idirafter $(KINC)
endif

# 1 when $(CC) finds the header $(1), else 0
have_header = $(shell printf '\043include <$(1)>\n' | \
	      $(CC) -E -x c - >/dev/null 2>&1 && echo 1 || echo 0)

# libcurl for --origin (HTTP origin): on when its headers are installed
# (Debian: libcurl4-openssl-dev); make CURL=0 builds without it, as the
# static build does.  Without it `serve --help` says --origin is missing.
# Not linked: origin.c loads it with dlopen when --origin is given
# (src/dynlib.c), so a plain serve maps none of its libraries; CURL_SO
# names another shared object than origin.c's libcurl.so.4.
ifeq ($(STATIC),1)
CURL	?= 0
endif
CURL	?= $(call have_header,curl/curl.h)
ifneq ($(CURL),1)
WFLAGS	+= -DTFTPX_NO_CURL
else ifdef CURL_SO
WFLAGS	+= -DTFTPX_CURL_SO='"$(CURL_SO)"'
endif

# libmicrohttpd for --metrics, the same way (make MHD=0: without; MHD_SO
# for another shared object than metrics_http.c's libmicrohttpd.so.12)
ifeq ($(STATIC),1)
MHD	?= 0
endif
MHD	?= $(call have_header,microhttpd.h)
ifneq ($(MHD),1)
WFLAGS	+= -DTFTPX_NO_MHD
else ifdef MHD_SO
WFLAGS	+= -DTFTPX_MHD_SO='"$(MHD_SO)"'
endif

PURE	= src/packet.c src/options.c src/netascii.c src/xfer.c src/rtx.c \
	  src/dedup.c src/quirks.c src/intake.c src/remap.c src/metrics.c
IO	= src/loop.c src/udp.c src/files.c src/log.c src/events.c src/listen.c \
	  src/session.c src/neigh.c
APP	= src/server.c src/transfer.c src/names.c src/client.c src/bench.c \
	  src/main.c
# the HTTP origin: libcurl on the server's loop; metrics over HTTP
IO	+= src/origin.c src/metrics_http.c src/dynlib.c
SRCS	= $(PURE) $(IO) $(APP)
OBJS	= $(SRCS:.c=.o)
HDRS	= $(wildcard src/*.h)
# socket activation, readiness, privileges (a line of its own: the lists
# above change often)
IO	+= src/service.c

UNIT	= tests/unit/test_packet tests/unit/test_options \
	  tests/unit/test_netascii tests/unit/test_files \
	  tests/unit/test_dedup tests/unit/test_loop \
	  tests/unit/test_xfer_lockstep tests/unit/test_xfer_receiver \
	  tests/unit/test_xfer_client tests/unit/test_xfer_window \
	  tests/unit/test_xfer_rollover tests/unit/test_xfer_netascii \
	  tests/unit/test_xfer_b2b tests/unit/test_xfer_burst \
	  tests/unit/test_xfer_rtt tests/unit/test_xfer_source \
	  tests/unit/test_quirks tests/unit/test_rtx tests/unit/test_intake \
	  tests/unit/test_remap tests/unit/test_metrics

all: tftpx

tftpx: $(OBJS)
	$(CC) $(WFLAGS) $(CFLAGS) -o $@ $(OBJS) $(LDFLAGS) $(LIBS)

src/%.o: src/%.c $(HDRS) | $(KINC)
	$(CC) $(WFLAGS) $(CFLAGS) -c -o $@ $<

.musl-kernel-include:
	mkdir -p $@.tmp
	ma=$$(gcc -print-multiarch 2>/dev/null); \
	ln -sfn /usr/include/linux $@.tmp/linux && \
	ln -sfn /usr/include/asm-generic $@.tmp/asm-generic && \
	ln -sfn /usr/include/$$ma/asm $@.tmp/asm
	mv $@.tmp $@

tests/unit/test_%: tests/unit/test_%.c tests/check.h tests/ref_netascii.h \
		$(PURE:.c=.o) src/files.o src/loop.o $(HDRS)
	$(CC) $(WFLAGS) $(CFLAGS) -Isrc -o $@ $< $(PURE:.c=.o) src/files.o src/loop.o $(LDFLAGS)

# the transfer tests share a fixture (fake clock, memory io), compiled
# into each; make takes this rule over the one above (shorter stem)
tests/unit/test_xfer_%: tests/unit/test_xfer_%.c tests/unit/xfer_fixture.c \
		tests/unit/xfer_fixture.h tests/check.h tests/ref_netascii.h \
		$(PURE:.c=.o) $(HDRS)
	$(CC) $(WFLAGS) $(CFLAGS) -Isrc -o $@ $< tests/unit/xfer_fixture.c \
		$(PURE:.c=.o) $(LDFLAGS)

# as root, tftpx refuses to run as root unless told; a checkout is
# served as whoever runs it
run: tftpx
	./tftpx serve --allow-root .

check: tftpx $(UNIT)
	@sh tests/run

# What the tests need from Debian, in one place: `sudo make test-deps`
# (make check names it when it skipped a suite; .ci/run uses it too).
# Installs without `apt-get update` when the package lists serve, else
# updates them once and tries again.
TEST_DEPS = build-essential python3 busybox curl tftp-hpa tftpd-hpa atftp \
	iproute2 nftables qemu-system-x86 qemu-system-arm qemu-system-misc \
	ipxe-qemu u-boot-qemu valgrind cppcheck clang-tidy clang \
	libclang-rt-14-dev systemd musl-tools groff-base man-db util-linux \
	file libcurl4-openssl-dev openssl nginx-light libmicrohttpd-dev \
	prometheus debhelper dpkg-dev lintian
test-deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends $(TEST_DEPS) || \
	{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install \
		-y --no-install-recommends $(TEST_DEPS); }

asan:
	$(MAKE) clean
	$(MAKE) check CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=address,undefined"

# static checks: cppcheck and clang-tidy (.clang-tidy says what is off)
lint:
	cppcheck --enable=warning,portability,performance --std=c11 \
		--error-exitcode=1 -q -D_GNU_SOURCE src/ bench/udplimit.c bench/loadc.c
	clang-tidy --quiet src/*.c bench/udplimit.c bench/loadc.c -- -std=c11 -D_GNU_SOURCE -Isrc

# the whole loss/duplication/reordering matrix (make check runs --ci);
# about 35 min, plus about 2 h for three 20 MiB windowed cases at 30 %
faults: tftpx
	python3 tests/faults/faults.py --full

# every U-Boot target (arm64, arm, riscv64, x86_64 e1000, arm64 e1000);
# make check runs the arm64 virtio set
interop-all: tftpx
	python3 tests/interop/uboot.py --arch all

# one server for SOAK_SECONDS (default 1800) under mixed load: real clients,
# tftpx bench, 5 % loss and duplicated packets in a namespace, clients that
# vanish; every byte verified, fds and RSS back to baseline (root)
soak: tftpx
	python3 tests/soak/soak.py

# tftpx beside tftpd-hpa, atftpd and dnsmasq (bench/run.py; as root, it
# installs the peers it lacks); about 10 min.  bench-loss: only the table of
# curl fetches under 0-10 % packet loss
bench: tftpx bench/udplimit bench/loadc
	python3 bench/run.py

bench-loss: tftpx bench/udplimit bench/loadc
	python3 bench/run.py --loss-only

# the loopback UDP yardstick of make bench; not installed
bench/udplimit: bench/udplimit.c
	$(CC) $(WFLAGS) $(CFLAGS) -o $@ bench/udplimit.c $(LDFLAGS)

# make bench's independent load client (its own code, none of src/)
bench/loadc: bench/loadc.c
	$(CC) $(WFLAGS) $(CFLAGS) -o $@ bench/loadc.c $(LDFLAGS)

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, the man page
# and the systemd units (their ExecStart= names $(BINDIR)/tftpx)
install: tftpx
	install -D -m 0755 tftpx $(DESTDIR)$(BINDIR)/tftpx
	install -D -m 0644 doc/tftpx.1 $(DESTDIR)$(MANDIR)/man1/tftpx.1
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/bin/tftpx|$(BINDIR)/tftpx|g' \
		contrib/systemd/tftpx.service >$(DESTDIR)$(UNITDIR)/tftpx.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/tftpx.service
	install -m 0644 contrib/systemd/tftpx.socket $(DESTDIR)$(UNITDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tftpx $(DESTDIR)$(MANDIR)/man1/tftpx.1 \
		$(DESTDIR)$(UNITDIR)/tftpx.service \
		$(DESTDIR)$(UNITDIR)/tftpx.socket

# make deb [DEB_DIST=dist]: the Debian package (debian/) with
# dpkg-buildpackage -b, built in a temp copy of the checkout's files (git's
# tracked and untracked ones, not the ignored: the tree's ./tftpx and
# src/*.o are neither used nor touched).  DEB_DIST gets the .deb, the
# -dbgsym .deb, .buildinfo and .changes.  Needs dpkg-dev and the
# Build-Depends of debian/control (debhelper, libcurl4-openssl-dev,
# libmicrohttpd-dev).
DEB_DIST ?= dist
deb:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	mkdir "$$tmp/tftpx"; \
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z -c -o --exclude-standard | \
		tar --null -T - --ignore-failed-read -cf - | \
		tar -xf - -C "$$tmp/tftpx"; \
	else \
		tar --exclude=./$(DEB_DIST) -cf - . | tar -xf - -C "$$tmp/tftpx"; \
	fi; \
	(cd "$$tmp/tftpx" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		dpkg-buildpackage -b -us -uc -Jauto); \
	mkdir -p "$(DEB_DIST)"; \
	for f in "$$tmp"/*.deb "$$tmp"/*.buildinfo "$$tmp"/*.changes; do \
		mv -f "$$f" "$(DEB_DIST)/"; \
		echo "make deb: $(DEB_DIST)/$${f##*/}"; \
	done

clean:
	rm -f tftpx src/*.o $(UNIT) bench/udplimit bench/loadc
	rm -rf .musl-kernel-include

.PHONY: all run check test-deps asan lint faults interop-all soak bench \
	bench-loss \
	install uninstall deb clean

# ---- fuzzing (fuzz/) --------------------------------------------------------
#   make fuzz         libFuzzer + ASan/UBSan builds (clang), each run for
#                     FUZZ_SECONDS over a scratch copy of its corpus
#   make fuzz-replay  replay every committed corpus under ASan/UBSan
# The replay binaries are plain programs built with $(CC): fuzz/replay.c
# gives each target a main() that runs it over a corpus directory, and
# `make check` replays all corpora with them (tests/run).  They link the
# pure sources compiled here with the sanitizers, not the plain src/*.o.
FUZZ_TARGETS	= packet options netascii xfer dedup request remap names
FUZZ_SECONDS	?= 60
FUZZ_CC		?= clang
FUZZ_SAN	= -fsanitize=address,undefined -fno-sanitize-recover=all \
		  -fno-omit-frame-pointer -g -O1
FUZZ_LIBFUZZER	= -fsanitize=fuzzer,address,undefined \
		  -fno-sanitize-recover=all -g -O1
# objects linked into a libFuzzer binary: coverage, no main()
FUZZ_NOLINK	= -fsanitize=fuzzer-no-link,address,undefined \
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

# fuzz_request runs server.c and files.c over the fake loop and sockets of
# fuzz/fake.h; udp.c lends its address helpers, its six socket calls
# renamed away so the fakes can take their names.
REQ_SRCS	= src/files.c src/log.c src/events.c src/listen.c src/service.c \
		  src/names.c src/neigh.c \
		  src/session.c src/transfer.c
REQ_FAKES	= fuzz/fake_loop.c fuzz/fake_udp.c
REQ_RENAME	= -Dudp_bind=real_udp_bind -Dudp_recv=real_udp_recv \
		  -Dudp_recv_many=real_udp_recv_many \
		  -Dudp_send=real_udp_send -Dudp_send_train=real_udp_send_train \
		  -Dudp_send_from=real_udp_send_from
# small tables: a run costs less, chains and ring reuse happen
REQ_SMALL	= -DHASH_SIZE=8 -DDEDUP_CAP=4
REQ_OBJS	= $(REQ_SRCS:src/%.c=fuzz/bin/obj/%.o) \
		  $(REQ_FAKES:fuzz/%.c=fuzz/bin/obj/%.o) \
		  fuzz/bin/obj/server-small.o fuzz/bin/obj/udp-addr.o \
		  fuzz/bin/obj/origin-none.o fuzz/bin/obj/metrics-none.o

# the origin's and the metrics' stubs (no libcurl, no libmicrohttpd):
# fuzz_request sends and serves no HTTP
fuzz/bin/obj/origin-none.o: src/origin.c $(HDRS)
	@mkdir -p fuzz/bin/obj
	$(CC) $(WFLAGS) $(FUZZ_SAN) -DTFTPX_NO_CURL -c -o $@ src/origin.c

fuzz/bin/obj/metrics-none.o: src/metrics_http.c $(HDRS)
	@mkdir -p fuzz/bin/obj
	$(CC) $(WFLAGS) $(FUZZ_SAN) -DTFTPX_NO_MHD -c -o $@ src/metrics_http.c

fuzz/bin/obj/fake_%.o: fuzz/fake_%.c fuzz/fake.h fuzz/fuzz.h $(HDRS)
	@mkdir -p fuzz/bin/obj
	$(CC) $(WFLAGS) $(FUZZ_SAN) -Isrc -c -o $@ $<

fuzz/bin/obj/server-small.o: src/server.c $(HDRS)
	@mkdir -p fuzz/bin/obj
	$(CC) $(WFLAGS) $(FUZZ_SAN) $(REQ_SMALL) -c -o $@ src/server.c

fuzz/bin/obj/udp-addr.o: src/udp.c $(HDRS)
	@mkdir -p fuzz/bin/obj
	$(CC) $(WFLAGS) $(FUZZ_SAN) $(REQ_RENAME) -c -o $@ src/udp.c

fuzz/bin/fuzz_request-replay: fuzz/fuzz_request.c fuzz/fuzz.h fuzz/fake.h \
		fuzz/bin/obj/replay.o $(FUZZ_OBJS) $(REQ_OBJS) $(HDRS)
	$(CC) $(WFLAGS) $(FUZZ_SAN) -Isrc -o $@ $< fuzz/bin/obj/replay.o \
		$(FUZZ_OBJS) $(REQ_OBJS)

fuzz/bin/fuzz_request-fuzz: fuzz/fuzz_request.c fuzz/fuzz.h fuzz/fake.h \
		$(REQ_FAKES) $(PURE) $(REQ_SRCS) src/server.c src/udp.c $(HDRS)
	@mkdir -p fuzz/bin/obj
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_NOLINK) $(REQ_RENAME) \
		-c -o fuzz/bin/obj/udp-addr-fuzz.o src/udp.c
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_NOLINK) $(REQ_SMALL) \
		-c -o fuzz/bin/obj/server-small-fuzz.o src/server.c
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_NOLINK) -DTFTPX_NO_CURL \
		-c -o fuzz/bin/obj/origin-none-fuzz.o src/origin.c
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_NOLINK) -DTFTPX_NO_MHD \
		-c -o fuzz/bin/obj/metrics-none-fuzz.o src/metrics_http.c
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_LIBFUZZER) -Isrc -o $@ $< $(PURE) \
		$(REQ_SRCS) $(REQ_FAKES) fuzz/bin/obj/udp-addr-fuzz.o \
		fuzz/bin/obj/server-small-fuzz.o fuzz/bin/obj/origin-none-fuzz.o \
		fuzz/bin/obj/metrics-none-fuzz.o

# fuzz_names runs names.c and files.c in a real directory tree; log.c
# and neigh.c only link (--per-client mac, the netlink one, is not fuzzed).
NAMES_SRCS	= src/names.c src/files.c src/log.c src/neigh.c
NAMES_OBJS	= $(NAMES_SRCS:src/%.c=fuzz/bin/obj/%.o)

fuzz/bin/fuzz_names-replay: fuzz/fuzz_names.c fuzz/fuzz.h \
		fuzz/bin/obj/replay.o $(FUZZ_OBJS) $(NAMES_OBJS) $(HDRS)
	$(CC) $(WFLAGS) $(FUZZ_SAN) -Isrc -o $@ $< fuzz/bin/obj/replay.o \
		$(FUZZ_OBJS) $(NAMES_OBJS)

fuzz/bin/fuzz_names-fuzz: fuzz/fuzz_names.c fuzz/fuzz.h $(PURE) \
		$(NAMES_SRCS) $(HDRS)
	@mkdir -p fuzz/bin
	$(FUZZ_CC) $(WFLAGS) $(FUZZ_LIBFUZZER) -Isrc -o $@ $< $(PURE) \
		$(NAMES_SRCS)

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
.SECONDARY: $(FUZZ_OBJS) $(REQ_OBJS) $(NAMES_OBJS)
.PHONY: fuzz fuzz-replay clean-fuzz
