package handlers_test

// The auth compatibility suite: one set of assertions about
// /api/auth/{sign-up/email,sign-in/email,sign-out,get-session}, run both
// against our routes and against a real Better Auth server (npm
// better-auth, pinned in testdata/betterauth/package-lock.json). Passing
// on both is what backs the claim that Better Auth clients work unchanged.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/db/sqlite"
	"github.com/wasmchannel/wasmchannel/handlers"
)

const (
	// acSecret is given to both servers, so the suite can check cookie
	// signatures on both.
	acSecret = "authcompat-fixed-secret-0123456789abcdef"
	// acTrusted is the extra trusted origin both servers are configured with.
	acTrusted = "http://trusted.example"
	acUA      = "wasmchannel-authcompat/1"
	// betterAuthDir holds package.json, package-lock.json and server.mjs.
	betterAuthDir = "../testdata/betterauth"
)

func TestAuthCompat(t *testing.T) {
	t.Run("wasmchannel", func(t *testing.T) {
		t.Parallel()
		runAuthCompat(t, startOurAuthServer(t))
	})
	t.Run("better-auth", func(t *testing.T) {
		t.Parallel()
		runAuthCompat(t, startBetterAuth(t))
	})
}

// startOurAuthServer serves RegisterAuth on a real Echo server on
// 127.0.0.1:0 over a fresh SQLite file, configured as serve configures it.
func startOurAuthServer(t *testing.T) string {
	return newOurAuthServer(t, nil, nil).base
}

// ourServer is our auth routes on a loopback port over a real database.
type ourServer struct {
	base   string
	db     *sqlite.DB
	dbPath string
	svc    *auth.Service
}

// newOurAuthServer starts our routes logging to log (nil: nowhere); mod
// adjusts the auth config, and dbOpts are passed to sqlite.Open.
func newOurAuthServer(t *testing.T, log *slog.Logger, mod func(*auth.Config), dbOpts ...sqlite.Option) ourServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authcompat.db")
	d, err := sqlite.Open(context.Background(), path, dbOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	cfg := auth.Config{
		Secret:         []byte(acSecret),
		TrustedOrigins: []string{acTrusted},
		Scrypt:         auth.ScryptParams{LogN: 4, R: 1, P: 1}, // fast tests; production uses DefaultScrypt
		// The suite signs in many times from one address; the limiter has
		// its own tests.
		Limits: auth.Limits{EmailFailures: 1000, IPFailures: 1000},
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if mod != nil {
		mod(&cfg)
	}
	svc := auth.New(d, cfg, log)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(svc.OriginMiddleware())
	handlers.RegisterAuth(e, svc)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return ourServer{base: srv.URL, db: d, dbPath: path, svc: svc}
}

// startBetterAuth runs testdata/betterauth/server.mjs under Node and
// returns its base URL. It installs the pinned packages with `npm ci` the
// first time. Without Node 20+ it skips, saying why.
func startBetterAuth(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found on PATH: the Better Auth half of the compatibility suite needs Node 20+")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Skipf("node --version: %v", err)
	}
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".", 2)[0])
	if major < 20 {
		t.Skipf("node %s is too old: Better Auth needs Node 20+", strings.TrimSpace(string(out)))
	}
	dir, err := filepath.Abs(betterAuthDir)
	if err != nil {
		t.Fatal(err)
	}
	ensureBetterAuthInstalled(t, dir)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(betterAuthEnv(), "BETTER_AUTH_SECRET="+acSecret, "TRUSTED_ORIGINS="+acTrusted)
	stdin, err := cmd.StdinPipe() // closing it stops the server
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start better-auth server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("better-auth server stderr:\n%s", stderr.String())
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		base, ok := strings.CutPrefix(line, "listening ")
		if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
			t.Fatalf("better-auth server said %q", line)
		}
		return base
	case <-done:
		t.Fatalf("better-auth server exited before listening:\n%s", stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("better-auth server did not start within 60s:\n%s", stderr.String())
	}
	return ""
}

