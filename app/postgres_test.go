package app_test

import "github.com/wasmchannel/wasmchannel/db"

// storeKind names the store a target opens, for test logs.
func storeKind(target string) string {
	if db.IsPostgres(target) {
		return "postgres"
	}
	return "sqlite"
}
