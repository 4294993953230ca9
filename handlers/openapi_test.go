package handlers_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/db/sqlite"
	"github.com/wasmchannel/wasmchannel/handlers"
)

// TestOpenAPIMatchesRoutes checks that openapi.json documents exactly the
// routes New registers, method by method, so neither changes alone.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}

	svc := auth.New(nil, auth.Config{Secret: []byte(acSecret), Scrypt: auth.TestScrypt}, nil)
	e := handlers.New(handlers.Config{MaxBodyBytes: 1 << 20}, handlers.Deps{
		Auth: svc, Log: slog.New(slog.DiscardHandler), Metrics: http.NotFoundHandler(),
	})
	param := regexp.MustCompile(`:([A-Za-z]+)`)
	var routed []string
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound { // a Group's catch-all, not a route
			continue
		}
		routed = append(routed, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(routed)
	routed = slices.Compact(routed)
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is routed but not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("%s is in openapi.json but not routed", d)
		}
	}
}

// TestAuthRoutesStoreClosed closes a real SQLite store under the auth
// routes: each answers a JSON 503 with Retry-After (retry, as openapi.json
// says), never a 500 and never a 401 that would send the user to sign in.
func TestAuthRoutesStoreClosed(t *testing.T) {
	d, err := sqlite.Open(t.Context(), t.TempDir()+"/closed.db")
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.New(d, auth.Config{Secret: []byte(acSecret), Scrypt: auth.TestScrypt, Limits: auth.Limits{Disabled: true}}, nil)
	e := handlers.New(handlers.Config{MaxBodyBytes: 1 << 20}, handlers.Deps{Auth: svc, Log: slog.New(slog.DiscardHandler)})
	send := func(method, path, token, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w
	}
	w := send("POST", "/api/auth/sign-up/email", "", `{"name":"a","email":"a@example.com","password":"password123"}`)
	var up struct{ Token string }
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &up) != nil || up.Token == "" {
		t.Fatalf("sign-up: %d %s", w.Code, w.Body)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path, token, body, code string }{
		{"POST", "/api/auth/sign-up/email", "", `{"name":"b","email":"b@example.com","password":"password123"}`, "SERVICE_UNAVAILABLE"},
		{"POST", "/api/auth/sign-in/email", "", `{"email":"a@example.com","password":"password123"}`, "SERVICE_UNAVAILABLE"},
		{"GET", "/api/auth/get-session", up.Token, "", "FAILED_TO_GET_SESSION"},
		{"GET", "/api/auth/list-sessions", up.Token, "", "SERVICE_UNAVAILABLE"},
		{"POST", "/api/auth/revoke-other-sessions", up.Token, `{}`, "SERVICE_UNAVAILABLE"},
		{"POST", "/api/auth/update-user", up.Token, `{"name":"c"}`, "SERVICE_UNAVAILABLE"},
		{"POST", "/api/auth/sign-out", up.Token, `{}`, "FAILED_TO_SIGN_OUT"},
	} {
		w := send(r.method, r.path, r.token, r.body)
		var body struct{ Code, Message string }
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusServiceUnavailable || body.Code != r.code || body.Message == "" || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s on a closed store: %d %s Retry-After %q; want 503 %s with Retry-After",
				r.method, r.path, w.Code, w.Body, w.Header().Get("Retry-After"), r.code)
		}
	}
}
