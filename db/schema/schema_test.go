package schema

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadOrdersByName(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0002_b.sql": {Data: []byte("B")},
		"migrations/0001_a.sql": {Data: []byte("A")},
		"migrations/notes.txt":  {Data: []byte("ignored")},
	}
	ms, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] != (Migration{"0001_a", "A"}) || ms[1] != (Migration{"0002_b", "B"}) {
		t.Fatalf("Load = %+v", ms)
	}
	if vs := Versions(fsys); !slices.Equal(vs, []string{"0001_a", "0002_b"}) {
		t.Fatalf("Versions = %v", vs)
	}
}

func TestCheckRecorded(t *testing.T) {
	list := []Migration{{Version: "0001_a"}, {Version: "0002_b"}}
	if err := CheckRecorded(list, []string{"0001_a"}); err != nil {
		t.Fatalf("a known older record refused: %v", err)
	}
	err := CheckRecorded(list, []string{"0001_a", "0003_c"})
	if err == nil || !strings.Contains(err.Error(), `"0003_c"`) {
		t.Fatalf("an unknown version: %v", err)
	}
}
