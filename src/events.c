/*
 * events.c - the server's events: start, end, narrowed, refusal and
 * duplicate, each as one text line or one JSON object (log.c writes
 * either).  Every line starts with the client, the request and the name
 * as asked (control characters as \xNN); a JSON object with the same
 * facts as "client", "op", "file" and "mode".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "files.h"
#include "log.h"
#include "metrics.h"

/* The text of a name for a JSON event, plus its bytes when not UTF-8. */
static void
rec_name(struct log_rec *r, const char *key, const char *name)
{
	char hexkey[32];

	if (log_rec_str(r, key, name)) {
		snprintf(hexkey, sizeof(hexkey), "%s_hex", key);
		log_rec_hex(r, hexkey, name);
	}
}

/* "blksize":1468,... for the options in o->have */
static void
rec_opts(struct log_rec *r, const char *key, const struct tftp_opts *o)
{
	struct opt_text txt;
	struct pkt_opt l[5];
	size_t i, n;

	n = options_to_list(o, &txt, l);
	log_rec_open(r, key);
	for (i = 0; i < n; i++)
		log_rec_u64(r, l[i].name, strtoull(l[i].value, NULL, 10));
	log_rec_close(r);
}

/* The common head of a JSON event. */
static void
rec_head(struct log_rec *r, const char *event, const struct ev_who *w)
{
	char pa[UDP_ADDRSTR];

	log_rec_begin(r, event);
	log_rec_str(r, "client", udp_format(w->peer, pa));
	log_rec_str(r, "op", packet_op_name(w->op));
	rec_name(r, "file", w->file);
	rec_name(r, "mode", w->mode);
}

/*
 * The options a client sent that were not taken, in the order sent:
 *   foo (unknown), blksize=7 (repeated)
 */
static void
ignored_text(const struct ev_start *e, char *buf, size_t cap)
{
	static const char *const why[] = {
		[OPT_UNKNOWN] = "unknown", [OPT_REPEATED] = "repeated",
		[OPT_BAD] = "malformed or out of range",
	};
	const struct packet *p = e->req;
	char v[64], w[64];
	size_t i;

	for (i = 0; i < p->nopts; i++) {
		if (e->fate[i] == OPT_TAKEN)
			continue;
		log_safe(p->opts[i].name, v, sizeof(v));
		log_safe(p->opts[i].value, w, sizeof(w));
		if (e->fate[i] == OPT_UNKNOWN)
			log_append(buf, cap, "%s%s (unknown)",
			    buf[0] ? ", " : "", v);
		else
			log_append(buf, cap, "%s%s=%s (%s)",
			    buf[0] ? ", " : "", v, w, why[e->fate[i]]);
	}
}

/* asked -> granted for each option asked: blksize 65464->1468 (...) */
static void
negotiation_text(const struct ev_start *e, char *buf, size_t cap)
{
	unsigned bit;
	uint64_t a, g;
	size_t j;

	for (j = 0; (bit = options_bit(j)) != 0; j++) {
		if (!(e->asked->have & bit))
			continue;
		a = options_get(e->asked, bit);
		if (!(e->granted->have & bit)) {
			log_append(buf, cap, "%s%s %llu->none (%s)",
			    buf[0] ? " " : "", options_name(bit),
			    (unsigned long long)a, e->dropped);
			continue;
		}
		g = options_get(e->granted, bit);
		log_append(buf, cap, "%s%s %llu->%llu", buf[0] ? " " : "",
		    options_name(bit), (unsigned long long)a,
		    (unsigned long long)g);
		if (g < a && bit == OPT_BLKSIZE)
			log_append(buf, cap, " (%s)", e->blksize_cut);
		else if (g < a && bit == OPT_WINDOWSIZE)
			log_append(buf, cap, " (%s)", e->window_cut);
	}
}

/*
 * At -v: the start of a transfer with what the client asked, what it
 * was granted and which options were ignored, and why:
 *   options: blksize 65464->1468 (--blksize-max) tsize 0->1048576;
 *   ignored: foo (unknown), blksize=7 (repeated)
 */
