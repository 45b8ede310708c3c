/*
 * replay.c - a main() for the fuzz targets without libFuzzer.
 *
 *	fuzz/bin/fuzz_packet-replay fuzz/corpus/packet [more dirs or files]
 *
 * Runs LLVMFuzzerTestOneInput() once on the empty input and once on every
 * regular file given or found in a given directory (sorted by name, so a
 * run is reproducible), then prints "PASS fuzz_<target> (N inputs)" where
 * the target is this program's name without "-replay".  A finding is an
 * abort() in the target or a sanitizer report (built with
 * -fno-sanitize-recover, so UBSan stops too): the program dies without the
 * PASS line and tests/run counts it as a failure.  Each input is copied
 * into a buffer of exactly its size, as libFuzzer does, so ASan sees a
 * read one byte past the end.  The file being run is named on stderr only
 * when the run dies (sanitizer death callback, or a signal), so a passing
 * replay prints one line.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* From the sanitizer runtime when there is one (weak: none needed). */
void	__sanitizer_set_death_callback(void (*cb)(void))
	    __attribute__((weak));

static const char *prog = "fuzz";
static const char *current;	/* the input being run, for a post-mortem */

static void
say_current(void)
{
	static const char hdr[] = "\n*** input: ";

	if (current == NULL)
		return;
	/* async-signal-safe: write(2) only */
	if (write(2, hdr, sizeof(hdr) - 1) < 0 ||
	    write(2, current, strlen(current)) < 0 ||
	    write(2, "\n", 1) < 0)
		return;
}

static void
on_signal(int sig)
{
	say_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
run_file(const char *path)
{
	FILE *f;
	uint8_t *buf;
	long n;

	if ((f = fopen(path, "rb")) == NULL) {
		printf("FAIL %s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		printf("FAIL %s: %s: cannot size\n", prog, path);
		fclose(f);
		return -1;
	}
	/* exact size: one byte more would hide an off-by-one read */
	if ((buf = malloc(n ? (size_t)n : 1)) == NULL) {
		printf("FAIL %s: out of memory\n", prog);
		fclose(f);
		return -1;
	}
	if (n && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		printf("FAIL %s: %s: short read\n", prog, path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	current = path;
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	current = NULL;
	free(buf);
	return 0;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Every regular file in dir, by name.  Returns the count, or -1. */
static long
run_dir(const char *dir)
{
	struct dirent **ents;
	char path[4096];
	struct stat st;
	long count = 0;
	int i, n;

	if ((n = scandir(dir, &ents, NULL, alphasort)) < 0) {
		printf("FAIL %s: %s: %s\n", prog, dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (count >= 0 && ents[i]->d_name[0] != '.' &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) < 0)
				count = -1;
			else
				count++;
		}
		free(ents[i]);
	}
	free(ents);
	return count;
}

int
main(int argc, char **argv)
{
	static char name[256];
	const char *base;
	size_t len;
	long total = 0, n;
	int i;

	base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	snprintf(name, sizeof(name), "%s", base);
	len = strlen(name);
	if (len > 7 && strcmp(name + len - 7, "-replay") == 0)
		name[len - 7] = '\0';
	prog = name;
	if (argc < 2) {
		fprintf(stderr, "usage: %s corpus-dir-or-file ...\n", argv[0]);
		return 2;
	}
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(say_current);
	signal(SIGABRT, on_signal);
	signal(SIGSEGV, on_signal);
	signal(SIGBUS, on_signal);
	signal(SIGFPE, on_signal);
	current = "(empty input)";
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	current = NULL;
	for (i = 1; i < argc; i++) {
		if (is_dir(argv[i]))
			n = run_dir(argv[i]);
		else
			n = run_file(argv[i]) < 0 ? -1 : 1;
		if (n < 0)
			return 1;
		total += n;
	}
	printf("PASS %s (%ld inputs)\n", prog, total);
	return 0;
}
