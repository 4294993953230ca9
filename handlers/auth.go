package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wasmchannel/wasmchannel/auth"
	"github.com/wasmchannel/wasmchannel/chat"
)

// maxAuthBody caps an auth request body; the largest legitimate one (a
// 128-character password, a name, an image URL) is far smaller.
const maxAuthBody = 16 << 10

// RegisterAuth mounts Better Auth's email/password routes under /api/auth
// with Better Auth 1.x's JSON shapes, codes and cookies (http-api.md § Auth):
// sign-up/email, sign-in/email, sign-out and get-session, and the session
// and account routes of account.go.
func RegisterAuth(e *echo.Echo, svc *auth.Service) {
	h := &authRoutes{svc: svc}
	// The group renders its own errors, so the routes answer alike when
	// mounted on a bare Echo (the Better Auth comparison tests).
	g := e.Group("/api/auth", renderer{log: svc.Logger()}.middleware)
	g.POST("/sign-up/email", h.signUp)
	g.POST("/sign-in/email", h.signIn)
	// Sign-out is the one cookie-authenticated POST here; the middleware is
	// idempotent, so a global e.Use of it as well does no harm.
	g.POST("/sign-out", h.signOut, svc.OriginMiddleware())
	g.GET("/get-session", h.getSession)
	g.GET("/list-sessions", h.listSessions)
	g.POST("/revoke-session", h.revokeSession)
	g.POST("/revoke-sessions", h.revokeSessions)
	g.POST("/revoke-other-sessions", h.revokeOtherSessions)
	g.POST("/change-password", h.changePassword)
	g.POST("/update-user", h.updateUser)
}

type authRoutes struct {
	svc *auth.Service
}

