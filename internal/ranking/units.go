package ranking

import (
	"cmp"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/auditprof/auditprof/internal/profile"
)

// UnitRow is one cgroup's share (a systemd unit, a container, a user's
// session): the sum of the program rows whose processes ran in it. Units
// rank what an operator can stop or reconfigure as a whole; every record
// is in one unit row, as it is in one program row.
type UnitRow struct {
	// Name is how views show the unit (UnitName).
	Name     string `json:"name"`
	Cgroup   string `json:"cgroup,omitempty"`
	CgroupID uint64 `json:"cgroup_id,omitempty"`
	// Overflow marks the row of the programs that did not fit in the
	// kernel's program table: their cgroups are unknown.
	Overflow bool `json:"overflow,omitempty"`
	// Programs counts the program rows behind the unit; Processes sums
	// theirs (a process that execs counts once per program it ran).
	Programs  int    `json:"programs"`
	Processes uint64 `json:"processes"`
	Records   uint64 `json:"records"`
	Queued    uint64 `json:"queued"`
	Bytes     uint64 `json:"bytes"`
	Lost      uint64 `json:"lost"`
	Waits     uint64 `json:"waits"`
	WaitNs    uint64 `json:"wait_ns"`
	MaxWaitNs uint64 `json:"max_wait_ns"`
	BlockedNs uint64 `json:"blocked_ns"`
}

// UnitCounts are a unit row's counts.
func UnitCounts(u UnitRow) Counts { return Counts{u.Records, u.Lost, u.WaitNs} }

type unitKey struct {
	id       uint64
	cgroup   string
	overflow bool
}

// Units groups the profile's program rows by cgroup (its id, or its path
// where a row has no id) and ranks the groups by key, then records; ties
// by name. Empty without program rows (older profiles).
func Units(p *profile.Profile, key string) []UnitRow {
	idx := map[unitKey]int{}
	var out []UnitRow
	for _, r := range p.ByProgram {
		k := unitKey{id: r.CgroupID, overflow: r.Overflow}
		if r.CgroupID == 0 {
			k.cgroup = r.Cgroup
		}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			name := UnitName(r.Cgroup, r.CgroupID)
			if r.Overflow {
				name = "(programs that did not fit)"
			}
			out = append(out, UnitRow{Name: name, Cgroup: r.Cgroup, CgroupID: r.CgroupID, Overflow: r.Overflow})
		}
		u := &out[i]
		if u.Cgroup == "" {
			u.Cgroup = r.Cgroup
			if !u.Overflow {
				u.Name = UnitName(r.Cgroup, r.CgroupID)
			}
		}
		u.Programs++
		u.Processes += r.Processes
		u.Records += r.Records
		u.Queued += r.Queued
		u.Bytes += r.Bytes
		u.Lost += r.Lost
		u.Waits += r.Waits
		u.WaitNs += r.WaitNs
		u.MaxWaitNs = max(u.MaxWaitNs, r.MaxWaitNs)
		u.BlockedNs += r.BlockedNs
	}
	// Ties by name, so that the order does not depend on the profile's.
	slices.SortStableFunc(out, func(a, b UnitRow) int {
		return cmp.Or(Compare(UnitCounts(a), UnitCounts(b), By(key)...), strings.Compare(a.Name, b.Name))
	})
	return out
}

// containerID matches a container runtime's 64-hex id in a cgroup's
// last path element: docker-<id>.scope, cri-containerd-<id>.scope,
// crio-<id>.scope, libpod-<id>.scope (systemd driver), or <id> alone
// (cgroupfs driver: /docker/<id>, /kubepods/.../<id>).
var containerID = regexp.MustCompile(`^(.*?)([0-9a-f]{64})(\.scope)?$`)

// UnitName names a cgroup for people: a systemd unit's last path element
// (cron.service, session-3.scope), a container by its runtime and its id
// cut to 12 characters as `docker ps` shows it (docker-0123456789ab), "/"
// for the root cgroup, "cgroup ID" when the cgroup was gone before it
// could be named, and "(unknown)" where the recorder did not see it
// (netlink mode).
func UnitName(cgroup string, id uint64) string {
	switch {
	case cgroup == "/":
		return "/"
	case cgroup == "" && id != 0:
		return fmt.Sprintf("cgroup %d", id)
	case cgroup == "":
		return "(unknown)"
	}
	base := path.Base(cgroup)
	m := containerID.FindStringSubmatch(base)
	if m == nil {
		return base
	}
	prefix := strings.TrimSuffix(m[1], "-")
	if prefix == "" {
		// cgroupfs driver: the runtime is the parent directory.
		prefix = path.Base(path.Dir(cgroup))
	}
	if prefix == "/" || prefix == "." {
		return m[2][:12]
	}
	return prefix + "-" + m[2][:12]
}
