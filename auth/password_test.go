package auth

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestHashVerifyRoundTrip(t *testing.T) {
	cases := []struct {
		name, password, attempt string
		want                    bool
	}{
		{"same", "correct horse battery", "correct horse battery", true},
		{"wrong", "correct horse battery", "correct horse batterz", false},
		{"prefix", "correct horse battery", "correct horse", false},
		{"empty attempt", "password123", "", false},
		{"unicode", "pässwörd-😀", "pässwörd-😀", true},
		// NFKC: fullwidth letters are the same password.
		{"nfkc", "password123", "ｐａｓｓｗｏｒｄ１２３", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := HashPassword(tc.password, TestScrypt)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, "$scrypt$ln=4,r=1,p=1$") {
				t.Fatalf("hash %q is not self-describing", h)
			}
			if strings.Contains(h, tc.password) {
				t.Fatalf("hash contains the password")
			}
			ok, err := VerifyPassword(h, tc.attempt)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.want {
				t.Fatalf("verify = %v, want %v", ok, tc.want)
			}
		})
	}
}

func TestHashPasswordSaltsDiffer(t *testing.T) {
	a, err := HashPassword("password123", TestScrypt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashPassword("password123", TestScrypt)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
}

func TestHashPasswordDefaultCost(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("full scrypt cost is slow under -race and -short")
	}
	h, err := HashPassword("password123", ScryptParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$scrypt$ln=14,r=16,p=1$") {
		t.Fatalf("zero params should mean DefaultScrypt, got %q", h)
	}
}

// TestVerifyBetterAuthHashes checks hashes made by Better Auth 1.7's own
// hashPassword (testdata/betterauth-hashes.json), so accounts exported from
// a Better Auth database keep their passwords. Each check costs a full
// scrypt run (about a second under -race), so -race and -short keep one:
// the fullwidth-typed password checked with its ASCII form, which needs
// the format, the cost, the hex-string salt and NFKC all to be right.
func TestVerifyBetterAuthHashes(t *testing.T) {
	raw, err := os.ReadFile("testdata/betterauth-hashes.json")
	if err != nil {
		t.Fatal(err)
	}
	var vecs []struct{ Password, Hash string }
	if err := json.Unmarshal(raw, &vecs); err != nil {
		t.Fatal(err)
	}
	if len(vecs) < 3 || vecs[2].Password != "ｐａｓｓｗｏｒｄ１２３" {
		t.Fatal("unexpected vector file")
	}
	t.Run("nfkc", func(t *testing.T) {
		if ok, err := VerifyPassword(vecs[2].Hash, "password123"); err != nil || !ok {
			t.Fatalf("Better Auth hash of the fullwidth password refused its ASCII form: ok=%v err=%v", ok, err)
		}
	})
	if raceEnabled || testing.Short() {
		return
	}
	for i, v := range vecs {
		t.Run(v.Password, func(t *testing.T) {
			ok, err := VerifyPassword(v.Hash, v.Password)
			if err != nil || !ok {
				t.Fatalf("Better Auth hash refused: ok=%v err=%v", ok, err)
			}
			if i > 0 {
				return
			}
			ok, err = VerifyPassword(v.Hash, v.Password+"x")
			if err != nil || ok {
				t.Fatalf("wrong password accepted: ok=%v err=%v", ok, err)
			}
		})
	}
}

func TestVerifyMalformedHash(t *testing.T) {
	cases := map[string]string{
		"empty":          "",
		"no separator":   "abcdef",
		"bad hex key":    "00112233:zz",
		"short key":      "00112233:0011",
		"phc few parts":  "$scrypt$ln=4,r=1,p=1$c2FsdA",
		"phc bad param":  "$scrypt$ln=4,q=1,p=1$c2FsdA$" + strings.Repeat("A", 43),
		"phc huge logN":  "$scrypt$ln=40,r=1,p=1$c2FsdA$" + strings.Repeat("A", 43),
		"phc huge r":     "$scrypt$ln=4,r=1000,p=1$c2FsdA$" + strings.Repeat("A", 43),
		"phc zero p":     "$scrypt$ln=4,r=1,p=0$c2FsdA$" + strings.Repeat("A", 43),
		"phc bad base64": "$scrypt$ln=4,r=1,p=1$!!!$" + strings.Repeat("A", 43),
		"phc empty salt": "$scrypt$ln=4,r=1,p=1$$" + strings.Repeat("A", 43),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			ok, err := VerifyPassword(h, "password123")
			if ok || !errors.Is(err, errBadHash) {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want false, errBadHash", h, ok, err)
			}
		})
	}
}

func TestHashPasswordRejectsBadParams(t *testing.T) {
	if _, err := HashPassword("password123", ScryptParams{LogN: 30, R: 1, P: 1}); err == nil {
		t.Fatal("logN=30 accepted")
	}
}

func TestCheckPasswordLength(t *testing.T) {
	cases := []struct {
		name string
		pw   string
		want error
	}{
		{"7", "1234567", ErrPasswordTooShort},
		{"8", "12345678", nil},
		{"128", strings.Repeat("a", 128), nil},
		{"129", strings.Repeat("a", 129), ErrPasswordTooLong},
		// JavaScript length: an emoji is two UTF-16 units, so 4 emoji are 8.
		{"4 emoji", "😀😀😀😀", nil},
		{"3 emoji", "😀😀😀", ErrPasswordTooShort},
		{"64 emoji + 1", strings.Repeat("😀", 64) + "a", ErrPasswordTooLong},
		// é is one unit however many UTF-8 bytes it takes.
		{"7 accented", "ééééééé", ErrPasswordTooShort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckPasswordLength(tc.pw); !errors.Is(got, tc.want) || (tc.want == nil && got != nil) {
				t.Fatalf("CheckPasswordLength = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestValidEmail uses verdicts taken from zod's email check as Better Auth
// 1.7 runs it (z.email().safeParse).
func TestValidEmail(t *testing.T) {
	cases := map[string]bool{
		"a@b.co":        true,
		"a@b.c":         false,
		"a.@b.co":       false,
		".a@b.co":       false,
		"a..b@b.co":     false,
		"a'b@b.co":      true,
		"a+b@b.co":      true,
		"a@-b.co":       false,
		"a@b-.co":       true,
		"a@b..co":       false,
		"A@B.CO":        true,
		"a@b.c0m":       false,
		"a@xn--p1ai.ru": true,
		"a_@b.co":       true,
		"a-@b.co":       true,
		"a'@b.co":       false,
		"a@b_c.co":      false,
		"ä@b.co":        false,
		"a@b.com.":      false,
		"a b@b.co":      false,
		"@b.co":         false,
		"a@":            false,
		"a":             false,
		"a@b@c.co":      false,
		"":              false,
	}
	for email, want := range cases {
		t.Run(email, func(t *testing.T) {
			if got := ValidEmail(email); got != want {
				t.Fatalf("ValidEmail(%q) = %v, want %v", email, got, want)
			}
		})
	}
	if ValidEmail(strings.Repeat("a", 250) + "@b.co") {
		t.Fatal("over-long email accepted")
	}
}

func TestNormalizeEmail(t *testing.T) {
	if got := NormalizeEmail("  Ann@Example.COM \t"); got != "ann@example.com" {
		t.Fatalf("NormalizeEmail = %q", got)
	}
}
