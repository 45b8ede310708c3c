/*
 * dynlib.c - a library loaded when its feature is asked for.
 *
 * libcurl (--origin) and libmicrohttpd (--metrics), linked the usual way,
 * bring 32 shared objects into every tftpx (OpenSSL, GnuTLS, Kerberos,
 * LDAP, nettle, gmp, ...).  The dynamic loader maps and relocates them at
 * start whether or not the feature is used: a plain `serve` went from
 * 2.0 to 8.0 MiB resident, 6.6 MiB of it their pages (make bench, idle
 * RSS; doc/notes/http-origin.md).  So origin.c and metrics_http.c call
 * through tables of function pointers that this fills with dlopen and
 * dlsym when the option is given, before the privilege drop and seccomp.
 * The types of the pointers come from the libraries' own headers
 * (__typeof__ of each function), so a call is checked as before.
 *
 * The handle is never closed: libcurl and OpenSSL keep state that must
 * outlive the last call, and the process ends soon after anyway.
 */
#include "dynlib.h"

/* a build without both (the static one) needs no dlopen */
#if !defined(TFTPX_NO_CURL) || !defined(TFTPX_NO_MHD)

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* the shared objects loaded so far (two at most) */
static const char *loaded[4];

int
dynlib_load(const char *soname, const char *package,
    const struct dynlib_sym *syms, size_t n, char *why, size_t cap)
{
	void *h;
	size_t i, k;

	for (k = 0; k < sizeof(loaded) / sizeof(loaded[0]) && loaded[k]; k++)
		if (strcmp(loaded[k], soname) == 0)
			return 0;
	if (k == sizeof(loaded) / sizeof(loaded[0])) {
		snprintf(why, cap, "cannot load %s: too many libraries",
		    soname);
		return -1;
	}
	if ((h = dlopen(soname, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *e = dlerror();

		snprintf(why, cap, "cannot load %s (Debian package %s): %s",
		    soname, package, e ? e : "unknown error");
		return -1;
	}
	for (i = 0; i < n; i++) {
		void *p = dlsym(h, syms[i].name);

		if (p == NULL) {
			snprintf(why, cap, "%s has no %s: too old? (Debian "
			    "package %s)", soname, syms[i].name, package);
			return -1;
		}
		/* POSIX: a function's address fits a void * */
		memcpy(syms[i].slot, &p, sizeof(p));
	}
	loaded[k] = soname;
	return 0;
}

#endif
