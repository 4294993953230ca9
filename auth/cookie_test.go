package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignFormat(t *testing.T) {
	secret := []byte(testSecret)
	signed := Sign(secret, "tok")
	value, sig, ok := strings.Cut(signed, ".")
	if !ok || value != "tok" {
		t.Fatalf("Sign = %q", signed)
	}
	if len(sig) != 44 || !strings.HasSuffix(sig, "=") {
		t.Fatalf("signature %q is not 44-char padded base64", sig)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("tok"))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); sig != want {
		t.Fatalf("signature %q, want HMAC-SHA256 %q", sig, want)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte(testSecret)
	good := Sign(secret, "abcDEF123_-")
	tampered := []byte(good)
	// Flip a character of the signature that is not padding.
	i := len(tampered) - 5
	if tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"plain", good, true},
		{"percent-encoded", url.QueryEscape(good), true},
		{"encodeURIComponent style", encodeCookieValue(good), true},
		{"tampered signature", string(tampered), false},
		{"tampered value", "abcDEF123_X" + good[len("abcDEF123_-"):], false},
		{"other secret", Sign([]byte("another-secret-another-secret-1234"), "abcDEF123_-"), false},
		{"no dot", "abcDEF123_-", false},
		{"empty value", good[len("abcDEF123_-"):], false},
		{"short signature", good[:len(good)-2], false},
		{"unpadded signature", strings.TrimSuffix(good, "=") + "A", false},
		{"bad percent", "abc%zz.sig", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := Verify(secret, tc.in)
			if ok != tc.ok {
				t.Fatalf("Verify(%q) ok=%v, want %v", tc.in, ok, tc.ok)
			}
			if ok && v != "abcDEF123_-" {
				t.Fatalf("value %q", v)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	f := newFixture(t, nil, nil)
	signed := Sign([]byte(testSecret), "tok_123")
	cases := []struct {
		name, header, want string
		ok                 bool
	}{
		{"raw", "Bearer tok_123", "tok_123", true},
		{"lower-case scheme", "bearer tok_123", "tok_123", true},
		{"extra spaces", "BEARER   tok_123  ", "tok_123", true},
		{"signed", "Bearer " + signed, "tok_123", true},
		{"signed percent-encoded", "Bearer " + encodeCookieValue(signed), "tok_123", true},
		{"signed with bad signature", "Bearer tok_123." + strings.Repeat("A", 43) + "=", "", false},
		{"basic scheme", "Basic dXNlcjpwYXNz", "", false},
		{"no token", "Bearer ", "", false},
		{"no space", "Bearertok_123", "", false},
		{"illegal characters", "Bearer tok/123", "", false},
		{"too long", "Bearer " + strings.Repeat("a", maxTokenLen+1), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := f.svc.bearerToken(tc.header)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("bearerToken(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestTokenFromRequest(t *testing.T) {
	f := newFixture(t, nil, nil)
	signedA := Sign([]byte(testSecret), "tokA")
	cases := []struct {
		name    string
		headers []string
		want    string
	}{
		{"cookie encoded", []string{"Cookie: better-auth.session_token=" + encodeCookieValue(signedA)}, "tokA"},
		{"cookie raw", []string{"Cookie: better-auth.session_token=" + signedA}, "tokA"},
		{"secure cookie name", []string{"Cookie: __Secure-better-auth.session_token=" + encodeCookieValue(signedA)}, "tokA"},
		{"unsigned cookie", []string{"Cookie: better-auth.session_token=tokA"}, ""},
		{"bearer wins over cookie", []string{"Authorization: Bearer tokB", "Cookie: better-auth.session_token=" + signedA}, "tokB"},
		{"bad bearer falls back to cookie", []string{"Authorization: Bearer tokB.bad", "Cookie: better-auth.session_token=" + signedA}, "tokA"},
		{"other cookie only", []string{"Cookie: theme=dark"}, ""},
		{"nothing", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := f.svc.tokenFromRequest(req("GET", "/", tc.headers...))
			if ok != (tc.want != "") || got != tc.want {
				t.Fatalf("token = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestSetSessionCookie(t *testing.T) {
	cases := []struct {
		name     string
		secure   bool
		remember bool
		wantName string
		wantAttr []string
		noAttr   []string
		cookies  int
	}{
		{"remember", false, true, "better-auth.session_token", []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"}, []string{"Secure"}, 1},
		{"session only", false, false, "better-auth.session_token", []string{"HttpOnly", "SameSite=Lax", "Path=/"}, []string{"Max-Age", "Secure"}, 2},
		{"secure", true, true, "__Secure-better-auth.session_token", []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800", "Secure"}, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, func(c *Config) { c.Secure = tc.secure })
			w := httptest.NewRecorder()
			f.svc.SetSessionCookie(w, "tok_123", tc.remember)
			sc := w.Header().Values("Set-Cookie")
			if len(sc) != tc.cookies {
				t.Fatalf("Set-Cookie = %q", sc)
			}
			line := sc[0]
			if !strings.HasPrefix(line, tc.wantName+"=") {
				t.Fatalf("cookie %q, want name %s", line, tc.wantName)
			}
			for _, a := range tc.wantAttr {
				if !strings.Contains(line, "; "+a) {
					t.Errorf("cookie %q lacks %s", line, a)
				}
			}
			for _, a := range tc.noAttr {
				if strings.Contains(line, a) {
					t.Errorf("cookie %q has %s", line, a)
				}
			}
			value := strings.TrimPrefix(strings.SplitN(line, ";", 2)[0], tc.wantName+"=")
			if strings.ContainsAny(value, "+/=") {
				t.Errorf("cookie value %q is not percent-encoded", value)
			}
			if tok, ok := Verify([]byte(testSecret), value); !ok || tok != "tok_123" {
				t.Errorf("cookie value %q does not verify", value)
			}
			if got, want := w.Header().Get("set-auth-token"), Sign([]byte(testSecret), "tok_123"); got != want {
				t.Errorf("set-auth-token = %q, want %q", got, want)
			}
			if got := w.Header().Get("Access-Control-Expose-Headers"); got != "set-auth-token" {
				t.Errorf("Access-Control-Expose-Headers = %q", got)
			}
			if !tc.remember && !strings.Contains(sc[1], "dont_remember=true.") {
				t.Errorf("no dont_remember marker: %q", sc[1])
			}
		})
	}
}

func TestExposeHeaderKeepsExisting(t *testing.T) {
	h := http.Header{}
	h.Set("Access-Control-Expose-Headers", "X-Request-Id")
	exposeHeader(h, "set-auth-token")
	exposeHeader(h, "Set-Auth-Token")
	if got := h.Get("Access-Control-Expose-Headers"); got != "X-Request-Id, set-auth-token" {
		t.Fatalf("got %q", got)
	}
}

func TestClearSessionCookies(t *testing.T) {
	f := newFixture(t, nil, nil)
	w := httptest.NewRecorder()
	f.svc.ClearSessionCookies(w)
	sc := w.Header().Values("Set-Cookie")
	want := []string{"better-auth.session_token=;", "better-auth.session_data=;", "better-auth.dont_remember=;"}
	if len(sc) != len(want) {
		t.Fatalf("Set-Cookie = %q", sc)
	}
	for i, p := range want {
		if !strings.HasPrefix(sc[i], p) || !strings.Contains(sc[i], "Max-Age=0") || !strings.Contains(sc[i], "Path=/") {
			t.Errorf("cookie %d = %q, want %s...Max-Age=0", i, sc[i], p)
		}
	}
}

// attrs parses one Set-Cookie line into its name and attributes (lower-cased
// keys; flags map to "").
func attrs(line string) (string, map[string]string) {
	parts := strings.Split(line, ";")
	name, _, _ := strings.Cut(parts[0], "=")
	m := map[string]string{}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		m[strings.ToLower(k)] = v
	}
	return name, m
}

// TestCookieAttributes: Domain and SameSite as an operator sets them, on
// every cookie set and on every cookie sign-out clears, so the browser
// replaces the cookie it holds rather than keeping it (issue 12, §2).
func TestCookieAttributes(t *testing.T) {
	cases := []struct {
		name, domain, sameSite string
		secure                 bool
		wantDomain, wantSS     string
	}{
		{"default", "", "", false, "", "Lax"},
		{"strict", "", "strict", false, "", "Strict"},
		{"none secure cross-subdomain", "example.com", "none", true, "example.com", "None"},
		{"leading dot", ".example.com", "Lax", false, "example.com", "Lax"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, func(c *Config) {
				c.CookieDomain, c.SameSite, c.Secure = tc.domain, tc.sameSite, tc.secure
			})
			set := httptest.NewRecorder()
			f.svc.SetSessionCookie(set, "tok_123", false)
			clear := httptest.NewRecorder()
			f.svc.ClearSessionCookies(clear)
			lines := append(set.Header().Values("Set-Cookie"), clear.Header().Values("Set-Cookie")...)
			if len(lines) != 5 {
				t.Fatalf("Set-Cookie lines %q", lines)
			}
			for _, line := range lines {
				name, a := attrs(line)
				if a["domain"] != tc.wantDomain {
					t.Errorf("%s: Domain %q, want %q", name, a["domain"], tc.wantDomain)
				}
				if a["samesite"] != tc.wantSS {
					t.Errorf("%s: SameSite %q, want %q", name, a["samesite"], tc.wantSS)
				}
				if _, ok := a["httponly"]; !ok {
					t.Errorf("%s: not HttpOnly", name)
				}
				if _, ok := a["secure"]; ok != tc.secure {
					t.Errorf("%s: Secure = %v, want %v", name, ok, tc.secure)
				}
				if a["path"] != "/" {
					t.Errorf("%s: Path %q", name, a["path"])
				}
			}
		})
	}
}

// TestConfigValidate: settings a browser would silently ignore are refused
// at start with a message that names the fix.
func TestConfigValidate(t *testing.T) {
	base := DefaultConfig()
	base.Secret = []byte(testSecret)
	if err := base.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"SameSite none without Secure", func(c *Config) { c.SameSite = "none" }, "Secure"},
		{"unknown SameSite", func(c *Config) { c.SameSite = "sometimes" }, "lax, strict, none"},
		{"domain with scheme", func(c *Config) { c.CookieDomain = "https://example.com" }, "host name"},
		{"domain with port", func(c *Config) { c.CookieDomain = "example.com:443" }, "host name"},
		{"no secret", func(c *Config) { c.Secret = nil }, "secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrConfig mentioning %q", err, tc.want)
			}
			defer func() {
				if recover() == nil {
					t.Fatal("New accepted a configuration Validate refuses")
				}
			}()
			New(openStore(t, time.Now), c, nil)
		})
	}
	ok := base
	ok.SameSite, ok.Secure = "none", true
	if err := ok.Validate(); err != nil {
		t.Fatalf("SameSite none with Secure: %v", err)
	}
}
