package human

import "testing"

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Count(12345.6), "12,346"},
		{Count(0.4), "0"},
		{Percent(1, 3), "33.33%"},
		{Percent(999, 1000), "99.90%"},
		{Percent(1000, 1000), "100.00%"},
		{Percent(1, 0), ""},
		{Jiffies(60, 250), "240ms"},
		{Jiffies(60, 0), "?"},
		{Duration(0), "0"},
		{Duration(999), "999ns"},
		{Duration(999_700), "1ms"},
		{Duration(999_999_999), "1s"},
		{Duration(2_344_400_000), "2.344s"},
		{Key(""), "(no key)"},
		{Key("a\x01b"), "a,b"},
		{FullQueue(2048*1024, 2048), "2.0 MiB"},
		{FullQueue(0, 0), "an amount not measured in this recording"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