void
events_start(const struct ev_who *w, const struct ev_start *e)
{
	struct log_rec rec, *r = NULL;
	char pa[UDP_ADDRSTR], safe[FILES_NAME_MAX * 4 + 1];
	char neg[1024] = "", ign[1024] = "";

	if (log_level() < LOG_VERBOSE)
		return;
	ignored_text(e, ign, sizeof(ign));
	negotiation_text(e, neg, sizeof(neg));
	if (log_format() == LOG_FMT_JSON) {
		r = &rec;
		rec_head(r, "start", w);
		rec_opts(r, "asked", e->asked);
		rec_opts(r, "granted", e->granted);
		if (neg[0])
			log_rec_str(r, "negotiation", neg);
		if (ign[0])
			log_rec_str(r, "ignored", ign);
	}
	log_emit(LOG_VERBOSE, r, "%s %s \"%s\" %s start%s%s%s%s",
	    udp_format(w->peer, pa), packet_op_name(w->op),
	    log_safe(w->file, safe, sizeof(safe)), w->mode,
	    neg[0] || ign[0] ? ", options: " : "", neg[0] ? neg : ign[0] ?
	    "none" : "", ign[0] ? "; ignored: " : "", ign);
}

void
events_end(const struct ev_who *w, const struct xfer *x, uint64_t dups,
    double secs)
{
	char peer[UDP_ADDRSTR], name[FILES_NAME_MAX * 4 + 1], opts[160];
	char outcome[PKT_ERRMSG_MAX * 4 + 32], msg[PKT_ERRMSG_MAX * 4 + 1];
	double rate = secs > 0 ? (double)x->st.bytes / secs / 1e6 : 0;
	int ok = x->status == XFER_DONE, level = ok ? LOG_NORMAL : LOG_QUIET;
	struct log_rec *r = NULL, rec;

	metrics_transfer(w->op == TFTP_WRQ, ok, x->st.bytes,
	    x->st.retransmits, x->st.probes, secs);
	if (log_level() < level)
		return;
	if (log_format() == LOG_FMT_JSON) {
		r = &rec;
		rec_head(r, "end", w);
		rec_opts(r, "options", &x->opts);
		log_rec_u64(r, "bytes", x->st.bytes);
		log_rec_num(r, "seconds", secs, 3);
		log_rec_num(r, "mbytes_per_s", rate, 1);
		log_rec_u64(r, "retransmits", x->st.retransmits);
		log_rec_u64(r, "probes", x->st.probes);
		log_rec_u64(r, "answered", x->st.probes_answered);
		log_rec_u64(r, "spurious", x->st.spurious);
		log_rec_u64(r, "dupacks", x->st.dup_acks);
		log_rec_u64(r, "dupreqs", dups);
		log_rec_num(r, "srtt_ms", (double)x->rtx.srtt / 1000.0, 2);
		log_rec_u64(r, "pace_us", x->st.pace_max_us);
		log_rec_str(r, "outcome", ok ? "ok" : "failed");
		if (!ok) {
			log_rec_int(r, "error_code", x->err_code);
			log_rec_str(r, "error_from", x->err_peer ? "client" :
			    "server");
			rec_name(r, "error_msg", x->err_msg);
		}
	}
	if (ok)
		snprintf(outcome, sizeof(outcome), "ok");
	else
		snprintf(outcome, sizeof(outcome), "error %d: %s%s",
		    x->err_code, x->err_peer ? "from client: " : "",
		    log_safe(x->err_msg, msg, sizeof(msg)));
	options_format(&x->opts, opts, sizeof(opts));
	log_emit(level, r,
	    "%s %s \"%s\" %s%s%s %llu bytes %.3f s %.1f MB/s "
	    "retransmits=%llu probes=%llu answered=%llu spurious=%llu "
	    "dupacks=%llu dupreqs=%llu srtt=%.2fms pace=%lluus %s",
	    udp_format(w->peer, peer), packet_op_name(w->op),
	    log_safe(w->file, name, sizeof(name)), w->mode,
	    opts[0] ? " " : "", opts, (unsigned long long)x->st.bytes, secs,
	    rate, (unsigned long long)x->st.retransmits,
	    (unsigned long long)x->st.probes,
	    (unsigned long long)x->st.probes_answered,
	    (unsigned long long)x->st.spurious,
	    (unsigned long long)x->st.dup_acks, (unsigned long long)dups,
	    (double)x->rtx.srtt / 1000.0,
	    (unsigned long long)x->st.pace_max_us, outcome);
}

