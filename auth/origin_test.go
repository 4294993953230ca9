package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestCheckOrigin(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.TrustedOrigins = []string{"https://app.example.com/", "https://*.preview.example.com", "http://localhost:5173"}
	})
	cases := []struct {
		name    string
		headers []string
		want    error
	}{
		{"own origin http", []string{"Origin: http://chat.test"}, nil},
		{"own origin, other scheme", []string{"Origin: https://chat.test"}, ErrInvalidOrigin},
		{"own origin behind TLS proxy", []string{"Origin: https://chat.test", "X-Forwarded-Proto: https"}, nil},
		{"http origin behind TLS proxy", []string{"Origin: http://chat.test", "X-Forwarded-Proto: https"}, ErrInvalidOrigin},
		{"own origin other port", []string{"Origin: http://chat.test:8080"}, ErrInvalidOrigin},
		{"configured", []string{"Origin: https://app.example.com"}, nil},
		{"configured, case differs", []string{"Origin: HTTPS://APP.example.com"}, nil},
		{"configured port", []string{"Origin: http://localhost:5173"}, nil},
		{"wrong port", []string{"Origin: http://localhost:5174"}, ErrInvalidOrigin},
		{"wrong scheme", []string{"Origin: http://app.example.com"}, ErrInvalidOrigin},
		{"wildcard", []string{"Origin: https://pr-12.preview.example.com"}, nil},
		{"wildcard needs the dot", []string{"Origin: https://evilpreview.example.com"}, ErrInvalidOrigin},
		{"suffix trick", []string{"Origin: https://app.example.com.evil.net"}, ErrInvalidOrigin},
		{"evil", []string{"Origin: https://evil.example"}, ErrInvalidOrigin},
		{"referer trusted", []string{"Referer: https://app.example.com/chat?x=1"}, nil},
		{"referer evil", []string{"Referer: https://evil.example/app.example.com"}, ErrInvalidOrigin},
		{"origin beats referer", []string{"Origin: https://evil.example", "Referer: https://app.example.com/"}, ErrInvalidOrigin},
		{"missing", nil, ErrMissingOrigin},
		{"null", []string{"Origin: null"}, ErrMissingOrigin},
		{"null same-origin", []string{"Origin: null", "Sec-Fetch-Site: same-origin"}, nil},
		{"not a url", []string{"Origin: app.example.com"}, ErrInvalidOrigin},
		{"javascript scheme", []string{"Origin: javascript://app.example.com"}, ErrInvalidOrigin},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := f.svc.CheckOrigin(req("POST", "http://chat.test/api/x", tc.headers...))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("CheckOrigin = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCheckOriginSecure(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.Secure = true })
	if err := f.svc.CheckOrigin(req("POST", "http://chat.test/", "Origin: https://chat.test")); err != nil {
		t.Fatalf("https own origin with Secure: %v", err)
	}
	if err := f.svc.CheckOrigin(req("POST", "http://chat.test/", "Origin: http://chat.test")); !errors.Is(err, ErrInvalidOrigin) {
		t.Fatalf("http own origin with Secure: %v", err)
	}
	plain := newFixture(t, nil, nil)
	// httptest gives an https target a TLS connection state.
	if err := plain.svc.CheckOrigin(req("POST", "https://chat.test/", "Origin: https://chat.test")); err != nil {
		t.Fatalf("https own origin over TLS: %v", err)
	}
}

func TestCheckLoginOrigin(t *testing.T) {
	f := newFixture(t, nil, nil)
	cookie := f.cookieHeader("sometoken")
	cases := []struct {
		name    string
		headers []string
		want    error
	}{
		{"script, no headers", nil, nil},
		{"browser same origin", []string{"Origin: http://chat.test", "Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors"}, nil},
		{"untrusted origin", []string{"Origin: https://evil.example"}, ErrInvalidOrigin},
		{"cross-site navigation", []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate", "Origin: https://app.example.com"}, ErrCrossSiteNavigation},
		{"fetch metadata without origin", []string{"Sec-Fetch-Site: same-origin"}, ErrMissingOrigin},
		{"session cookie without origin", []string{cookie}, ErrMissingOrigin},
		{"session cookie, trusted origin", []string{cookie, "Origin: https://app.example.com"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := f.svc.CheckLoginOrigin(req("POST", "http://chat.test/api/auth/sign-in/email", tc.headers...))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("CheckLoginOrigin = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCheckCallbackURL(t *testing.T) {
	f := newFixture(t, nil, nil)
	cases := map[string]bool{
		"":                                  true,
		"/home":                             true,
		"/a/b?c=d#e":                        true,
		"http://chat.test/x":                true,
		"https://app.example.com/welcome":   true,
		"//evil.example/x":                  false,
		`/\evil.example`:                    false,
		"https://evil.example/":             false,
		"javascript:alert(1)":               false,
		"https://app.example.com.evil.net/": false,
		"home":                              false,
		// Browsers drop tabs and newlines and read "\" as "/", so each of
		// these lands on evil.example (issue 15, finding 4).
		"/\t/evil.example":                       false,
		"/\n/evil.example":                       false,
		"/\r/evil.example":                       false,
		"/\x00/evil.example":                     false,
		"\t//evil.example":                       false,
		"//evil":                                 false,
		"/\\evil":                                false,
		"/%2f/evil.example":                      false,
		"/%5C/evil.example":                      false,
		"https://evil.example":                   false,
		"https://app.example.com\\@evil.example": false,
		"https://app.example.com/\tx":            false,
		"/ok path":                               false,
		"/caf\u00e9":                             false,
		"/%09/still-here":                        true,
	}
	for cb, ok := range cases {
		t.Run(cb, func(t *testing.T) {
			err := f.svc.CheckCallbackURL(req("POST", "http://chat.test/"), cb)
			if (err == nil) != ok {
				t.Fatalf("CheckCallbackURL(%q) = %v, want ok=%v", cb, err, ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidCallbackURL) {
				t.Fatalf("wrong error %v", err)
			}
		})
	}
}

func TestOriginMiddleware(t *testing.T) {
	f := newFixture(t, nil, nil)
	e := echo.New()
	e.Use(f.svc.OriginMiddleware())
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		e.Add(m, "/x", ok)
	}
	cookie := f.cookieHeader("sometoken")
	cases := []struct {
		name     string
		method   string
		headers  []string
		status   int
		wantCode string
	}{
		{"cookie POST no origin", "POST", []string{cookie}, 403, "MISSING_OR_NULL_ORIGIN"},
		{"cookie POST null origin", "POST", []string{cookie, "Origin: null"}, 403, "MISSING_OR_NULL_ORIGIN"},
		{"cookie POST evil", "POST", []string{cookie, "Origin: https://evil.example"}, 403, "INVALID_ORIGIN"},
		{"cookie PUT evil referer", "PUT", []string{cookie, "Referer: https://evil.example/"}, 403, "INVALID_ORIGIN"},
		{"cookie PATCH evil", "PATCH", []string{cookie, "Origin: https://evil.example"}, 403, "INVALID_ORIGIN"},
		{"cookie DELETE evil", "DELETE", []string{cookie, "Origin: https://evil.example"}, 403, "INVALID_ORIGIN"},
		{"cookie POST trusted", "POST", []string{cookie, "Origin: https://app.example.com"}, 200, ""},
		{"cookie POST own", "POST", []string{cookie, "Origin: http://example.com"}, 200, ""},
		{"cookie GET evil", "GET", []string{cookie, "Origin: https://evil.example"}, 200, ""},
		{"bearer POST no origin", "POST", []string{"Authorization: Bearer sometoken"}, 200, ""},
		{"bearer POST evil", "POST", []string{"Authorization: Bearer sometoken", "Origin: https://evil.example"}, 200, ""},
		{"no credentials POST", "POST", nil, 200, ""},
		{"unrelated cookie POST", "POST", []string{"Cookie: theme=dark"}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// httptest.NewRequest's Host is example.com.
			r := req(tc.method, "/x", tc.headers...)
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.status, w.Body)
			}
			if tc.wantCode != "" {
				var body struct{ Code, Message string }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Code != tc.wantCode || body.Message == "" {
					t.Fatalf("body %s, want code %s", w.Body, tc.wantCode)
				}
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"a*c", "abc", true},
		{"a*c", "ac", true},
		{"a*c", "abcd", false},
		{"*", "", true},
		{"a**b", "axxb", true},
		{"https://*.x.com", "https://a.b.x.com", true},
		{"https://*.x.com", "https://x.com", false},
	}
	for _, tc := range cases {
		if got := globMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