// betterAuthEnv is our environment minus what would change Better Auth's
// behaviour: NODE_ENV=test turns its origin checks off, and BETTER_AUTH_*
// would override the test's settings.
func betterAuthEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NODE_ENV=") || strings.HasPrefix(kv, "BETTER_AUTH_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ensureBetterAuthInstalled runs `npm ci` in dir when node_modules lacks
// better-auth, bounded by a timeout.
func ensureBetterAuthInstalled(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "better-auth", "package.json")); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found on PATH and testdata/betterauth/node_modules is missing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	cmd.Env = betterAuthEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// acResp is one reply.
type acResp struct {
	status int
	header http.Header
	body   []byte
}

// acClient talks to one server. It never follows redirects and keeps no
// cookie jar: every test sets exactly the headers it means.
type acClient struct {
	base string
	hc   *http.Client
}

// do sends a request; headers are "Name: value" strings.
func (c *acClient) do(t *testing.T, method, path, contentType, body string, headers ...string) acResp {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", acUA)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return acResp{status: res.StatusCode, header: res.Header, body: b}
}

func (c *acClient) postJSON(t *testing.T, path, body string, headers ...string) acResp {
	t.Helper()
	return c.do(t, "POST", path, "application/json", body, headers...)
}

// object decodes the body as a JSON object.
func (r acResp) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil || m == nil {
		t.Fatalf("status %d, body %s is not a JSON object", r.status, r.body)
	}
	return m
}

// keys returns m's keys sorted.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := keys(m); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s keys %v, want %v", what, got, want)
	}
}

// wantError checks a {"code","message"} error reply exactly.
func wantError(t *testing.T, r acResp, status int, code, message string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	m := r.object(t)
	wantKeys(t, "error", m, "code", "message")
	if m["code"] != code {
		t.Fatalf("code %v, want %s; body %s", m["code"], code, r.body)
	}
	if message != "" && m["message"] != message {
		t.Fatalf("message %q, want %q", m["message"], message)
	}
	if len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("an error reply set cookies: %q", r.header.Values("Set-Cookie"))
	}
}

var isoMillis = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

// acTime checks a JavaScript-style ISO time near now and returns it.
func acTime(t *testing.T, what string, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	if !ok || !isoMillis.MatchString(s) {
		t.Fatalf("%s = %#v, want an ISO-8601 UTC time with milliseconds", what, v)
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// acUser checks a User object and returns it.
func acUser(t *testing.T, v any) map[string]any {
	t.Helper()
	u, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("user is %#v", v)
	}
	// image: a null image is sent as null by us and left out by Better
	// Auth's memory adapter; clients treat both as no image.
	want := []string{"id", "name", "email", "emailVerified", "createdAt", "updatedAt"}
	if _, has := u["image"]; has {
		want = append(want, "image")
	}
	wantKeys(t, "user", u, want...)
	if id, _ := u["id"].(string); id == "" {
		t.Fatalf("user.id = %#v", u["id"])
	}
	if _, ok := u["name"].(string); !ok {
		t.Fatalf("user.name = %#v", u["name"])
	}
	if u["emailVerified"] != false {
		t.Fatalf("emailVerified = %#v", u["emailVerified"])
	}
	if img, has := u["image"]; has && img != nil {
		if _, ok := img.(string); !ok {
			t.Fatalf("image = %#v", img)
		}
	}
	c := acTime(t, "user.createdAt", u["createdAt"])
	if d := time.Since(c); d < -time.Minute || d > 10*time.Minute {
		t.Fatalf("createdAt %v is not recent", c)
	}
	acTime(t, "user.updatedAt", u["updatedAt"])
	return u
}

// signedParts splits a cookie value into token and signature after
// percent-decoding, and checks the signature is 44-character padded
// base64 of HMAC-SHA256(acSecret, token).
func signedParts(t *testing.T, raw string) (token, decoded string) {
	t.Helper()
	dec, err := url.PathUnescape(raw)
	if err != nil {
		t.Fatalf("cookie value %q does not percent-decode: %v", raw, err)
	}
	i := strings.LastIndexByte(dec, '.')
	if i <= 0 {
		t.Fatalf("cookie value %q is not token.signature", dec)
	}
	token, sig := dec[:i], dec[i+1:]
	if len(sig) != 44 || !strings.HasSuffix(sig, "=") {
		t.Fatalf("signature %q is not 44-character padded base64", sig)
	}
	mac := hmac.New(sha256.New, []byte(acSecret))
	mac.Write([]byte(token))
	if sig != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		t.Fatalf("signature %q is not base64(HMAC-SHA256(secret, token))", sig)
	}
	return token, dec
}

