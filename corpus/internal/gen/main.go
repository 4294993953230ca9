// Command gen writes corpus/conformance.jsonl, the subset of the golden
// vectors that the host runs through a swapped-in codec module at load time
// (see corpus.Conformance). Run it with `go generate ./corpus`.
//
// The subset keeps every payload-size edge, a mix of kinds, ids and
// reactions, and a few malformed packets of each class, while staying small
// enough to embed and to run in milliseconds. Lines are copied verbatim.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// edgeSizes are the payload sizes of shared/golden/README.md that sit on a
// varint, room-limit or block boundary.
var edgeSizes = []int{0, 1, 2, 11, 14, 15, 16, 64, 250, 251, 252, 999, 1000, 2048, 10240, 65535, 65536, 65537}

const (
	// Above these payload sizes only repeat-style vectors are kept (random
	// ones above randomAbove): text and random payloads of 64 KB would
	// triple the file, and its hex doubles every payload byte.
	bulkyAbove  = 10240
	randomAbove = 2048
	// everyNth keeps one in so many of the vectors with random sizes.
	everyNth = 8
	// malformedPerClass is how many malformed vectors each class keeps at
	// least (too_large has only the 2 MiB bomb; the others are too big).
	malformedPerClass = 3
	// maxMalformedBytes leaves out the 16 and 64 MiB bombs.
	maxMalformedBytes = 10_000
)

// validName is "v<index>-<style>-<size>" (golden/README.md § packets.jsonl).
var validName = regexp.MustCompile(`^v(\d+)-([a-z]+)-(\d+)$`)

type line struct {
	raw   []byte
	name  string
	class string // "" for valid vectors
	size  int    // payload size of a valid vector, packet size of a malformed one
}

func main() {
	out := flag.String("out", "conformance.jsonl", "file to write")
	flag.Parse()
	var lines []line
	for _, path := range flag.Args() {
		ls, err := readLines(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		lines = append(lines, ls...)
	}
	var buf bytes.Buffer
	for _, l := range Select(lines) {
		buf.Write(l.raw)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func readLines(path string) ([]line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseLines(f, path)
}

func parseLines(r io.Reader, path string) ([]line, error) {
	var out []line
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		raw, err := br.ReadBytes('\n')
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 {
			var j struct {
				Name       string  `json:"name"`
				Error      *string `json:"error"`
				PayloadHex string  `json:"payload_hex"`
				PacketHex  string  `json:"packet_hex"`
			}
			if jerr := json.Unmarshal(raw, &j); jerr != nil {
				return nil, fmt.Errorf("%s: line %d: %w", path, n, jerr)
			}
			l := line{raw: raw, name: j.Name, size: len(j.PayloadHex) / 2}
			if j.Error != nil {
				l.class, l.size = *j.Error, len(j.PacketHex)/2
			}
			out = append(out, l)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, n, err)
		}
	}
}

// Select picks the conformance subset, in input order.
func Select(all []line) []line {
	keep := make([]bool, len(all))
	nth := 0
	// Malformed: per class, the smallest packet of each kind of defect
	// (the name before its last dash), then the smallest others up to
	// malformedPerClass.
	byClass := map[string][]int{}
	for i, l := range all {
		if l.class != "" {
			byClass[l.class] = append(byClass[l.class], i)
			continue
		}
		m := validName.FindStringSubmatch(l.name)
		size := l.size
		if m != nil {
			size, _ = strconv.Atoi(m[3])
		}
		style := ""
		if m != nil {
			style = m[2]
		}
		switch {
		case size > 65537:
		case size > bulkyAbove && style != "repeat":
		case size > randomAbove && style == "random":
		case slices.Contains(edgeSizes, size):
			keep[i] = true
		default:
			if nth%everyNth == 0 {
				keep[i] = true
			}
			nth++
		}
	}
	for _, idx := range byClass {
		slices.SortStableFunc(idx, func(a, b int) int { return all[a].size - all[b].size })
		seen := map[string]bool{}
		var chosen []int
		for _, i := range idx {
			if all[i].size > maxMalformedBytes {
				continue
			}
			p := defect(all[i].name)
			if !seen[p] {
				seen[p] = true
				chosen = append(chosen, i)
			}
		}
		for _, i := range idx {
			if len(chosen) >= malformedPerClass {
				break
			}
			if all[i].size <= maxMalformedBytes && !slices.Contains(chosen, i) {
				chosen = append(chosen, i)
			}
		}
		for _, i := range chosen {
			keep[i] = true
		}
	}
	var out []line
	for i, l := range all {
		if keep[i] {
			out = append(out, l)
		}
	}
	return out
}

// defect is a malformed vector's name without its index: "lz4hdr-23" → "lz4hdr".
func defect(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}
