// Package nameless makes a file that has no name until it is complete
// (O_TMPFILE) and then gives it one (linkat), so that a process killed
// half-way leaves nothing under the name and a reader never finds a file
// still being made. Segments and named semaphores are created this way.
package nameless

import "errors"

// ErrUnsupported reports that this system cannot make or link a nameless
// file: the file system has no O_TMPFILE, or there is no /proc to link
// through. Callers fall back to creating the file under a name.
var ErrUnsupported = errors.New("nameless files are not supported here")