// setCookie finds the Set-Cookie line for name.
func setCookie(r acResp, name string) (string, bool) {
	for _, line := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line, true
		}
	}
	return "", false
}

// cookieAttrs splits a Set-Cookie line into its value and lower-cased
// attributes.
func cookieAttrs(line string) (value string, attrs map[string]string) {
	parts := strings.Split(line, ";")
	_, value, _ = strings.Cut(parts[0], "=")
	attrs = map[string]string{}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		attrs[strings.ToLower(k)] = v
	}
	return value, attrs
}

// session is what a successful sign-up or sign-in hands the client.
type session struct {
	token  string // raw token from the body
	cookie string // "Cookie: better-auth.session_token=<value as set>"
	raw    string // the cookie value as set (percent-encoded)
	signed string // the decoded signed value = set-auth-token
}

// wantSessionCookie checks the session cookie and set-auth-token header of
// a reply that opened a session for token.
func wantSessionCookie(t *testing.T, r acResp, token string, remember bool) session {
	t.Helper()
	line, ok := setCookie(r, "better-auth.session_token")
	if !ok {
		t.Fatalf("no session cookie; Set-Cookie %q", r.header.Values("Set-Cookie"))
	}
	value, attrs := cookieAttrs(line)
	for _, a := range []string{"httponly", "path", "samesite"} {
		if _, ok := attrs[a]; !ok {
			t.Fatalf("cookie %q lacks %s", line, a)
		}
	}
	if attrs["path"] != "/" || !strings.EqualFold(attrs["samesite"], "lax") {
		t.Fatalf("cookie %q: want Path=/ and SameSite=Lax", line)
	}
	if _, ok := attrs["secure"]; ok {
		t.Fatalf("cookie %q is Secure over plain HTTP", line)
	}
	if remember && attrs["max-age"] != "604800" {
		t.Fatalf("cookie %q: want Max-Age=604800", line)
	}
	if _, has := attrs["max-age"]; !remember && has {
		t.Fatalf("rememberMe:false cookie %q has a Max-Age", line)
	}
	if strings.ContainsAny(value, "+/=") {
		t.Fatalf("cookie value %q is not percent-encoded", value)
	}
	tok, signed := signedParts(t, value)
	if tok != token {
		t.Fatalf("cookie carries token %q, body says %q", tok, token)
	}
	if strings.Contains(token, ".") || token == "" {
		t.Fatalf("token %q", token)
	}
	if got := r.header.Get("set-auth-token"); got != signed {
		t.Fatalf("set-auth-token %q, want the cookie value %q", got, signed)
	}
	exposed := false
	for _, h := range strings.Split(r.header.Get("Access-Control-Expose-Headers"), ",") {
		exposed = exposed || strings.EqualFold(strings.TrimSpace(h), "set-auth-token")
	}
	if !exposed {
		t.Fatalf("Access-Control-Expose-Headers %q lacks set-auth-token", r.header.Get("Access-Control-Expose-Headers"))
	}
	return session{token: token, cookie: "Cookie: better-auth.session_token=" + value, raw: value, signed: signed}
}

// wantNull checks a get-session reply for "no session".
func wantNull(t *testing.T, r acResp) {
	t.Helper()
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "null" {
		t.Fatalf("status %d body %s, want 200 null", r.status, r.body)
	}
}

// wantCleared checks that a reply expires the session cookie.
func wantCleared(t *testing.T, r acResp) {
	t.Helper()
	line, ok := setCookie(r, "better-auth.session_token")
	if !ok {
		t.Fatalf("session cookie not cleared; Set-Cookie %q", r.header.Values("Set-Cookie"))
	}
	value, attrs := cookieAttrs(line)
	if value != "" || attrs["max-age"] != "0" || attrs["path"] != "/" {
		t.Fatalf("clearing cookie %q, want empty value, Max-Age=0, Path=/", line)
	}
}

