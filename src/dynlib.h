/*
 * dynlib.h - a library loaded when its feature is asked for: libcurl for
 * --origin, libmicrohttpd for --metrics.  tftpx is built against their
 * headers only, so a plain `serve` maps none of them (and none of the
 * thirty libraries they pull in); see dynlib.c.
 */
#ifndef TFTPX_DYNLIB_H
#define TFTPX_DYNLIB_H

#include <stddef.h>

/* One function to resolve: its name and where its address goes (the
 * address of a function pointer member, written with memcpy). */
struct dynlib_sym {
	const char	*name;
	void		*slot;
};

/*
 * Load the shared object soname (once; later calls return 0 at once) and
 * resolve syms[0..n-1].  On failure: -1 and a one-line reason in why,
 * naming the file and the Debian package that holds it.  Call it before
 * the privilege drop and seccomp.
 */
int dynlib_load(const char *soname, const char *package,
    const struct dynlib_sym *syms, size_t n, char *why, size_t cap);

#endif
