/* SPDX-License-Identifier: GPL-2.0 */
/*
 * core_fixes.bpf.h: kernel types that changed shape between the kernels
 * auditprof runs on. Each fix declares the other layout as a CO-RE flavour
 * (a struct named <type>___<flavour>, which libbpf and cilium/ebpf match to
 * the kernel's <type>) and picks the layout the running kernel has with
 * bpf_core_field_exists, so that one object loads on all of them.
 */
#ifndef __CORE_FIXES_BPF_H
#define __CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/* audit_context's serial moved into ctx->stamp (struct audit_stamp) in 6.18
 * (0a561e3904a9, "audit: create audit_stamp structure"), and in Ubuntu's
 * kernels since 5.19 through their LSM-stacking patches (SAUCE "Audit:
 * Create audit_stamp structure"). */
struct audit_stamp___new {
	unsigned int serial;
} __attribute__((preserve_access_index));

struct audit_context___new {
	struct audit_stamp___new stamp;
} __attribute__((preserve_access_index));

/* event_serial returns the audit event serial of ctx, the SERIAL of
 * msg=audit(T:SERIAL). btf says ctx came from BTF (an fentry/fexit
 * argument: a plain load the verifier checks), else it is read through
 * bpf_probe_read_kernel (kprobes); a literal at every call site, so that
 * each inlined variant keeps only its own path. */
static __always_inline __u64 event_serial(struct audit_context *ctx, bool btf)
{
	struct audit_context___new *n = (void *)ctx;

	if (bpf_core_field_exists(n->stamp))
		return btf ? n->stamp.serial : BPF_CORE_READ(n, stamp.serial);
	return btf ? ctx->serial : BPF_CORE_READ(ctx, serial);
}

/* event_ids reads ctx's event serial (event_serial) and ctx->major. Through
 * probe reads (btf false: kprobes), where serial is a 4-byte field right
 * before major (kernel/audit.h declares them so before 6.18: the Debian 6.1
 * and 6.12 kernels measured here; checked at load, not assumed), one
 * bpf_probe_read_kernel of the 8 bytes reads both: one helper call a record
 * fewer (issue 14). Elsewhere (ctx->stamp, 6.18 and Ubuntu's kernels since
 * 5.19, or any other layout) it reads them one by one; the offsets are CO-RE
 * constants, so the verifier keeps only the path the kernel has. A failed
 * read leaves 0, as BPF_CORE_READ does. */
static __always_inline void event_ids(struct audit_context *ctx, bool btf, __u64 *serial, __s32 *major)
{
	struct audit_context___new *n = (void *)ctx;

	if (btf) {
		*serial = event_serial(ctx, true);
		*major = ctx->major;
		return;
	}
	if (!bpf_core_field_exists(n->stamp) && bpf_core_field_size(struct audit_context, serial) == 4 &&
	    bpf_core_field_offset(struct audit_context, major) ==
		    bpf_core_field_offset(struct audit_context, serial) + 4) {
		__u32 v[2] = {};

		bpf_probe_read_kernel(v, sizeof(v), (void *)ctx + bpf_core_field_offset(struct audit_context, serial));
		*serial = v[0];
		*major = (__s32)v[1];
		return;
	}
	*serial = event_serial(ctx, false);
	*major = BPF_CORE_READ(ctx, major);
}

/* task_struct's state became __state in 5.14 (2f064a59a11f, "sched:
 * Change task_struct::state"). */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* task_state is p's scheduler state: 0 (TASK_RUNNING) for a task that is
 * switched out still runnable. */
static __always_inline long task_state(struct task_struct *p)
{
	struct task_struct___old *o = (void *)p;

	if (bpf_core_field_exists(o->state))
		return BPF_CORE_READ(o, state);
	return BPF_CORE_READ(p, __state);
}

#endif /* __CORE_FIXES_BPF_H */
