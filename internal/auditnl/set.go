package auditnl

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/elastic/go-libaudit/v2"
)

// SetBacklog sends AUDIT_SET for backlog_limit, and for backlog_wait_time
// when wait is not nil, waiting for the kernel's answer to each.
//
// Unlike Get it runs in this process: it is only called by a command the
// user asked to change the settings, and the kernel's answer to the
// settings it refuses is what the user needs to see. The errors keep the
// errno for errors.Is: EPERM (no CAP_AUDIT_CONTROL, or audit locked) and
// EINVAL (a value the kernel refuses) come with what to do about them.
func SetBacklog(limit uint32, wait *uint32) error {
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return setError(fmt.Errorf("opening the audit netlink socket: %w", err))
	}
	defer c.Close()
	if err := c.SetBacklogLimit(limit, libaudit.WaitForReply); err != nil {
		return setError(fmt.Errorf("setting backlog_limit: %w", err))
	}
	if wait != nil {
		if err := c.SetBacklogWaitTime(int32(*wait), libaudit.WaitForReply); err != nil {
			return setError(fmt.Errorf("setting backlog_wait_time: %w", err))
		}
	}
	return nil
}

func setError(err error) error {
	switch {
	case errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: AUDIT_SET needs CAP_AUDIT_CONTROL in the initial user namespace (run as root); if you are root, audit may be locked (enabled 2)", err)
	case errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("%w: the kernel refused the value (backlog_wait_time may be at most 600 s)", err)
	}
	return err
}