const (
	pathSignUp     = "/api/auth/sign-up/email"
	pathSignIn     = "/api/auth/sign-in/email"
	pathSignOut    = "/api/auth/sign-out"
	pathGetSession = "/api/auth/get-session"
)

// runAuthCompat is the suite. Every assertion holds for both servers.
func runAuthCompat(t *testing.T, base string) {
	c := &acClient{base: base, hc: &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	var ann map[string]any
	var annSess session

	t.Run("sign-up", func(t *testing.T) {
		r := c.postJSON(t, pathSignUp, `{"name":"Ann Example","email":"Ann@Example.COM","password":"password123"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		m := r.object(t)
		wantKeys(t, "sign-up reply", m, "token", "user")
		ann = acUser(t, m["user"])
		if ann["email"] != "ann@example.com" || ann["name"] != "Ann Example" {
			t.Fatalf("user %v: want the email lower-cased and the name kept", ann)
		}
		if img, has := ann["image"]; has && img != nil {
			t.Fatalf("image %v, want absent or null", img)
		}
		token, _ := m["token"].(string)
		annSess = wantSessionCookie(t, r, token, true)
	})
	if ann == nil {
		t.Fatal("sign-up failed; the rest depends on it")
	}

	t.Run("sign-up with image", func(t *testing.T) {
		r := c.postJSON(t, pathSignUp, `{"name":"Bo","email":"bo@example.com","password":"password123","image":"https://example.com/bo.png"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if u := acUser(t, r.object(t)["user"]); u["image"] != "https://example.com/bo.png" {
			t.Fatalf("image %v", u["image"])
		}
	})

	t.Run("sign-up as form", func(t *testing.T) {
		r := c.do(t, "POST", pathSignUp, "application/x-www-form-urlencoded", "name=Cy&email=cy%40example.com&password=password123")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if u := acUser(t, r.object(t)["user"]); u["email"] != "cy@example.com" {
			t.Fatalf("user %v", u)
		}
	})

	t.Run("duplicate sign-up", func(t *testing.T) {
		r := c.postJSON(t, pathSignUp, `{"name":"Ann Again","email":"ANN@example.com","password":"password456"}`)
		wantError(t, r, http.StatusUnprocessableEntity, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.")
	})

	t.Run("password length", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			password string
			status   int
			code     string
			message  string
		}{
			{"7 characters", "1234567", 400, "PASSWORD_TOO_SHORT", "Password too short"},
			{"8 characters", "12345678", 200, "", ""},
			{"128 characters", strings.Repeat("p", 128), 200, "", ""},
			{"129 characters", strings.Repeat("p", 129), 400, "PASSWORD_TOO_LONG", "Password too long"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				email := fmt.Sprintf("len%d@example.com", len(tc.password))
				r := c.postJSON(t, pathSignUp, fmt.Sprintf(`{"name":"L","email":%q,"password":%q}`, email, tc.password))
				if tc.status == 200 {
					if r.status != 200 {
						t.Fatalf("status %d: %s", r.status, r.body)
					}
					return
				}
				wantError(t, r, tc.status, tc.code, tc.message)
			})
		}
	})

	t.Run("invalid input", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, ctype, body string
			status                  int
			code, message           string
		}{
			{"sign-up malformed email", pathSignUp, "application/json", `{"name":"x","email":"not-an-email","password":"password123"}`,
				400, "VALIDATION_ERROR", "[body.email] Invalid email address"},
			{"sign-up one-letter tld", pathSignUp, "application/json", `{"name":"x","email":"a@b.c","password":"password123"}`,
				400, "VALIDATION_ERROR", "[body.email] Invalid email address"},
			{"sign-up missing password", pathSignUp, "application/json", `{"name":"x","email":"x@example.com"}`,
				400, "VALIDATION_ERROR", "[body.password] Invalid input: expected string, received undefined"},
			{"sign-up name is a number", pathSignUp, "application/json", `{"name":5,"email":"x@example.com","password":"password123"}`,
				400, "VALIDATION_ERROR", "[body.name] Invalid input: expected string, received number"},
			{"sign-up image null", pathSignUp, "application/json", `{"name":"x","email":"x@example.com","password":"password123","image":null}`,
				400, "VALIDATION_ERROR", "[body.image] Invalid input: expected string, received null"},
			{"sign-up rememberMe string", pathSignUp, "application/json", `{"name":"x","email":"x@example.com","password":"password123","rememberMe":"no"}`,
				400, "VALIDATION_ERROR", "[body.rememberMe] Invalid input: expected boolean, received string"},
			{"sign-up empty object", pathSignUp, "application/json", `{}`,
				400, "VALIDATION_ERROR", "[body.name] Invalid input: expected string, received undefined; [body.email] Invalid input: expected string, received undefined; [body.password] Invalid input: expected string, received undefined"},
			{"sign-up body null", pathSignUp, "application/json", `null`,
				400, "VALIDATION_ERROR", "[body] Invalid input: expected object, received null; [body] Invalid input: expected record, received null"},
			{"sign-up body array", pathSignUp, "application/json", `[]`,
				400, "VALIDATION_ERROR", "[body] Invalid input: expected object, received array; [body] Invalid input: expected record, received array"},
			{"sign-up no body", pathSignUp, "application/json", ``,
				400, "VALIDATION_ERROR", "[body] Invalid input: expected object, received undefined; [body] Invalid input: expected record, received undefined"},
			{"sign-up unparsable JSON", pathSignUp, "application/json", `{"name":`,
				400, "BAD_REQUEST", "Invalid JSON in request body"},
			{"sign-up trailing garbage", pathSignUp, "application/json", `{"name":"x","email":"x@example.com","password":"password123"} x`,
				400, "BAD_REQUEST", "Invalid JSON in request body"},
			{"sign-up text/plain", pathSignUp, "text/plain", `{"name":"x","email":"x@example.com","password":"password123"}`,
				415, "UNSUPPORTED_MEDIA_TYPE", `Content-Type "text/plain" is not allowed. Allowed types: application/x-www-form-urlencoded, application/json`},
			{"sign-up multipart", pathSignUp, "multipart/form-data; boundary=x", "--x--",
				415, "UNSUPPORTED_MEDIA_TYPE", `Content-Type "multipart/form-data; boundary=x" is not allowed. Allowed types: application/x-www-form-urlencoded, application/json`},
			{"sign-in body null", pathSignIn, "application/json", `null`,
				400, "VALIDATION_ERROR", "[body] Invalid input: expected object, received null"},
			{"sign-out unparsable JSON", pathSignOut, "application/json", `{`,
				400, "BAD_REQUEST", "Invalid JSON in request body"},
			{"sign-out body array", pathSignOut, "application/json", `[1]`,
				400, "VALIDATION_ERROR", "[body] Invalid input: expected object, received array"},
			{"sign-out form", pathSignOut, "application/x-www-form-urlencoded", `a=b`,
				415, "UNSUPPORTED_MEDIA_TYPE", `Content-Type "application/x-www-form-urlencoded" is not allowed. Allowed types: application/json`},
			{"sign-in malformed email", pathSignIn, "application/json", `{"email":"bad","password":"password123"}`,
				400, "INVALID_EMAIL", "Invalid email"},
			{"sign-in missing password", pathSignIn, "application/json", `{"email":"ann@example.com"}`,
				400, "VALIDATION_ERROR", "[body.password] Invalid input: expected string, received undefined"},
			{"sign-in email is a number", pathSignIn, "application/json", `{"email":5,"password":"password123"}`,
				400, "VALIDATION_ERROR", "[body.email] Invalid input: expected string, received number"},
			{"sign-in unparsable JSON", pathSignIn, "application/json", `{{`,
				400, "BAD_REQUEST", "Invalid JSON in request body"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantError(t, c.do(t, "POST", tc.path, tc.ctype, tc.body), tc.status, tc.code, tc.message)
			})
		}
	})

	var annSignIn session
	t.Run("sign-in", func(t *testing.T) {
		r := c.postJSON(t, pathSignIn, `{"email":"ann@example.com","password":"password123"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		m := r.object(t)
		wantKeys(t, "sign-in reply", m, "redirect", "token", "user")
		if m["redirect"] != false {
			t.Fatalf("redirect %v", m["redirect"])
		}
		u := acUser(t, m["user"])
		for _, k := range []string{"id", "email", "name", "createdAt", "updatedAt"} {
			if u[k] != ann[k] {
				t.Fatalf("user.%s %v, sign-up said %v", k, u[k], ann[k])
			}
		}
		token, _ := m["token"].(string)
		if token == annSess.token {
			t.Fatal("sign-in reused the sign-up session token")
		}
		annSignIn = wantSessionCookie(t, r, token, true)
	})

	t.Run("sign-in with callbackURL", func(t *testing.T) {
		r := c.postJSON(t, pathSignIn, `{"email":"ann@example.com","password":"password123","callbackURL":"/dashboard"}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		m := r.object(t)
		wantKeys(t, "sign-in reply", m, "redirect", "token", "url", "user")
		// Better Auth 1.7 answers redirect:true when a callbackURL is given.
		if m["url"] != "/dashboard" || m["redirect"] != true {
			t.Fatalf("url %v redirect %v", m["url"], m["redirect"])
		}
		if loc := r.header.Get("Location"); loc != "/dashboard" {
			t.Fatalf("Location %q", loc)
		}
	})

	t.Run("sign-in rememberMe false", func(t *testing.T) {
		r := c.postJSON(t, pathSignIn, `{"email":"ann@example.com","password":"password123","rememberMe":false}`)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		token, _ := r.object(t)["token"].(string)
		s := wantSessionCookie(t, r, token, false)
		line, ok := setCookie(r, "better-auth.dont_remember")
		if !ok {
			t.Fatalf("no dont_remember cookie: %q", r.header.Values("Set-Cookie"))
		}
		v, _ := cookieAttrs(line)
		if tok, _ := signedParts(t, v); tok != "true" {
			t.Fatalf("dont_remember value %q", tok)
		}
		// A browser sends both cookies back. The session lasts one day and
		// get-session does not extend it (without the marker, both servers
		// would extend it to seven days on first use).
		g := c.do(t, "GET", pathGetSession, "", "", s.cookie+"; better-auth.dont_remember="+v)
		if g.status != http.StatusOK {
			t.Fatalf("get-session: %d %s", g.status, g.body)
		}
		sess, ok := g.object(t)["session"].(map[string]any)
		if !ok {
			t.Fatalf("get-session: %s", g.body)
		}
		exp, created := acTime(t, "expiresAt", sess["expiresAt"]), acTime(t, "createdAt", sess["createdAt"])
		if d := exp.Sub(created); d < 24*time.Hour-time.Second || d > 24*time.Hour+time.Second {
			t.Fatalf("rememberMe:false session lasts %v, want one day", d)
		}
		if _, set := setCookie(g, "better-auth.session_token"); set {
			t.Fatalf("get-session refreshed a rememberMe:false cookie: %q", g.header.Values("Set-Cookie"))
		}
	})

	t.Run("wrong password and unknown email look the same", func(t *testing.T) {
		wrong := c.postJSON(t, pathSignIn, `{"email":"ann@example.com","password":"password124"}`)
		unknown := c.postJSON(t, pathSignIn, `{"email":"nobody@example.com","password":"password124"}`)
		short := c.postJSON(t, pathSignIn, `{"email":"ann@example.com","password":"x"}`)
		for _, r := range []acResp{wrong, unknown, short} {
			wantError(t, r, http.StatusUnauthorized, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password")
		}
		if !bytes.Equal(wrong.body, unknown.body) {
			t.Fatalf("bodies differ:\n%s\n%s", wrong.body, unknown.body)
		}
	})

	// checkSession validates a get-session reply for ann's sign-in session.
	checkSession := func(t *testing.T, r acResp) {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Fatalf("Cache-Control %q, want no-store", cc)
		}
		m := r.object(t)
		wantKeys(t, "get-session reply", m, "session", "user")
		u := acUser(t, m["user"])
		if u["id"] != ann["id"] || u["email"] != "ann@example.com" {
			t.Fatalf("user %v", u)
		}
		s, ok := m["session"].(map[string]any)
		if !ok {
			t.Fatalf("session %#v", m["session"])
		}
		wantKeys(t, "session", s, "id", "token", "userId", "expiresAt", "ipAddress", "userAgent", "createdAt", "updatedAt")
		if s["token"] != annSignIn.token || s["userId"] != ann["id"] {
			t.Fatalf("session token %v userId %v; want %s and %v", s["token"], s["userId"], annSignIn.token, ann["id"])
		}
		if id, _ := s["id"].(string); id == "" || id == annSignIn.token {
			t.Fatalf("session id %v", s["id"])
		}
		if _, ok := s["ipAddress"].(string); !ok {
			t.Fatalf("ipAddress %#v", s["ipAddress"])
		}
		if s["userAgent"] != acUA {
			t.Fatalf("userAgent %v, want %s", s["userAgent"], acUA)
		}
		exp, created := acTime(t, "expiresAt", s["expiresAt"]), acTime(t, "createdAt", s["createdAt"])
		acTime(t, "updatedAt", s["updatedAt"])
		if d := exp.Sub(created); d < 7*24*time.Hour-time.Second || d > 7*24*time.Hour+time.Second {
			t.Fatalf("session lasts %v, want 7 days", d)
		}
	}

	t.Run("get-session", func(t *testing.T) {
		for _, tc := range []struct{ name, header string }{
			{"cookie as set (percent-encoded)", annSignIn.cookie},
			{"cookie not percent-encoded", "Cookie: better-auth.session_token=" + annSignIn.signed},
			{"cookie among others", "Cookie: theme=dark; better-auth.session_token=" + annSignIn.raw + "; lang=en"},
			{"bearer raw token", "Authorization: Bearer " + annSignIn.token},
			{"bearer set-auth-token value", "Authorization: Bearer " + annSignIn.signed},
			{"bearer percent-encoded", "Authorization: Bearer " + annSignIn.raw},
		} {
			t.Run(tc.name, func(t *testing.T) {
				checkSession(t, c.do(t, "GET", pathGetSession, "", "", tc.header))
			})
		}
	})

	t.Run("forged credentials", func(t *testing.T) {
		tok := annSignIn.token
		mac := hmac.New(sha256.New, []byte("some-other-secret-some-other-secret!"))
		mac.Write([]byte(tok))
		otherSig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		sig := annSignIn.signed[len(tok)+1:]
		flipped := []byte(sig)
		flipped[3] ^= 1
		for _, tc := range []struct{ name, header string }{
			{"tampered signature", "Cookie: better-auth.session_token=" + tok + "." + url.QueryEscape(string(flipped))},
			{"signed with another secret", "Cookie: better-auth.session_token=" + tok + "." + url.QueryEscape(otherSig)},
			{"unsigned cookie", "Cookie: better-auth.session_token=" + tok},
			{"signature moved to another token", "Cookie: better-auth.session_token=" + annSess.token + "." + url.QueryEscape(sig)},
			{"bearer with tampered signature", "Authorization: Bearer " + tok + "." + string(flipped)},
			{"bearer made-up token", "Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			{"wrong cookie name", "Cookie: better-auth.session=" + annSignIn.raw},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantNull(t, c.do(t, "GET", pathGetSession, "", "", tc.header))
			})
		}
	})

	t.Run("get-session without session", func(t *testing.T) {
		wantNull(t, c.do(t, "GET", pathGetSession, "", ""))
	})

	t.Run("origin check", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, body string
			headers          []string
			code, message    string
		}{
			{"sign-out, cookie, no origin", pathSignOut, "", []string{annSignIn.cookie}, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin"},
			{"sign-out, cookie, origin null", pathSignOut, "", []string{annSignIn.cookie, "Origin: null"}, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin"},
			{"sign-out, cookie, foreign origin", pathSignOut, "", []string{annSignIn.cookie, "Origin: http://evil.example"}, "INVALID_ORIGIN", "Invalid origin"},
			{"sign-out, cookie, foreign referer", pathSignOut, "", []string{annSignIn.cookie, "Referer: http://evil.example/page"}, "INVALID_ORIGIN", "Invalid origin"},
			{"sign-out, cookie and bearer, foreign origin", pathSignOut, "", []string{annSignIn.cookie, "Authorization: Bearer " + annSignIn.token, "Origin: http://evil.example"}, "INVALID_ORIGIN", "Invalid origin"},
			{"sign-up, cookie, no origin", pathSignUp, `{"name":"x","email":"csrf@example.com","password":"password123"}`, []string{annSignIn.cookie}, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin"},
			{"sign-in, foreign origin", pathSignIn, `{"email":"ann@example.com","password":"password123"}`, []string{"Origin: http://evil.example"}, "INVALID_ORIGIN", "Invalid origin"},
			{"sign-in, cross-site navigation", pathSignIn, `{"email":"ann@example.com","password":"password123"}`, []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate"}, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", ""},
			{"sign-in, foreign callbackURL", pathSignIn, `{"email":"ann@example.com","password":"password123","callbackURL":"http://evil.example/x"}`, nil, "INVALID_CALLBACK_URL", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ct := ""
				if tc.body != "" {
					ct = "application/json"
				}
				wantError(t, c.do(t, "POST", tc.path, ct, tc.body, tc.headers...), http.StatusForbidden, tc.code, tc.message)
			})
		}
		// None of the refused sign-outs ended the session.
		checkSession(t, c.do(t, "GET", pathGetSession, "", "", annSignIn.cookie))
		for _, tc := range []struct {
			name    string
			headers []string
		}{
			{"sign-in, own origin", []string{"Origin: " + base}},
			{"sign-in, trusted origin", []string{"Origin: " + acTrusted}},
			{"sign-in, trusted callbackURL", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := `{"email":"ann@example.com","password":"password123"}`
				if tc.headers == nil {
					body = `{"email":"ann@example.com","password":"password123","callbackURL":"` + acTrusted + `/home"}`
				}
				if r := c.postJSON(t, pathSignIn, body, tc.headers...); r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
			})
		}
	})

	t.Run("sign-out", func(t *testing.T) {
		r := c.do(t, "POST", pathSignOut, "", "", annSignIn.cookie, "Origin: "+acTrusted)
		if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"success":true}` {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
		wantCleared(t, r)
		g := c.do(t, "GET", pathGetSession, "", "", annSignIn.cookie)
		wantNull(t, g)
		// A correctly signed cookie for a dead session is cleared.
		wantCleared(t, g)
		wantNull(t, c.do(t, "GET", pathGetSession, "", "", "Authorization: Bearer "+annSignIn.token))
		// The sign-up session is a different one and still works.
		if r := c.do(t, "GET", pathGetSession, "", "", annSess.cookie); r.status != 200 || strings.TrimSpace(string(r.body)) == "null" {
			t.Fatalf("sign-out ended other sessions too: %d %s", r.status, r.body)
		}
	})

	t.Run("sign-out from own origin and via referer", func(t *testing.T) {
		for _, h := range []string{"Origin: " + base, "Referer: " + acTrusted + "/chat/room"} {
			r := c.postJSON(t, pathSignIn, `{"email":"ann@example.com","password":"password123"}`)
			tok, _ := r.object(t)["token"].(string)
			s := wantSessionCookie(t, r, tok, true)
			if out := c.do(t, "POST", pathSignOut, "", "", s.cookie, h); out.status != 200 {
				t.Fatalf("%s: status %d %s", h, out.status, out.body)
			}
			wantNull(t, c.do(t, "GET", pathGetSession, "", "", s.cookie))
		}
	})

	t.Run("sign-out with bearer only", func(t *testing.T) {
		r := c.postJSON(t, pathSignIn, `{"email":"ann@example.com","password":"password123"}`)
		tok, _ := r.object(t)["token"].(string)
		// No cookie, no Origin: a non-browser client is not subject to the check.
		out := c.do(t, "POST", pathSignOut, "", "", "Authorization: Bearer "+tok)
		if out.status != 200 || strings.TrimSpace(string(out.body)) != `{"success":true}` {
			t.Fatalf("status %d body %s", out.status, out.body)
		}
		wantNull(t, c.do(t, "GET", pathGetSession, "", "", "Authorization: Bearer "+tok))
	})

	t.Run("sign-out without session", func(t *testing.T) {
		for _, body := range []string{"", "{}"} {
			r := c.do(t, "POST", pathSignOut, "application/json", body)
			if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"success":true}` {
				t.Fatalf("body %q: status %d body %s", body, r.status, r.body)
			}
		}
	})
}
