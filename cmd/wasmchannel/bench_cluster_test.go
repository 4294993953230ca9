package main

import (
	"slices"
	"testing"
)

func TestParseNodes(t *testing.T) {
	got, err := parseNodes("1, 3")
	if err != nil || !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("parseNodes(1, 3) = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "x", "1,,3", "17", "-2"} {
		if _, err := parseNodes(bad); err == nil {
			t.Errorf("parseNodes(%q) accepted", bad)
		}
	}
	if got, err := parseNodes(""); err != nil || got != nil {
		t.Fatalf("parseNodes(\"\") = %v, %v", got, err)
	}
}
