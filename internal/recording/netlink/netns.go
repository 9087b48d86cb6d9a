package netlink

import (
	"errors"

	"golang.org/x/sys/unix"
)

// checkNetNS fails when this process is not in the initial network
// namespace: the kernel multicasts audit records only in init_net
// (kauditd_send_multicast_skb), so a listener elsewhere would wait in vain.
// It is called after AUDIT_GET succeeded, which proves the initial pid
// namespace, so /proc/1 is the system's init.
func checkNetNS() error {
	var self, init unix.Stat_t
	if unix.Stat("/proc/self/ns/net", &self) != nil || unix.Stat("/proc/1/ns/net", &init) != nil {
		return nil // cannot tell; do not guess
	}
	if self.Ino != init.Ino || self.Dev != init.Dev {
		return errors.New("joining the audit multicast group: this process is not in the initial network namespace, and the kernel sends audit records to listeners there only: run in the host's network namespace")
	}
	return nil
}
