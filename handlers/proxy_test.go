package handlers

import (
	"net/netip"
	"testing"
)

func TestForwardedClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name   string
		values []string
		want   string
	}{
		{"one hop", []string{"203.0.113.5"}, "203.0.113.5"},
		{"client-written hops before ours are ignored", []string{"192.0.2.1, 203.0.113.5"}, "203.0.113.5"},
		{"our own proxies are skipped", []string{"203.0.113.5, 10.1.2.3", "10.0.0.9"}, "203.0.113.5"},
		{"only proxies: the farthest", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"garbage behind a good hop stops the walk", []string{"not-an-ip, 203.0.113.5"}, "203.0.113.5"},
		{"garbage at the nearest hop", []string{"203.0.113.5, nonsense"}, ""},
		{"IPv4-mapped IPv6", []string{"::ffff:203.0.113.5"}, "203.0.113.5"},
		{"none", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := forwardedClient(tc.values, trusted)
			if tc.want == "" {
				if ok {
					t.Fatalf("got %v, want none", got)
				}
				return
			}
			if !ok || got.String() != tc.want {
				t.Fatalf("got %v %v, want %s", got, ok, tc.want)
			}
		})
	}
}
