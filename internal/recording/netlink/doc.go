// Package netlink records the audit backlog without BPF: the degraded mode
// for kernels where no program can attach to the audit functions (no
// kprobes, fentry refused). Users know it as netlink mode ("attach":
// "netlink" in the profile).
//
// It joins the audit subsystem's read-only multicast group
// (AUDIT_NLGRP_READLOG) and samples AUDIT_GET. kauditd sends the group a
// copy of every record it takes off the audit queue (kauditd_send_multicast_skb,
// before the unicast to auditd), so this mode sees exactly the records that
// made it through the queue: it cannot see records dropped before the
// queue, nor how long producers waited. Losses come only from the
// kernel's lost counter, as the difference between AUDIT_GET samples, with
// no reason and no process.
//
// Requirements: CAP_AUDIT_READ (Linux 3.16, commit 3a101b8de0d3) to join
// the group; CAP_AUDIT_CONTROL, the initial user and pid namespaces for
// AUDIT_GET; and the initial network namespace, the only one the kernel
// multicasts records to. Programs using Run must call auditnl.ServeChild
// first thing in main (AUDIT_GET runs in a child).
//
// Words: a record is one of the kernel's audit records; a message is one
// netlink datagram of the multicast group as parsed here, carrying one
// record; the tally is what Run counts.
package netlink