// userJSON is Better Auth's User object.
type userJSON struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"emailVerified"`
	Image         *string `json:"image"`
	CreatedAt     jsTime  `json:"createdAt"`
	UpdatedAt     jsTime  `json:"updatedAt"`
}

// sessionJSON is Better Auth's Session object; Token is the raw token the
// client holds (the database has only its hash).
type sessionJSON struct {
	ID        string `json:"id"`
	Token     string `json:"token"`
	UserID    string `json:"userId"`
	ExpiresAt jsTime `json:"expiresAt"`
	IPAddress string `json:"ipAddress"`
	UserAgent string `json:"userAgent"`
	CreatedAt jsTime `json:"createdAt"`
	UpdatedAt jsTime `json:"updatedAt"`
}

type signUpJSON struct {
	Token string   `json:"token"`
	User  userJSON `json:"user"`
}

type signInJSON struct {
	Redirect bool     `json:"redirect"`
	Token    string   `json:"token"`
	URL      string   `json:"url,omitempty"`
	User     userJSON `json:"user"`
}

type getSessionJSON struct {
	Session sessionJSON `json:"session"`
	User    userJSON    `json:"user"`
}

// jsTime marshals like JavaScript's Date.toISOString: UTC, milliseconds.
type jsTime time.Time

func (t jsTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

func toUserJSON(u chat.User) userJSON {
	return userJSON{
		ID: u.ID, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Image: u.Image,
		CreatedAt: jsTime(u.CreatedAt), UpdatedAt: jsTime(u.UpdatedAt),
	}
}

func toSessionJSON(s chat.Session, token string) sessionJSON {
	return sessionJSON{
		ID: s.ID, Token: token, UserID: s.UserID, ExpiresAt: jsTime(s.ExpiresAt),
		IPAddress: s.IPAddress, UserAgent: s.UserAgent,
		CreatedAt: jsTime(s.CreatedAt), UpdatedAt: jsTime(s.UpdatedAt),
	}
}

func (h *authRoutes) signUp(c echo.Context) error {
	r := c.Request()
	if err := h.svc.CheckLoginOrigin(r); err != nil {
		return originError(err)
	}
	b, err := readAuthBody(c, signUpBody)
	if err != nil {
		return bodyError(err)
	}
	name := b.str("name", true)
	email := b.str("email", true)
	password := b.str("password", true)
	image := b.str("image", false)
	callback := b.str("callbackURL", false)
	remember := b.boolean("rememberMe")
	if email.ok && !auth.ValidEmail(auth.NormalizeEmail(email.v)) {
		b.fail("email", "Invalid email address")
	}
	if b.invalid() {
		return badRequest("VALIDATION_ERROR", b.message())
	}
	if err := h.svc.CheckCallbackURL(r, callback.v); err != nil {
		return originError(err)
	}
	in := auth.SignUpInput{Name: name.v, Email: email.v, Password: password.v, RememberMe: remember.orTrue()}
	if image.ok {
		in.Image = &image.v
	}
	iss, err := h.svc.SignUp(r, in)
	if err != nil {
		return authFailure(err)
	}
	h.svc.SetSessionCookie(c.Response(), iss.Token, iss.Remember)
	return c.JSON(http.StatusOK, signUpJSON{Token: iss.Token, User: toUserJSON(iss.User)})
}

func (h *authRoutes) signIn(c echo.Context) error {
	r := c.Request()
	if err := h.svc.CheckLoginOrigin(r); err != nil {
		return originError(err)
	}
	b, err := readAuthBody(c, signInBody)
	if err != nil {
		return bodyError(err)
	}
	email := b.str("email", true)
	password := b.str("password", true)
	callback := b.str("callbackURL", false)
	remember := b.boolean("rememberMe")
	if b.invalid() {
		return badRequest("VALIDATION_ERROR", b.message())
	}
	if err := h.svc.CheckCallbackURL(r, callback.v); err != nil {
		return originError(err)
	}
	iss, err := h.svc.SignIn(r, auth.SignInInput{Email: email.v, Password: password.v, RememberMe: remember.orTrue()})
	if err != nil {
		return authFailure(err)
	}
	h.svc.SetSessionCookie(c.Response(), iss.Token, iss.Remember)
	out := signInJSON{Token: iss.Token, User: toUserJSON(iss.User)}
	if callback.v != "" {
		out.Redirect, out.URL = true, callback.v
		c.Response().Header().Set("Location", callback.v)
	}
	return c.JSON(http.StatusOK, out)
}

func (h *authRoutes) signOut(c echo.Context) error {
	// Sign-out takes no fields, but Better Auth still refuses a body that
	// is not a JSON object.
	b, err := readAuthBody(c, signOutBody)
	if err != nil {
		return bodyError(err)
	}
	if b.kind != "undefined" && b.notObject() {
		return badRequest("VALIDATION_ERROR", b.message())
	}
	if err := h.svc.SignOut(c.Request()); err != nil {
		return unavailable("FAILED_TO_SIGN_OUT", "Failed to sign out: the account store is unavailable. Please try again shortly.", err)
	}
	h.svc.ClearSessionCookies(c.Response())
	return c.JSON(http.StatusOK, map[string]bool{"success": true})
}

func (h *authRoutes) getSession(c echo.Context) error {
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	id, err := h.svc.Authenticate(c.Request())
	switch {
	case errors.Is(err, auth.ErrSessionGone):
		// A genuine cookie for a dead session: drop it, as Better Auth does.
		h.svc.ClearSessionCookies(c.Response())
		return c.JSON(http.StatusOK, nil)
	case errors.Is(err, auth.ErrUnauthenticated):
		return c.JSON(http.StatusOK, nil)
	case err != nil:
		return unavailable("FAILED_TO_GET_SESSION", "Failed to get session: the account store is unavailable. Please try again shortly.", err)
	}
	if id.Refreshed {
		h.svc.SetSessionCookie(c.Response(), id.Token, true)
	}
	return c.JSON(http.StatusOK, getSessionJSON{Session: toSessionJSON(id.Session, id.Token), User: toUserJSON(id.User)})
}

// authFailure passes auth's refusals to render (kinds in errors.go) and
// makes anything else a 503 with Retry-After. Past its refusals, auth fails
// only when its store does, so the client should retry, not sign in again
// or report a bug (Better Auth would answer 500 here).
func authFailure(err error) error {
	return failure(err, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "The account store is unavailable. Please try again shortly.")
}

// originError is the 403 for a failed Origin, callback or CSRF check.
func originError(err error) *Error {
	code, msg := auth.OriginErrorCode(err)
	return &Error{Status: http.StatusForbidden, Code: code, Message: msg}
}

// Body reading errors.
var (
	errBadJSON       = errors.New("invalid json")
	errBodyTooLarge  = errors.New("body too large")
	errMediaType     = errors.New("unsupported media type")
	errBodyReadFails = errors.New("body read failed")
)

// mediaTypeError names the refused Content-Type header.
type mediaTypeError struct {
	ct   string
	form bool // urlencoded would have been accepted
}

func (e *mediaTypeError) Error() string { return "unsupported media type " + e.ct }
func (e *mediaTypeError) Unwrap() error { return errMediaType }

func bodyError(err error) *Error {
	var mt *mediaTypeError
	switch {
	case errors.Is(err, errBadJSON):
		return badRequest("BAD_REQUEST", "Invalid JSON in request body")
	case errors.Is(err, errBodyTooLarge):
		return errTooLarge
	case errors.As(err, &mt):
		allowed := "application/json"
		if mt.form {
			allowed = "application/x-www-form-urlencoded, application/json"
		}
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "UNSUPPORTED_MEDIA_TYPE",
			Message: fmt.Sprintf("Content-Type %q is not allowed. Allowed types: %s", mt.ct, allowed)}
	}
	return badRequest("BAD_REQUEST", "could not read request body")
}

// authBody holds a decoded request body and collects zod-style validation
// messages ("[body.email] Invalid input: expected string, received number"),
// which Better Auth joins with "; " into a VALIDATION_ERROR.
type authBody struct {
	kind   string // JSON type of the whole body: "object", "null", "array", ..., or "undefined" when empty
	record bool   // see bodyRules.record
	fields map[string]json.RawMessage
	form   url.Values
	errs   []string
}

type strField struct {
	v  string
	ok bool // present and a string
}

type boolField struct {
	v, ok bool
}

// orTrue is rememberMe's default.
func (f boolField) orTrue() bool { return !f.ok || f.v }

// bodyRules are the per-route differences Better Auth shows in reading
// bodies.
type bodyRules struct {
	// form: urlencoded bodies are accepted besides JSON (sign-up, sign-in).
	form bool
	// record: the schema also accepts extra fields (sign-up), so a non-object
	// body gets a second "expected record" message.
	record bool
}

var (
	signUpBody  = bodyRules{form: true, record: true}
	signInBody  = bodyRules{form: true}
	signOutBody = bodyRules{}
)

// readAuthBody reads a JSON or (where allowed) urlencoded body.
func readAuthBody(c echo.Context, rules bodyRules) (*authBody, error) {
	r := c.Request()
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxAuthBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, errBodyReadFails
	}
	if len(raw) > maxAuthBody {
		return nil, errBodyTooLarge
	}
	b := &authBody{kind: "undefined", record: rules.record}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return b, nil
	}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case strings.TrimSpace(ct) == "":
		// Better Auth ignores a body of no declared type.
		return b, nil
	case mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")):
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, errBadJSON
		}
		b.kind = jsonKind(v)
		if b.kind == "object" {
			if err := json.Unmarshal(raw, &b.fields); err != nil {
				return nil, errBadJSON
			}
		}
	case rules.form && mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, errBadJSON
		}
		b.kind, b.form = "object", form
	default:
		return nil, &mediaTypeError{ct: ct, form: rules.form}
	}
	return b, nil
}

// jsonKind names a decoded JSON value's type the way zod reports it.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// rawKind names the type of one raw JSON field.
func rawKind(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "undefined"
	}
	switch s[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// notObject reports a body that is not an object at all; field checks are
// then skipped, as zod stops at the top level.
func (b *authBody) notObject() bool {
	if b.kind == "object" {
		return false
	}
	if len(b.errs) == 0 {
		b.errs = append(b.errs, "[body] Invalid input: expected object, received "+b.kind)
		if b.record {
			b.errs = append(b.errs, "[body] Invalid input: expected record, received "+b.kind)
		}
	}
	return true
}

func (b *authBody) fail(field, msg string) {
	b.errs = append(b.errs, "[body."+field+"] "+msg)
}

func (b *authBody) typeErr(field, want, got string) {
	b.fail(field, "Invalid input: expected "+want+", received "+got)
}

// str reads a string field; a missing optional field is not an error.
func (b *authBody) str(name string, required bool) strField {
	if b.notObject() {
		return strField{}
	}
	if b.form != nil {
		if vs, ok := b.form[name]; ok && len(vs) > 0 {
			return strField{v: vs[0], ok: true}
		}
		if required {
			b.typeErr(name, "string", "undefined")
		}
		return strField{}
	}
	raw, ok := b.fields[name]
	if !ok {
		if required {
			b.typeErr(name, "string", "undefined")
		}
		return strField{}
	}
	if k := rawKind(raw); k != "string" {
		b.typeErr(name, "string", k)
		return strField{}
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		b.typeErr(name, "string", "invalid")
		return strField{}
	}
	return strField{v: v, ok: true}
}

// boolean reads an optional boolean field. Form bodies carry only strings,
// so a form rememberMe is a type error, as with Better Auth.
func (b *authBody) boolean(name string) boolField {
	if b.notObject() {
		return boolField{}
	}
	if b.form != nil {
		if _, ok := b.form[name]; ok {
			b.typeErr(name, "boolean", "string")
		}
		return boolField{}
	}
	raw, ok := b.fields[name]
	if !ok {
		return boolField{}
	}
	switch k := rawKind(raw); k {
	case "boolean":
		return boolField{v: strings.TrimSpace(string(raw)) == "true", ok: true}
	default:
		b.typeErr(name, "boolean", k)
		return boolField{}
	}
}

func (b *authBody) invalid() bool { return len(b.errs) > 0 }

func (b *authBody) message() string { return strings.Join(b.errs, "; ") }
