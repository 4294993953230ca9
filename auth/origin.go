package auth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// originPattern is one trusted origin, "scheme://host[:port]" lower-cased,
// possibly with '*' wildcards.
type originPattern string

// parseOrigins normalises configured origins; entries that are not
// absolute URLs are kept as written so wildcards still work.
func parseOrigins(list []string) []originPattern {
	out := make([]originPattern, 0, len(list))
	for _, o := range list {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if !strings.Contains(o, "*") {
			if n, ok := originOf(o); ok {
				o = n
			}
		}
		out = append(out, originPattern(strings.ToLower(strings.TrimRight(o, "/"))))
	}
	return out
}

// originOf reduces an Origin or Referer value to "scheme://host[:port]".
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// match reports whether origin (already normalised) fits p; '*' matches
// any run of characters.
func (p originPattern) match(origin string) bool {
	return globMatch(string(p), origin)
}

func globMatch(pattern, s string) bool {
	star, next := -1, 0
	pi, si := 0, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, next = pi, si
			pi++
		case pi < len(pattern) && pattern[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi, next = star+1, next+1
			si = next
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// ownOrigin is the origin the browser addressed: the Host header with
// https when the connection is TLS, Config.Secure is set or a proxy says
// X-Forwarded-Proto: https, else http. (A forged X-Forwarded-Proto only
// changes which of our own two origins is accepted.)
func (s *Service) ownOrigin(r *http.Request) string {
	if r.Host == "" {
		return ""
	}
	scheme := "http"
	if r.TLS != nil || s.cfg.Secure || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}

// trustedOrigin reports whether origin (normalised) is the server's own or
// a configured one.
func (s *Service) trustedOrigin(r *http.Request, origin string) bool {
	if own := s.ownOrigin(r); own != "" && origin == own {
		return true
	}
	for _, p := range s.trusted {
		if p.match(origin) {
			return true
		}
	}
	return false
}

// requestOrigin is the Origin header, else the origin of the Referer.
// Origin "null" sent with Sec-Fetch-Site: same-origin (as browsers do after
// some same-origin redirects) counts as the server's own origin.
func (s *Service) requestOrigin(r *http.Request) string {
	o := r.Header.Get("Origin")
	if o == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		if own := s.ownOrigin(r); own != "" {
			return own
		}
	}
	if o == "" {
		o = r.Header.Get("Referer")
	}
	return o
}

// CheckOrigin checks that r's Origin (or Referer) is trusted: the server's
// own origin or a configured one. It returns ErrMissingOrigin when there is
// none or it is "null", ErrInvalidOrigin when it is someone else's. It
// does not look at the method or cookies; see OriginMiddleware for that.
func (s *Service) CheckOrigin(r *http.Request) error {
	raw := s.requestOrigin(r)
	if raw == "" || raw == "null" {
		return ErrMissingOrigin
	}
	o, ok := originOf(raw)
	if !ok || !s.trustedOrigin(r, o) {
		return ErrInvalidOrigin
	}
	return nil
}

// CheckLoginOrigin guards sign-up and sign-in against login CSRF, as Better
// Auth does: with a session cookie the full Origin check applies; without
// one, a cross-site top-level navigation is refused
// (ErrCrossSiteNavigation), and a request that shows any Origin, Referer or
// Fetch Metadata must pass the Origin check. Scripts and curl, which send
// none of these, pass.
func (s *Service) CheckLoginOrigin(r *http.Request) error {
	if hasSessionCookie(r) {
		return s.CheckOrigin(r)
	}
	h := r.Header
	site, mode, dest := h.Get("Sec-Fetch-Site"), h.Get("Sec-Fetch-Mode"), h.Get("Sec-Fetch-Dest")
	if strings.TrimSpace(site+mode+dest) != "" {
		if site == "cross-site" && mode == "navigate" {
			return ErrCrossSiteNavigation
		}
		return s.CheckOrigin(r)
	}
	if h.Get("Origin") != "" || h.Get("Referer") != "" {
		return s.CheckOrigin(r)
	}
	return nil
}

// CheckCallbackURL accepts a same-origin path ("/home", "/a?b=c#d") or an
// absolute http(s) URL on a trusted origin; anything else is
// ErrInvalidCallbackURL, so sign-in cannot be used as an open redirect.
// Control characters, spaces, backslashes and non-ASCII bytes are refused
// anywhere: browsers strip tabs and newlines from a URL and read "\" as
// "/", so "/<tab>/evil.example" and `/\evil.example` would both leave the
// site. A path may not start with "//" or its percent-encoded forms.
func (s *Service) CheckCallbackURL(r *http.Request, callback string) error {
	if callback == "" {
		return nil
	}
	for i := 0; i < len(callback); i++ {
		if c := callback[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return ErrInvalidCallbackURL
		}
	}
	if strings.HasPrefix(callback, "/") {
		rest := strings.ToLower(callback[1:])
		if strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "%2f") || strings.HasPrefix(rest, "%5c") {
			return ErrInvalidCallbackURL
		}
		return nil
	}
	if o, ok := originOf(callback); ok && s.trustedOrigin(r, o) {
		return nil
	}
	return ErrInvalidCallbackURL
}

// unsafeMethod reports whether m can change state and so needs the check.
func unsafeMethod(m string) bool {
	switch m {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// OriginMiddleware refuses a POST, PUT, PATCH or DELETE that carries a
// session cookie unless its Origin (or Referer) is trusted, answering 403
// {"code":"MISSING_OR_NULL_ORIGIN"|"INVALID_ORIGIN"}. Requests that
// authenticate only with a Bearer header are not subject to it: a browser
// never adds that header to a cross-site request by itself. Install it
// once with e.Use; it is cheap and idempotent.
func (s *Service) OriginMiddleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if !unsafeMethod(r.Method) || !hasSessionCookie(r) {
				return next(c)
			}
			if err := s.CheckOrigin(r); err != nil {
				s.log.Warn("auth: cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", s.requestOrigin(r))
				code, msg := OriginErrorCode(err)
				return c.JSON(http.StatusForbidden, map[string]string{"code": code, "message": msg})
			}
			return next(c)
		}
	}
}

// OriginErrorCode maps an error from CheckOrigin, CheckLoginOrigin or
// CheckCallbackURL to Better Auth's code and message.
func OriginErrorCode(err error) (code, message string) {
	switch {
	case errors.Is(err, ErrMissingOrigin):
		return "MISSING_OR_NULL_ORIGIN", "Missing or null Origin"
	case errors.Is(err, ErrCrossSiteNavigation):
		return "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", "Cross-site navigation login blocked. This request appears to be a CSRF attack."
	case errors.Is(err, ErrInvalidCallbackURL):
		return "INVALID_CALLBACK_URL", "Invalid callbackURL"
	default:
		return "INVALID_ORIGIN", "Invalid origin"
	}
}
