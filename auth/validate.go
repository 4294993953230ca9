package auth

import (
	"strings"
	"unicode/utf16"
)

// Password length bounds from http-api.md § Input rules, counted as
// JavaScript counts string length (UTF-16 code units), as Better Auth does.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
	// maxEmailLen is RFC 5321's limit on a forward path.
	maxEmailLen = 254
)

// NormalizeEmail trims and lower-cases an email (http-api.md § Input rules).
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// CheckPasswordLength returns ErrPasswordTooShort or ErrPasswordTooLong
// for a password outside 8..128 characters.
func CheckPasswordLength(pw string) error {
	n := 0
	for _, r := range pw {
		n += max(1, utf16.RuneLen(r)) // an invalid byte counts as U+FFFD, one unit
	}
	switch {
	case n < MinPasswordLen:
		return ErrPasswordTooShort
	case n > MaxPasswordLen:
		return ErrPasswordTooLong
	}
	return nil
}

// ValidEmail accepts the addresses Better Auth's validator (zod's email
// rule) accepts: a local part of dot-separated non-empty runs of
// [A-Za-z0-9_'+-] not ending in an apostrophe, and a domain of labels that
// start with a letter or digit, continue with letters, digits or hyphens,
// and end in a top-level label of at least two ASCII letters.
func ValidEmail(email string) bool {
	if len(email) > maxEmailLen {
		return false
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || strings.HasSuffix(local, "'") {
		return false
	}
	for _, seg := range strings.Split(local, ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isAlnum(c) && c != '_' && c != '\'' && c != '+' && c != '-' {
				return false
			}
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if c := tld[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	for _, l := range labels[:len(labels)-1] {
		if l == "" || !isAlnum(l[0]) {
			return false
		}
		for i := 1; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
