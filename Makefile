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
APP	= src/server.c src/client.c src/main.c
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

# every U-Boot target (arm64, arm, riscv64, x86_64 e1000, arm64 e1000);
# make check runs the arm64 virtio set
interop-all: tftpx
	python3 tests/interop/uboot.py --arch all

install: tftpx
	install -D -m 0755 tftpx $(DESTDIR)$(PREFIX)/bin/tftpx

clean:
	rm -f tftpx src/*.o $(UNIT)

.PHONY: all run check asan interop-all install clean
