package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
)

// CORS for a front end on another origin (upstream's app on :3000, its
// worker on :8787). Only trusted origins (--trusted-origins, and our own)
// are answered, with credentials; a request from any other origin gets no
// Access-Control-* header at all. Reflecting an arbitrary origin with
// credentials would let any site act as the signed-in user.
const (
	corsMethods = "GET, POST, PUT, DELETE, OPTIONS"
	corsHeaders = "Content-Type, Authorization"
	// corsMaxAge lets a browser reuse a preflight for ten minutes.
	corsMaxAge = "600"
)

// corsRoutes are the API routes a front end calls; pages, health, metrics
// and the WebSocket (which checks Origin itself) are not among them.
var corsRoutes = []string{"/api/auth/", "/rpc/", "/api/messages", "/api/users/"}

func isCORSRoute(path string) bool {
	for _, p := range corsRoutes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// cors answers preflights and marks answers for trusted origins. The
// CSRF and WebSocket Origin checks stay where they are; this only tells the
// browser which answers a trusted page may read.
func (s *server) cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !isCORSRoute(r.URL.Path) {
			return next(c)
		}
		h := c.Response().Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" {
			return next(c) // not a cross-origin browser request
		}
		if origin == "null" || s.auth.CheckOrigin(r) != nil {
			// Auth lists set-auth-token in Expose-Headers on every answer
			// that issues a token; an untrusted origin gets none of it.
			c.Response().Before(func() { dropCORSHeaders(h) })
			return next(c)
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			return c.NoContent(http.StatusNoContent)
		}
		h.Set("Access-Control-Expose-Headers", auth.SetAuthTokenHeader)
		return next(c)
	}
}

func dropCORSHeaders(h http.Header) {
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
}