/* The OACK burst found a NIC that drops bursts: say so at -v. */
void
events_narrowed(const struct ev_who *w, const struct xfer *x)
{
	struct log_rec rec, *r = NULL;
	char pa[UDP_ADDRSTR], safe[FILES_NAME_MAX * 4 + 1];

	if (log_level() < LOG_VERBOSE)
		return;
	if (log_format() == LOG_FMT_JSON) {
		r = &rec;
		rec_head(r, "narrowed", w);
		log_rec_u64(r, "windowsize", x->opts.windowsize);
		log_rec_u64(r, "oack_copies", x->st.burst);
		log_rec_u64(r, "answered", x->st.burst_acks);
	}
	log_emit(LOG_VERBOSE, r, "%s %s \"%s\" windowsize %u->%u: the "
	    "client answered %u of %u back-to-back OACKs (its NIC drops "
	    "bursts)", udp_format(w->peer, pa), packet_op_name(w->op),
	    log_safe(w->file, safe, sizeof(safe)),
	    (unsigned)x->cfg.opts.windowsize, (unsigned)x->opts.windowsize,
	    x->st.burst_acks, x->st.burst);
}

void
events_refusal(int level, const struct ev_who *w, int code,
    const char *msg, const char *reason)
{
	struct log_rec rec, *r = NULL;
	char pa[UDP_ADDRSTR], safe[FILES_NAME_MAX * 4 + 1];
	char why[FILES_NAME_MAX * 8 + 1], wire[PKT_ERRMSG_MAX * 4 + 1];
	int same;

	metrics_refusal(code, msg);
	if (log_level() < level)
		return;
	if (reason == NULL)
		reason = msg;
	same = strcmp(reason, msg) == 0;
	if (log_format() == LOG_FMT_JSON) {
		r = &rec;
		rec_head(r, "refusal", w);
		log_rec_int(r, "error_code", code);
		log_rec_str(r, "error_msg", msg);
		rec_name(r, "reason", reason);
	}
	log_emit(level, r, "%s %s \"%s\" %s%srefused: error %d: %s",
	    udp_format(w->peer, pa), packet_op_name(w->op),
	    log_safe(w->file, safe, sizeof(safe)),
	    same ? "" : log_safe(reason, why, sizeof(why)),
	    same ? "" : "; ", code, log_safe(msg, wire, sizeof(wire)));
}

void
events_duplicate(const struct ev_who *w, int finished)
{
	struct log_rec rec, *r = NULL;
	char pa[UDP_ADDRSTR], safe[FILES_NAME_MAX * 4 + 1];

	metrics_duplicate();
	if (log_level() < LOG_VERBOSE)
		return;
	if (log_format() == LOG_FMT_JSON) {
		r = &rec;
		rec_head(r, "duplicate", w);
		log_rec_bool(r, "finished", finished);
	}
	log_emit(LOG_VERBOSE, r, "%s %s \"%s\" %s", udp_format(w->peer, pa),
	    packet_op_name(w->op), log_safe(w->file, safe, sizeof(safe)),
	    finished ? "late duplicate of a finished transfer dropped" :
	    "duplicate request dropped");
}

void
events_name(const struct ev_who *w, const char *served, const char *how)
{
	struct log_rec rec, *r = NULL;
	char pa[UDP_ADDRSTR], safe[FILES_NAME_MAX * 4 + 1];
	char safe2[FILES_NAME_MAX * 4 + 1];

	if (log_level() < LOG_VERBOSE)
		return;
	if (log_format() == LOG_FMT_JSON) {
		r = &rec;
		rec_head(r, "name", w);
		rec_name(r, "served", served);
		log_rec_str(r, "how", how);
	}
	log_emit(LOG_VERBOSE, r, "%s %s \"%s\" -> \"%s\" (%s)",
	    udp_format(w->peer, pa), packet_op_name(w->op),
	    log_safe(w->file, safe, sizeof(safe)),
	    log_safe(served, safe2, sizeof(safe2)), how[0] ? how : "as asked");
}
