//go:build !unix

package media

import "errors"

// freeSpace is not implemented off Unix: with the guard on, Put fails
// rather than write blind.
func freeSpace(string) (uint64, error) {
	return 0, errors.New("free space unknown on this platform")
}
