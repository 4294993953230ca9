package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestConformanceUpToDate fails when corpus/conformance.jsonl is not what
// the generator makes from the golden files: run `go generate ./corpus`.
func TestConformanceUpToDate(t *testing.T) {
	var lines []line
	for _, f := range []string{"packets.jsonl", "malformed.jsonl"} {
		ls, err := readLines(filepath.Join("..", "..", "..", "testdata", "golden", f))
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, ls...)
	}
	var want bytes.Buffer
	for _, l := range Select(lines) {
		want.Write(l.raw)
		want.WriteByte('\n')
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "conformance.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("corpus/conformance.jsonl is stale: run go generate ./corpus")
	}
}
