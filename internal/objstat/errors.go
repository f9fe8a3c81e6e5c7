package objstat

import "errors"

// Errors of Open for names that cannot hold an object's header.
var (
	ErrSymlink    = errors.New("a symbolic link")
	ErrNotRegular = errors.New("not a regular file")
)
