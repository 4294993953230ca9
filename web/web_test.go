package web

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// fakeWASM stands in for the codec module: Register must serve whatever
// bytes it is given, byte for byte, so any bytes will do.
var fakeWASM = append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte{0xa5, 0x00, 0xff}, 1000)...)

func newServer(t *testing.T) *echo.Echo {
	t.Helper()
	e := echo.New()
	Register(e, fakeWASM)
	return e
}

func get(t *testing.T, e *echo.Echo, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func TestRoutes(t *testing.T) {
	e := newServer(t)
	tests := []struct {
		name        string
		path        string
		status      int
		contentType string
		location    string
		contains    string
	}{
		{"page", "/app/", http.StatusOK, "text/html; charset=utf-8", "", "<script type=\"module\" src=\"app.js\">"},
		{"index by name", "/app/index.html", http.StatusOK, "text/html; charset=utf-8", "", "data-testid=\"send\""},
		{"redirect to slash", "/app", http.StatusMovedPermanently, "", "/app/", ""},
		{"binding", "/app/codec.js", http.StatusOK, "text/javascript; charset=utf-8", "", "wc_decode"},
		{"app", "/app/app.js", http.StatusOK, "text/javascript; charset=utf-8", "", "from \"./codec.js\""},
		{"styles", "/app/style.css", http.StatusOK, "text/css; charset=utf-8", "", "@media (max-width"},
		{"icon", "/app/icon.svg", http.StatusOK, "image/svg+xml", "", "<svg"},
		{"codec", "/codec.wasm", http.StatusOK, "application/wasm", "", "\x00asm"},
		{"missing asset", "/app/nope.js", http.StatusNotFound, "", "", ""},
		{"no traversal", "/app/../web.go", http.StatusNotFound, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, e, tt.path, nil)
			got := body(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("GET %s: status %d, want %d", tt.path, resp.StatusCode, tt.status)
			}
			if tt.contentType != "" && resp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("GET %s: Content-Type %q, want %q", tt.path, resp.Header.Get("Content-Type"), tt.contentType)
			}
			if tt.location != "" && resp.Header.Get("Location") != tt.location {
				t.Errorf("GET %s: Location %q, want %q", tt.path, resp.Header.Get("Location"), tt.location)
			}
			if !strings.Contains(got, tt.contains) {
				t.Errorf("GET %s: body lacks %q", tt.path, tt.contains)
			}
			if tt.status == http.StatusOK && resp.Header.Get("ETag") == "" {
				t.Errorf("GET %s: no ETag", tt.path)
			}
		})
	}
}

func TestHead(t *testing.T) {
	e := newServer(t)
	req := httptest.NewRequest(http.MethodHead, CodecPath, nil)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "application/wasm" {
		t.Errorf("HEAD %s: status %d, %d body bytes, Content-Type %q", CodecPath, rec.Code, rec.Body.Len(), rec.Header().Get("Content-Type"))
	}
}

func TestCodecBytesExact(t *testing.T) {
	e := newServer(t)
	resp := get(t, e, CodecPath, nil)
	if got := body(t, resp); got != string(fakeWASM) {
		t.Fatalf("GET %s: %d bytes differ from the %d given to Register", CodecPath, len(got), len(fakeWASM))
	}
	if resp.Header.Get("Content-Length") != "3008" {
		t.Errorf("Content-Length %q, want 3008", resp.Header.Get("Content-Length"))
	}
}

// TestTestIDs keeps the data-testid attributes the browser checks rely on
// (issue 5): the static ones in the page, the per-message ones made by app.js
// (react-* and reaction-count-* from the REACTIONS keys).
func TestTestIDs(t *testing.T) {
	e := newServer(t)
	page := body(t, get(t, e, "/app/", nil))
	app := body(t, get(t, e, "/app/app.js", nil))
	var tests []struct{ name, source, text, want string }
	for _, id := range []string{"name", "email", "password", "sign-up", "sign-in", "sign-out",
		"room-input", "room-join", "message-input", "send", "online-count", "typing", "error"} {
		tests = append(tests, struct{ name, source, text, want string }{id, "page", page, `data-testid="` + id + `"`})
	}
	for _, want := range []string{
		`li.dataset.testid = "message"`,
		"b.dataset.testid = `react-${r.key}`",
		"count.dataset.testid = `reaction-count-${r.key}`",
		`key: "like"`, `key: "dislike"`, `key: "heart"`, `key: "star"`,
	} {
		tests = append(tests, struct{ name, source, text, want string }{want, "app.js", app, want})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := strings.Count(tt.text, tt.want); n != 1 {
				t.Errorf("%s: %q appears %d times, want once", tt.source, tt.want, n)
			}
		})
	}
}

// TestPageAssetsResolve fetches every local src and href the page names, so
// a renamed file cannot leave the page half loaded.
func TestPageAssetsResolve(t *testing.T) {
	e := newServer(t)
	page := body(t, get(t, e, "/app/", nil))
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("found %d asset references in the page, want at least 3", len(refs))
	}
	for _, m := range refs {
		t.Run(m[1], func(t *testing.T) {
			resp := get(t, e, "/app/"+m[1], nil)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /app/%s: status %d", m[1], resp.StatusCode)
			}
		})
	}
}

func TestRevalidation(t *testing.T) {
	e := newServer(t)
	for _, path := range []string{"/app/", "/app/app.js", CodecPath} {
		t.Run(path, func(t *testing.T) {
			first := get(t, e, path, nil)
			etag := first.Header.Get("ETag")
			if first.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", first.Header.Get("Cache-Control"))
			}
			again := get(t, e, path, http.Header{"If-None-Match": {etag}})
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("with If-None-Match %s: status %d, want 304", etag, again.StatusCode)
			}
		})
	}
}

func TestPageSecurityHeaders(t *testing.T) {
	e := newServer(t)
	resp := get(t, e, "/app/", nil)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"'wasm-unsafe-eval'", "default-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %s", csp, want)
		}
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", resp.Header.Get("X-Content-Type-Options"))
	}
}
