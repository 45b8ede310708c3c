#!/bin/sh
# tests/valgrind.sh - the server and the client once under valgrind:
# no memory error, no leak, on a get, a put, a refused request and a
# clean shutdown; then the server with --origin (libcurl on its loop) on
# a fetch, a cache hit, a 404 and a refused PUT.  Prints PASS/FAIL lines
# for tests/run.
cd "$(dirname "$0")/.." || exit 2
if ! command -v valgrind >/dev/null 2>&1; then
	echo "SKIP valgrind: valgrind is not installed"
	exit 0
fi
if ldd ./tftpx 2>/dev/null | grep -q libasan; then
	echo "SKIP valgrind: ./tftpx is an AddressSanitizer build (make asan)"
	exit 0
fi
d=$(mktemp -d)
trap 'kill $spid $hpid 2>/dev/null; rm -rf "$d"' EXIT
mkdir "$d/root" "$d/out"
head -c 300000 /dev/urandom > "$d/root/a.bin"
head -c 70000 /dev/urandom > "$d/src.bin"
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
# the port a server's start-up lines in $1 name (waits up to 10 s)
port_of() {
	for i in $(seq 1 100); do
		p=$(sed -n 's/^tftpx: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
		    "$1")
		[ -n "$p" ] && { echo "$p"; return 0; }
		sleep 0.1
	done
	return 1
}
$vg ./tftpx serve --allow-root -l 127.0.0.1:0 --upload "$d/root" 2> "$d/srv.log" &
spid=$!
if ! port=$(port_of "$d/srv.log"); then
	echo "FAIL valgrind_server: no listening line: $(cat "$d/srv.log")"
	exit 1
fi
check() {
	name=$1; shift
	if "$@" 2> "$d/err"; then
		echo "PASS $name"
	else
		echo "FAIL $name: exit $?: $(tail -3 "$d/err")"
	fi
}
check valgrind_client_get $vg ./tftpx get -b 1468 -w 8 "127.0.0.1:$port" \
    a.bin "$d/out/a.bin"
check valgrind_client_get_content cmp -s "$d/root/a.bin" "$d/out/a.bin"
check valgrind_client_put $vg ./tftpx put "127.0.0.1:$port" "$d/src.bin" \
    up.bin
check valgrind_client_put_content cmp -s "$d/src.bin" "$d/root/up.bin"
$vg ./tftpx get "127.0.0.1:$port" missing "$d/out/m" 2> "$d/err"
rc=$?
if [ "$rc" -eq 1 ]; then
	echo "PASS valgrind_client_refused"
else
	echo "FAIL valgrind_client_refused: exit $rc (want 1): $(tail -3 "$d/err")"
fi
kill -TERM "$spid"
wait "$spid"
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "PASS valgrind_server"
else
	echo "FAIL valgrind_server: exit $rc: $(grep '==' "$d/srv.log" | head -5)"
fi

# ---- the HTTP origin: python3's http.server as the origin --------------
if ! ./tftpx serve --help | grep -q -- --origin; then
	echo "SKIP valgrind_origin: built without libcurl"
	exit 0
fi
mkdir "$d/www" "$d/cache"
head -c 200000 /dev/urandom > "$d/www/o.bin"
python3 -u -m http.server 0 -b 127.0.0.1 -d "$d/www" > "$d/http.log" 2>&1 &
hpid=$!
hport=
for i in $(seq 1 100); do
	hport=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' \
	    "$d/http.log")
	[ -n "$hport" ] && break
	sleep 0.1
done
if [ -z "$hport" ]; then
	echo "FAIL valgrind_origin: http.server did not start: $(cat "$d/http.log")"
	exit 1
fi
$vg ./tftpx serve --allow-root -l 127.0.0.1:0 --origin \
    "http://127.0.0.1:$hport" --cache "$d/cache" --upload --origin-upload \
    2> "$d/osrv.log" &
spid=$!
if ! port=$(port_of "$d/osrv.log"); then
	echo "FAIL valgrind_origin: no listening line: $(cat "$d/osrv.log")"
	exit 1
fi
check valgrind_origin_get ./tftpx get "127.0.0.1:$port" o.bin "$d/out/o1"
check valgrind_origin_get_content cmp -s "$d/www/o.bin" "$d/out/o1"
check valgrind_origin_cached ./tftpx get "127.0.0.1:$port" o.bin "$d/out/o2"
check valgrind_origin_cached_content cmp -s "$d/www/o.bin" "$d/out/o2"
# http.server has no PUT (501): the upload is refused, not acknowledged
if ./tftpx get "127.0.0.1:$port" nothere "$d/out/m" 2> "$d/err" ||
    ./tftpx put "127.0.0.1:$port" "$d/src.bin" up.bin 2>> "$d/err"; then
	echo "FAIL valgrind_origin_refusals: a 404 or a 501 succeeded"
else
	grep -q "file not found" "$d/err" && grep -q "HTTP 501" "$d/err" &&
	    echo "PASS valgrind_origin_refusals" ||
	    echo "FAIL valgrind_origin_refusals: $(cat "$d/err")"
fi
kill -TERM "$spid"
wait "$spid"
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "PASS valgrind_origin_server"
else
	echo "FAIL valgrind_origin_server: exit $rc: $(grep '==' "$d/osrv.log" | head -5)"
fi
