//go:build !unix

package store

// lockFile is a no-op where flock is unavailable; run one server per
// SQLite file there.
func lockFile(string) (func(), error) { return func() {}, nil }
