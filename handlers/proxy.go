package handlers

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// Behind a reverse proxy. Forwarded headers are believed only from the
// peers in Config.TrustedProxies; without any, the TCP peer is the client
// as before (and X-Forwarded-Proto only chooses between our own two
// origins). Config.PublicURL, when set, is the server's own origin for the
// Origin checks, whatever Host a proxy sends.

// forwardedHeaders are the headers a proxy sets about the client.
var forwardedHeaders = []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"}

// proxy rewrites the request, before routing, to what the client sent:
//   - from a trusted proxy, the nearest untrusted address in
//     X-Forwarded-For becomes RemoteAddr (so the per-IP socket cap and
//     auth's brute-force limits count the client, not the proxy), and
//     X-Forwarded-Host the Host;
//   - when proxies are configured, anyone else's X-Forwarded-* headers are
//     dropped, so no client picks its own address or origin;
//   - with a public URL, Host and X-Forwarded-Proto are set from it.
func proxy(trusted []netip.Prefix, public *url.URL) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if len(trusted) > 0 {
				if peer, ok := addrOf(r.RemoteAddr); ok && within(trusted, peer) {
					fromProxy(r, trusted)
				} else {
					for _, h := range forwardedHeaders {
						r.Header.Del(h)
					}
				}
			}
			if public != nil {
				r.Host = public.Host
				r.Header.Set("X-Forwarded-Proto", public.Scheme)
			}
			return next(c)
		}
	}
}

// fromProxy applies a trusted proxy's X-Forwarded-For and -Host.
func fromProxy(r *http.Request, trusted []netip.Prefix) {
	if client, ok := forwardedClient(r.Header.Values("X-Forwarded-For"), trusted); ok {
		_, port, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			port = "0"
		}
		r.RemoteAddr = net.JoinHostPort(client.String(), port)
	}
	if h := strings.TrimSpace(r.Header.Get("X-Forwarded-Host")); h != "" {
		r.Host = h
	}
}

// forwardedClient walks X-Forwarded-For from the nearest hop back and
// returns the first address that is not a trusted proxy: the farthest
// address our own proxies vouch for. Hops before it were written by the
// client and could say anything.
func forwardedClient(values []string, trusted []netip.Prefix) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return last, last.IsValid()
		}
		a = a.Unmap()
		if !within(trusted, a) {
			return a, true
		}
		last = a
	}
	return last, last.IsValid()
}

func addrOf(remote string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

func within(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
