//go:build race

package auth

// raceEnabled: the race detector slows scrypt about tenfold, so tests at
// Better Auth's full cost run fewer cases under it.
const raceEnabled = true
