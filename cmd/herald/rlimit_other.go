//go:build !linux

package main

import "errors"

// raiseOpenFileLimit is only done on Linux; elsewhere the limit is left as
// the system set it.
func raiseOpenFileLimit() (before, after, hard uint64, err error) {
	return 0, 0, 0, errors.New("raising the open-file limit is only done on Linux")
}

// openFileCount is only known on Linux.
func openFileCount() (int, error) {
	return 0, errors.New("counting open files is only done on Linux")
}
