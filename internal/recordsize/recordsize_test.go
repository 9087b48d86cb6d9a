package recordsize

import "testing"

func TestCompute(t *testing.T) {
	// Sizes from Debian 6.1/6.12 BTF (sk_buff 232, skb_shared_info 320) and
	// 6.18 (224): research/kernel_audit.md section 5 measured 2304 bytes
	// (skb->truesize of a normal record) on such kernels.
	for _, tc := range []struct {
		skb, shinfo, want uint64
	}{
		{232, 320, 2304},
		{224, 320, 2304},
		{240, 320, 2304},
		{232, 1024, 4096 + 256}, // a (hypothetical) big shared info moves the head to 4 KiB
	} {
		if got := Compute(tc.skb, tc.shinfo); got.Bytes != tc.want {
			t.Errorf("Compute(%d, %d) = %d, want %d", tc.skb, tc.shinfo, got.Bytes, tc.want)
		}
	}
}

func TestKmallocBucket(t *testing.T) {
	for n, want := range map[uint64]uint64{1: 8, 65: 96, 96: 96, 97: 128, 129: 192, 193: 256, 1408: 2048, 2048: 2048, 2049: 4096} {
		if got := kmallocBucket(n); got != want {
			t.Errorf("kmallocBucket(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestFromKernel(t *testing.T) {
	s, err := FromKernel()
	if err != nil {
		t.Skipf("no kernel BTF here: %v", err)
	}
	if s.Bytes < 2048 || s.Bytes > 8448 {
		t.Fatalf("implausible record size %+v", s)
	}
}
