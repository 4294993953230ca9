// Package web serves the browser client that ships inside the binary: a
// single page under /app/ written as plain ES modules (no build step), and
// the codec module at /codec.wasm, so the page encodes and decodes packets
// with the very same WebAssembly codec the server runs.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed static
var static embed.FS

// Prefix is where the page lives; /app without the slash redirects here.
const Prefix = "/app/"

// CodecPath is where the codec module is served.
const CodecPath = "/codec.wasm"

// contentSecurityPolicy keeps the page to its own origin. WebAssembly
// compilation needs 'wasm-unsafe-eval'; 'self' in connect-src also covers
// the same-origin WebSocket (CSP Level 3).
const contentSecurityPolicy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; " +
	"connect-src 'self'; img-src 'self' data:; style-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one file held in memory with its validator.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// contentTypes is fixed here rather than taken from the system MIME table,
// which differs between machines (.js and .wasm in particular).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
	".wasm": "application/wasm",
}

// Register adds the client's routes to e: GET /app (a redirect), GET /app/
// and its assets, and GET /codec.wasm serving exactly codecWASM, each also
// answering HEAD. It panics
// if the embedded files are unusable, which only a broken build can cause.
func Register(e *echo.Echo, codecWASM []byte) {
	assets, err := loadAssets(static)
	if err != nil {
		panic(fmt.Sprintf("web: %v", err))
	}
	codec := newAsset(codecWASM, contentTypes[".wasm"])

	methods := []string{http.MethodGet, http.MethodHead}
	e.Match(methods, strings.TrimSuffix(Prefix, "/"), func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, Prefix)
	})
	e.Match(methods, Prefix+"*", func(c echo.Context) error {
		name := c.Param("*")
		if name == "" {
			name = "index.html"
		}
		a, ok := assets[name]
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound, "no such file")
		}
		if strings.HasSuffix(name, ".html") {
			c.Response().Header().Set("Content-Security-Policy", contentSecurityPolicy)
		}
		return serve(c, name, a)
	})
	e.Match(methods, CodecPath, func(c echo.Context) error {
		return serve(c, "codec.wasm", codec)
	})
}

// loadAssets reads every file under static/ once, keyed by its path below it.
func loadAssets(fsys fs.FS) (map[string]asset, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("open static: %w", err)
	}
	assets := make(map[string]asset)
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		ctype, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("%s: no content type for its extension", name)
		}
		assets[name] = newAsset(body, ctype)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load static: %w", err)
	}
	if _, ok := assets["index.html"]; !ok {
		return nil, fmt.Errorf("load static: index.html missing")
	}
	return assets, nil
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{
		body:        body,
		contentType: contentType,
		etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
	}
}

// serve writes a with a strong ETag. Files are small and change only with
// the binary, so browsers revalidate each time ("no-cache") and usually get
// a 304; http.ServeContent handles If-None-Match, HEAD and ranges.
func serve(c echo.Context, name string, a asset) error {
	h := c.Response().Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(a.body))
	return nil
}
