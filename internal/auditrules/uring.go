package auditrules

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// The kernel's struct audit_rule_data (include/uapi/linux/audit.h), for the
// io_uring list, which go-libaudit cannot print: flags, action,
// field_count, mask[64], fields[64], values[64], fieldflags[64], buflen,
// then the strings.
const (
	filterUring    = 0x07 // AUDIT_FILTER_URING_EXIT, 5.16+ (5bd2182d58e9)
	actionNever    = 0
	fieldFilterkey = 210
	wireSlots      = 64
	wireFixed      = 3*4 + 4*wireSlots*4 + 4
)

// isUringRule says whether a rule in the kernel's form is on the io_uring
// list.
func isUringRule(wf []byte) bool {
	return len(wf) >= wireFixed && binary.LittleEndian.Uint32(wf) == filterUring
}

// stringField says whether a field's value is a string in buf (its value
// is then the string's length): the kernel's audit_data_to_entry.
func stringField(f uint32) bool {
	switch {
	case f >= 13 && f <= 17, f >= 19 && f <= 23: // AUDIT_SUBJ_*, AUDIT_OBJ_* (LSM labels)
		return true
	}
	return f == 105 || f == 107 || f == 112 || f == fieldFilterkey // AUDIT_WATCH, AUDIT_DIR, AUDIT_EXE, AUDIT_FILTERKEY
}

// parseUring reads an io_uring rule: its opcodes (the mask's bits,
// matched against ctx->uring_op by audit_filter_uring) and keys. The text
// is auditctl 3.1's form (`-a always,io_uring -S openat -F key=k`); fields
// other than the key are not printed, and said so.
func parseUring(index int, wf []byte) (Rule, error) {
	le := binary.LittleEndian
	u := func(slot int) uint32 { return le.Uint32(wf[slot*4:]) }
	action, count := u(1), int(u(2))
	if count > wireSlots {
		return Rule{}, fmt.Errorf("reading loaded rule %d: %d fields", index, count)
	}
	r := Rule{Index: index, List: "io_uring", never: action == actionNever, uringOps: map[int32]bool{}}
	var names []string
	all := true
	for w := 0; w < wireSlots; w++ {
		if u(3+w) != ^uint32(0) {
			all = false
		}
	}
	if !all {
		for op := int32(0); op < wireSlots*32; op++ {
			if u(3+int(op/32))&(1<<(op%32)) != 0 {
				r.uringOps[op] = true
				if n := UringOpName(op); n != "" {
					names = append(names, n)
				} else {
					names = append(names, fmt.Sprint(op))
				}
			}
		}
	} else {
		r.uringOps, names = nil, []string{"all"}
	}
	buf := wf[wireFixed:]
	var keys []string
	other := 0
	for i := 0; i < count; i++ {
		f, v := u(3+wireSlots+i), u(3+2*wireSlots+i)
		if !stringField(f) {
			other++
			continue
		}
		if int(v) > len(buf) {
			return Rule{}, fmt.Errorf("reading loaded rule %d: field %d's string overruns the rule", index, i)
		}
		if f == fieldFilterkey {
			keys = append(keys, string(buf[:v]))
		} else {
			other++
		}
		buf = buf[v:]
	}
	r.Key = strings.Join(keys, "\x01")
	act := "always"
	if r.never {
		act = "never"
	}
	r.Text = fmt.Sprintf("-a %s,io_uring -S %s", act, strings.Join(names, ","))
	if other > 0 {
		r.Text += fmt.Sprintf(" (%d more fields)", other)
	}
	for _, k := range keys {
		r.Text += " -F key=" + k
	}
	return r, nil
}
