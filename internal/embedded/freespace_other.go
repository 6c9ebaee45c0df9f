//go:build !unix

package embedded

// freeSpace is unknown here: the store then reopens without waiting for
// room.
func freeSpace(string) (int64, bool) { return 0, false }
