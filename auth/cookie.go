package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Cookie names, as Better Auth 1.x sends them (http-api.md § Session cookie).
const (
	SessionCookieName      = "better-auth.session_token"
	dontRememberCookieName = "better-auth.dont_remember"
	// sessionDataCookieName is Better Auth's cookie cache; we never set it
	// but clear it on sign-out as Better Auth does, in case a client
	// carries one from a Better Auth deployment.
	sessionDataCookieName = "better-auth.session_data"
	// securePrefix is added to every cookie name when Config.Secure is set,
	// as Better Auth does behind HTTPS.
	securePrefix = "__Secure-"
	// SetAuthTokenHeader carries the signed session value to clients that
	// cannot read cookies (Better Auth's bearer plugin).
	SetAuthTokenHeader = "set-auth-token"
	// sigLen is the length of base64(HMAC-SHA256) with padding.
	sigLen = 44
	// maxTokenLen bounds what is looked up in the database at all.
	maxTokenLen = 128
)

// Sign returns "value.base64std(HMAC-SHA256(secret, value))", Better Auth's
// signed-cookie format. The result is not percent-encoded.
func Sign(secret []byte, value string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(value))
	return value + "." + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks a signed value made by Sign, accepting it percent-encoded
// or not, and returns the value. The comparison is constant-time.
func Verify(secret []byte, signed string) (string, bool) {
	if strings.Contains(signed, "%") {
		dec, err := url.PathUnescape(signed)
		if err != nil {
			return "", false
		}
		signed = dec
	}
	i := strings.LastIndexByte(signed, '.')
	if i <= 0 {
		return "", false
	}
	value, sig := signed[:i], signed[i+1:]
	if len(sig) != sigLen || !strings.HasSuffix(sig, "=") {
		return "", false
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return "", false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(value))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return "", false
	}
	return value, true
}

// encodeCookieValue percent-encodes a signed value the way Better Auth
// does (JavaScript's encodeURIComponent), so '+', '/' and '=' of the
// base64 signature travel as %2B, %2F and %3D.
func encodeCookieValue(v string) string {
	return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(url.PathEscape(v))
}

// SetSessionCookie sends the signed session cookie for token, plus the same
// value in the set-auth-token header (listed in
// Access-Control-Expose-Headers) for bearer clients. remember=false gives a
// browser-session cookie and Better Auth's dont_remember marker.
func (s *Service) SetSessionCookie(w http.ResponseWriter, token string, remember bool) {
	signed := Sign(s.secret, token)
	c := s.cookie(s.sessName, encodeCookieValue(signed))
	if remember {
		c.MaxAge = int(s.cfg.SessionTTL / time.Second)
	}
	http.SetCookie(w, c)
	if !remember {
		http.SetCookie(w, s.cookie(s.dontName, encodeCookieValue(Sign(s.secret, "true"))))
	}
	h := w.Header()
	h.Set(SetAuthTokenHeader, signed)
	exposeHeader(h, SetAuthTokenHeader)
}

// ClearSessionCookies expires every cookie Better Auth's sign-out expires.
func (s *Service) ClearSessionCookies(w http.ResponseWriter) {
	for _, name := range []string{s.sessName, s.dataName, s.dontName} {
		c := s.cookie(name, "")
		c.MaxAge = -1 // written as Max-Age=0
		http.SetCookie(w, c)
	}
}

// cookie has the attributes every auth cookie shares.
func (s *Service) cookie(name, value string) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		Domain:   s.cfg.CookieDomain,
		HttpOnly: true, // Better Auth's clients never read it; scripts must not
		Secure:   s.cfg.Secure,
		SameSite: s.sameSite,
	}
}

// parseSameSite reads Config.SameSite ("" is the default, lax).
func parseSameSite(v string) (http.SameSite, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	}
	return 0, fmt.Errorf("%w: SameSite %q is not one of lax, strict, none", ErrConfig, v)
}

// validCookieDomain accepts a host name such as "example.com" or
// ".example.com": letters, digits and hyphens in non-empty dot-separated
// labels. Go's http.SetCookie silently drops a Domain it cannot use, so
// this check turns that into an error at start-up.
func validCookieDomain(d string) bool {
	d = strings.TrimPrefix(d, ".")
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

// exposeHeader adds name to Access-Control-Expose-Headers, keeping what is
// already listed.
func exposeHeader(h http.Header, name string) {
	cur := h.Get("Access-Control-Expose-Headers")
	for _, v := range strings.Split(cur, ",") {
		if strings.EqualFold(strings.TrimSpace(v), name) {
			return
		}
	}
	if cur == "" {
		h.Set("Access-Control-Expose-Headers", name)
		return
	}
	h.Set("Access-Control-Expose-Headers", cur+", "+name)
}

// cookieValue returns the named cookie, preferring the "__Secure-" form as
// Better Auth does. Both are read whatever Config.Secure says, so flipping
// it does not sign everyone out.
func cookieValue(r *http.Request, name string) (string, bool) {
	if c, err := r.Cookie(securePrefix + name); err == nil && c.Value != "" {
		return c.Value, true
	}
	if c, err := r.Cookie(name); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// hasSessionCookie reports whether r carries a session cookie at all,
// valid or not; the Origin check keys on it.
func hasSessionCookie(r *http.Request) bool {
	_, ok := cookieValue(r, SessionCookieName)
	return ok
}

// tokenFromRequest finds the raw session token: a valid "Authorization:
// Bearer" first (raw token or signed value), else the signed cookie. A
// bearer whose signature fails falls back to the cookie, as Better Auth's
// bearer plugin does.
func (s *Service) tokenFromRequest(r *http.Request) (string, bool) {
	if tok, ok := s.bearerToken(r.Header.Get("Authorization")); ok {
		return tok, true
	}
	if v, ok := cookieValue(r, SessionCookieName); ok {
		if tok, ok := Verify(s.secret, v); ok && validToken(tok) {
			return tok, true
		}
	}
	return "", false
}

// bearerToken parses "Bearer <token>" or "Bearer <token>.<signature>"; the
// scheme is case-insensitive and the value may be percent-encoded.
func (s *Service) bearerToken(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	v := strings.TrimSpace(h[len(scheme):])
	if v == "" {
		return "", false
	}
	if strings.Contains(v, "%") {
		dec, err := url.PathUnescape(v)
		if err != nil {
			return "", false
		}
		v = dec
	}
	if strings.Contains(v, ".") {
		tok, ok := Verify(s.secret, v)
		if !ok || !validToken(tok) {
			return "", false
		}
		return tok, true
	}
	if !validToken(v) {
		return "", false
	}
	return v, true
}

// validToken accepts the URL-safe alphabet our tokens (base64url) and Better
// Auth's (alphanumeric) use, so garbage never reaches the database.
func validToken(t string) bool {
	if t == "" || len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// dontRemember reports whether r carries a valid dont_remember marker.
func (s *Service) dontRemember(r *http.Request) bool {
	v, ok := cookieValue(r, dontRememberCookieName)
	if !ok {
		return false
	}
	val, ok := Verify(s.secret, v)
	return ok && val == "true"
}
