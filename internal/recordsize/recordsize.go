// Package recordsize says how much kernel memory one queued audit record
// holds. The usual advice multiplies backlog_limit by 8970 bytes, which is
// user-space libaudit's receive buffer (MAX_AUDIT_MESSAGE_LENGTH), not a
// kernel allocation.
package recordsize

import (
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// UpperBoundPerRecord is the 8970 bytes of the usual advice.
const UpperBoundPerRecord = 8970

const (
	cacheLine = 64 // SMP_CACHE_BYTES on x86-64 and arm64
	// audit_buffer_alloc: nlmsg_new(AUDIT_BUFSIZ=1024) asks alloc_skb for
	// NLMSG_ALIGN(NLMSG_HDRLEN + 1024) bytes.
	auditAllocBytes = 16 + 1024
)

// Size is the footprint of a normal (not grown) audit record.
type Size struct {
	// Bytes is the kmalloc'd head plus the sk_buff itself.
	Bytes uint64 `json:"bytes"`
	// Head is the kmalloc bucket holding data and skb_shared_info.
	Head uint64 `json:"head_bytes"`
	// SkBuff is the skbuff_head_cache object.
	SkBuff uint64 `json:"sk_buff_bytes"`
	// Source says where the struct sizes came from.
	Source string `json:"source"`
}

func align(n, a uint64) uint64 { return (n + a - 1) / a * a }

// kmallocBucket returns the kmalloc cache a request of n bytes lands in:
// powers of two, plus the 96 and 192 byte caches.
func kmallocBucket(n uint64) uint64 {
	switch {
	case n <= 8:
		return 8
	case n > 64 && n <= 96:
		return 96
	case n > 128 && n <= 192:
		return 192
	}
	b := uint64(8)
	for b < n {
		b <<= 1
	}
	return b
}

// Compute returns the size of a normal record given the sizes of struct
// sk_buff and struct skb_shared_info (__alloc_skb, SKB_HEAD_ALIGN).
func Compute(skBuff, sharedInfo uint64) Size {
	head := kmallocBucket(align(auditAllocBytes, cacheLine) + align(sharedInfo, cacheLine))
	skb := align(skBuff, cacheLine)
	return Size{Bytes: head + skb, Head: head, SkBuff: skb}
}

// FromKernel computes the size from the running kernel's BTF.
func FromKernel() (Size, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return Size{}, fmt.Errorf("loading kernel BTF: %w", err)
	}
	sizeOf := func(name string) (uint64, error) {
		var s *btf.Struct
		if err := spec.TypeByName(name, &s); err != nil {
			return 0, fmt.Errorf("finding struct %s in kernel BTF: %w", name, err)
		}
		return uint64(s.Size), nil
	}
	skb, err := sizeOf("sk_buff")
	if err != nil {
		return Size{}, err
	}
	shinfo, err := sizeOf("skb_shared_info")
	if err != nil {
		return Size{}, err
	}
	s := Compute(skb, shinfo)
	s.Source = "computed from this kernel's BTF (struct sk_buff, struct skb_shared_info)"
	return s, nil
}
