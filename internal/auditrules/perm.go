package auditrules

import "github.com/elastic/go-libaudit/v2/rule"

// Permission bits of a watch (-w PATH -p rwxa) or of -F perm=
// (AUDIT_PERM_*, include/uapi/linux/audit.h).
const (
	permExec  = 1
	permWrite = 2
	permRead  = 4
	permAttr  = 8
	permAll   = permExec | permWrite | permRead | permAttr
)

// The syscall classes a permission can match (lib/audit.c, from
// include/asm-generic/audit_{dir_write,write,read,change_attr}.h). The
// kernel compares numbers; the names are the same under every arch, and
// the compat tables are built from the same headers. Each list is the
// union over 4.18 to 6.18, so a row is never denied a rule that its
// kernel could have matched (ftruncate joined the write class, renameat2
// the directory class, and execveat the exec class, in later kernels).
var (
	writeClass = names(
		// audit_dir_write.h
		"rename", "mkdir", "rmdir", "creat", "link", "unlink", "symlink", "mknod",
		"mkdirat", "mknodat", "unlinkat", "renameat", "linkat", "symlinkat", "renameat2",
		// audit_write.h
		"acct", "swapon", "quotactl", "truncate", "truncate64", "ftruncate", "ftruncate64", "bind")
	readClass = names("readlink", "quotactl", "listxattr", "llistxattr", "flistxattr",
		"getxattr", "lgetxattr", "fgetxattr", "readlinkat")
	attrClass = names("chmod", "fchmod", "chown", "fchown", "lchown", "setxattr", "lsetxattr",
		"fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "fchownat", "fchmodat",
		"chown32", "fchown32", "lchown32")
)

func names(ns ...string) map[string]bool {
	m := make(map[string]bool, len(ns))
	for _, n := range ns {
		m[n] = true
	}
	return m
}

// permMatches says whether a rule with permission mask perm can have
// matched a record of the named syscall: audit_match_perm
// (kernel/auditsc.c). Opens are decided by their flags, which the
// counters do not keep: a read or write permission may have matched them.
// An unknown name (0 or a number auditprof cannot name) may have matched.
func permMatches(perm int, name string) bool {
	switch name {
	case "":
		return true
	case "open", "openat", "openat2":
		return perm&(permRead|permWrite) != 0
	case "execve", "execveat":
		return perm&permExec != 0
	case "socketcall": // only bind, a write
		return perm&permWrite != 0
	}
	return perm&permWrite != 0 && writeClass[name] ||
		perm&permRead != 0 && readClass[name] ||
		perm&permAttr != 0 && attrClass[name]
}

// watchPerm is a watch's permission mask: all four when -p is absent, as
// auditctl sets it.
func watchPerm(access []rule.AccessType) int {
	if len(access) == 0 {
		return permAll
	}
	perm := 0
	for _, a := range access {
		switch a {
		case rule.ReadAccessType:
			perm |= permRead
		case rule.WriteAccessType:
			perm |= permWrite
		case rule.ExecuteAccessType:
			perm |= permExec
		case rule.AttributeChangeAccessType:
			perm |= permAttr
		}
	}
	return perm
}

// filterPerm reads -F perm=rwxa.
func filterPerm(v string) int {
	perm := 0
	for _, c := range v {
		switch c {
		case 'r':
			perm |= permRead
		case 'w':
			perm |= permWrite
		case 'x':
			perm |= permExec
		case 'a':
			perm |= permAttr
		}
	}
	return perm
}
